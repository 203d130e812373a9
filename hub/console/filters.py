"""The console's template filters: values as people read them. Plain functions, so views
and queries may call them too; `register(flask_app)` (called when the console is mounted)
makes them available to every template."""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from markupsafe import Markup

from hub.timeutil import parse_iso

STATUS_BADGES = {"active": "good", "failing": "bad", "paused": "warn", "awaiting-agreement": "warn", "disabled": "off",
                 "up": "good", "stale": "bad",
                 "live": "good", "quiet": "warn", "stale_agent": "bad", "never_published": "off"}


def pretty_json(value, indent: int | None = 2) -> str:
    """JSON for people to read (autoescaped like any other text)."""
    return json.dumps(value, indent=indent, ensure_ascii=False, separators=None if indent else (", ", ": "))


def badge_class(status: str) -> str:
    return STATUS_BADGES.get(status, "")


def duration(seconds) -> str:
    """3725 -> '1 h 2 min'; for people, not machines."""
    seconds = int(round(float(seconds or 0)))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days {hours % 24} h"


IRREGULAR = {"entry": "entries", "reply": "replies"}


def plural(count, noun: str) -> str:
    """1 record, 2 records, 0 records: a count with its noun as English has it."""
    count = int(count or 0)
    return f"{count} {noun if count == 1 else IRREGULAR.get(noun, noun + 's')}"


# -- dates and times as people here read them --------------------------------------
# The console shows UK local time (GMT in winter, BST in summer) as "1 Dec 2026, 09:30";
# the exact instant, ISO 8601 with its offset, is on hover and in exports.
LOCAL_TIME = ZoneInfo("Europe/London")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _instant(value: str | datetime | None) -> datetime | None:
    """A time from a service (ISO text or a datetime; naive means UTC) as an aware datetime, or None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        return parse_iso(str(value))
    except ValueError:
        return None


def local(value: str | datetime) -> datetime:
    """The instant in UK local time (Europe/London)."""
    instant = _instant(value)
    if instant is None:
        raise ValueError(f"{value!r} is not a time")
    return instant.astimezone(LOCAL_TIME)


def uk_date(value: str | date | datetime | None) -> str:
    """'1 Dec 2026'; a time counts by its UK local day, a plain date ('2026-12-01') as it is."""
    if value is None or value == "":
        return ""
    day: date | None = None
    if isinstance(value, datetime) or (isinstance(value, str) and "T" in value):
        instant = _instant(value)
        day = instant.astimezone(LOCAL_TIME).date() if instant else None
    elif isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value))
        except ValueError:
            day = None
    if day is None:
        return str(value)
    return f"{day.day} {MONTHS[day.month - 1]} {day.year}"


def uk_time(value: str | datetime | None) -> str:
    """'1 Dec 2026, 09:30' in UK local time, as plain text (chart labels, titles, flash messages)."""
    instant = _instant(value)
    if instant is None:
        return "" if value in (None, "") else str(value)
    there = instant.astimezone(LOCAL_TIME)
    return f"{uk_date(there.date())}, {there:%H:%M}"


def iso_local(value: str | datetime | None) -> str:
    """ISO 8601 with the UK offset, '2026-07-01T10:30:00+01:00': the exact instant, for hover and exports."""
    instant = _instant(value)
    if instant is None:
        return "" if value in (None, "") else str(value)
    return instant.astimezone(LOCAL_TIME).isoformat(timespec="seconds")


def moment(value: str | datetime | None) -> Markup:
    """A time as `<time>`: '1 Dec 2026, 09:30' to read, ISO with offset in datetime= and on hover."""
    instant = _instant(value)
    if instant is None:
        return Markup("") if value in (None, "") else Markup.escape(str(value))
    exact = iso_local(instant)
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(exact, uk_time(instant))


def day(value: str | date | datetime | None) -> Markup:
    """A date as `<time>`: '1 Dec 2026' to read, ISO on hover."""
    text = uk_date(value)
    if text == ("" if value is None else str(value)):  # nothing, or not a date: shown as it is
        return Markup.escape(text)
    is_instant = isinstance(value, datetime) or (isinstance(value, str) and "T" in value)
    exact = iso_local(value) if is_instant else str(value)[:10]
    return Markup('<time datetime="{0}" title="{0}">{1}</time>').format(exact, text)


def ago(text: str | None) -> str:
    if not text:
        return ""
    try:
        return duration(max(0.0, (current_app.extensions["causeway"].clock() - parse_iso(text)).total_seconds())) + " ago"
    except ValueError:
        return ""


FILTERS = {"pretty_json": pretty_json, "badge_class": badge_class, "duration": duration, "moment": moment,
           "day": day, "uk_time": uk_time, "uk_date": uk_date, "iso_local": iso_local, "ago": ago, "plural": plural}


def register(flask_app: Flask) -> None:
    for name, function in FILTERS.items():
        flask_app.add_template_filter(function, name)
