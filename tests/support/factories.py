"""Valid records to publish, built from the schemas' own examples."""
from __future__ import annotations

import copy
import uuid

from causeway_common.catalogue import load_catalogue

_CATALOGUE = load_catalogue()


def example_payload(dataset: str, version: int = 1, index: int = 0) -> dict:
    return copy.deepcopy(_CATALOGUE[dataset].schemas[version]["examples"][index])


def gazetteer_record(uprn: str | int, custodian: str = "edinburgh", **overrides) -> dict:
    payload = example_payload("gazetteer-address")
    payload["uprn"] = str(uprn)
    payload["custodian"] = custodian
    record = {
        "id": str(uuid.uuid4()),
        "dataset": "gazetteer-address",
        "schema_version": 1,
        "key": str(uprn),
        "op": "upsert",
        "occurred_at": "2026-11-02T09:30:00Z",
        "payload": payload,
    }
    record.update(overrides)
    return record


def referral_record(referral_id: str, subject: str = "subj-001", to: str = "sds", fields: dict | None = None,
                    **overrides) -> dict:
    """A referral (schema version 3, the first to name its addressee) addressed to `to`;
    `fields` replace payload fields, `overrides` envelope ones."""
    payload = example_payload("referral", 3)
    payload.update(referral_id=referral_id, receiving_org=to, **(fields or {}))
    record = {
        "id": str(uuid.uuid4()),
        "dataset": "referral",
        "schema_version": 3,
        "key": referral_id,
        "op": "upsert",
        "subject": subject,
        "occurred_at": "2026-11-02T09:30:00Z",
        "payload": payload,
    }
    record.update(overrides)
    return record
