"""Reminder webhooks: signed per Standard Webhooks, and only to public addresses.

A destination that resolves to a private, loopback, link-local or otherwise
non-public address is refused (the hub must not be usable to reach inside
its own network) unless the address is in an allow-listed network.
Redirects are not followed, for the same reason.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import socket
import time
import uuid
from urllib.parse import urlsplit

import requests


class WebhookRefused(ValueError):
    pass


def _networks(allowed) -> list:
    return [ipaddress.ip_network(n, strict=False) for n in allowed]


def check_destination(url: str, allowed_networks=()) -> None:
    """Raise WebhookRefused unless every address the URL's host resolves to may be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookRefused(f"webhook URL {url!r} must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise WebhookRefused("webhook URL must not carry a user name or password; the payload is signed instead")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = {info[4][0] for info in socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)}
    except (socket.gaierror, ValueError) as exc:
        raise WebhookRefused(f"webhook host {parts.hostname!r} cannot be resolved: {exc}") from None
    allowed = _networks(allowed_networks)
    for text in addresses:
        address = ipaddress.ip_address(text.split("%")[0])
        if address.is_global or any(address in network for network in allowed):
            continue
        raise WebhookRefused(
            f"webhook host {parts.hostname!r} resolves to {address}, a private or reserved address; "
            "the hub calls only public addresses unless the network is allow-listed in its settings")


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of id.timestamp.body>` with the whsec_ secret's key bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


class WebhookSender:
    def __init__(self, allowed_networks=(), timeout: float = 10.0):
        self.allowed_networks = tuple(allowed_networks)
        self.timeout = timeout

    def send(self, url: str, secret: str, event: dict) -> None:
        """POST the event; raise on refusal, network error or a non-2xx answer."""
        check_destination(url, self.allowed_networks)
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        message_id = f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time())
        headers = {
            "content-type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret, message_id, timestamp, body),
        }
        response = requests.post(url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False)
        if not 200 <= response.status_code < 300:
            raise RuntimeError(f"webhook answered HTTP {response.status_code}")
