"""Canonical JSON: one byte string per value, so digests and signatures agree
between the agent that signs and the hub that verifies.

Both sides must use this one function. orjson is used for speed (it is on the
publish hot path twice per record); values it cannot encode (integers beyond
64 bits) fall back to the standard library, deterministically on both sides.
"""
import hashlib
import json
from typing import Any

import orjson


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(value: Any) -> str:
    """Hex SHA-256 of a value's canonical JSON."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def canonical_payload_and_digest(record: dict[str, Any]) -> tuple[bytes, str]:
    """(`canonical_json(record["payload"])`, `digest(record)`), the payload encoded once: the record's
    canonical JSON holds the payload's exactly (sorted keys all the way down), so it is spliced in."""
    payload = record["payload"]
    try:
        encoded_payload = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
        encoded = orjson.dumps({**record, "payload": orjson.Fragment(encoded_payload)}, option=orjson.OPT_SORT_KEYS)
    except (orjson.JSONEncodeError, TypeError):  # as canonical_json falls back, so do both here
        return canonical_json(payload), digest(record)
    return encoded_payload, hashlib.sha256(encoded).hexdigest()
