"""The delivery side of the policy decision point (hub.policy.service.PolicyService).

`DecisionPoint` is everything delivery asks of policy: does an active agreement
cover this subscription (`covering_agreements`), is one that would cover it
suspended (`suspended_agreements`: the subscription is paused), what may this
recipient receive of these records for this purpose right now (`decide_many`),
has policy changed since (`revision`, and `pinned` for one look at it for many questions), and record what was handed over and what
was withheld (`record_disclosures`, `record_disclosure_batches`,
`record_denials`, inside delivery's own transaction). Tests hand delivery a fake
that implements the same protocol.

`PolicyPort` is what the worker, the feed and the subscription service hold: the
decision point, the CloudEvents maker, and how a disclosure is described. Without
a decision point nothing is covered and nothing is disclosed: deny by default.
"""
from __future__ import annotations

from collections.abc import Hashable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from hub.policy.decision import Decision, Disclosure
from hub.records.events import CloudEvents

NO_DECISION_POINT = "the hub has no policy decision point configured"


class DecisionPoint(Protocol):
    def revision(self) -> Hashable: ...

    def pinned(self) -> AbstractContextManager[Hashable]: ...

    def covering_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> Sequence[Any]: ...

    def suspended_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> Sequence[str]: ...

    def decide_many(self, records: list[dict[str, Any]], recipient: str, purpose: str,
                    at: datetime) -> Sequence[Decision]: ...

    def record_disclosures(self, conn: Connection, disclosures: list[Disclosure], channel: str) -> None: ...

    def record_disclosure_batches(self, conn: Connection, batches: list[tuple[list[Disclosure], str]]) -> None: ...

    def record_denials(self, conn: Connection, counts: dict[str, int], recipient: str, purpose: str,
                       channel: str) -> None: ...


class NoDecisionPoint:
    """Deny by default: nothing is covered, every record is refused, nothing is recorded."""

    def revision(self) -> Hashable:
        return None

    def pinned(self) -> AbstractContextManager[Hashable]:
        return nullcontext(None)

    def covering_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> Sequence[Any]:
        return []

    def suspended_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> Sequence[str]:
        return []

    def decide_many(self, records: list[dict[str, Any]], recipient: str, purpose: str,
                    at: datetime) -> Sequence[Decision]:
        return [Decision(False, [NO_DECISION_POINT]) for _ in records]

    def record_disclosures(self, conn: Connection, disclosures: list[Disclosure], channel: str) -> None:
        return None

    def record_disclosure_batches(self, conn: Connection, batches: list[tuple[list[Disclosure], str]]) -> None:
        return None

    def record_denials(self, conn: Connection, counts: dict[str, int], recipient: str, purpose: str,
                       channel: str) -> None:
        return None


class PolicyPort:
    def __init__(self, policy: DecisionPoint | None, events: CloudEvents):
        self.policy: DecisionPoint = policy if policy is not None else NoDecisionPoint()
        self.events = events  # what is handed over

    def covering_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> list[Any]:
        return list(self.policy.covering_agreements(recipient, dataset, purpose, at))

    def suspended_agreements(self, recipient: str, dataset: str, purpose: str, at: datetime) -> list[str]:
        return list(self.policy.suspended_agreements(recipient, dataset, purpose, at))

    def revision(self) -> Hashable:
        """Changes whenever policy changes (in any process)."""
        return self.policy.revision()

    def pinned(self) -> AbstractContextManager[Hashable]:
        """Policy looked up once for a round's many questions (see PolicyService.pinned); gives the
        revision it stands at. Check `revision()` once out before acting on the answers."""
        return self.policy.pinned()

    def providers_sharing_with(self, recipient: str, dataset: str, at: datetime) -> set[str]:
        """The providers an active agreement names alongside `recipient` for `dataset` (none
        without a decision point that knows agreements: deny by default)."""
        found = getattr(self.policy, "providers_sharing_with", None)
        return set(found(recipient, dataset, at)) if found is not None else set()

    def decide_many(self, records: list[dict[str, Any]], recipient: str, purpose: str,
                    at: datetime) -> Sequence[Decision]:
        return self.policy.decide_many(records, recipient, purpose, at)

    def disclosure(self, record: dict[str, Any], seq: int, decision: Decision, recipient: str, purpose: str,
                   at: datetime) -> Disclosure:
        return Disclosure.of(record, seq, decision, recipient, purpose, at)

    def record_disclosures(self, conn: Connection, disclosures: list[Disclosure], channel: str) -> None:
        if disclosures:
            self.policy.record_disclosures(conn, disclosures, channel)

    def record_disclosure_batches(self, conn: Connection, batches: list[tuple[list[Disclosure], str]]) -> None:
        """Several (disclosures, channel) batches in one go, each audited as record_disclosures would."""
        batches = [(found, channel) for found, channel in batches if found]
        if batches:
            self.policy.record_disclosure_batches(conn, batches)

    def record_denials(self, conn: Connection, counts: dict[str, int], recipient: str, purpose: str,
                       channel: str) -> None:
        if counts:
            self.policy.record_denials(conn, counts, recipient, purpose, channel)
