"""Who sees and acts on which subscription and agent, against a real hub process: each org its
own; the hub operator (CAUSEWAY_HUB_OPERATOR) reads every org's health metadata, with no
URL paths, filters, error text or dead letters, and acts on none but its own; admin acts on all."""
from __future__ import annotations

import pytest
import requests
from sqlalchemy import select

from causeway_common.signing import generate_key, public_key_b64
from hub import db
from hub.delivery.models import dead_letters, subscriptions
from support.factories import gazetteer_record
from support.hubprocess import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

OPERATOR = "improvement-service"
SECRET_PATH = "/hooks/sds-7f3a"
SECRET_QUERY = "token=do-not-show"
SECRET_ERROR = "table ADDRESS_MASTER locked by user jbloggs"


@pytest.fixture
def hub(services, db_url, tmp_path):
    services.orgs.add_org(OPERATOR, "Improvement Service", "agency", actor="test")
    env = {"CAUSEWAY_HUB_OPERATOR": OPERATOR, "CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
           "CAUSEWAY_RETRY_SCHEDULE": "3600"}
    with HubProcess(db_url, env=env, log_path=tmp_path / "hub.log") as process:
        yield process


@pytest.fixture
def call(hub, key_for):
    def send(method, path, org, role, **kwargs):
        return requests.request(method, f"{hub.url}/api/v1{path}", timeout=10,
                                headers={"Authorization": f"Bearer {key_for(org, role)}"}, **kwargs)
    return send


@pytest.fixture
def subs(call, services, hub):
    """sds's webhook subscription (with a secret-looking path and query, a filter, an error and a
    dead letter) and glasgow's pull subscription."""
    webhook = call("POST", "/subscriptions", "sds", "subscriber", json={
        "dataset": "gazetteer-address", "purpose": "PublicSafety", "channel": "webhook",
        "url": f"http://127.0.0.1:9{SECRET_PATH}?{SECRET_QUERY}", "filter": {"where": {"town": "Leith"}}})
    assert webhook.status_code == 201, webhook.text
    pull = call("POST", "/subscriptions", "glasgow", "subscriber",
                json={"dataset": "gazetteer-address", "purpose": "PublicSafety", "channel": "pull"})
    assert pull.status_code == 201, pull.text
    sds, glasgow = webhook.json()["id"], pull.json()["id"]
    published = call("POST", "/records", "edinburgh", "publisher",
                     json={"records": [gazetteer_record(4000 + n) for n in range(5)]})
    assert published.json()["accepted"] == 5, published.text  # a log to replay (seq 1..5)
    now = db.utcnow()
    with db.write_transaction(services.engine) as conn:
        conn.execute(subscriptions.update().where(subscriptions.c.id == sds).values(
            cursor=5, last_error=f"HTTP 500 from 127.0.0.1{SECRET_PATH}", last_error_at=now))
        letter = conn.execute(dead_letters.insert().values(
            subscription_id=sds, seq=3, record_id="0f0e0d0c-record-of-sds", webhook_id="msg_3", state="dead",
            status_code=400, error="refused: bad postcode EH6 6QQ", attempts=1, created_at=now,
            updated_at=now)).inserted_primary_key[0]
    return {"sds": sds, "glasgow": glasgow, "letter": letter}


def _state(services, sub_id):
    with services.engine.connect() as conn:
        cursor = conn.execute(select(subscriptions.c.cursor).where(subscriptions.c.id == sub_id)).scalar_one()
        states = [r.state for r in conn.execute(select(dead_letters.c.state).where(
            dead_letters.c.subscription_id == sub_id))]
    return cursor, states


def _acts(sub_id, letter_id):
    return [("POST", f"/subscriptions/{sub_id}/dead-letters/retry", {}),
            ("POST", f"/subscriptions/{sub_id}/dead-letters/{letter_id}/retry", {}),
            ("POST", f"/subscriptions/{sub_id}/replay", {"json": {"from_seq": 1}})]


def test_another_orgs_ops_gets_404_on_read_and_act(call, subs, services):
    sds = subs["sds"]
    for path in (f"/subscriptions/{sds}", f"/subscriptions/{sds}/status", f"/subscriptions/{sds}/dead-letters"):
        answer = call("GET", path, "glasgow", "ops")
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"
    for method, path, body in _acts(sds, subs["letter"]):
        assert call(method, path, "glasgow", "ops", **body).status_code == 404, path
    assert call("DELETE", f"/subscriptions/{sds}", "glasgow", "subscriber").status_code == 404
    assert _state(services, sds) == (5, ["dead"])

    listed = call("GET", "/subscriptions", "glasgow", "ops").json()["subscriptions"]
    assert [s["id"] for s in listed] == [subs["glasgow"]]
    assert call("GET", "/subscriptions?org=sds", "glasgow", "ops").status_code == 403


def test_an_org_sees_and_acts_on_its_own_subscription(call, subs, services):
    sds = subs["sds"]
    own = call("GET", f"/subscriptions/{sds}", "sds", "ops").json()
    assert own["url"].endswith(f"{SECRET_PATH}?{SECRET_QUERY}") and own["filter"] == {"where": {"town": "Leith"}}
    assert SECRET_PATH in call("GET", f"/subscriptions/{sds}/status", "sds", "subscriber").json()["last_error"]
    letters = call("GET", f"/subscriptions/{sds}/dead-letters", "sds", "governance").json()["dead_letters"]
    assert [d["record_id"] for d in letters] == ["0f0e0d0c-record-of-sds"]
    assert call("POST", f"/subscriptions/{sds}/dead-letters/retry", "sds", "governance").status_code == 403
    assert call("POST", f"/subscriptions/{sds}/dead-letters/retry", "sds", "ops").json() == {"queued": 1}
    assert call("POST", f"/subscriptions/{sds}/replay", "sds", "ops", json={"from_seq": 2}).status_code == 200
    assert _state(services, sds) == (1, ["retrying"])


def test_the_hub_operator_reads_every_orgs_metadata_without_url_paths(call, subs):
    listed = call("GET", "/subscriptions", OPERATOR, "ops")
    assert listed.status_code == 200
    by_id = {s["id"]: s for s in listed.json()["subscriptions"]}
    assert set(by_id) == {subs["sds"], subs["glasgow"]}
    assert by_id[subs["sds"]]["url"] == "http://127.0.0.1:9"  # scheme and host only
    assert "filter" not in by_id[subs["sds"]]
    status = call("GET", f"/subscriptions/{subs['sds']}/status", OPERATOR, "ops")
    assert status.status_code == 200
    shown = status.json()
    assert shown["org"] == "sds" and shown["dead_letters"] == 1 and shown["cursor"] == 5
    assert shown["last_error_at"] and "last_error" not in shown and "lag" in shown
    one = call("GET", f"/subscriptions/{subs['sds']}", OPERATOR, "ops")
    assert one.status_code == 200
    for text in (listed.text, status.text, one.text):
        assert SECRET_PATH not in text and SECRET_QUERY not in text and "Leith" not in text
        assert "whsec_" not in text
    assert call("GET", "/subscriptions?org=glasgow", OPERATOR, "ops").json()["subscriptions"][0]["id"] == subs["glasgow"]
    # the operator's other roles have no hub-wide view
    assert call("GET", "/subscriptions", OPERATOR, "governance").json()["subscriptions"] == []
    assert call("GET", f"/subscriptions/{subs['sds']}", OPERATOR, "governance").status_code == 404


def test_the_hub_operator_cannot_retry_or_replay_another_orgs_subscription_and_admin_can(call, subs, services):
    sds = subs["sds"]
    refused = call("GET", f"/subscriptions/{sds}/dead-letters", OPERATOR, "ops")
    assert refused.status_code == 403 and "0f0e0d0c" not in refused.text
    for method, path, body in _acts(sds, subs["letter"]):
        answer = call(method, path, OPERATOR, "ops", **body)
        assert answer.status_code == 403, path
        assert "admin" in answer.json()["detail"]
    assert call("GET", f"/subscriptions/{subs['glasgow']}/feed", OPERATOR, "ops").status_code == 403
    assert _state(services, sds) == (5, ["dead"])

    assert call("POST", f"/subscriptions/{sds}/dead-letters/{subs['letter']}/retry", OPERATOR, "admin").json() == {
        "queued": 1}
    assert call("POST", f"/subscriptions/{sds}/replay", "fife", "admin", json={"from_seq": 3}).json()["cursor"] == 2
    assert _state(services, sds) == (2, ["retrying"])
    assert SECRET_PATH in call("GET", f"/subscriptions/{sds}", "fife", "admin").json()["url"]


def _agent(services, org, name):
    token, _ = services.orgs.create_enrolment(org, 3600, actor="test")
    return services.orgs.enrol_agent(token, public_key_b64(generate_key()), name, "1.0")


def test_agents_each_org_its_own_and_the_operator_every_orgs_without_error_text(call, hub, services):
    agent = _agent(services, "edinburgh", "uniform-agent")
    beat = {"version": "1.0", "uptime_seconds": 5, "outbox_depth": 2, "rejects": 1,
            "sender": {"status": "failing", "last_error": SECRET_ERROR},
            "tasks": [{"name": "planning", "direction": "publish", "status": "error", "published": 4,
                       "rejected": 1, "last_error": SECRET_ERROR}]}
    answer = requests.post(f"{hub.url}/api/v1/agents/{agent['agent_id']}/heartbeats", json=beat, timeout=10,
                           headers={"Authorization": f"Bearer {agent['api_key']}"})
    assert answer.status_code == 202, answer.text
    path = f"/agents/{agent['agent_id']}"

    assert SECRET_ERROR in call("GET", path, "edinburgh", "ops").text
    assert call("GET", path, "glasgow", "ops").status_code == 404
    assert call("GET", "/agents", "glasgow", "ops").json()["agents"] == []
    assert call("GET", "/agents?org=edinburgh", "glasgow", "ops").status_code == 403

    listed = call("GET", "/agents", OPERATOR, "ops")
    assert [a["id"] for a in listed.json()["agents"]] == [agent["agent_id"]]
    one = call("GET", path, OPERATOR, "ops")
    assert one.status_code == 200
    report = one.json()["report"]
    assert report["outbox_depth"] == 2 and report["tasks"][0]["published"] == 4
    for text in (listed.text, one.text):
        assert SECRET_ERROR not in text
    assert call("GET", path, OPERATOR, "governance").status_code == 404
