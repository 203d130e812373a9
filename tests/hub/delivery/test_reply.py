"""What the hub keeps of a receiver's answer: bounded, the headers that help, secrets
redacted; and the attempt history the result writer makes of a page."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub.delivery import reply
from hub.delivery.channel import Outcome
from hub.delivery.planner import PageResult
from hub.delivery.writer import attempt_row, dead_letter_rows, reply_values

pytestmark = pytest.mark.timeout(10)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def test_secrets_a_receiver_echoes_are_redacted_and_the_rest_is_kept():
    said = reply.sanitise('{"error": "bad postcode", "signing": "whsec_c2VjcmV0LXZhbHVl", "password": "hunter2hunter2",'
                          ' "auth": "Bearer eyJhbGciOi.JIUzI1NiIs.abc", "key": "cw_0123456789abcdef_'
                          'ABCDEFGHIJKLMNOPQRSTUVWXYZ", "note": "token=abc123def456"}')
    assert "bad postcode" in said
    for secret in ("c2VjcmV0LXZhbHVl", "hunter2hunter2", "eyJhbGciOi", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abc123def456"):
        assert secret not in said, secret
    assert '"password": "[redacted]' in said and "token=[redacted]" in said


def test_control_characters_are_dropped_but_lines_kept():
    assert reply.sanitise("line one\n\x1b[31mline two\x00\tend") == "line one\n[31mline two\tend"


def test_only_the_allow_listed_headers_are_kept_each_bounded():
    kept = reply.kept_headers({"content-type": "application/problem+json", "set-cookie": "session=abc",
                               "authorization": "Bearer abcdefghijkl", "x-request-id": "r" * 500,
                               "retry-after": "30"})
    assert set(kept) == {"content-type", "x-request-id", "retry-after"}
    assert len(kept["x-request-id"]) == reply.MAX_HEADER_CHARS


def test_the_excerpt_is_cut_to_its_bound_and_says_so():
    body = ("é" * 3000).encode()  # 6000 bytes; the cut may fall inside a character
    said = reply.of_answer({}, body, reply.EXCERPT_BYTES, 12)
    assert said.truncated and len(said.excerpt.encode()) <= reply.EXCERPT_BYTES + 3 and said.latency_ms == 12
    assert reply_values(said)["reply_excerpt"].endswith(" …")
    assert not reply.of_answer({}, b"ok", reply.EXCERPT_BYTES, 1).truncated


def test_a_dead_letter_keeps_what_the_receiver_said_about_it():
    from support.delivery_fakes import log_row

    from .test_worker_parts import sub
    answer = reply.Reply({"x-request-id": "req-1"}, "postcode is not one we serve", False, 40)
    result = PageResult(refused=[(2, "msg_2", Outcome("refused", 422, "the endpoint refused the event with 422",
                                                      reply=answer))])
    (row,) = dead_letter_rows(sub(), [log_row(1), log_row(2)], result, NOW)
    assert row["reply_excerpt"] == "postcode is not one we serve" and '"req-1"' in row["reply_headers"]


def test_an_attempt_records_outcome_status_latency_and_no_error_when_delivered():
    ok = attempt_row("s1", Outcome("ok", 200, reply=reply.Reply({}, "", False, 7)), 3, NOW)
    assert (ok["outcome"], ok["status_code"], ok["latency_ms"], ok["events"], ok["error"]) == ("ok", 200, 7, 3, None)
    failed = attempt_row("s1", Outcome("failed", None, "could not connect: NewConnectionError"), 0, NOW)
    assert failed["latency_ms"] is None and failed["error"].startswith("could not connect")
