"""The delivery side of the policy decision point (hub.policy.service).

Delivery asks four things of policy: does an active agreement cover this
subscription (`covering_agreements`), is one that would cover it suspended
(`suspended_agreements`: the subscription is paused), what may this recipient
receive of these records for this purpose right now (`decide_many`), and record
what was handed over (`record_disclosures`, inside delivery's own transaction). Without a policy
service nothing is covered and nothing is disclosed: deny by default.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class _Denied:
    allowed: bool = False
    reasons: list = field(default_factory=lambda: ["the hub has no policy decision point configured"])
    payload: dict | None = None
    agreement_id: str | None = None
    agreement_version: int | None = None
    lawful_basis: str | None = None
    retention_days: int | None = None


class PolicyPort:
    def __init__(self, policy=None, events=None):
        self.policy = policy
        self.events = events  # hub.records.events.CloudEvents: what is handed over

    def covering_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> list:
        if self.policy is None:
            return []
        return list(self.policy.covering_agreements(recipient, dataset, purpose, at))

    def suspended_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> list[str]:
        if self.policy is None or not hasattr(self.policy, "suspended_agreements"):
            return []
        return list(self.policy.suspended_agreements(recipient, dataset, purpose, at))

    def revision(self):
        """Changes whenever policy changes (in any process); None without a policy service."""
        if self.policy is None or not hasattr(self.policy, "revision"):
            return None
        return self.policy.revision()

    def decide_many(self, records: list[dict], recipient: str, purpose: str, at: datetime) -> list:
        if self.policy is None:
            return [_Denied() for _ in records]
        return self.policy.decide_many(records, recipient, purpose, at)

    def disclosure(self, record: dict, seq: int, decision, recipient: str, purpose: str, at: datetime):
        try:
            from hub.policy.decision import Disclosure
        except ImportError:  # pragma: no cover - the policy package is part of the hub
            return {"record_id": record["id"], "seq": seq, "subject": record.get("subject"),
                    "dataset": record["dataset"], "provider": record["publisher"], "recipient": recipient,
                    "purpose": purpose, "agreement_id": decision.agreement_id,
                    "agreement_version": decision.agreement_version, "lawful_basis": decision.lawful_basis, "at": at}
        return Disclosure.of(record, seq, decision, recipient, purpose, at)

    def record_disclosures(self, conn, disclosures: list, channel: str) -> None:
        if disclosures and self.policy is not None:
            self.policy.record_disclosures(conn, disclosures, channel)

    def record_disclosure_batches(self, conn, batches: list[tuple[list, str]]) -> None:
        """Several (disclosures, channel) batches in one go, each audited as record_disclosures would."""
        batches = [(found, channel) for found, channel in batches if found]
        if not batches or self.policy is None:
            return
        if hasattr(self.policy, "record_disclosure_batches"):
            self.policy.record_disclosure_batches(conn, batches)
        else:
            for found, channel in batches:
                self.policy.record_disclosures(conn, found, channel)

    def record_denials(self, conn, counts: dict, recipient: str, purpose: str, channel: str) -> None:
        if counts and self.policy is not None and hasattr(self.policy, "record_denials"):
            self.policy.record_denials(conn, counts, recipient, purpose, channel)
