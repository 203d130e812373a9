"""Stand-ins for tests of delivery alone (planning, hand-over, retries, dead letters),
without a database or network. Integration tests use the real decision point and
real receivers.

- `FakePolicy` implements `hub.delivery.policy.DecisionPoint`: grants and suspensions
  set by the test, and a count of how often it was asked to decide.
- `FakeChannel` is a channel whose answers come from a handler, in the spirit of
  httpx's `MockTransport`: `FakeChannel(lambda message: Outcome("ok"))`.
- `log_row` makes a row of the record log as the worker reads it.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hub.delivery.channel import Message, Outcome, Target
from hub.policy.decision import Decision, Disclosure


class FakePolicy:
    def __init__(self) -> None:
        self.grants: dict[tuple[str, str, str], dict[str, Any]] = {}  # (recipient, dataset, purpose) -> grant
        self.suspended: dict[tuple[str, str, str], str] = {}  # (recipient, dataset, purpose) -> agreement id
        self.decide_calls: list[tuple[str, str, int]] = []  # (recipient, purpose, how many records)
        self.disclosed: list[tuple[str, str]] = []  # (record id, channel)
        self.denials: list[tuple[dict[str, int], str]] = []  # (counts, recipient)
        self.version = 0

    def allow(self, recipient: str, dataset: str, purpose: str, providers: Sequence[str] = ("edinburgh",),
              fields: Sequence[str] | None = None) -> None:
        self.grants[recipient, dataset, purpose] = {"providers": set(providers), "fields": fields}
        self.version += 1

    def suspend(self, recipient: str, dataset: str, purpose: str, agreement_id: str = "fake-agreement") -> None:
        self.grants.pop((recipient, dataset, purpose), None)
        self.suspended[recipient, dataset, purpose] = agreement_id
        self.version += 1

    # -- hub.delivery.policy.DecisionPoint ---------------------------------------------
    def revision(self) -> int:
        return self.version

    def pinned(self) -> AbstractContextManager[int]:
        return nullcontext(self.version)

    def covering_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> list[str]:
        return ["fake-agreement"] if (recipient, dataset, purpose) in self.grants else []

    def suspended_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> list[str]:
        found = self.suspended.get((recipient, dataset, purpose))
        return [found] if found else []

    def decide_many(self, records: list[dict[str, Any]], recipient: str, purpose: str,
                    at: datetime) -> list[Decision]:
        self.decide_calls.append((recipient, purpose, len(records)))
        answers = []
        for record in records:
            grant = self.grants.get((recipient, record["dataset"], purpose))
            if grant is None or record["publisher"] not in grant["providers"]:
                answers.append(Decision(False, ["not covered"], denial="no-agreement"))
                continue
            payload = record["payload"]
            if payload is not None and grant["fields"] is not None:
                payload = {k: v for k, v in payload.items() if k in grant["fields"]}
            answers.append(Decision(True, ["covered"], payload, "fake-agreement", 1, "public-task", key=record["key"]))
        return answers

    def record_disclosures(self, conn: Any, disclosures: list[Disclosure], channel: str) -> None:
        self.disclosed.extend((d.record_id, channel) for d in disclosures)

    def record_disclosure_batches(self, conn: Any, batches: list[tuple[list[Disclosure], str]]) -> None:
        for disclosures, channel in batches:
            self.record_disclosures(conn, disclosures, channel)

    def record_denials(self, conn: Any, counts: dict[str, int], recipient: str, purpose: str, channel: str) -> None:
        self.denials.append((counts, recipient))


class FakeChannel:
    """Answers each message with `handler(message)`, in order, stopping (as a real channel does)
    at the first message to be tried again later; every message it was handed is kept in `sent`."""

    name = "webhook"

    def __init__(self, handler: Callable[[Message], Outcome]):
        self.handler = handler
        self.sent: list[Message] = []
        self.targets: list[Target] = []

    def deliver(self, target: Target, messages: list[Message]) -> list[Outcome]:
        outcomes = []
        for message in messages:
            self.sent.append(message)
            self.targets.append(target)
            outcome = self.handler(message)
            outcomes.append(outcome)
            if not outcome.done:
                break
        return outcomes

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class LogRow:
    """A row of the record log (`hub.records.models.records`), as much of it as delivery reads."""
    seq: int
    id: str
    dataset: str
    key: str
    publisher: str
    payload: str | None
    op: str = "upsert"
    schema_version: str = "1.0.0"
    occurred_at: str = "2026-01-01T00:00:00Z"
    subject: str | None = None


def log_row(seq: int, dataset: str = "gazetteer-address", publisher: str = "edinburgh", **payload: Any) -> LogRow:
    body = {"uprn": str(seq), "town": "Leith", **payload}
    return LogRow(seq=seq, id=f"00000000-0000-4000-8000-{seq:012d}", dataset=dataset, key=str(seq),
                  publisher=publisher, payload=json.dumps(body))
