"""Who changed which row of a council's set: one change per row added, changed (with the fields
whose values changed) or removed, by whom, when and how (`upload`, `form`, `api`, `agent`, or `derived` when the hub computed it)."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hub.auth import Principal
from hub.timeutil import iso_utc

from .models import return_row_changes, return_rows

VIA = ("upload", "form", "api", "agent", "derived")  # derived: computed by the hub from records


def via_of(caller: Principal, asked: str) -> str:
    """How a change arrived: an agent's credential says agent whatever the path."""
    return "agent" if caller.agent_id else asked


def row_version(payload: dict) -> str:
    """A short digest of a row's values: what an edit says it started from."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode("utf-8")).hexdigest()[:16]


def changed_fields(before: dict, after: dict) -> list[str]:
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


def record_changes(conn: Connection, submission_id: int, revision: int, before: dict[str, dict],
                   after: dict[str, dict], actor: str, now: datetime, via: str) -> int:
    """Write one change per row that differs between two sets (key -> values); how many."""
    found = []
    for key in list(after) + [k for k in before if k not in after]:
        if key not in before:
            found.append((key, "added", sorted(after[key])))
        elif key not in after:
            found.append((key, "removed", []))
        elif before[key] != after[key]:
            found.append((key, "changed", changed_fields(before[key], after[key])))
    if found:
        conn.execute(return_row_changes.insert(), [
            {"submission_id": submission_id, "revision": revision, "row_key": key, "change": change,
             "fields": json.dumps(fields), "via": via, "changed_by": actor, "changed_at": now}
            for key, change, fields in found])
    return len(found)


def current_rows(conn: Connection, submission_id: int) -> dict[str, dict]:
    query = select(return_rows.c.row_key, return_rows.c.payload).where(return_rows.c.submission_id == submission_id)
    return {row.row_key: json.loads(row.payload) for row in conn.execute(query.order_by(return_rows.c.position))}


def history(conn: Connection, submission_id: int | None) -> list[dict]:
    """Every change to the set, newest first."""
    if submission_id is None:
        return []
    query = (select(return_row_changes).where(return_row_changes.c.submission_id == submission_id)
             .order_by(return_row_changes.c.id.desc()))
    return [{"key": row.row_key, "change": row.change, "fields": json.loads(row.fields), "via": row.via,
             "by": row.changed_by, "at": iso_utc(row.changed_at), "revision": row.revision}
            for row in conn.execute(query)]
