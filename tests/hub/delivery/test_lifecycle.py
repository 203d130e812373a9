"""A subscription's life against a real hub process (`causeway-hub serve` with its delivery
worker), a real webhook receiver process and a real Mosquitto: withdrawal notices reach
push subscribers at once, status follows the agreement that covers the subscription,
and replay is bounded by the log."""
from __future__ import annotations

import json
import re
import time
import uuid

import pytest
import requests

from support.delivery import HUB_MQTT_PASSWORD, SECRETS_KEY, MqttSubscriber
from support.factories import gazetteer_record, referral_record
from support.hubprocess import HubProcess
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

NOTICE = "uk.causeway.consent.withdrawn"
STAFF_PASSWORD = "a long test password 1"


class Api:
    """The hub's HTTP API with one key per (org, role)."""

    def __init__(self, hub: HubProcess, key_for):
        self.base = f"{hub.url}/api/v1"
        self.key_for = key_for
        self.session = requests.Session()
        self.session.trust_env = False

    def call(self, method: str, path: str, org: str, role: str, body=None) -> requests.Response:
        return self.session.request(method, f"{self.base}{path}", json=body, timeout=30,
                                    headers={"Authorization": f"Bearer {self.key_for(org, role)}"})

    def ok(self, method: str, path: str, org: str, role: str, body=None) -> dict:
        response = self.call(method, path, org, role, body)
        assert response.status_code < 300, (response.status_code, response.text)
        return response.json()

    def publish(self, records: list[dict], org: str = "edinburgh") -> list[int]:
        results = self.ok("POST", "/records", org, "publisher", {"records": records})["results"]
        assert all(r["status"] == "accepted" for r in results), results
        return [r["seq"] for r in results]

    def subscribe(self, org: str = "sds", **body) -> dict:
        return self.ok("POST", "/subscriptions", org, "subscriber", body)

    def status(self, sub_id: str, org: str = "sds") -> dict:
        return self.ok("GET", f"/subscriptions/{sub_id}/status", org, "subscriber")


def start_hub(db_url, tmp_path, broker=None) -> HubProcess:
    env = {"CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32", "CAUSEWAY_SECRETS_KEY": SECRETS_KEY}
    if broker is not None:
        env.update(CAUSEWAY_MQTT_HOST="127.0.0.1", CAUSEWAY_MQTT_PORT=str(broker.port),
                   CAUSEWAY_MQTT_PASSWORD=HUB_MQTT_PASSWORD)
    return HubProcess(db_url, env=env, log_path=tmp_path / "hub.log").start()


@pytest.fixture
def hub(db_url, tmp_path, services):
    started = start_hub(db_url, tmp_path)
    yield started
    started.stop()


def events_of(receiver, name, kind=None):
    return [e for e in receiver.events(name) if kind is None or e["type"] == kind]


def mqtt_events(subscriber, into: list) -> list[dict]:
    into.extend(json.loads(m.payload) for m in subscriber.drain(wait=0.1))
    return into


# -- withdrawal notices ------------------------------------------------------------------
def test_a_withdrawal_with_nothing_else_published_reaches_webhook_and_mqtt_within_seconds(
        db_url, tmp_path, services, grant, receiver, broker, key_for):
    grant("sds", "referral", purpose="ServiceProvision", lawful_basis="consent")
    grant("sds", "gazetteer-address")
    hub = start_hub(db_url, tmp_path, broker)
    api = Api(hub, key_for)
    mqtt = MqttSubscriber(broker.port, "sds", broker.passwords["sds"], f"sds-{uuid.uuid4().hex[:6]}")
    try:
        hook = api.subscribe(dataset="referral", purpose="ServiceProvision", channel="webhook",
                             url=receiver.url("referrals"), start="now")
        topic = api.subscribe(dataset="referral", purpose="ServiceProvision", channel="mqtt", start="now")
        # Subscriptions the notice is not for: another dataset of the same org (and, below, another org).
        addresses = api.subscribe(dataset="gazetteer-address", purpose="PublicSafety", channel="webhook",
                                  url=receiver.url("addresses"), start="now")
        receiver.control(secrets={"referrals": hook["secret"], "addresses": addresses["secret"]})
        mqtt.connect(f"causeway/v1/sds/{topic['id']}")
        consent = api.ok("POST", "/consents", "edinburgh", "governance", {
            "subject": "subj-anna", "purpose": "ServiceProvision", "recipients": ["sds"], "method": "signed form",
            "evidence_ref": "EV-anna", "given_at": "2026-01-05T10:00:00Z"})
        record = referral_record("REF-A1", subject="subj-anna")
        record["payload"]["referring_org"] = "edinburgh"
        api.publish([record])
        received: list = []
        wait_until(lambda: events_of(receiver, "referrals"), timeout=30, message="the referral by webhook")
        wait_until(lambda: mqtt_events(mqtt, received), timeout=30, message="the referral by MQTT")
        other = api.subscribe(org="sfrs", dataset="referral", purpose="ServiceProvision", channel="pull", start="now")
        # Everything is quiet now: nothing else is published after the withdrawal.
        wait_until(lambda: api.status(hook["id"])["lag"]["records"] == 0 and api.status(topic["id"])["lag"]["records"] == 0,
                   timeout=30, message="both caught up")

        withdrawn_at = time.monotonic()
        answer = api.ok("POST", f"/consents/{consent['id']}/withdraw", "edinburgh", "governance")
        assert [(n["recipient"], n["dataset"]) for n in answer["notices"]] == [("sds", "referral")]
        by_webhook = wait_until(lambda: events_of(receiver, "referrals", NOTICE), timeout=15, interval=0.05,
                                message="the notice by webhook within 15 s")
        assert time.monotonic() - withdrawn_at < 15
        by_mqtt = wait_until(lambda: [e for e in mqtt_events(mqtt, received) if e["type"] == NOTICE], timeout=15,
                             interval=0.05, message="the notice by MQTT within 15 s")
        assert time.monotonic() - withdrawn_at < 15
        for notice in (by_webhook[0], by_mqtt[0]):
            assert notice["data"]["records"] == [record["id"]]
            assert "subj-anna" not in json.dumps(notice)
        assert len(by_webhook) == 1 and len(by_mqtt) == 1

        # Lag counts only what a subscription will receive: not notices addressed to another org or
        # about another dataset. The webhook's cursor passes the notice just after its receiver answers.
        wait_until(lambda: api.status(hook["id"])["lag"] == {"records": 0, "seconds": 0.0}, timeout=30,
                   message="the webhook's cursor past the notice")
        assert api.status(addresses["id"])["lag"] == {"records": 0, "seconds": 0.0}
        assert api.status(other["id"], org="sfrs")["lag"] == {"records": 0, "seconds": 0.0}
        assert events_of(receiver, "addresses") == []
        assert receiver.state()["bad_signatures"] == 0
    finally:
        mqtt.close()
        hub.stop()


# -- status follows the agreement --------------------------------------------------------
def console_status(hub: HubProcess, sub_id: str) -> str:
    """The status line of the subscription's console page, as ops staff see it."""
    with requests.Session() as session:
        session.trust_env = False
        page = session.get(f"{hub.url}/console/sign-in", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        session.post(f"{hub.url}/console/sign-in", timeout=10,
                     data={"csrf_token": token, "username": "sara", "password": STAFF_PASSWORD})
        html = session.get(f"{hub.url}/console/subscriptions/{sub_id}", timeout=10).text
    line = re.search(r'id="subscription-status">(.*?)</p>', html, re.S)
    assert line, html[:2000]
    return " ".join(re.sub(r"<[^>]+>", " ", line.group(1)).split())


def test_suspending_an_agreement_pauses_its_subscriptions_and_activation_resumes_from_the_cursor(
        services, hub, grant, receiver, key_for):
    agreement = grant("sds", "gazetteer-address")
    services.accounts.add_user("sara", "sds", "ops", STAFF_PASSWORD, actor="test")
    api = Api(hub, key_for)
    sub = api.subscribe(dataset="gazetteer-address", purpose="PublicSafety", channel="webhook",
                        url=receiver.url("a"), start="now")
    receiver.control(secrets={"a": sub["secret"]})
    before = api.publish([gazetteer_record(4100 + i) for i in range(3)])
    wait_until(lambda: len(events_of(receiver, "a")) == 3, timeout=30, message="delivery before the suspension")

    api.ok("POST", f"/agreements/{agreement}/transitions", "edinburgh", "governance", {"to": "suspended", "reason": "data breach under investigation"})
    reason = f"paused: agreement {agreement} suspended"
    # Nothing is published: the status follows the agreement by itself.
    wait_until(lambda: api.status(sub["id"])["status"] == "paused", timeout=10, message="the subscription paused")
    shown = api.ok("GET", f"/subscriptions/{sub['id']}", "sds", "subscriber")
    assert (shown["status"], shown["status_reason"]) == ("paused", reason)
    assert console_status(hub, sub["id"]) == f"paused {reason}"

    during = api.publish([gazetteer_record(4200 + i) for i in range(4)])
    time.sleep(2.0)  # several polls and rounds of the worker
    assert len(events_of(receiver, "a")) == 3  # nothing delivered while suspended
    status = api.status(sub["id"])
    assert status["status"] == "paused" and status["cursor"] == before[-1]  # held, not skipped
    assert status["lag"]["records"] == 4

    api.ok("POST", f"/agreements/{agreement}/transitions", "edinburgh", "governance", {"to": "active"})
    wait_until(lambda: len(events_of(receiver, "a")) == 7, timeout=15, message="delivery after re-activation")
    assert [int(e["sequence"]) for e in events_of(receiver, "a")] == before + during  # each once, in order
    wait_until(lambda: api.status(sub["id"])["lag"]["records"] == 0, timeout=10, message="caught up")
    shown = api.status(sub["id"])
    assert (shown["status"], shown["status_reason"]) == ("active", None)
    assert console_status(hub, sub["id"]) == "active"


def test_a_pull_subscription_shows_paused_and_its_feed_holds_while_suspended(services, hub, grant, key_for):
    agreement = grant("sds", "gazetteer-address")
    api = Api(hub, key_for)
    sub = api.subscribe(dataset="gazetteer-address", purpose="PublicSafety", channel="pull", start="now")
    api.ok("POST", f"/agreements/{agreement}/transitions", "edinburgh", "governance", {"to": "suspended", "reason": "data breach under investigation"})
    seqs = api.publish([gazetteer_record(4300 + i) for i in range(2)])
    wait_until(lambda: api.status(sub["id"])["status"] == "paused", timeout=10, message="the pull subscription paused")
    page = api.ok("GET", f"/subscriptions/{sub['id']}/feed", "sds", "subscriber")
    assert page["events"] == [] and page["status"] == "paused"
    assert page["status_reason"] == f"paused: agreement {agreement} suspended"
    assert page["next"] == seqs[0] - 1  # the consumer's position does not move past what it has not had
    api.ok("POST", f"/agreements/{agreement}/transitions", "edinburgh", "governance", {"to": "active"})
    wait_until(lambda: api.status(sub["id"])["status"] == "active", timeout=10, message="active again")
    page = api.ok("GET", f"/subscriptions/{sub['id']}/feed", "sds", "subscriber")
    assert [int(e["sequence"]) for e in page["events"]] == seqs


# -- replay bounds -----------------------------------------------------------------------
def test_replay_is_bounded_by_the_log_and_says_how_many_records_it_moves_back(services, hub, grant, receiver, key_for):
    grant("sds", "gazetteer-address")
    api = Api(hub, key_for)
    sub = api.subscribe(dataset="gazetteer-address", purpose="PublicSafety", channel="webhook",
                        url=receiver.url("a"), start="now")
    receiver.control(secrets={"a": sub["secret"]})
    pull = api.subscribe(dataset="gazetteer-address", purpose="PublicSafety", channel="pull", start="now")
    seqs = api.publish([gazetteer_record(4400 + i) for i in range(3)])
    api.publish([gazetteer_record(4500, custodian="glasgow")], org="glasgow")  # another publisher, same dataset
    tail = api.publish([referral_record("REF-X1")])[0]  # another dataset: not this subscription's
    wait_until(lambda: len(events_of(receiver, "a")) == 3, timeout=30, message="first delivery")
    wait_until(lambda: api.status(sub["id"])["cursor"] >= seqs[-1] + 1, timeout=10, message="cursor past glasgow's")

    for beyond in (tail + 1, tail + 1000):
        refused = api.call("POST", f"/subscriptions/{sub['id']}/replay", "sds", "subscriber", {"from_seq": beyond})
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert f"the log ends at sequence {tail}" in refused.json()["detail"]
    refused = api.call("POST", f"/subscriptions/{sub['id']}/replay", "sds", "subscriber",
                       {"from_time": "2999-01-01T00:00:00Z"})
    assert refused.status_code == 422 and f"the log ends at sequence {tail}" in refused.json()["detail"]
    assert api.status(sub["id"])["cursor"] >= seqs[-1] + 1  # nothing moved
    time.sleep(1.0)
    assert len(events_of(receiver, "a")) == 3  # and nothing skipped nor sent

    done = api.ok("POST", f"/subscriptions/{sub['id']}/replay", "sds", "subscriber", {"from_seq": seqs[1]})
    # Back over seqs[1], seqs[2] and glasgow's record (the referral is not this subscription's).
    assert done["cursor"] == seqs[1] - 1 and done["moved_back"] == 3
    wait_until(lambda: len(events_of(receiver, "a")) == 5, timeout=15, message="the replayed events")
    assert [int(e["sequence"]) for e in events_of(receiver, "a")] == seqs + seqs[1:]
    # Replaying from the very end moves nothing back.
    wait_until(lambda: api.status(sub["id"])["lag"]["records"] == 0, timeout=10, message="caught up")
    done = api.ok("POST", f"/subscriptions/{sub['id']}/replay", "sds", "subscriber", {"from_seq": tail})
    assert done["moved_back"] == 0

    # A replay moves back: it does not jump over records not yet delivered (the pull consumer has read none).
    ahead = api.call("POST", f"/subscriptions/{pull['id']}/replay", "sds", "subscriber", {"from_seq": seqs[2]})
    assert ahead.status_code == 422 and "would skip 2 records" in ahead.json()["detail"], ahead.text
    assert api.status(pull["id"])["cursor"] == seqs[0] - 1
