"""Referrals and their status updates as the record log holds them: the latest version of each
key, each referral with the updates its addressee wrote about it."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from hub.records.models import records
from hub.records.service import envelope_of, live_records

from . import journey

REFERRAL = "referral"
STATUS = "referral-status"


@dataclass
class Referral:
    seq: int
    envelope: dict
    statuses: list  # (seq, envelope) of the addressee's status updates about it, in log order

    @property
    def payload(self) -> dict:
        return self.envelope["payload"]

    @property
    def referrer(self) -> str:
        return self.envelope["publisher"]

    @property
    def addressee(self) -> str | None:
        return self.payload.get("receiving_org")

    @property
    def referred_at(self) -> datetime:
        return journey.parse_moment(self.payload["referred_at"])


def _latest(conn, dataset: str) -> dict[tuple[str, str], tuple[int, dict]]:
    """(publisher, key) -> (seq, envelope) of the latest record of each key; deleted keys left out."""
    latest: dict[tuple[str, str], tuple[int, dict]] = {}
    for row in conn.execute(select(records).where(records.c.dataset == dataset, live_records).order_by(records.c.seq)):
        if row.op == "delete":
            latest.pop((row.publisher, row.key), None)
        else:
            latest[row.publisher, row.key] = (row.seq, envelope_of(row))
    return latest


def load_referrals(conn) -> list[Referral]:
    """Every addressed referral in the log with the status updates its addressee wrote about it."""
    found = {}
    for (publisher, key), (seq, envelope) in _latest(conn, REFERRAL).items():
        payload = envelope["payload"] or {}
        if payload.get("receiving_org"):
            found[publisher, payload.get("referral_id", key)] = Referral(seq, envelope, [])
    for (publisher, _), (seq, envelope) in sorted(_latest(conn, STATUS).items(), key=lambda item: item[1][0]):
        payload = envelope["payload"] or {}
        referral = found.get((payload.get("referring_org"), payload.get("referral_id")))
        # Only the addressee speaks for a referral: an update from anyone else is no part of it.
        if referral is not None and publisher == referral.addressee:
            referral.statuses.append((seq, envelope))
    return sorted(found.values(), key=lambda r: r.seq)
