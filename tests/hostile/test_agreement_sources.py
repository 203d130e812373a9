"""Hostile agreement sources: alias bombs, control characters, deep nesting, huge numbers and
oversized text get a specific refusal (problem+json with line and column where there is one),
the caller is checked before the YAML is read, the console editor goes the same way, and a real
hub's memory stays flat under an alias bomb."""
import re
import threading
import time
from pathlib import Path

import pytest
import requests

from support.agreements import example
from support.console import add_staff, csrf_from, sign_in
from support.hubprocess import HubProcess


def alias_bomb(levels: int) -> str:
    """The "billion laughs": `levels` levels of 9 aliases each, 9**levels strings once expanded."""
    names = "abcdefghi"[:levels]
    return "\n".join(['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
                     + [f"{b}: &{b} [{', '.join(['*' + a] * 9)}]" for a, b in zip(names, names[1:])]) + "\n"


ALIAS_BOMB = alias_bomb(9)  # 387 million strings from 500 bytes: only for the hub process, whose memory is watched
SMALL_BOMB = alias_bomb(4)  # enough to show the refusal in-process without risking the test's own memory
REFERRAL = "referral-edinburgh-sds"


def create(client, headers, source):
    return client.post("/api/v1/agreements", json={"source": source}, headers=headers)


def problems(response):
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.json().get("problems", [])


# -- in-process, on SQLite and PostgreSQL ---------------------------------------------------
@pytest.mark.parametrize("source, words", [
    (SMALL_BOMB, "an anchor (&a) is not allowed"),
    (example(REFERRAL).replace("providers: [edinburgh]", "providers: &who [edinburgh]")
     .replace("recipients: [sds]", "recipients: *who"), "an anchor (&who) is not allowed"),
    ("base: &base {retention_days: 30}\nother:\n  <<: *base\n", "an anchor (&base) is not allowed"),
    ("title: *nowhere\n", "an alias (*nowhere) is not allowed"),
])
def test_anchors_and_aliases_are_refused(client, auth, source, words):
    started = time.monotonic()
    response = create(client, auth("edinburgh", "governance"), source)
    assert response.status_code == 422
    assert any(words in p["message"] and p["line"] for p in problems(response)), problems(response)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("character", ["\x07", "\x00", "\x1b", "\ufffe"])
def test_control_characters_are_answered_with_their_line_and_column(client, auth, character):
    source = example(REFERRAL).replace("title: Employability", f"title: Employ{character}ability")
    response = create(client, auth("edinburgh", "governance"), source)
    assert response.status_code == 422, response.text
    line = next(n for n, text in enumerate(source.splitlines(), 1) if character in text)
    column = source.splitlines()[line - 1].index(character) + 1
    [problem] = problems(response)
    assert (problem["line"], problem["column"]) == (line, column)
    assert f"U+{ord(character):04X}" in problem["message"]


def test_nesting_and_numbers_beyond_reason_are_refused(client, auth):
    governance = auth("edinburgh", "governance")
    deep = create(client, governance, "id: x\ntitle: " + "[" * 5000 + "]" * 5000 + "\n")
    assert deep.status_code == 422
    assert any("nested more than" in p["message"] and p["line"] == 2 for p in problems(deep))
    huge = create(client, governance, example(REFERRAL).replace("retention_days: 365", "retention_days: " + "9" * 5000))
    assert huge.status_code == 422 and "not a value an agreement can hold" in huge.text


def test_an_oversized_source_is_refused_before_it_is_read(client, auth):
    source = example(REFERRAL) + "#" + "x" * (256 * 1024) + "\n"
    response = create(client, auth("edinburgh", "governance"), source)
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == 256 * 1024 and "at most 262144 bytes" in response.json()["detail"]
    assert create(client, auth("edinburgh", "governance"), example(REFERRAL)).status_code == 201


def test_the_caller_is_checked_before_the_yaml_is_read(client, auth):
    assert create(client, auth("edinburgh", "governance"), example(REFERRAL)).status_code == 201
    bad = "id: referral-edinburgh-sds\ntitle: \x07\n"
    # A party of no version, and a role that writes no agreements, learn nothing from the parser.
    put = client.put(f"/api/v1/agreements/{REFERRAL}", json={"source": bad}, headers=auth("fife", "governance"))
    assert put.status_code == 404 and "problems" not in put.json()
    for role in ("publisher", "subscriber", "ops"):
        assert create(client, auth("edinburgh", role), SMALL_BOMB).status_code == 403


def test_the_console_editor_refuses_what_the_api_refuses(app, services):
    add_staff(services, "gina", "edinburgh", "governance")
    with app.test_client() as browser:
        sign_in(browser, "gina")
        token = csrf_from(browser.get("/console/agreements/new").text)
        bomb = browser.post("/console/agreements/new", data={"csrf_token": token, "source": SMALL_BOMB})
        assert bomb.status_code == 422 and "an anchor (&amp;a) is not allowed" in bomb.text
        control = browser.post("/console/agreements/new", data={
            "csrf_token": token, "source": example(REFERRAL).replace("title: Employability", "title: Em\x07ployability")})
        assert control.status_code == 422 and re.search(r"Line 4, column 10", control.text)  # title: Em|here
        big = browser.post("/console/agreements/new", data={"csrf_token": token,
                                                            "source": example(REFERRAL) + "#" + "x" * 300_000})
        assert big.status_code == 413 and "at most 262144 bytes" in big.text
    assert services.policy.agreements.list(_admin()) == []


def _admin():
    from hub.auth import Principal

    return Principal(org="edinburgh", role="admin", credential_id="test")


# -- a real hub process -----------------------------------------------------------------------
def rss_kib(pid: int) -> int:
    """Resident memory of a process and its children (KiB), from /proc."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, AttributeError):
            continue
    return total


@pytest.mark.e2e
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_alias_bomb_leaves_a_real_hubs_memory_flat(services, db_url, key_for, tmp_path):
    hub = HubProcess(db_url, log_path=tmp_path / "hub.log",
                     env={"CAUSEWAY_AGREEMENT_SOURCE_MAX_BYTES": "8192"}).start()
    try:
        def send(method, path, org, source):
            return requests.request(method, f"{hub.url}/api/v1{path}", json={"source": source}, timeout=60,
                                    headers={"Authorization": f"Bearer {key_for(org, 'governance')}"})

        assert send("POST", "/agreements", "edinburgh", example(REFERRAL)).status_code == 201
        baseline = rss_kib(hub.process.pid)
        attempts = [("POST", "/agreements", "fife"),  # not a party to anything
                    ("POST", "/agreements", "edinburgh"),
                    ("PUT", f"/agreements/{REFERRAL}", "edinburgh"),  # a party, to its own agreement
                    ("PUT", f"/agreements/{REFERRAL}", "fife")] * 3
        peak = baseline
        for method, path, org in attempts:
            answers = []
            sender = threading.Thread(target=lambda answers=answers, method=method, path=path, org=org: answers.append(
                send(method, path, org, ALIAS_BOMB)))
            sender.start()
            while sender.is_alive():  # watch memory while the hub reads the bomb; stop it if it climbs
                peak = max(peak, rss_kib(hub.process.pid))
                if peak - baseline > 200 * 1024:
                    hub.kill()
                    pytest.fail(f"the hub grew by {(peak - baseline) // 1024} MiB reading a {len(ALIAS_BOMB)}-byte source")
                time.sleep(0.02)
            sender.join()
            assert answers[0].status_code in (404, 422), (method, path, org, answers[0].text)
        assert peak - baseline < 50 * 1024, f"grew by {(peak - baseline) // 1024} MiB"
        # The setting bounds the source, and the hub still works after all that.
        oversized = send("POST", "/agreements", "edinburgh", example(REFERRAL) + "#" + "x" * 9000)
        assert oversized.status_code == 413 and oversized.json()["limit_bytes"] == 8192
        assert requests.get(f"{hub.url}/api/v1/health", timeout=5).status_code == 200
    finally:
        hub.stop()
