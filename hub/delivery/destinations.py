"""Where webhooks may go: public https endpoints, and private or loopback ones only
when the operator allow-lists them (CAUSEWAY_WEBHOOK_ALLOW_NETWORKS, CIDR).

The host is resolved once, every address it resolves to is checked, and the
sender then connects to those very addresses (never resolving the name again), so
a name that changes its answer between the check and the connection (DNS
rebinding) cannot reach an internal host. Checked when subscribing and again
before sending (names can resolve anew).
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPv4, IPv6 = ipaddress.IPv4Address, ipaddress.IPv6Address
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: local-use translation
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated (RFC 4291): ::a.b.c.d


class DestinationRefused(Exception):
    pass


@dataclass(frozen=True)
class Destination:
    """A checked webhook URL: what to connect to, and what to tell the server."""
    scheme: str
    host: str  # the URL's host name: TLS SNI, certificate check
    port: int
    host_header: str
    target: str  # path and query
    addresses: tuple[str, ...]  # every address the host resolved to, each checked, in the resolver's order


def refusal(address) -> str | None:
    """Why an address is no place for a webhook, or None for a public one. Addresses that
    embed an IPv4 address (NAT64, 6to4) are judged by the address they embed."""
    if isinstance(address, IPv6) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast:
        return "a multicast address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if isinstance(address, IPv6):
        if address in _NAT64:
            embedded = IPv4(int(address) & 0xFFFFFFFF)
            why = refusal(embedded)
            return f"a NAT64 address for {embedded}, {why}" if why else None
        if address in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        if address.sixtofour is not None:
            why = refusal(address.sixtofour)
            return f"a 6to4 address for {address.sixtofour}, {why}" if why else None
        if address.teredo is not None:
            return "a Teredo tunnel address"
        if address in _IPV4_COMPATIBLE:
            return f"an IPv4-compatible address (for {IPv4(int(address) & 0xFFFFFFFF)})"
        if address.is_site_local:
            return "a site-local address"
    if isinstance(address, IPv4) and address.is_reserved:
        return "a reserved address"
    if address in _CGNAT:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


def _networks(allow: tuple[str, ...]):
    return [ipaddress.ip_network(entry, strict=False) for entry in allow]


def check_url(url: str, allow: tuple[str, ...], resolve=socket.getaddrinfo) -> Destination:
    """Resolve the URL's host once and check every address; raise DestinationRefused, or
    answer the Destination to connect to."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise DestinationRefused("a webhook URL must be an absolute https:// URL")
    if parts.username or parts.password:
        raise DestinationRefused("a webhook URL must not carry credentials; the payload is signed instead")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise DestinationRefused("the webhook URL's port is not a number from 0 to 65535") from None
    try:
        infos = resolve(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        raise DestinationRefused(f"cannot resolve {parts.hostname}: {exc}") from None
    networks = _networks(allow)
    addresses: list[str] = []
    listed = True
    for info in infos:
        text = info[4][0].split("%")[0]
        address = ipaddress.ip_address(text)
        if isinstance(address, IPv6) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not any(address in network for network in networks):
            listed = False
            why = refusal(address)
            if why:
                raise DestinationRefused(
                    f"{parts.hostname} resolves to {address}, {why}; "
                    "the hub's operators must allow-list it before webhooks can go there")
        if str(address) not in addresses:
            addresses.append(str(address))
    if not addresses:
        raise DestinationRefused(f"cannot resolve {parts.hostname}: no address")
    if parts.scheme == "http" and not listed:
        raise DestinationRefused("webhooks go over https; plain http only to allow-listed addresses")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port, parts.netloc, target, tuple(addresses))
