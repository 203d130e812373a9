"""Append to and verify the hash-chained audit log.

Each entry's hash covers its own fields and the previous entry's hash, so
altering, inserting or deleting any entry breaks the chain from that point on.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from causeway_common.canonical import canonical_json
from hub.timeutil import iso_utc

from .models import audit_log

GENESIS = "0" * 64
# Built once: every write transaction appends, and a statement built per call is re-keyed for
# SQLAlchemy's cache each time.
_TAIL = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
_INSERT = audit_log.insert()


def entry_hash(prev_hash: str, seq: int, at, actor: str, org, action: str, target, detail_json: str) -> str:
    body = canonical_json(
        {
            "seq": seq,
            "at": iso_utc(at),
            "actor": actor,
            "org": org,
            "action": action,
            "target": target,
            "detail": detail_json,
        }
    )
    return hashlib.sha256(prev_hash.encode("ascii") + body).hexdigest()


def append(conn: Connection, *, at: datetime, actor: str, org: str | None, action: str, target: str | None = None,
           detail: dict | None = None) -> int:
    """Append one entry made at `at` (the caller's clock); the caller's transaction must come
    from hub.db.write_transaction."""
    tail = conn.execute(_TAIL).first()
    seq, prev_hash = (tail.seq + 1, tail.hash) if tail else (1, GENESIS)
    detail_json = canonical_json(detail or {}).decode("utf-8")
    conn.execute(_INSERT, {"seq": seq, "at": at, "actor": actor, "org": org, "action": action, "target": target,
                           "detail": detail_json, "prev_hash": prev_hash,
                           "hash": entry_hash(prev_hash, seq, at, actor, org, action, target, detail_json)})
    return seq


def append_many(conn: Connection, entries: list[dict], at: datetime) -> None:
    """Append several entries (each the keyword arguments of `append` but `at`) in order, all
    made at `at`, reading the tail once; the caller's transaction must come from hub.db.write_transaction."""
    if not entries:
        return
    tail = conn.execute(_TAIL).first()
    seq, prev_hash = (tail.seq, tail.hash) if tail else (0, GENESIS)
    rows = []
    for entry in entries:
        seq += 1
        actor, org, action, target = entry["actor"], entry.get("org"), entry["action"], entry.get("target")
        detail_json = canonical_json(entry.get("detail") or {}).decode("utf-8")
        digest = entry_hash(prev_hash, seq, at, actor, org, action, target, detail_json)
        rows.append(dict(seq=seq, at=at, actor=actor, org=org, action=action, target=target, detail=detail_json,
                         prev_hash=prev_hash, hash=digest))
        prev_hash = digest
    conn.execute(audit_log.insert(), rows)


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def verify(engine: Engine) -> tuple[int, ChainBreak | None]:
    """Walk the whole chain; returns (entries checked, first break or None)."""
    expected_prev, expected_seq, checked = GENESIS, 1, 0
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=5000).execute(select(audit_log).order_by(audit_log.c.seq))
        for row in rows:
            if row.seq != expected_seq:
                return checked, ChainBreak(expected_seq, f"entry {expected_seq} is missing (next entry is {row.seq})")
            if row.prev_hash != expected_prev:
                return checked, ChainBreak(row.seq, "previous-hash link does not match the entry before it")
            actual = entry_hash(row.prev_hash, row.seq, row.at, row.actor, row.org, row.action, row.target, row.detail)
            if actual != row.hash:
                return checked, ChainBreak(row.seq, "entry content does not match its hash (altered after it was written)")
            expected_prev, expected_seq, checked = row.hash, row.seq + 1, checked + 1
    return checked, None


def list_entries(engine: Engine, *, org: str | None = None, action: str | None = None,
                 after: int = 0, limit: int = 100) -> list[dict]:
    query = select(audit_log).where(audit_log.c.seq > after).order_by(audit_log.c.seq).limit(limit)
    if org is not None:
        query = query.where(audit_log.c.org == org)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    with engine.connect() as conn:
        return [
            {
                "seq": row.seq,
                "at": iso_utc(row.at),
                "actor": row.actor,
                "org": row.org,
                "action": row.action,
                "target": row.target,
                "detail": json.loads(row.detail),
                "hash": row.hash,
            }
            for row in conn.execute(query)
        ]
