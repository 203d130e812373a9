"""An org's returns calendar as iCalendar (RFC 5545), for Outlook and other calendars to subscribe to.

One all-day event on each due date: for a council, one per return and period it must submit;
for an agency, one per return and period it asks for, saying which councils are still to send.
Each event's UID is made from the return, the period and the org, so when the feed is fetched
again a calendar updates the event (its status in the description) instead of adding another.
A period no longer asked for (a retired return) is simply absent, so it goes from the calendar.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from icalendar import Calendar, Event

from hub.timeutil import parse_iso

PRODID = "-//Causeway//Data returns calendar//EN"
STATUS_WORDS = {"due": "due", "late": "late", "awaiting_approval": "awaiting the council's approval",
                "approved": "approved by the council", "accepted": "accepted", "sent_back": "sent back",
                "received": "received"}


def uid(dataset: str, period: str, org: str, side: str) -> str:
    """Stable across fetches: the same return, period and org is always the same event."""
    return f"{side}.{dataset}.{period}.{org}@causeway"


def calendar_ics(calendar: dict, public_url: str) -> bytes:
    base = public_url.rstrip("/")
    now = parse_iso(calendar["as_of"])
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", f"Data returns: {calendar['name']}")
    cal.add("x-published-ttl", "PT6H")  # how often Outlook should fetch it again
    for e in calendar["submits"]:
        words = STATUS_WORDS[e["status"]] + (" (late)" if e["late"] and e["status"] != "late" else "")
        description = [f"{e['title']} for {e['period']} ({_day(e['first_day'])} to {_day(e['last_day'])}), "
                       f"requested by {e['requesting_org']}.", f"Status: {words}."]
        if e["comment"]:
            description.append(f"Sent back: {e['comment']}")
        cal.add_component(_event(uid(e["dataset"], e["period"], e["org"], "submit"), e,
                                 f"Return due: {e['title']} {e['period']}", description, base + e["console_path"], now))
    by_period: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for e in calendar["asks"]:
        by_period[e["dataset"], e["period"]].append(e)
    for (dataset, period), entries in by_period.items():
        first = entries[0]
        waiting = sorted(e["name"] for e in entries if e["status"] in ("due", "late", "awaiting_approval", "sent_back"))
        description = [f"{first['title']} for {period}, asked of {len(entries)} councils.",
                       f"Approved or received: {len(entries) - len(waiting)}; still to come: {len(waiting)}."]
        if waiting:
            description.append("Still to come from: " + ", ".join(waiting) + ".")
        link = f"{base}/console/returns/{dataset}?from={period}&to={period}"
        cal.add_component(_event(uid(dataset, period, calendar["org"], "ask"), first,
                                 f"Returns due: {first['title']} {period}", description, link, now))
    return cal.to_ical()


def _day(iso: str) -> str:
    """'1 Jul 2026', as the console writes dates."""
    day = date.fromisoformat(iso)
    return f"{day.day} {day:%b %Y}"


def _event(event_uid: str, entry: dict, summary: str, description: list[str], link: str, now: datetime) -> Event:
    due = date.fromisoformat(entry["due_date"])
    event = Event()
    event.add("uid", event_uid)
    event.add("dtstamp", now)
    event.add("summary", summary)
    event.add("dtstart", due)
    event.add("dtend", due + timedelta(days=1))
    event.add("transp", "TRANSPARENT")  # a due date, not a meeting: it does not make anyone busy
    event.add("description", "\n".join(description + [link]))
    event.add("url", link)
    return event
