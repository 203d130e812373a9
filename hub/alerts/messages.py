"""What an alert says: the e-mail (subject, body) and the webhook's CloudEvent (structured
JSON, signed per Standard Webhooks by the deliveries' sender)."""
from __future__ import annotations

import hashlib
import json

from hub.timeutil import iso_utc

EVENT_CONTENT_TYPE = "application/cloudevents+json"
PHASE_WORD = {"opened": "Alert", "resolved": "Resolved"}


def console_link(public_url: str, episode_id: int) -> str:
    return f"{public_url.rstrip('/')}/console/alerts/{episode_id}"


def webhook_id(subject: str, org: str) -> str:
    """The same for every attempt at one message, so a receiver can de-duplicate retries."""
    return "msg_" + hashlib.sha256(f"{subject}|{org}".encode("utf-8")).hexdigest()[:32]


def alert_data(episode: dict, public_url: str) -> dict:
    return {"alert": episode["id"], "rule": episode["rule"], "key": episode["key"], "state": episode["state"],
            "summary": episode["summary"], "orgs": episode["orgs"], "detail": episode["detail"],
            "opened_at": episode["opened_at"], "resolved_at": episode["resolved_at"],
            "console_url": console_link(public_url, episode["id"])}


def alert_event(episode: dict, phase: str, public_url: str) -> bytes:
    at = episode["opened_at"] if phase == "opened" else episode["resolved_at"]
    event = {"specversion": "1.0", "id": f"alert-{episode['id']}-{phase}", "source": "/causeway/hub/alerts",
             "type": f"uk.causeway.alert.{phase}", "subject": f"{episode['rule']}/{episode['key']}",
             "time": at, "datacontenttype": "application/json", "data": alert_data(episode, public_url)}
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def alert_email(episode: dict, phase: str, public_url: str) -> tuple[str, str]:
    subject = f"[Causeway] {PHASE_WORD[phase]}: {episode['summary']}"
    lines = [episode["summary"] + ("." if phase == "opened" else " — this has now ended."), "",
             f"Rule: {episode['rule']}", f"Concerns: {', '.join(episode['orgs']) or 'the hub'}",
             f"Opened: {readable(episode['opened_at'])}"]
    if phase == "resolved":
        lines.append(f"Resolved: {readable(episode['resolved_at'])}")
    lines += [f"{name.replace('_', ' ')}: {value}" for name, value in episode["detail"].items() if value is not None]
    lines += ["", f"See it and its history in the console: {console_link(public_url, episode['id'])}",
              "", "You receive this because your organisation's ops contact for Causeway alerts is this address."]
    return subject, "\n".join(lines) + "\n"


def as_text(moment) -> str | None:
    return iso_utc(moment) if moment is not None else None


def readable(iso: str | None) -> str:
    """2026-11-02T09:00:00.000000Z -> 2026-11-02 09:00 UTC, for people reading a subject line."""
    return f"{iso[:10]} {iso[11:16]} UTC" if iso else "never"
