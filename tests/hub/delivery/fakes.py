"""A stand-in for the policy decision point, for tests of delivery alone
(subscriptions, channels, retries). Integration tests use the real one."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FakeDecision:
    allowed: bool
    reasons: list = field(default_factory=list)
    payload: dict | None = None
    agreement_id: str | None = None
    agreement_version: int | None = None
    lawful_basis: str | None = None
    key: str | None = None
    subject: str | None = None
    notice: bool = False


class FakePolicy:
    def __init__(self):
        self.grants: dict[tuple, dict] = {}  # (recipient, dataset, purpose) -> {"providers": set, "fields": list|None}
        self.disclosed: list = []

    def allow(self, recipient, dataset, purpose, providers=("edinburgh",), fields=None):
        self.grants[recipient, dataset, purpose] = {"providers": set(providers), "fields": fields}

    def revoke(self, recipient, dataset, purpose):
        self.grants.pop((recipient, dataset, purpose), None)

    def covering_agreements(self, recipient, dataset, purpose, at):
        return ["fake-agreement"] if (recipient, dataset, purpose) in self.grants else []

    def decide_many(self, records, recipient, purpose, at):
        answers = []
        for record in records:
            grant = self.grants.get((recipient, record["dataset"], purpose))
            if grant is None or record["publisher"] not in grant["providers"]:
                answers.append(FakeDecision(False, ["not covered"]))
                continue
            payload = record["payload"]
            if payload is not None and grant["fields"] is not None:
                payload = {k: v for k, v in payload.items() if k in grant["fields"]}
            answers.append(FakeDecision(True, ["covered"], payload, "fake-agreement", 1, "public-task", key=record["key"]))
        return answers

    def record_disclosures(self, conn, disclosures, channel):
        self.disclosed.extend((d["record_id"] if isinstance(d, dict) else d.record_id, channel) for d in disclosures)
