"""Alert pages: the alerts list (open first) and one alert with its history, the messages
sent for it and a form to silence it for a while with a reason.

The alert service decides who sees and silences what, with the signed-in user as the
principal, exactly as for an API key of the same org and role: ops staff see the alerts
that concern their org and silence them, the hub operator's ops staff see every org's,
admins see and silence all.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from hub.errors import Forbidden, Invalid, NotFound

from .blueprint import OPERATORS, console, hub_wide, requires, services, staff
from .filters import moment

# Periods offered for a silence: minutes -> label.
SILENCE_PERIODS = [(60, "1 hour"), (240, "4 hours"), (1440, "1 day"), (4320, "3 days"), (10080, "1 week"),
                   (43200, "30 days")]


def _own_contact() -> dict | None:
    try:
        return services().alerts.get_contact(staff().principal, staff().org)
    except NotFound:
        return None


def _alerts_page(status: int = 200, errors: dict | None = None, values: dict | None = None,
                 new_secret: str | None = None):
    found = services().alerts.list_alerts(staff().principal)
    contact = _own_contact()
    return render_template("console/alerts.html", alerts=found, hub_wide=hub_wide(),
                           open_count=sum(1 for a in found if a["state"] == "open"), contact=contact,
                           errors=errors or {}, values=values if values is not None else (contact or {}),
                           new_secret=new_secret), status


@console.get("/alerts")
@requires(*OPERATORS)
def alerts():
    return _alerts_page()


@console.post("/alerts/contact")
@requires(*OPERATORS)
def set_alert_contact():
    """Where the signed-in user's own org's alerts and daily quality report go."""
    values = {"email": request.form.get("email", ""), "webhook_url": request.form.get("webhook_url", ""),
              "quality_report": request.form.get("quality_report") == "yes"}
    try:
        saved = services().alerts.set_contact(staff().principal, staff().org, values["email"], values["webhook_url"],
                                              values["quality_report"])
    except Invalid as error:
        return _alerts_page(400, {error.details.get("field", "email"): error.detail}, values)
    # A new webhook's secret is shown on this page once, never put in the session cookie.
    return _alerts_page(new_secret=saved.get("webhook_secret"))


def _may_silence(alert: dict) -> bool:
    user = staff()
    return user.role == "admin" or user.org in alert["orgs"]


@console.get("/alerts/<int:alert_id>")
@requires(*OPERATORS)
def alert(alert_id: int):
    found = services().alerts.get_alert(staff().principal, alert_id)
    return render_template("console/alert.html", alert=found, periods=SILENCE_PERIODS, errors={},
                           values={}, can_silence=_may_silence(found))


@console.post("/alerts/<int:alert_id>/silence")
@requires(*OPERATORS)
def silence_alert(alert_id: int):
    minutes_text = (request.form.get("minutes") or "").strip()
    reason = request.form.get("reason") or ""
    minutes = int(minutes_text) if minutes_text.isdigit() else minutes_text
    try:
        silenced = services().alerts.silence(staff().principal, alert_id, minutes, reason)
    except (Invalid, Forbidden) as error:
        found = services().alerts.get_alert(staff().principal, alert_id)
        field = error.details.get("field", "reason") if isinstance(error, Invalid) else "reason"
        status = 400 if isinstance(error, Invalid) else 403
        return render_template("console/alert.html", alert=found, periods=SILENCE_PERIODS,
                               errors={field: error.detail}, values={"minutes": minutes_text, "reason": reason},
                               can_silence=_may_silence(found)), status
    flash(f"Alert {alert_id} is silenced until {moment(silenced['silenced_until'])}: nothing is sent for it meanwhile.",
          "success")
    return redirect(url_for("console.alert", alert_id=alert_id))
