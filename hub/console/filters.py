"""The console's template filters: values as people read them. Plain functions, so views
and queries may call them too; `register(flask_app)` (called when the console is mounted)
makes them available to every template."""
from __future__ import annotations

import json

from flask import Flask, current_app

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


def moment(text: str | None) -> str:
    """An ISO time from a service as '2026-11-02 09:30:12 UTC'."""
    if not text:
        return ""
    try:
        return parse_iso(text).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return text


def ago(text: str | None) -> str:
    if not text:
        return ""
    try:
        return duration(max(0.0, (current_app.extensions["causeway"].clock() - parse_iso(text)).total_seconds())) + " ago"
    except ValueError:
        return ""


FILTERS = {"pretty_json": pretty_json, "badge_class": badge_class, "duration": duration, "moment": moment,
           "ago": ago, "plural": plural}


def register(flask_app: Flask) -> None:
    for name, function in FILTERS.items():
        flask_app.add_template_filter(function, name)
