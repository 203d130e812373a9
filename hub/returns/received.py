"""What one publisher has sent for one period, however it arrived (records in the log, or a row set)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass
class Submission:
    publisher: str
    period: str
    first_received_at: datetime
    last_received_at: datetime
    submitted_by: str
    live: dict[str, dict] = field(default_factory=dict)  # key -> {"payload", "id", "seq"}
    sent_keys: set = field(default_factory=set)
    replaced: bool = False
    versions: int = 0
    sign_off: dict | None = None  # row sets and agents' submissions: {state, state_at, state_by, comment}

    @property
    def payloads(self) -> list[dict]:
        return [entry["payload"] for entry in self.live.values()]
