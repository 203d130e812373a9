"""Notices the hub appends to the record log for one recipient (e.g. consent.withdrawn).

They go through the record log like any record, so every cursor-based channel
carries them in order with the records they concern. Each is addressed to one
recipient about one dataset (`notice_recipients`), so delivery wakes exactly the
subscriptions it is for and nobody else counts it as lag.
"""
from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from causeway_common.canonical import canonical_json, digest
from hub.records.models import batches, records
from hub.timeutil import iso_utc

from .models import notice_recipients
from .vocabulary import HUB_PUBLISHER, NOTICE_DATASET


def append_notices(conn: Connection, payloads: list[dict], now: datetime) -> list[int]:
    """Append notices (payloads of causeway.notice, each naming its recipient and dataset), received
    at `now`, in the caller's write transaction; returns their seqs."""
    if not payloads:
        return []
    batch_id = f"notice-{uuid.uuid4()}"
    tail = conn.execute(select(records.c.seq).order_by(records.c.seq.desc()).limit(1)).scalar()
    seq = (tail or 0) + 1
    rows = []
    for payload in payloads:
        envelope = {"id": payload["notice_id"], "dataset": NOTICE_DATASET, "schema_version": 1,
                    "key": payload["notice_id"], "op": "upsert", "publisher": HUB_PUBLISHER,
                    "occurred_at": iso_utc(now), "payload": payload}
        rows.append({**{k: envelope[k] for k in ("id", "dataset", "schema_version", "key", "op", "publisher", "occurred_at")},
                     "subject": None, "seq": seq, "received_at": now, "batch_id": batch_id,
                     "digest": digest(envelope), "payload": canonical_json(payload).decode("utf-8")})
        seq += 1
    conn.execute(insert(batches).values(id=batch_id, org=HUB_PUBLISHER, credential_id="hub", agent_id=None,
                                        received_at=now, record_count=len(rows), manifest=None, signature=None,
                                        signature_verified=False))
    conn.execute(insert(records), rows)
    conn.execute(insert(notice_recipients), [{"seq": row["seq"], "recipient": payload["recipient"],
                                              "dataset": payload["dataset"]} for row, payload in zip(rows, payloads)])
    return [r["seq"] for r in rows]


def consent_withdrawn(recipient: str, dataset: str, provider: str, record_ids: list[str], withdrawn_at) -> dict:
    return {"notice_id": str(uuid.uuid4()), "type": "consent.withdrawn", "recipient": recipient,
            "dataset": dataset, "provider": provider, "records": sorted(record_ids),
            "withdrawn_at": iso_utc(withdrawn_at),
            "message": "The data subject withdrew the consent these records were shared under: "
                       "erase them and do not use them further."}
