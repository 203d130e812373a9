"""Hostile HTTP requests against a real hub process (uvicorn, not the test client):
paths that try to slip past the contract, oversized chunked bodies, headers,
/metrics, oversized heartbeats, CSV fields and sign-in redirects."""
from __future__ import annotations

import http.client
import json
import select
import socket
from pathlib import Path

import pytest
import requests
import yaml

from support.factories import gazetteer_record
from support.raw_http import PROBLEM, csrf_from, raw_request

pytestmark = pytest.mark.e2e

CONTRACT = yaml.safe_load((Path(__file__).resolve().parents[2] / "hub" / "openapi.yaml").read_text())
HOSTILE_VALUES = ["%0A", "x%0A", "%00", "x%00", "%2F", "x%2Fy", "..", "%2E%2E"]
MIB = 1024 * 1024


def _resolve(item: dict) -> dict:
    ref = item.get("$ref")
    if not ref:
        return item
    node = CONTRACT
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def _hostile_path_cases():
    """(method, path, open without a key) for every path parameter of every operation, each
    hostile value in turn."""
    for template, path_item in CONTRACT["paths"].items():
        shared = [_resolve(p) for p in path_item.get("parameters", [])]
        for method, operation in path_item.items():
            if method == "parameters":
                continue
            params = shared + [_resolve(p) for p in operation.get("parameters", [])]
            names = [p["name"] for p in params if p["in"] == "path"]
            for name in names:
                for value in HOSTILE_VALUES:
                    path = template
                    for other in names:
                        path = path.replace("{" + other + "}", value if other == name else "edinburgh")
                    yield method.upper(), "/api/v1" + path, operation.get("security") == []


PATH_CASES = sorted({(method, path) for method, path, _ in _hostile_path_cases()})
# Operations open without a key (e.g. a calendar's secret feed address): a hostile path parameter
# there is refused by the contract's parameter check (400) rather than the security layer.
OPEN_CASES = {(method, path) for method, path, open_ in _hostile_path_cases() if open_}


# One hub per database for the whole module: every test here only reads, or writes what no
# other test looks at.
@pytest.fixture
def services(module_services):
    return module_services


@pytest.fixture
def hub(module_hub):
    return module_hub


def test_the_contract_has_path_parameters_to_attack():
    assert len(PATH_CASES) > 200  # the generator found the operations (and none silently vanished)
    assert ("GET", "/api/v1/datasets/x%0A") in PATH_CASES


def test_hostile_path_parameters_never_reach_a_view_unauthenticated(hub):
    """Without a key every hostile path is refused by the security layer (401) or matches no
    operation (404), or for an operation open without a key by its parameter check (400), as
    problem+json: none reaches a view, none answers 5xx."""
    wrong = []
    for method, path in PATH_CASES:
        status, headers, _ = raw_request(hub, method, path, {"Content-Type": "application/json"}, b"{}" if method != "GET" else None)
        refusals = (400, 401, 404) if (method, path) in OPEN_CASES else (401, 404)
        if status not in refusals or not headers.get("content-type", "").startswith(PROBLEM):
            wrong.append((method, path, status, headers.get("content-type")))
    assert wrong == [], "\n".join(map(str, wrong))
    assert "Traceback" not in (hub.log_path.read_text() if hub.log_path.exists() else "")


def test_hostile_path_parameters_get_a_4xx_problem_with_an_admin_key(hub, key_for):
    auth = {"Authorization": f"Bearer {key_for('edinburgh', 'admin')}", "Content-Type": "application/json"}
    wrong = []
    for method, path in PATH_CASES:
        status, headers, _ = raw_request(hub, method, path, auth, b"{}" if method != "GET" else None)
        if 200 <= status < 300 and ("/../" in path or "/%2E%2E/" in path):
            continue  # ".." is a literal value (a subject reference), looked up as such: nothing traversed
        if not 400 <= status < 500 or not headers.get("content-type", "").startswith(PROBLEM):
            wrong.append((method, path, status, headers.get("content-type")))
    assert wrong == [], "\n".join(map(str, wrong))


@pytest.mark.parametrize("path", ["/api/v1/datasets/gazetteer-address%0A", "/api/v1/nothing-here",
                                  "/api/v1/datasets/gazetteer-address/schemas/1/extra", "/console/sign-in%0A",
                                  "/metrics%0A"])
def test_unmatched_paths_are_404_problem_json(hub, key_for, path):
    for headers in ({}, {"Authorization": f"Bearer {key_for('edinburgh', 'admin')}"}):
        status, answer, body = raw_request(hub, "GET", path, headers)
        assert status == 404, body
        assert answer["content-type"].startswith(PROBLEM)


# -- body limits ----------------------------------------------------------------
def _send_body(hub, path: str, headers: dict, chunks, chunked: bool):
    """Send a request body piece by piece over a raw socket, stopping as soon as the hub answers
    (it may refuse before the body ends); returns (status, headers, body)."""
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=60)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        head += "Transfer-Encoding: chunked\r\n\r\n" if chunked else "\r\n"
        sock.sendall(head.encode())
        try:
            for chunk in chunks:
                if select.select([sock], [], [], 0)[0]:
                    break  # answered already
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        sock.close()


def _batch_chunks(total: int):
    """A JSON array of records' worth of bytes, in 64 KiB pieces."""
    piece = b" " * (64 * 1024)
    yield b"["
    for _ in range(total // len(piece)):
        yield piece
    yield b"]"


@pytest.mark.parametrize("keyed", [True, False])
def test_an_oversized_chunked_body_is_413(hub, key_for, keyed):
    headers = {"Authorization": f"Bearer {key_for('edinburgh', 'publisher')}"} if keyed else {}
    status, answer, body = _send_body(hub, "/api/v1/records", headers, _batch_chunks(6 * MIB), chunked=True)
    assert status == 413, body
    assert answer["content-type"].startswith(PROBLEM)
    assert b"limit" in body
    assert requests.get(f"{hub.url}/api/v1/health", timeout=5).status_code == 200  # the process is unharmed


def test_an_oversized_body_with_content_length_is_413(hub, key_for):
    headers = {"Authorization": f"Bearer {key_for('edinburgh', 'publisher')}", "Content-Length": str(6 * MIB + 2)}
    status, answer, body = _send_body(hub, "/api/v1/records", headers, _batch_chunks(6 * MIB), chunked=False)
    assert status == 413, body
    assert answer["content-type"].startswith(PROBLEM)


def test_a_small_chunked_batch_is_published(hub, key_for):
    """Chunked bodies are bodies: before, connexion took one without Content-Length for absent."""
    headers = {"Authorization": f"Bearer {key_for('edinburgh', 'publisher')}"}
    status, _, body = _send_body(hub, "/api/v1/records", headers, [json.dumps({"records": [gazetteer_record(1001)]}).encode()], chunked=True)
    assert status == 200, body
    assert json.loads(body)["accepted"] == 1


# -- CSV and sign-in redirects ------------------------------------------------------
CONSENT_HEADER = "subject,purpose,recipients,method,evidence_ref,given_at\n"
GOOD_CONSENT = "subj-1,ServiceProvision,sds,signed form,EV-1,2026-01-05T10:00:00Z\n"


def test_a_csv_field_over_the_csv_modules_limit_is_refused_naming_the_line(hub, key_for):
    text = CONSENT_HEADER + GOOD_CONSENT + "subj-2,ServiceProvision,sds,form,\"" + "E" * (200 * 1024) + "\",2026-01-05T10:00:00Z\n"
    answer = requests.post(f"{hub.url}/api/v1/consents/import", data=text.encode(), timeout=30,
                           headers={"Authorization": f"Bearer {key_for('edinburgh', 'governance')}",
                                    "Content-Type": "text/csv"})
    assert answer.status_code == 422, answer.text[:300]
    assert answer.headers["content-type"].startswith(PROBLEM)
    assert "line 3" in answer.json()["detail"] and "field larger than field limit" in answer.json()["detail"]
    fixed = requests.post(f"{hub.url}/api/v1/consents/import", data=(CONSENT_HEADER + GOOD_CONSENT).encode(),
                          timeout=30, headers={"Authorization": f"Bearer {key_for('edinburgh', 'governance')}",
                                               "Content-Type": "text/csv"})
    assert fixed.json()["imported"] == 1  # nothing of the refused file was kept half-way


@pytest.mark.parametrize("next_page", [
    "/console/agents\r\nSet-Cookie: injected=1", "/console/\nX-Injected: 1", "/console/\r", "/console/ok\x00",
    "//evil.example/console", "https://evil.example/console", "/console\\..\\evil", "/consolex", "/console/ é",
])
def test_sign_in_redirects_only_to_a_local_console_path(hub, services, next_page):
    username = f"ops.{abs(hash(next_page))}"
    services.accounts.add_user(username, "sds", "ops", "a long test password 1", actor="test")
    browser = requests.Session()
    page = browser.get(f"{hub.url}/console/sign-in", params={"next": next_page}, timeout=10)
    assert page.status_code == 200
    answer = browser.post(f"{hub.url}/console/sign-in", allow_redirects=False, timeout=30, data={
        "csrf_token": csrf_from(page.text), "username": username, "password": "a long test password 1",
        "next": next_page})
    assert answer.status_code == 302
    assert answer.headers["location"] == "/console/"
    assert "injected" not in answer.headers.get("set-cookie", "") and "x-injected" not in answer.headers
    again = browser.get(f"{hub.url}/console/sign-in", params={"next": next_page}, allow_redirects=False, timeout=10)
    assert again.status_code == 302 and again.headers["location"] == "/console/"  # signed in already


def test_sign_in_keeps_a_local_next_page(hub, services):
    services.accounts.add_user("ops.kept", "sds", "ops", "a long test password 1", actor="test")
    browser = requests.Session()
    page = browser.get(f"{hub.url}/console/sign-in", timeout=10)
    answer = browser.post(f"{hub.url}/console/sign-in", allow_redirects=False, timeout=30, data={
        "csrf_token": csrf_from(page.text), "username": "ops.kept", "password": "a long test password 1",
        "next": "/console/agents?status=stale"})
    assert answer.headers["location"] == "/console/agents?status=stale"
