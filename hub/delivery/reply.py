"""What a receiver answered, as the hub keeps it: its status, the headers that help an
operator (an allow-list: never cookies or credentials), how long it took, and the first
few KB of its body, decoded and sanitised.

Sanitised means: control characters other than newline and tab dropped, and anything
that looks like a secret (a Standard Webhooks `whsec_` secret, a bearer token, an API
key, a password or token field) replaced by `[redacted]`, since a receiver may echo
what it was sent or log its own configuration into an error page. The excerpt is cut
to a bound before anything else is done with it, so the cost per answer is fixed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# Headers that say what went wrong and how to follow it up with the receiver.
KEPT_HEADERS = ("content-type", "content-length", "retry-after", "date", "server", "x-request-id",
                "x-correlation-id", "request-id", "traceparent", "www-authenticate", "location")
MAX_HEADER_CHARS = 200
EXCERPT_BYTES = 4096  # of a refusal or failure: enough for an error page or a problem+json
SUCCESS_EXCERPT_BYTES = 256  # of an acceptance: usually empty or an id

REDACTED = "[redacted]"
# Each kind of secret, with a cheap test (on the lower-cased text) that must pass before its
# pattern is run: most answers hold none, and a case-blind pattern tried at every position costs.
_SECRETS = [
    (lambda low: "whsec_" in low, re.compile(r"whsec_[A-Za-z0-9+/=_-]+")),  # a webhook signing secret
    (lambda low: "bearer" in low or "basic" in low,
     re.compile(r"(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)),  # an Authorization value
    (re.compile(r"_[0-9a-f]{16}_").search,
     re.compile(r"\b[a-z]{2,12}_[0-9a-f]{16}_[A-Za-z0-9_-]{20,}")),  # a hub API key (prefix_ident_secret)
    (lambda low: any(word in low for word in ("password", "passwd", "secret", "token", "api_key", "api-key", "apikey")),
     re.compile(r"(?P<field>(?:password|passwd|secret|token|api[_-]?key)\"?\s*[:=]\s*\"?)[^\s\",;&]+", re.IGNORECASE)),
]
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Reply:
    """A receiver's answer, bounded and sanitised (stored on attempts and dead letters)."""
    headers: dict[str, str] = field(default_factory=dict)
    excerpt: str = ""
    truncated: bool = False  # the body was longer than the excerpt
    latency_ms: int | None = None


def _redact(match: re.Match) -> str:
    # "password=..." keeps its field name, so the reader sees what was there
    return (match.groupdict().get("field") or "") + REDACTED


def sanitise(text: str) -> str:
    text = _CONTROL.sub("", text)
    low = text.lower()
    for worth_looking, pattern in _SECRETS:
        if worth_looking(low):
            text = pattern.sub(_redact, text)
    return text


def kept_headers(headers: Any) -> dict[str, str]:
    """The allow-listed headers of an answer (a urllib3 HTTPHeaderDict or a dict), each bounded."""
    found = {}
    for name in KEPT_HEADERS:
        value = headers.get(name)
        if value:
            found[name] = sanitise(str(value))[:MAX_HEADER_CHARS]
    return found


def of_answer(headers: Any, body: bytes, limit: int, latency_ms: int | None) -> Reply:
    """A Reply from what was read of an answer: at most `limit` bytes of its body are looked at."""
    excerpt = body[:limit].decode("utf-8", errors="replace")
    return Reply(kept_headers(headers), sanitise(excerpt), len(body) > limit, latency_ms)
