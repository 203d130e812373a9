"""Delivered events checked with the official tools, as a subscriber would check them:
parsed by the CloudEvents Python SDK (structured JSON, one event or a batch array) and
validated against the CloudEvents 1.0 JSON schema (tests/cloudevents.schema.json, with
format checks, so `dataschema` must be an absolute URI and `time` an RFC 3339 time).

No hub code: the webhook receiver process imports this too."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema_rs
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from cloudevents.core.formats.json import JSONFormat

SCHEMA = json.loads((Path(__file__).parent / "cloudevents.schema.json").read_text(encoding="utf-8"))
_VALIDATOR = jsonschema_rs.Draft7Validator(SCHEMA, validate_formats=True)
SINGLE = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"


class InvalidEvent(ValueError):
    pass


def check_event(event: dict):
    """One event (a parsed JSON object): schema-valid and accepted by the SDK; returns the SDK's event."""
    errors = [f"{'/'.join(map(str, e.instance_path)) or '(event)'}: {e.message}" for e in _VALIDATOR.iter_errors(event)]
    if errors:
        raise InvalidEvent(f"event {event.get('id')} is not valid CloudEvents 1.0: {'; '.join(errors)}")
    try:
        return JSONFormat().read(None, json.dumps(event))
    except Exception as exc:  # the SDK's own validation errors have no common base worth naming
        raise InvalidEvent(f"the CloudEvents SDK refused event {event.get('id')}: {exc}") from exc


def check_http(headers: dict, body: bytes) -> list:
    """A webhook request's events, through the SDK's HTTP binding; raises InvalidEvent."""
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type == BATCH:
        events = json.loads(body)
        if not isinstance(events, list):
            raise InvalidEvent("a cloudevents-batch body must be a JSON array")
        return [check_event(e) for e in events]
    if content_type != SINGLE:
        raise InvalidEvent(f"content-type {content_type!r} is neither {SINGLE} nor {BATCH}")
    event = json.loads(body)
    check_event(event)
    try:
        return [from_http_event(HTTPMessage(headers=dict(headers), body=body))]
    except Exception as exc:
        raise InvalidEvent(f"the CloudEvents SDK refused the request: {exc}") from exc
