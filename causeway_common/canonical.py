"""Canonical JSON: one byte string per value, so digests and signatures agree
between the agent that signs and the hub that verifies."""
import hashlib
import json


def canonical_json(value) -> bytes:
    """Sorted keys, no insignificant white space, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def digest(value) -> str:
    """Hex SHA-256 of a value's canonical JSON."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
