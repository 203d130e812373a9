"""The hub's clock, set by the test (services take it as `clock`)."""
from __future__ import annotations

from datetime import datetime, timedelta


class FakeClock:
    def __init__(self, moment: datetime):
        self.now = moment

    def set(self, text: str) -> datetime:
        self.now = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return self.now

    def advance(self, **delta) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now

    def __call__(self) -> datetime:
        return self.now
