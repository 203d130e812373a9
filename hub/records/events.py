"""Records as CloudEvents 1.0 (structured JSON): the one place every event is made,
whether it goes out by webhook, MQTT or a pull feed.

- `dataschema` is an absolute URI under the hub's public URL (CAUSEWAY_PUBLIC_URL),
  the contract's schema endpoint `/api/v1/datasets/{dataset}/schemas/{version}`.
- `sequence` (the CloudEvents Sequence extension) is the log position zero-padded to
  20 digits, so comparing two as strings orders them as the log does.
- `retentionuntil` (events for a recipient) is the RFC 3339 date until which the
  recipient may keep the record under the agreement that let it through: the day it
  was handed over plus the agreement's `retention_days`.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta
from urllib.parse import urlsplit

SEQUENCE_DIGITS = 20
_FROM_ROW = object()


def sequence(seq: int) -> str:
    return f"{seq:0{SEQUENCE_DIGITS}d}"


class CloudEvents:
    def __init__(self, public_url: str):
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"the hub's public URL must be an absolute http(s) URL, not {public_url!r} "
                             "(set CAUSEWAY_PUBLIC_URL)")
        self.schemas = public_url.rstrip("/") + "/api/v1/datasets/"
        self._until: dict[tuple[int, int], str] = {}

    def record(self, row, data=_FROM_ROW) -> dict:
        """A record as it sits in the log (the publisher's own view)."""
        if data is _FROM_ROW:
            data = json.loads(row.payload) if row.payload is not None else None
        return {
            "specversion": "1.0",
            "id": row.id,
            "source": f"/causeway/orgs/{row.publisher}",
            "type": f"uk.causeway.record.{row.op}",
            "subject": row.key,
            "time": row.occurred_at,
            "datacontenttype": "application/json",
            "dataschema": f"{self.schemas}{row.dataset}/schemas/{row.schema_version}",
            "dataset": row.dataset,
            "schemaversion": row.schema_version,
            "sequence": sequence(row.seq),
            "data": data,
        }

    def for_recipient(self, row, decision, purpose: str, at: datetime) -> dict:
        """A record as the recipient may see it, decided at `at`: the projected data and
        the agreement that allowed it (or one of the hub's notices addressed to it)."""
        event = self.record(row, decision.payload)
        if decision.notice:
            event["type"] = f"uk.causeway.{decision.payload['type']}"
            event["source"] = "/causeway/hub"
            return event
        if row.op == "delete":
            event["data"] = None
        event["subject"] = decision.key
        if decision.subject:
            event["datasubject"] = decision.subject
        event["agreement"] = f"{decision.agreement_id}/v{decision.agreement_version}"
        event["lawfulbasis"] = decision.lawful_basis
        event["purpose"] = purpose
        days = getattr(decision, "retention_days", None)
        if days is not None:
            event["retentionuntil"] = self.retention_until(at, days)
        return event

    def retention_until(self, at: datetime, days: int) -> str:
        key = (at.toordinal(), days)
        until = self._until.get(key)
        if until is None:
            if len(self._until) > 1000:
                self._until.clear()
            until = self._until[key] = (at.date() + timedelta(days=days)).isoformat()
        return until
