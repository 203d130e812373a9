"""Standard Webhooks signatures: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the
base64-decoded part of a `whsec_` secret after the prefix."""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets as _secrets
import time

PREFIX = "whsec_"
TOLERANCE_SECONDS = 300


class SignatureError(Exception):
    pass


def new_secret() -> str:
    return PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode("ascii")


def _key(secret: str) -> bytes:
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    return base64.b64decode(secret[len(PREFIX):])


def signature(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(_key(secret), f"{webhook_id}.{timestamp}.".encode("utf-8") + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def sign(secrets: list[str], webhook_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three headers; one signature per secret (new and, during rotation, previous)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, webhook_id, timestamp, body) for s in secrets),
    }


def verify(secret: str, headers, body: bytes, now: float | None = None, tolerance: int = TOLERANCE_SECONDS) -> None:
    """Raise SignatureError unless one of the header's signatures matches (constant time)."""
    try:
        webhook_id = headers["webhook-id"]
        timestamp = int(headers["webhook-timestamp"])
        given = headers["webhook-signature"].split()
    except (KeyError, ValueError, AttributeError) as exc:
        raise SignatureError("missing or malformed webhook-* headers") from exc
    now = time.time() if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    expected = signature(secret, webhook_id, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        raise SignatureError("no matching signature")
