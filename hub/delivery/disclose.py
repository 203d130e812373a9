"""Deciding a page of the record log for one subscription, at the moment of
disclosure, and turning what is allowed into CloudEvents.

Shared by the push worker and the pull feed so both disclose exactly alike.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from hub.records.models import records
from hub.policy.disclosure import recipient_event
from hub.policy.vocabulary import NOTICE_DATASET
from hub.records.service import envelope_of, live_records

from .models import subscriptions


@dataclass
class Decided:
    events: list[dict] = field(default_factory=list)  # CloudEvents allowed and matching the filter
    seqs: list[int] = field(default_factory=list)  # their log sequence
    disclosures: dict[int, object] = field(default_factory=dict)  # seq -> disclosure to record once handed over
    denied: int = 0
    denials: dict[str, int] = field(default_factory=dict)  # by reason code, for the audit
    last_seq: int | None = None  # last seq looked at (allowed or not)


def datasets_of(sub) -> list[str]:
    """The subscription's dataset, and the hub's notices (e.g. consent withdrawn) among it in order."""
    return [sub.dataset, NOTICE_DATASET]


def read_page(conn, sub, after: int, limit: int, upto: int | None = None):
    query = (select(records).where(records.c.dataset.in_(datasets_of(sub)), records.c.seq > after, live_records)
             .order_by(records.c.seq).limit(limit))
    if upto is not None:
        query = query.where(records.c.seq <= upto)
    return conn.execute(query).all()


def matches(filter_: dict | None, envelope: dict, payload: dict | None) -> bool:
    """A subscription's filter, applied to what the recipient may see (never to
    fields the agreement withholds)."""
    if not filter_:
        return True
    publishers = filter_.get("publishers")
    if publishers and envelope["publisher"] not in publishers:
        return False
    ops = filter_.get("ops")
    if ops and envelope["op"] not in ops:
        return False
    for name, wanted in (filter_.get("where") or {}).items():
        if payload is None:
            return envelope["op"] == "delete"  # deletes carry no payload; a keyed consumer needs them
        value = payload.get(name)
        if isinstance(wanted, list):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


def decide(policy, sub, rows, at: datetime) -> Decided:
    if not rows:
        return Decided()
    envelopes = [envelope_of(row) for row in rows]
    decisions = policy.decide_many(envelopes, sub.org, sub.purpose, at)
    return select_for(policy, sub, rows, envelopes, decisions, at)


def select_for(policy, sub, rows, envelopes, decisions, at: datetime, shared: dict | None = None) -> Decided:
    """What of a page, decided for the subscription's recipient and purpose, goes to this
    subscription (its filter, the notices of its dataset). Subscriptions of one recipient
    and purpose delivered at the same moment may pass one `shared` dict: each allowed
    record's event and disclosure are then made once for all of them."""
    decided = Decided()
    filter_ = json.loads(sub.filter) if sub.filter else None
    for row, envelope, decision in zip(rows, envelopes, decisions):
        decided.last_seq = row.seq
        notice = getattr(decision, "notice", False)
        if not decision.allowed:
            if not notice:
                decided.denied += 1
                code = getattr(decision, "denial", None) or "denied"
                decided.denials[code] = decided.denials.get(code, 0) + 1
            continue
        if notice:
            if (decision.payload or {}).get("dataset") not in (None, sub.dataset):
                continue
        elif not matches(filter_, envelope, decision.payload):
            continue
        made = shared.get(row.seq) if shared is not None else None
        if made is None:
            made = (recipient_event(row, decision, sub.purpose),
                    None if notice else policy.disclosure(envelope, row.seq, decision, sub.org, sub.purpose, at))
            if shared is not None:
                shared[row.seq] = made
        decided.events.append(made[0])
        decided.seqs.append(row.seq)
        if not notice:
            decided.disclosures[row.seq] = made[1]
    return decided


def covered(policy, sub, at: datetime) -> tuple[bool, str | None]:
    """Whether an active agreement covers the subscription now; if not, why."""
    found = policy.covering_agreements(sub.org, sub.dataset, sub.purpose, at)
    if found:
        return True, None
    return False, (f"no active sharing agreement lets {sub.org} receive {sub.dataset} for {sub.purpose}; "
                   "delivery starts once one is active")


def set_coverage(conn, sub, ok: bool, reason: str | None) -> None:
    status = "active" if ok else "awaiting-agreement"
    if sub.status != status or sub.status_reason != reason:
        conn.execute(subscriptions.update().where(subscriptions.c.id == sub.id, subscriptions.c.status != "disabled")
                     .values(status=status, status_reason=reason))
