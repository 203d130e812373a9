"""Deciding a page of the record log for one subscription, at the moment of
disclosure, and turning what is allowed into CloudEvents.

Shared by the push worker and the pull feed so both disclose exactly alike.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from hub.policy.decision import Disclosure
from hub.policy.models import notice_recipients
from hub.records.models import records
from hub.records.service import envelope_of, live_records

from . import statements
from .models import subscriptions


@dataclass
class Decided:
    events: list[dict] = field(default_factory=list)  # CloudEvents allowed and matching the filter
    seqs: list[int] = field(default_factory=list)  # their log sequence
    disclosures: dict[int, Disclosure] = field(default_factory=dict)  # seq -> disclosure to record once handed over
    denied: int = 0
    denials: dict[str, int] = field(default_factory=dict)  # by reason code, for the audit
    last_seq: int | None = None  # last seq looked at (allowed or not)


# A subscription's stream: the records of its dataset, and the hub's notices (e.g. consent
# withdrawn) addressed to its org about that dataset, in log order. Notices addressed to
# others are no part of it: they neither wake it nor count as its lag.

def _notices(orgs, dataset: str, after: int, upto: int | None):
    query = select(notice_recipients.c.seq).where(notice_recipients.c.recipient.in_(list(orgs)),
                                                  notice_recipients.c.dataset == dataset,
                                                  notice_recipients.c.seq > after)
    return query.where(notice_recipients.c.seq <= upto) if upto is not None else query


def _own(dataset: str, after: int, upto: int | None):
    query = select(records).where(records.c.dataset == dataset, records.c.seq > after, live_records)
    return query.where(records.c.seq <= upto) if upto is not None else query


def read_page(conn, sub, after: int, limit: int, upto: int | None = None, orgs=None):
    """The subscription's stream after `after` (up to `upto`), at most `limit` records. With `orgs`,
    the notices of all those orgs about the dataset, for subscriptions of one dataset read together."""
    params = {"dataset": sub.dataset, "after": after, "limit": limit}
    if upto is not None:
        params["upto"] = upto
    rows = conn.execute(statements.own_page(upto is not None), params).all()
    notices = conn.execute(statements.notices_page(upto is not None),
                           {**params, "orgs": sorted(orgs or [sub.org])}).all()
    if notices:
        rows = sorted(rows + notices, key=lambda row: row.seq)[:limit]
    return rows


def count_after(conn, sub, after: int, upto: int | None = None) -> int:
    """How many records of the subscription's stream lie after `after` (up to `upto`)."""
    own = conn.execute(_own(sub.dataset, after, upto).with_only_columns(func.count())).scalar() or 0
    notices = conn.execute(_notices([sub.org], sub.dataset, after, upto).with_only_columns(func.count())).scalar() or 0
    return own + notices


def oldest_after(conn, sub, after: int):
    """When the first record of the subscription's stream after `after` was received (None: there is none)."""
    firsts = [conn.execute(_own(sub.dataset, after, None).with_only_columns(func.min(records.c.seq))).scalar(),
              conn.execute(_notices([sub.org], sub.dataset, after, None)
                           .with_only_columns(func.min(notice_recipients.c.seq))).scalar()]
    first = min((seq for seq in firsts if seq is not None), default=None)
    if first is None:
        return None
    return conn.execute(select(records.c.received_at).where(records.c.seq == first)).scalar()


def stream_heads(conn, subs) -> dict[tuple[str, str], int]:
    """(org, dataset) -> the last seq of that stream, for the given subscriptions' streams."""
    heads = {}
    for dataset in {sub.dataset for sub in subs}:
        head = conn.execute(select(func.max(records.c.seq)).where(records.c.dataset == dataset)).scalar() or 0
        heads.update({(sub.org, dataset): head for sub in subs if sub.dataset == dataset})
    for row in conn.execute(select(notice_recipients.c.recipient, notice_recipients.c.dataset,
                                   func.max(notice_recipients.c.seq)).where(
            notice_recipients.c.recipient.in_(sorted({sub.org for sub in subs})))
            .group_by(notice_recipients.c.recipient, notice_recipients.c.dataset)):
        key = (row[0], row[1])
        if key in heads:
            heads[key] = max(heads[key], row[2])
    return heads


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
            made = (policy.events.for_recipient(row, decision, sub.purpose, at),
                    None if notice else policy.disclosure(envelope, row.seq, decision, sub.org, sub.purpose, at))
            if shared is not None:
                shared[row.seq] = made
        decided.events.append(made[0])
        decided.seqs.append(row.seq)
        if not notice:
            decided.disclosures[row.seq] = made[1]
    return decided


def coverage(policy, sub, at: datetime) -> tuple[str, str | None]:
    """The subscription's status by what covers it now, and why: `paused` while an agreement that
    would cover it is suspended (its cursor waits, so nothing is skipped), `active` when an active
    agreement covers it, else `awaiting-agreement`."""
    suspended = policy.suspended_agreements(sub.org, sub.dataset, sub.purpose, at)
    if suspended:
        return "paused", f"paused: agreement{'s' if len(suspended) > 1 else ''} {', '.join(suspended)} suspended"
    if policy.covering_agreements(sub.org, sub.dataset, sub.purpose, at):
        return "active", None
    return "awaiting-agreement", (f"no active sharing agreement lets {sub.org} receive {sub.dataset} for "
                                  f"{sub.purpose}; delivery starts once one is active")


def set_coverage(conn, sub, status: str, reason: str | None) -> None:
    """Show the status coverage() gave (a disabled subscription stays disabled). Once covered again,
    a subscription that was only waiting for its agreement is due at once."""
    if sub.status == status and sub.status_reason == reason:
        return
    conn.execute(subscriptions.update().where(subscriptions.c.id == sub.id, subscriptions.c.status != "disabled")
                 .values(status=status, status_reason=reason))
    if status == "active":
        conn.execute(subscriptions.update().where(subscriptions.c.id == sub.id, subscriptions.c.attempts == 0)
                     .values(next_attempt_at=None))
