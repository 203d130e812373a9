"""Addressed referrals and their status updates, as tests publish them."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from support.browser import ConsoleHub
from support.factories import referral_record

PERSON = "43a4a7f3075f73c22b28cbc0445a18273de7451252575650db6f475927901671"


def put_in_force(hub: ConsoleHub, source: str, agreement_id: str, parties: list[str]) -> None:
    assert hub.api("POST", "/agreements", parties[0], "governance", json={"source": source}).status_code == 201
    for org in parties:
        answer = hub.api("POST", f"/agreements/{agreement_id}/transitions", org, "governance", json={"to": "approved"})
        assert answer.status_code == 200, answer.text
    answer = hub.api("POST", f"/agreements/{agreement_id}/transitions", parties[0], "governance", json={"to": "active"})
    assert answer.json()["status"] == "active", answer.text


def referral(referral_id: str, to: str, referred_at: datetime | None = None, referring_org: str = "edinburgh",
             **fields) -> dict:
    """A referral (schema version 3) from `referring_org` addressed to `to`."""
    at = (referred_at or datetime.now(timezone.utc)).isoformat(timespec="seconds")
    return referral_record(referral_id, subject=PERSON, to=to, occurred_at=at,
                           fields={"referring_org": referring_org, "referred_at": at, **fields})


def status(referral_id: str, by: str, step: str, referring_org: str = "edinburgh", **fields) -> dict:
    payload = {"status_id": f"ST-{uuid.uuid4().hex[:12]}", "referral_id": referral_id, "referring_org": referring_org,
               "receiving_org": by, "status": step, "status_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               **fields}
    return {"id": str(uuid.uuid4()), "dataset": "referral-status", "schema_version": 1, "key": payload["status_id"],
            "op": "upsert", "subject": PERSON, "occurred_at": payload["status_at"], "payload": payload}
