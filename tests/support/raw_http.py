"""Raw HTTP for tests of what goes over the wire: requests sent exactly as written, and the console's CSRF field."""
from __future__ import annotations

import http.client
import re

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
PROBLEM = "application/problem+json"


def raw_request(hub, method: str, path: str, headers=None, body=None):
    """A request sent as written (no client-side normalisation of the path); (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", hub.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def csrf_from(html: str) -> str:
    match = CSRF_FIELD.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)
