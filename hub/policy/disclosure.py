"""Recording disclosures (with their audit), and the recipient feed that makes them.

A disclosure row is written for every provider record handed to a recipient, in
the caller's transaction, with one audit entry per batch that carries a digest of
the rows (so the rows can be checked against the tamper-evident chain). The same
disclosure handed over several times at once (several subscriptions of a recipient
sent the same page together) is one row with `copies`; the subject-access report
lists it that many times, as if it were that many rows. Denials are audited in
aggregate: counts by reason per batch.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from causeway_common.canonical import canonical_json
from hub import db
from hub.audit import service as audit
from hub.records.models import records
from hub.records.service import envelope_of, live_records
from hub.timeutil import iso_utc

from .decision import Decision, Disclosure
from .models import disclosures
from .vocabulary import NOTICE_DATASET


def record_disclosures(conn: Connection, batch: list[Disclosure], channel: str, actor: str = "hub") -> None:
    """Insert one row per disclosure and one audit entry per recipient in the batch,
    inside the caller's transaction (which must come from hub.db.write_transaction)."""
    record_disclosure_batches(conn, [(batch, channel)], actor)


_DISCLOSURE_COLUMNS = ("record_id", "seq", "subject", "dataset", "provider", "recipient", "purpose", "agreement_id",
                       "agreement_version", "lawful_basis", "channel", "at", "copies")


def record_disclosure_batches(conn: Connection, batches: list[tuple[list[Disclosure], str]], actor: str = "hub") -> None:
    """Several batches, each with its channel (e.g. the pages of several subscriptions
    delivered together): every row in one insert, and each batch audited as
    record_disclosures audits it (one entry per recipient in the batch)."""
    batches = [(batch, channel) for batch, channel in batches if batch]
    if not batches:
        return
    # Subscriptions sent a page together hand over the very same disclosures (one object each,
    # made once for all of them): each such batch is written as one set of rows, with how many
    # times it was handed over, and summarised for its audit entries once.
    same: dict[tuple[tuple[int, ...], str], list[Any]] = {}  # (ids, channel) -> [batch, channel, times]
    keys = []
    for batch, channel in batches:
        key = (tuple(map(id, batch)), channel)
        keys.append(key)
        counted = same.get(key)
        if counted is None:
            same[key] = [batch, channel, 1]
        else:
            counted[2] += 1
    # A bare executemany: the only typed column (at, one value per batch) is converted once.
    to_db = disclosures.c.at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    converted: dict[int, object] = {}
    values = []
    for batch, channel, times in same.values():
        for d in batch:
            at = converted.get(id(d.at))
            if at is None:
                at = converted[id(d.at)] = to_db(d.at) if to_db else d.at
            values.append((d.record_id, d.seq, d.subject, d.dataset, d.provider, d.recipient, d.purpose,
                           d.agreement_id, d.agreement_version, d.lawful_basis, channel, at, times))
    placeholder = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    conn.exec_driver_sql(f"INSERT INTO disclosures ({', '.join(_DISCLOSURE_COLUMNS)}) "
                         f"VALUES ({', '.join([placeholder] * len(_DISCLOSURE_COLUMNS))})", values)
    summaries = {ids: _summaries(batch) for (ids, _), (batch, _, _) in same.items()}
    entries = [dict(actor=actor, org=recipient, action="records.disclose", target=recipient,
                    detail={"channel": channel, **summary})
               for ids, channel in keys for recipient, summary in summaries[ids]]
    audit.append_many(conn, entries, at=max(d.at for batch, _ in batches for d in batch))


def _summaries(batch: list[Disclosure]) -> list[tuple[str, dict[str, Any]]]:
    """(recipient, what its audit entry says of its part of the batch), per recipient in the batch."""
    by_recipient: dict[str, list[Disclosure]] = {}
    for d in batch:
        by_recipient.setdefault(d.recipient, []).append(d)
    return [(recipient, {
        "count": len(mine),
        "datasets": dict(Counter(d.dataset for d in mine)),
        "agreements": sorted({f"{d.agreement_id}/v{d.agreement_version}" for d in mine}),
        "purposes": sorted({d.purpose for d in mine}),
        "seq_from": min(d.seq for d in mine), "seq_to": max(d.seq for d in mine),
        "rows_sha256": hashlib.sha256(canonical_json(
            [[d.record_id, d.seq, d.agreement_id, d.agreement_version, d.purpose] for d in mine])).hexdigest()})
        for recipient, mine in by_recipient.items()]


def count_denials(decisions: list[Decision]) -> dict[str, int]:
    """Denials by reason code, leaving out notices addressed to someone else."""
    return dict(Counter(d.denial for d in decisions if not d.allowed and not d.notice))


def record_denials(conn: Connection, counts: dict[str, int], recipient: str, purpose: str, channel: str,
                   actor: str = "hub", *, at: datetime) -> None:
    """One audit entry, made at `at`, with the batch's denials counted by reason (nothing when there were none)."""
    if counts:
        audit.append(conn, at=at, actor=actor, org=recipient, action="records.deny", target=recipient,
                     detail={"channel": channel, "purpose": purpose, "denied": counts, "total": sum(counts.values())})


def subject_disclosures(conn: Connection, subject: str, provider: str | None) -> list[dict]:
    """The subject-access report: which recipient received which record, when, under what."""
    # Each disclosure names its record (key and time) so a person can be shown which one it was.
    query = (select(disclosures, records.c.key, records.c.occurred_at)
             .select_from(disclosures.outerjoin(records, records.c.seq == disclosures.c.seq))
             .where(disclosures.c.subject == subject).order_by(disclosures.c.id))
    if provider is not None:
        query = query.where(disclosures.c.provider == provider)
    return [{"record_id": r.record_id, "dataset": r.dataset, "provider": r.provider, "recipient": r.recipient,
             "purpose": r.purpose, "agreement_id": r.agreement_id, "agreement_version": r.agreement_version,
             "lawful_basis": r.lawful_basis, "channel": r.channel, "at": iso_utc(r.at),
             "key": r.key, "occurred_at": r.occurred_at}
            for r in conn.execute(query) for _ in range(r.copies)]


def subject_records(conn: Connection, subject: str, publisher: str | None) -> int:
    """How many stored records (of `publisher`, or of anyone) carry this subject reference: whether the
    hub knows the person at all, told apart from a reference nobody's records carry."""
    query = select(func.count()).select_from(records).where(records.c.subject == subject)
    if publisher is not None:
        query = query.where(records.c.publisher == publisher)
    return int(conn.execute(query).scalar() or 0)


def recipient_feed(engine, policy, dataset: str, recipient: str, purpose: str, after: int, limit: int,
                   actor: str, channel: str = "pull", at: datetime | None = None) -> dict:
    """Records of `dataset` from every provider after the cursor, each decided now for this
    recipient and purpose, with the notices addressed to it in order among them. Denied
    records are skipped but the cursor moves past them; disclosures are recorded before
    anything is returned."""
    datasets = [NOTICE_DATASET] if dataset == NOTICE_DATASET else [dataset, NOTICE_DATASET]
    query = (select(records).where(records.c.dataset.in_(datasets), records.c.seq > after, live_records)
             .order_by(records.c.seq).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    at = at or policy.clock()
    envelopes = [envelope_of(r) for r in rows]
    decisions = policy.decide_many(envelopes, recipient, purpose, at)
    events, made = [], []
    for row, envelope, decision in zip(rows, envelopes, decisions):
        if not decision.allowed:
            continue
        if decision.notice:
            if dataset == NOTICE_DATASET or decision.payload.get("dataset") == dataset:
                events.append(policy.events.for_recipient(row, decision, purpose, at))
            continue
        events.append(policy.events.for_recipient(row, decision, purpose, at))
        made.append(Disclosure.of(envelope, row.seq, decision, recipient, purpose, at))
    denials = count_denials(decisions)
    if made or denials:
        with db.write_transaction(engine) as conn:
            record_disclosures(conn, made, channel, actor)
            record_denials(conn, denials, recipient, purpose, channel, actor, at=at)
    return {"events": events, "next": rows[-1].seq if rows else after}
