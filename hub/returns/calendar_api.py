"""Thin handlers for an org's returns calendar, its secret feed address and the `.ics` feed."""
from datetime import date

from flask import Response

from hub.errors import Invalid
from hub.web import ok, principal, services

from .calendar import ReturnCalendar, Window
from .feeds import check_feed_token, feed_status, make_feed, revoke_feed
from .ics import calendar_ics

FEED_DAYS_BACK, FEED_DAYS_AHEAD = 31, 366  # within MAX_DAYS


def _day(value, name):
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{name} must be a date like 2026-04-30, not {value!r}") from None


def get_calendar(org, **query):
    hub = services()
    window = Window.around(hub.clock().date(), _day(query.get("from_") or query.get("from"), "from"),
                           _day(query.get("to"), "to"))
    result = ReturnCalendar(hub.returns).calendar(org, principal(), window)
    result["feed"] = feed_status(hub.engine, org)
    return ok(result)


def make_calendar_feed(org):
    hub = services()
    return ok(make_feed(hub.engine, org, principal(), hub.clock(), hub.settings.public_url), 201)


def revoke_calendar_feed(org):
    hub = services()
    return ok(revoke_feed(hub.engine, org, principal(), hub.clock()))


def calendar_feed(org, token):
    """No bearer key: the secret address is the credential (a wrong one is 404)."""
    hub = services()
    check_feed_token(hub.engine, org, token)
    window = Window.around(hub.clock().date(), back=FEED_DAYS_BACK, ahead=FEED_DAYS_AHEAD)
    body = calendar_ics(ReturnCalendar(hub.returns).of(org, window), hub.settings.public_url)
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": f'inline; filename="{org}-returns.ics"', "Cache-Control": "private, max-age=300"})
