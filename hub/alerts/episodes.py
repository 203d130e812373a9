"""Turning what the rules find into episodes: opened once when a condition starts (or,
for one with a hold, once it has lasted that long), resolved once when it ends.

One evaluation runs in one write transaction (serialised across hub processes), and the
messages an opening or a resolution owes are queued in that same transaction
(hub.alerts.notify sends them), so an episode is never opened, resolved or announced twice.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection

from .models import alert_episode_orgs, alert_episodes, alert_events, alert_notifications, alert_silences
from .registry import Condition

log = logging.getLogger("causeway.hub.alerts")
ACTIVE = ("pending", "open")
JOB = "alert-job"


def aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def silenced(conn: Connection, rule: str, key: str, now: datetime) -> bool:
    query = select(alert_silences.c.id).where(alert_silences.c.rule == rule, alert_silences.c.key == key,
                                              alert_silences.c.until > now).limit(1)
    return conn.execute(query).first() is not None


def event(conn: Connection, episode_id: int, at: datetime, what: str, actor: str = JOB,
          detail: dict | None = None) -> None:
    conn.execute(alert_events.insert().values(episode_id=episode_id, at=at, event=what, actor=actor,
                                              detail=json.dumps(detail) if detail is not None else None))


def apply(conn: Connection, conditions: list[Condition], rules_run: set[str], now: datetime,
          recipients) -> dict[str, int]:
    """Bring episodes in line with `conditions` (from the rules in `rules_run`; episodes of a
    rule that failed this time are left as they were). `recipients(orgs) -> [(org, channel)]`
    says who is told. Answers counts of what changed."""
    found = {(c.rule, c.key): c for c in conditions}
    active = {(row.rule, row.key): row for row in conn.execute(
        select(alert_episodes).where(alert_episodes.c.state.in_(ACTIVE), alert_episodes.c.rule.in_(rules_run)))}
    counts = {"opened": 0, "resolved": 0, "pending": 0}
    for identity, condition in found.items():
        row = active.get(identity)
        if row is None:
            episode_id = _insert(conn, condition, now)
            if condition.hold.total_seconds() <= 0:
                _open(conn, episode_id, condition, now, recipients)
                counts["opened"] += 1
            else:
                counts["pending"] += 1
            continue
        conn.execute(alert_episodes.update().where(alert_episodes.c.id == row.id).values(
            last_seen_at=now, summary=condition.summary[:500], detail=json.dumps(condition.detail)))
        if row.state == "pending" and now - aware(row.first_seen_at) >= condition.hold:
            _open(conn, row.id, condition, now, recipients)
            counts["opened"] += 1
    for identity, row in active.items():
        if identity in found:
            continue
        if row.state == "pending":  # over before it became an alert: nobody was told, nothing to keep
            conn.execute(delete(alert_episode_orgs).where(alert_episode_orgs.c.episode_id == row.id))
            conn.execute(delete(alert_episodes).where(alert_episodes.c.id == row.id))
            continue
        conn.execute(alert_episodes.update().where(alert_episodes.c.id == row.id).values(
            state="resolved", resolved_at=now))
        event(conn, row.id, now, "resolved")
        _queue(conn, row.id, "resolved", row.rule, row.key, _orgs(conn, row.id), now, recipients)
        counts["resolved"] += 1
    return counts


def _insert(conn: Connection, condition: Condition, now: datetime) -> int:
    episode_id = conn.execute(alert_episodes.insert().values(
        rule=condition.rule, key=condition.key, state="pending", summary=condition.summary[:500],
        detail=json.dumps(condition.detail), first_seen_at=now, last_seen_at=now)).inserted_primary_key[0]
    orgs = sorted(set(condition.orgs))
    if orgs:
        conn.execute(alert_episode_orgs.insert(), [{"episode_id": episode_id, "org": org} for org in orgs])
    return episode_id


def _open(conn: Connection, episode_id: int, condition: Condition, now: datetime, recipients) -> None:
    conn.execute(alert_episodes.update().where(alert_episodes.c.id == episode_id).values(state="open", opened_at=now))
    event(conn, episode_id, now, "opened")
    _queue(conn, episode_id, "opened", condition.rule, condition.key, sorted(set(condition.orgs)), now, recipients)


def _orgs(conn: Connection, episode_id: int) -> list[str]:
    return [r.org for r in conn.execute(select(alert_episode_orgs.c.org).where(
        alert_episode_orgs.c.episode_id == episode_id).order_by(alert_episode_orgs.c.org))]


def _queue(conn: Connection, episode_id: int, phase: str, rule: str, key: str, orgs: list[str], now: datetime,
           recipients) -> None:
    """One message per recipient org and channel, queued; all marked silenced (never sent) while
    a silence covers the alert."""
    quiet = silenced(conn, rule, key, now)
    rows = [{"subject": f"episode:{episode_id}:{phase}", "org": org, "channel": channel,
             "status": "silenced" if quiet else "queued", "attempts": 0, "updated_at": now}
            for org, channel in recipients(orgs)]
    if rows:
        conn.execute(alert_notifications.insert(), rows)
    if quiet:
        event(conn, episode_id, now, "notification-silenced", detail={"phase": phase})
