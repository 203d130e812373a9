"""What the decision point answers, and what a disclosure records."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Decision:
    allowed: bool
    reasons: list[str]  # readable sentences: why allowed, or why each candidate agreement refused
    payload: dict | None = None  # projected: only allowed fields, pseudonymised and generalised
    agreement_id: str | None = None
    agreement_version: int | None = None
    lawful_basis: str | None = None
    # The envelope as the recipient may see it: key and subject pseudonymised where the
    # agreement says so (the subject always is).
    key: str | None = None
    subject: str | None = None
    # Short code of the refusal, for counting denials in aggregate (None when allowed).
    denial: str | None = None
    # True for the hub's own notices (not a disclosure of a provider's record).
    notice: bool = False
    # The covering agreement's retention_days: the recipient keeps the record this long after receipt.
    retention_days: int | None = None

    def as_dict(self) -> dict:
        return {"allowed": self.allowed, "reasons": self.reasons, "payload": self.payload,
                "agreement_id": self.agreement_id, "agreement_version": self.agreement_version,
                "lawful_basis": self.lawful_basis, "key": self.key, "subject": self.subject,
                "denial": self.denial, "retention_days": self.retention_days}


# Denial codes (Decision.denial).
NO_AGREEMENT = "no-agreement"
PURPOSE = "purpose-not-covered"
OUTSIDE_WINDOW = "outside-validity"
CONDITION = "condition-false"
NO_SUBJECT = "no-subject"
NO_CONSENT = "no-consent"
OBJECTION = "objection"
NOT_ADDRESSEE = "not-addressee"


@dataclass(slots=True)
class Disclosure:
    """One record handed to one recipient."""
    record_id: str
    seq: int
    subject: str | None
    dataset: str
    provider: str
    recipient: str
    purpose: str
    agreement_id: str
    agreement_version: int
    lawful_basis: str
    at: datetime = field(default=None)

    @classmethod
    def of(cls, record: dict, seq: int, decision: Decision, recipient: str, purpose: str, at: datetime) -> "Disclosure":
        return cls(record_id=record["id"], seq=seq, subject=record.get("subject"), dataset=record["dataset"],
                   provider=record["publisher"], recipient=recipient, purpose=purpose,
                   agreement_id=decision.agreement_id, agreement_version=decision.agreement_version,
                   lawful_basis=decision.lawful_basis, at=at)
