"""Webhook secrets at rest: sealed with AES-256-GCM under the hub's secrets key.

Without a configured key a secret is stored unsealed (marked so) and the hub
warns once: set CAUSEWAY_SECRETS_KEY (base64 of 32 random bytes) in production.
Secrets are shown to the subscriber once, at creation or rotation, and never
returned by any read or logged.
"""
from __future__ import annotations

import base64
import logging

from Crypto.Cipher import AES
from Crypto.Random import get_random_bytes

log = logging.getLogger("causeway.delivery")
_warned = False


class SecretBox:
    def __init__(self, key_b64: str | None):
        self._key = base64.b64decode(key_b64) if key_b64 else None
        if self._key is not None and len(self._key) != 32:
            raise ValueError("the secrets key must be base64 of exactly 32 bytes")

    def seal(self, secret: str) -> str:
        global _warned
        if self._key is None:
            if not _warned:
                log.warning("webhook secrets are stored unsealed: set CAUSEWAY_SECRETS_KEY to seal them")
                _warned = True
            return "plain:" + secret
        nonce = get_random_bytes(12)
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=nonce)
        sealed, tag = cipher.encrypt_and_digest(secret.encode("utf-8"))
        return "v1:" + base64.b64encode(nonce + tag + sealed).decode("ascii")

    def open(self, stored: str) -> str:
        if stored.startswith("plain:"):
            return stored[len("plain:"):]
        if not stored.startswith("v1:") or self._key is None:
            raise ValueError("this webhook secret is sealed and the hub has no secrets key to open it")
        raw = base64.b64decode(stored[3:])
        cipher = AES.new(self._key, AES.MODE_GCM, nonce=raw[:12])
        return cipher.decrypt_and_verify(raw[28:], raw[12:28]).decode("utf-8")
