"""Subscriptions and agents in real headless Chromium, against a real hub process with its
delivery worker, a real webhook receiver process, and agents reporting through the API.

A receiver refuses one chosen event (HTTP 400), so the hub sets it aside as a dead
letter; operations staff see it in the console, the receiver is told to accept it,
they retry it from the page and it is delivered. Governance staff may look but not act.
"""
from __future__ import annotations

import base64
import subprocess
import sys

import pytest
import requests

from causeway_common.signing import generate_key, public_key_b64
from support.agreements import agreement_yaml
from support.browser import ConsoleHub
from support.factories import gazetteer_record
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

AGREEMENT = agreement_yaml("gazetteer-edinburgh-sds", ["edinburgh"], ["sds"],
                           {"gazetteer-address": {"fields": ["uprn", "street", "town", "postcode", "custodian"]}},
                           title="Gazetteer addresses from Edinburgh to Skills Development Scotland")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("console-ops-hub"),
                        env={"CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
                             "CAUSEWAY_SECRETS_KEY": base64.b64encode(b"s" * 32).decode(),
                             "CAUSEWAY_POLL_SECONDS": "0.1"})
    server.prepare()
    server.start()
    assert server.api("POST", "/agreements", "edinburgh", "governance", json={"source": AGREEMENT}).status_code == 201
    for org in ("edinburgh", "sds"):
        assert server.api("POST", "/agreements/gazetteer-edinburgh-sds/transitions", org, "governance",
                          json={"to": "approved"}).status_code == 200
    assert server.api("POST", "/agreements/gazetteer-edinburgh-sds/transitions", "edinburgh", "governance",
                      json={"to": "active"}).json()["status"] == "active"
    yield server
    server.stop()


@pytest.fixture(scope="module")
def webhook(hub, receiver):
    """sds's webhook subscription to Edinburgh's gazetteer, delivered to the receiver process."""
    answer = hub.api("POST", "/subscriptions", "sds", "subscriber", json={
        "dataset": "gazetteer-address", "purpose": "ServiceProvision", "channel": "webhook",
        "url": receiver.url("sds"), "start": "now"})
    assert answer.status_code == 201, answer.text
    receiver.control(secrets={"sds": answer.json()["secret"]})
    return answer.json()["id"]


def _held(receiver) -> set[str]:
    return {event["id"] for event in receiver.events("sds")}


def _dead_letters(hub, sub_id) -> list[dict]:
    response = hub.api("GET", f"/subscriptions/{sub_id}/dead-letters", "sds", "subscriber")
    assert response.status_code == 200, response.text
    return response.json()["dead_letters"]


def refused_event(hub, receiver, sub_id, uprn: int) -> dict:
    """Publish three records; the receiver refuses the middle one for good, so it becomes a dead letter."""
    records = [gazetteer_record(uprn), gazetteer_record(uprn + 1), gazetteer_record(uprn + 2)]
    refused = records[1]["id"]
    receiver.control(refuse=[refused])
    hub.publish("edinburgh", records)
    wait_until(lambda: {records[0]["id"], records[2]["id"]} <= _held(receiver), timeout=30)
    letter = wait_until(lambda: next((d for d in _dead_letters(hub, sub_id) if d["record_id"] == refused), None),
                        timeout=30)
    assert refused not in _held(receiver)
    return letter


def test_ops_retries_a_dead_letter_from_the_page_and_it_is_delivered(open_console, hub, receiver, webhook):
    letter = refused_event(hub, receiver, webhook, 8100)
    console = open_console()
    page = console.sign_in("otto")  # sds ops: the recipient's own subscription
    nav = page.get_by_role("navigation", name="Console pages")
    with page.expect_navigation():
        nav.get_by_role("link", name="Subscriptions", exact=True).click()
    row = page.locator(f"tr[data-subscription='{webhook}']")
    assert row.get_by_role("cell", name="sds", exact=True).is_visible()
    assert row.locator(".badge").first.inner_text() == "active"
    assert row.locator("td").nth(7).inner_text() == "1"  # one dead letter
    console.screenshot("subscriptions")

    with page.expect_navigation():
        row.get_by_role("link", name="gazetteer-address").click()
    dead = page.locator("#dead-letters tbody tr")
    assert dead.count() == 1
    assert letter["record_id"] in dead.first.inner_text()
    assert "HTTP 400" in dead.first.inner_text() and "8101" in dead.first.inner_text()  # reason and key
    console.screenshot("subscription-dead-letter")

    receiver.control(accept=[letter["record_id"]])
    retry = page.get_by_role("button", name=f"Retry event {letter['record_id']}")
    retry.focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "queued to be sent again" in page.get_by_role("status").inner_text()
    wait_until(lambda: letter["record_id"] in _held(receiver), timeout=30)

    def list_is_empty():
        page.reload()
        return page.locator("#no-dead-letters").count() == 1

    wait_until(list_is_empty, timeout=20, interval=0.5)
    assert page.locator("#dead-letters").count() == 0
    console.screenshot("subscription-retried")
    audit = hub.api("GET", "/audit?action=subscription.retry-dead-letters", "sds", "governance").json()
    actors = [e["actor"] for e in audit["entries"]]
    assert "sds/ops/key:console:otto" in actors


def test_governance_sees_dead_letters_but_cannot_retry_them(open_console, hub, receiver, webhook):
    letter = refused_event(hub, receiver, webhook, 8200)
    console = open_console()
    page = console.sign_in("sam")  # sds governance: the recipient's own subscription
    page.goto(f"/console/subscriptions/{webhook}")
    assert letter["record_id"] in page.locator("#dead-letters").inner_text()
    assert page.get_by_role("button", name="Retry", exact=False).count() == 0
    assert page.get_by_role("button", name="Replay from this sequence").count() == 0
    token = page.evaluate("document.querySelector('input[name=csrf_token]').value")
    refused = page.request.post(f"/console/subscriptions/{webhook}/dead-letters/{letter['id']}/retry",
                                form={"csrf_token": token}, max_redirects=0)
    assert refused.status == 403
    refused_all = page.request.post(f"/console/subscriptions/{webhook}/dead-letters/retry",
                                    form={"csrf_token": token}, max_redirects=0)
    assert refused_all.status == 403
    assert [d["state"] for d in _dead_letters(hub, webhook) if d["id"] == letter["id"]] == ["dead"]
    console.screenshot("subscription-governance")


def _enrol(hub, name: str) -> tuple[str, str]:
    result = subprocess.run([sys.executable, "-m", "hub.cli", "enrolment", "edinburgh", "--db", hub.db_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    answer = requests.post(hub.base_url + "/api/v1/agents/enrol", timeout=30, json={
        "token": token, "public_key": public_key_b64(generate_key()), "name": name, "version": "0.9.0"})
    assert answer.status_code == 201, answer.text
    return answer.json()["agent_id"], answer.json()["api_key"]


def _heartbeat(hub, agent_id: str, api_key: str, interval: float, published: int, error: str | None = None):
    body = {"version": "0.9.1", "host": "caselink-01", "uptime_seconds": 120, "interval_seconds": interval,
            "outbox_depth": 3, "rejects": 1,
            "tasks": [{"name": "planning-applications", "direction": "publish", "status": "error" if error else "ok",
                       "dataset": "planning-application", "last_run_at": "2026-11-22T09:00:00Z",
                       "rows_read": published + 1, "published": published, "rejected": 1, "outbox_depth": 3,
                       "last_error": error}]}
    answer = requests.post(f"{hub.base_url}/api/v1/agents/{agent_id}/heartbeats", json=body, timeout=30,
                           headers={"Authorization": f"Bearer {api_key}"})
    assert answer.status_code == 202, answer.text


def test_an_agent_that_reports_is_up_and_one_that_stopped_is_stale(open_console, hub):
    stopped_id, stopped_key = _enrol(hub, "uniform-agent")
    _heartbeat(hub, stopped_id, stopped_key, interval=5, published=2)  # then nothing: stale after 15 s
    running_id, running_key = _enrol(hub, "caselink-agent")
    for published in (10, 14, 20):
        _heartbeat(hub, running_id, running_key, interval=3600, published=published,
                   error="table PLANNING_APP locked" if published == 20 else None)

    console = open_console()
    page = console.sign_in("omar")
    with page.expect_navigation():
        page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Agents", exact=True).click()
    running = page.locator(f"tr[data-agent='{running_id}']")
    assert running.locator(".badge").first.inner_text() == "up"
    assert "0.9.1" in running.inner_text()

    def stopped_is_stale():
        page.reload()
        return page.locator(f"tr[data-agent='{stopped_id}'] .badge").first.inner_text() == "stale"

    wait_until(stopped_is_stale, timeout=30, interval=1)
    assert page.locator("#agents-up").inner_text() == "1" and page.locator("#agents-stale").inner_text() == "1"
    console.screenshot("agents")

    with page.expect_navigation():
        running.get_by_role("link", name="caselink-agent").click()
    assert page.locator("#agent-status").inner_text() == "up"
    task = page.locator("#tasks tbody tr").first
    assert "planning-applications" in task.inner_text() and "table PLANNING_APP locked" in task.inner_text()
    chart = page.get_by_role("figure", name="Records published and rejected between heartbeats, and outbox depth")
    assert chart.locator("polyline").count() == 3
    console.screenshot("agent")

    page.goto("/console/")
    assert page.locator("#agents-up").inner_text() == "1"
    assert page.locator("#agents-stale").inner_text() == "1"
    assert "uniform-agent" in page.locator("#agents-card").inner_text()
    console.screenshot("overview-health")
