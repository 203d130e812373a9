"""Submissions, read from the record log.

A submission is what one publisher has sent for one period: the records of
the periodic dataset whose period field names that period, the latest
record per key winning (a delete withdraws a key). A key sent again
replaces the earlier version: the submission is then `resubmitted`. The
whole dataset's log is read in one query, in log order.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import select
from sqlalchemy.engine import Connection

from hub.records.models import batches, records

from . import agent_sign_off
from .declaration import ReturnDeclaration
from .periods import PeriodError, parse_period
from .received import Submission
from .rowsets import read_row_submissions

__all__ = ["Submission", "read_submissions"]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _sender(credential_id: str, agent_id: str | None) -> str:
    return f"agent:{agent_id}" if agent_id else f"key:{credential_id}"


def read_submissions(conn: Connection, declaration: ReturnDeclaration) -> dict[tuple[str, str], Submission]:
    """(publisher, period) -> its submission, for every publisher and period in the log.
    Records whose period field is missing or not a period of the right frequency are left out
    (the schema should make that impossible). A return drafted as data is read from its row sets."""
    if declaration.source == "rows":
        return read_row_submissions(conn, declaration.dataset)
    query = (
        select(records.c.seq, records.c.id, records.c.key, records.c.op, records.c.publisher,
               records.c.received_at, records.c.payload, batches.c.credential_id, batches.c.agent_id)
        .join(batches, batches.c.id == records.c.batch_id)
        .where(records.c.dataset == declaration.dataset)
        .order_by(records.c.seq)
    )
    found: dict[tuple[str, str], Submission] = {}
    period_of_key: dict[tuple[str, str], str] = {}
    for row in conn.execute(query):
        received = _aware(row.received_at)
        if row.op == "delete":
            period = period_of_key.pop((row.publisher, row.key), None)
        else:
            payload = json.loads(row.payload)
            period = payload.get(declaration.period_field)
            try:
                period = parse_period(declaration.frequency, period).name
            except (PeriodError, TypeError):
                continue
            moved_from = period_of_key.get((row.publisher, row.key))
            if moved_from and moved_from != period:
                found[row.publisher, moved_from].live.pop(row.key, None)
            period_of_key[row.publisher, row.key] = period
        if period is None:
            continue
        submission = found.get((row.publisher, period))
        if submission is None:
            submission = found[row.publisher, period] = Submission(
                row.publisher, period, received, received, _sender(row.credential_id, row.agent_id))
        if row.key in submission.sent_keys:
            submission.replaced = True
        submission.sent_keys.add(row.key)
        submission.versions += 1
        submission.last_received_at = received
        submission.submitted_by = _sender(row.credential_id, row.agent_id)
        if row.op == "delete":
            submission.live.pop(row.key, None)
        else:
            submission.live[row.key] = {"payload": payload, "id": row.id, "seq": row.seq}
    # A submission whose every record was withdrawn is no submission.
    return agent_sign_off.attach(conn, declaration, {k: s for k, s in found.items() if s.live})
