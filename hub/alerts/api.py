"""Thin handlers for /alerts and /orgs/{org}/alert-contact."""
from hub.web import ok, principal, services


def list_alerts(state=None):
    return ok({"alerts": services().alerts.list_alerts(principal(), state)})


def get_alert(alert_id):
    return ok(services().alerts.get_alert(principal(), alert_id))


def silence_alert(alert_id, body):
    return ok(services().alerts.silence(principal(), alert_id, body.get("minutes"), body.get("reason")))


def get_alert_contact(org):
    return ok(services().alerts.get_contact(principal(), org))


def set_alert_contact(org, body):
    return ok(services().alerts.set_contact(principal(), org, body.get("email"), body.get("webhook_url"),
                                            bool(body.get("quality_report", False))))
