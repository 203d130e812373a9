"""The returns calendar inside the console: what the signed-in user's org must submit and what it
asks for, each due date with where the return stands (a link to that return's page), which
council is overdue on what, and the org's secret calendar-feed address for Outlook.

The hub's admin may look at any org's calendar (`?org=`); everyone else sees their own org's.
The feed address is shown once, in the answer to the form that made it, never in a flash
message (those travel in the session cookie).
"""
from __future__ import annotations

from datetime import date

from flask import abort, render_template, request

from hub.returns.calendar import ReturnCalendar, Window
from hub.returns.feeds import FEED_ROLES, feed_status, make_feed, revoke_feed
from hub.returns.scopes import scoped_returns

STATUS_WORDS = {"due": "Due", "late": "Late", "awaiting_approval": "Awaiting approval",
                "approved": "Approved, with the agency", "accepted": "Accepted", "sent_back": "Sent back",
                "received": "Received"}

from .blueprint import RETURNS_STAFF, console, requires, services, staff


def _org() -> str:
    user = staff()
    asked = request.values.get("org")
    return asked if asked and user.role == "admin" else user.org


def _day(name: str) -> date | None:
    value = request.args.get(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        abort(400, description=f"{name} must be a date like 2026-04-30.")


def _page(org: str, made: dict | None = None, status: int = 200):
    hub, user = services(), staff()
    window = Window.around(hub.clock().date(), _day("from"), _day("to"))
    found = ReturnCalendar(hub.returns).calendar(org, user.principal, window)
    with hub.engine.connect() as conn:
        scoped = scoped_returns(conn, user.principal) is not None  # the org's feed lists every return
    feed = made or feed_status(hub.engine, org)
    asked: dict[tuple[str, str], list[dict]] = {}
    for entry in found["asks"]:  # an agency's entries, one group per return and period
        asked.setdefault((entry["due_date"], entry["title"], entry["period"]), []).append(entry)
    return render_template("console/returns/calendar.html", cal=found, feed=feed, asked=list(asked.values()),
                           words=STATUS_WORDS,
                           may_manage_feed=user.role in FEED_ROLES + ("admin",) and not scoped), status


@console.get("/returns/calendar")
@requires(*RETURNS_STAFF)
def returns_calendar():
    return _page(_org())


@console.post("/returns/calendar/feed")
@requires(*RETURNS_STAFF)
def returns_calendar_feed():
    hub, user, org = services(), staff(), _org()
    if request.form.get("action") == "revoke":
        revoke_feed(hub.engine, org, user.principal, hub.clock())
        return _page(org)
    return _page(org, made=make_feed(hub.engine, org, user.principal, hub.clock(), hub.settings.public_url), status=201)
