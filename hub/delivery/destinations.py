"""Where webhooks may go: public https endpoints, and private or loopback ones only
when the operator allow-lists them (CAUSEWAY_WEBHOOK_ALLOW_NETWORKS, CIDR).
Checked when subscribing and again before every send (names can resolve anew)."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class DestinationRefused(Exception):
    pass


def _networks(allow: tuple[str, ...]):
    return [ipaddress.ip_network(entry, strict=False) for entry in allow]


def check_url(url: str, allow: tuple[str, ...], resolve=socket.getaddrinfo) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DestinationRefused("a webhook URL must be an absolute https:// URL")
    if parts.username or parts.password:
        raise DestinationRefused("a webhook URL must not carry credentials")
    try:
        infos = resolve(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                        proto=socket.IPPROTO_TCP)
    except OSError as exc:
        raise DestinationRefused(f"cannot resolve {parts.hostname}: {exc}") from None
    networks = _networks(allow)
    addresses = {ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos}
    allowed = [any(a in n for n in networks) for a in addresses]
    if not all(allowed):
        for address in addresses:
            if not address.is_global and not any(address in n for n in networks):
                raise DestinationRefused(
                    f"{parts.hostname} resolves to {address}, a private, loopback or reserved address; "
                    "the hub's operators must allow-list it before webhooks can go there")
    if parts.scheme == "http" and not all(allowed):
        raise DestinationRefused("webhooks go over https; plain http only to allow-listed addresses")
