"""Closing dates of job vacancies honoured: a vacancy whose closing date has passed (in UK local
time: open all of its closing day) is withdrawn by a delete in the record log, published for the
org that advertised it, so every recipient's copy goes the way a deletion always goes.

The delete's id is made from the vacancy and its closing date, so running again (in another
process, or after a restart) adds nothing; a vacancy published again with a later closing date
is open again and withdrawn again once that date passes.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub import db
from hub.auth import Principal
from hub.records.models import records
from hub.records.service import live_records
from hub.timeutil import iso_utc

DATASET = "job-vacancy"
LOCAL_TIME = ZoneInfo("Europe/London")
_IDS = uuid.UUID("5d6a4f52-6b1e-4c1f-9d1e-0c61a7e5b001")  # namespace of the deletes' ids
BATCH = 500  # deletes per publish, well inside the hub's batch limit
INTERVAL_SECONDS = 3600


def expired_vacancies(engine: Engine, today: date) -> list[tuple[str, str, str, int]]:
    """(publisher, key, closing date, schema version) of each vacancy still open in the log whose
    closing date is before `today`."""
    latest: dict[tuple[str, str], object] = {}
    with engine.connect() as conn:
        for row in conn.execute(select(records.c.publisher, records.c.key, records.c.op, records.c.payload,
                                       records.c.schema_version)
                                .where(records.c.dataset == DATASET, live_records).order_by(records.c.seq)):
            latest[row.publisher, row.key] = row
    found = []
    for (publisher, key), row in latest.items():
        if row.op != "upsert" or row.payload is None:
            continue
        closing = _closing_date(row.payload)
        if closing is not None and closing < today:
            found.append((publisher, key, closing.isoformat(), row.schema_version))
    return sorted(found)


def _closing_date(payload_json: str) -> date | None:
    try:
        return date.fromisoformat(orjson.loads(payload_json)["closing_date"])
    except (KeyError, ValueError, TypeError):
        return None


def withdraw_expired_vacancies(engine: Engine, records_service, clock: Callable[[], datetime] = db.utcnow) -> int:
    """Publish a delete for every vacancy past its closing date; returns how many were withdrawn."""
    now = clock()
    expired = expired_vacancies(engine, now.astimezone(LOCAL_TIME).date())
    withdrawn = 0
    for publisher in sorted({publisher for publisher, *_ in expired}):
        deletes = [{"id": str(uuid.uuid5(_IDS, f"{publisher}/{key}/{closing}")), "dataset": DATASET,
                    "schema_version": version, "key": key, "op": "delete", "occurred_at": iso_utc(now)}
                   for who, key, closing, version in expired if who == publisher]
        principal = Principal(org=publisher, role="publisher", credential_id="hub-vacancy-closing-dates")
        for start in range(0, len(deletes), BATCH):
            withdrawn += records_service.publish({"records": deletes[start:start + BATCH]}, principal).accepted
    return withdrawn
