"""What the other end said, and what operators do about it, in real headless Chromium against a
real hub process (with its delivery worker) and a real webhook receiver process.

The receiver refuses a chosen event with a problem, a request id, a cookie and a debug line
quoting its own key: operations staff read its status, the headers that help and the start of
its answer on the dead letter (the cookie and the key are not kept), open the event as sent
(audited), and retry it. A failing subscription is tried now; a subscription is paused and
resumed; another org's operations staff can do none of it. The overview's range picker,
auto-refresh and provider view, a stale agent's page and the audit log as people read it.
Every page state is checked with axe-core and at phone width.
"""
from __future__ import annotations

import base64
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pytest
import requests
from sqlalchemy import create_engine

from causeway_common.signing import generate_key, public_key_b64
from hub.records.models import batches, record_rejects
from support.agreements import agreement_yaml
from support.browser import ConsoleHub
from support.factories import gazetteer_record
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

AGREEMENT = agreement_yaml("gazetteer-edinburgh-sds", ["edinburgh"], ["sds"],
                           {"gazetteer-address": {"fields": ["uprn", "street", "town", "postcode", "custodian"]}},
                           purposes=("ServiceProvision", "Research"),
                           title="Gazetteer addresses from Edinburgh to Skills Development Scotland")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("console-deliveries-hub"),
                        env={"CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
                             "CAUSEWAY_SECRETS_KEY": base64.b64encode(b"d" * 32).decode(),
                             "CAUSEWAY_POLL_SECONDS": "0.1", "CAUSEWAY_RETRY_SCHEDULE": "3600"})
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


def _subscribe(hub, receiver, name: str, purpose: str) -> str:
    answer = hub.api("POST", "/subscriptions", "sds", "subscriber", json={
        "dataset": "gazetteer-address", "purpose": purpose, "channel": "webhook", "url": receiver.url(name),
        "start": "now"})
    assert answer.status_code == 201, answer.text
    receiver.control(secrets={name: answer.json()["secret"]})
    return answer.json()["id"]


@pytest.fixture(scope="module")
def webhook(hub, receiver):
    """sds's webhook subscription for service provision (the one things happen to)."""
    return _subscribe(hub, receiver, "sds", "ServiceProvision")


@pytest.fixture(scope="module")
def research(hub, receiver, webhook):
    """A second subscription of sds to the same dataset, for research, to another endpoint."""
    return _subscribe(hub, receiver, "sds-research", "Research")


def _held(receiver, name="sds") -> set[str]:
    return {event["id"] for event in receiver.events(name)}


def _status(hub, sub_id) -> dict:
    return hub.api("GET", f"/subscriptions/{sub_id}/status", "sds", "subscriber").json()


def _audit(hub, action: str) -> list[dict]:
    return hub.api("GET", f"/audit?action={action}", "sds", "governance").json()["entries"]


def _refused(hub, receiver, sub_id, uprn: int) -> dict:
    records = [gazetteer_record(uprn), gazetteer_record(uprn + 1)]
    refused = records[1]["id"]
    receiver.control(refuse=[refused])
    hub.publish("edinburgh", records)
    wait_until(lambda: records[0]["id"] in _held(receiver), timeout=30)
    letters = lambda: hub.api("GET", f"/subscriptions/{sub_id}/dead-letters", "sds", "subscriber").json()  # noqa: E731
    return wait_until(lambda: next((d for d in letters()["dead_letters"] if d["record_id"] == refused), None),
                      timeout=30)


def test_ops_reads_the_receivers_reply_opens_the_event_and_retries(open_console, hub, receiver, webhook):
    letter = _refused(hub, receiver, webhook, 9100)
    console = open_console()
    page = console.sign_in("otto")  # sds ops
    page.goto(f"/console/subscriptions/{webhook}")

    reasons = page.locator("#dead-letter-reasons tbody tr")
    assert reasons.count() == 1 and "HTTP 400" in reasons.first.inner_text()
    row = page.locator("#dead-letters tbody tr").first
    reply = row.locator("details.reply")
    reply.locator("summary").click()
    said = reply.inner_text()
    assert f"event {letter['record_id']}: postcode is not one we serve" in said
    assert "x-request-id" in said and f"req-{letter['webhook_id']}" in said
    assert "content-type" in said and "application/json" in said
    assert "api_key=[redacted]" in said
    page_text = page.content()
    assert "rcv-secret-value-12345" not in page_text and "receiver-cookie" not in page_text  # never kept
    attempts = page.locator("#attempts tbody tr")
    assert attempts.count() >= 1 and " ms" in page.locator("#attempts").inner_text()
    console.assert_accessible("subscription with a receiver's reply")
    console.assert_reflows("subscription-reply")
    console.screenshot("subscription-reply")

    with page.expect_navigation():
        row.get_by_role("button", name=f"Show event {letter['record_id']} as sent").click()
    event = page.locator("#event").inner_text()
    assert letter["record_id"] in event and "9101" in event
    console.assert_accessible("the event as sent")
    console.assert_reflows("dead-letter-event")
    viewed = _audit(hub, "subscription.dead-letter-event")
    assert [e["detail"]["letter"] for e in viewed if e["actor"] == "sds/ops/key:console:otto"] == [letter["id"]]

    page.goto(f"/console/subscriptions/{webhook}")
    receiver.control(accept=[letter["record_id"]])
    with page.expect_navigation():
        page.get_by_role("button", name=f"Retry event {letter['record_id']}").click()
    wait_until(lambda: letter["record_id"] in _held(receiver), timeout=30)

    def gone():
        page.reload()
        return page.locator("#no-dead-letters").count() == 1

    wait_until(gone, timeout=20, interval=0.5)


def test_ops_pauses_and_resumes_and_tells_two_subscriptions_apart(open_console, hub, receiver, webhook, research):
    console = open_console()
    page = console.sign_in("otto")
    page.goto("/console/subscriptions")
    listed = page.locator("#subscriptions").inner_text()
    assert "for ServiceProvision, by webhook" in listed and "for Research, by webhook" in listed
    assert "1 records" not in listed

    page.goto(f"/console/subscriptions/{webhook}")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Pause delivery").click()
    assert page.locator("#subscription-status").inner_text() == "paused"
    assert "paused by otto (sds operations staff, in the console)" in page.content()
    console.assert_accessible("a paused subscription")

    record = gazetteer_record(9300)
    hub.publish("edinburgh", [record])
    wait_until(lambda: record["id"] in _held(receiver, "sds-research"), timeout=30)  # the other one flows
    assert record["id"] not in _held(receiver)
    page.reload()
    assert "1 record behind" in page.locator("#lag").inner_text()

    with page.expect_navigation():
        page.get_by_role("button", name="Resume delivery").click()
    wait_until(lambda: record["id"] in _held(receiver), timeout=30)
    actions = [(e["action"], e["actor"]) for e in _audit(hub, "subscription.pause") + _audit(hub, "subscription.resume")]
    assert ("subscription.pause", "sds/ops/key:console:otto") in actions
    assert ("subscription.resume", "sds/ops/key:console:otto") in actions


def test_a_failing_subscription_shows_the_answer_and_is_tried_now(open_console, hub, receiver, webhook):
    receiver.control(fail_next={"sds": 1})
    record = gazetteer_record(9400)
    hub.publish("edinburgh", [record])
    wait_until(lambda: _status(hub, webhook)["status"] == "failing", timeout=30)
    console = open_console()
    page = console.sign_in("otto")
    page.goto("/console/subscriptions")
    first = page.locator("#subscriptions tbody tr").first
    assert first.get_attribute("data-subscription") == webhook  # the most urgent first
    page.goto(f"/console/subscriptions/{webhook}")
    latest = page.locator("#attempts tbody tr").first
    assert "failed" in latest.inner_text() and "500" in latest.inner_text()
    assert "the endpoint answered 500" in latest.inner_text()
    console.assert_accessible("a failing subscription")
    with page.expect_navigation():
        page.get_by_role("button", name="Try now").click()
    assert "tries this subscription again now" in page.get_by_role("status").inner_text()
    wait_until(lambda: record["id"] in _held(receiver), timeout=30)  # not an hour later
    assert [e["actor"] for e in _audit(hub, "subscription.try-now")] == ["sds/ops/key:console:otto"]


def test_another_orgs_ops_cannot_read_the_reply_or_act(open_console, hub, receiver, webhook):
    letter = _refused(hub, receiver, webhook, 9500)
    console = open_console()
    page = console.sign_in("omar")  # edinburgh ops: not sds's
    hidden = page.request.get(f"/console/subscriptions/{webhook}")
    assert hidden.status == 404 and "postcode is not one we serve" not in hidden.text()
    token = page.evaluate("document.querySelector('input[name=csrf_token]').value")
    for path in (f"dead-letters/{letter['id']}/event", "pause", "resume", "try-now"):
        answer = page.request.post(f"/console/subscriptions/{webhook}/{path}", form={"csrf_token": token},
                                   max_redirects=0)
        assert answer.status == 404, path
        assert "postcode is not one we serve" not in answer.text()
    assert _status(hub, webhook)["status"] != "paused"
    assert not [e for e in _audit(hub, "subscription.dead-letter-event") if e["detail"]["letter"] == letter["id"]]


def test_overview_range_picker_auto_refresh_and_the_providers_view(open_console, hub, receiver, webhook):
    hub.publish("edinburgh", [gazetteer_record(9800)])  # something in every range's chart
    console = open_console()
    page = console.sign_in("omar")  # edinburgh ops: the provider of sds's gazetteer
    assert page.locator(".cards .card").first.get_attribute("id") == "attention-card"
    assert page.get_by_role("figure", name="Records accepted per hour, by dataset (last 24 hours, UK time)").count() == 1
    provided = page.locator("#provided tbody tr")
    assert provided.count() >= 1 and "sds" in provided.first.inner_text()
    assert "behind" in provided.first.inner_text()
    console.assert_accessible("overview, 24 hours")
    console.assert_reflows("overview")

    page.get_by_label("Time range").select_option("1h")
    with page.expect_navigation():
        page.get_by_role("button", name="Show", exact=True).click()
    assert page.get_by_role("figure", name="Records accepted per minute, by dataset (last hour, UK time)").count() == 1
    assert "in the last hour" in page.locator("#range-totals").inner_text()
    console.assert_accessible("overview, last hour")

    page.get_by_label("Time range").select_option("7d")
    with page.expect_navigation():
        page.get_by_role("button", name="Show", exact=True).click()
    assert page.get_by_role("figure", name="Records accepted per day, by dataset (last 7 days)").count() == 1
    console.assert_accessible("overview, 7 days")

    page.goto("/console/?range=1h&refresh=on&every=5")
    assert page.get_by_label("Refresh every 5 s").is_checked()
    first = page.locator("#last-updated").get_attribute("datetime")
    wait_until(lambda: page.locator("#last-updated").get_attribute("datetime") != first, timeout=20, interval=0.5)
    assert page.get_by_label("Time range").input_value() == "1h"  # the choice is kept
    console.assert_accessible("overview, refreshing")


def _enrol(hub, name: str) -> tuple[str, str]:
    result = subprocess.run([sys.executable, "-m", "hub.cli", "enrolment", "edinburgh", "--db", hub.db_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = requests.post(hub.base_url + "/api/v1/agents/enrol", timeout=30, json={
        "token": result.stdout.strip().splitlines()[-1], "public_key": public_key_b64(generate_key()),
        "name": name, "version": "0.9.0"})
    assert answer.status_code == 201, answer.text
    return answer.json()["agent_id"], answer.json()["api_key"]


def _reject_from(hub, agent_id: str) -> str:
    """A batch this agent sent with one record the hub rejected (as the publish path writes them)."""
    engine = create_engine(hub.db_url)
    batch_id, now = f"batch-{uuid.uuid4().hex[:8]}", datetime.now(timezone.utc)
    with engine.begin() as conn:
        conn.execute(batches.insert().values(id=batch_id, org="edinburgh", credential_id="agent", agent_id=agent_id,
                                             received_at=now, record_count=1, signature_verified=True))
        conn.execute(record_rejects.insert().values(batch_id=batch_id, publisher="edinburgh",
                                                    dataset="planning-application", record_index=0, record_id=None,
                                                    path="/payload/reference", message="reference is required",
                                                    received_at=now))
    engine.dispose()
    return batch_id


def test_a_stale_agents_tasks_are_not_green_and_its_rejects_are_on_its_page(open_console, hub):
    agent_id, key = _enrol(hub, "uniform-stopped")
    beat = {"version": "0.9.1", "host": "uniform-01", "uptime_seconds": 60, "interval_seconds": 5, "outbox_depth": 0,
            "tasks": [{"name": "planning", "direction": "publish", "status": "ok", "dataset": "planning-application",
                       "published": 4, "rejected": 1}]}
    assert requests.post(f"{hub.base_url}/api/v1/agents/{agent_id}/heartbeats", json=beat, timeout=30,
                         headers={"Authorization": f"Bearer {key}"}).status_code == 202
    batch_id = _reject_from(hub, agent_id)
    console = open_console()
    page = console.sign_in("omar")

    def stale():
        page.goto(f"/console/agents/{agent_id}")
        return page.locator("#agent-status").inner_text() == "stale"

    wait_until(stale, timeout=40, interval=1)  # three missed heartbeats (5 s each, the shortest)
    task = page.locator("#tasks tbody tr").first
    assert task.locator(".badge.good").count() == 0
    assert "not known" in task.inner_text() and "last said ok" in task.inner_text()
    assert page.locator("#stale-notice").is_visible()
    assert "1 rejected record" in page.locator("#agent-rejected").inner_text()
    rejects = page.locator("#agent-rejects").inner_text()
    assert batch_id in rejects and "reference is required" in rejects
    console.assert_accessible("a stale agent")
    console.assert_reflows("agent-stale")


def test_the_audit_log_names_people_and_keys_and_reads_as_fields(open_console, hub, receiver, webhook):
    by_key = _refused(hub, receiver, webhook, 9600)
    by_otto = _refused(hub, receiver, webhook, 9700)
    assert hub.api("POST", f"/subscriptions/{webhook}/dead-letters/{by_key['id']}/retry", "sds",
                   "ops").status_code == 202
    console = open_console()
    page = console.sign_in("otto")
    page.goto(f"/console/subscriptions/{webhook}")
    with page.expect_navigation():
        page.get_by_role("button", name=f"Retry event {by_otto['record_id']}").click()
    page.goto("/console/audit?action=subscription.retry-dead-letters")
    table = page.locator("table.audit").inner_text()
    assert "sds operations key" in table  # the API key, named by its org and role
    assert "otto (sds operations staff, in the console)" in table
    page.get_by_label("Only my own actions (such as my retries and replays)").check()
    with page.expect_navigation():
        page.get_by_role("button", name="Filter").click()
    rows = page.locator("table.audit tbody tr")
    assert rows.count() >= 1
    for i in range(rows.count()):
        assert "otto (sds operations staff, in the console)" in rows.nth(i).inner_text()
    detail = rows.first.locator("dl.audit-detail")
    assert detail.locator("dt").first.inner_text() in ("Count", "Letter")
    assert "{" not in rows.first.inner_text()  # fields, not JSON
    console.assert_accessible("the audit log, my own actions")
    console.assert_reflows("audit-mine")
