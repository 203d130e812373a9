"""Webhook delivery to a real receiver process: signatures, retries, dead letters, replay."""
from __future__ import annotations

import collections

import pytest

from causeway_common.signing import generate_key, public_key_b64
from support.factories import gazetteer_record
from support.waiting import wait_until

pytestmark = pytest.mark.timeout(120)


def held(receiver, name):
    return receiver.events(name)


def test_subscription_shows_its_secret_once_and_waits_for_an_agreement(client, auth, subscribe, grant, receiver):
    sub = subscribe(dataset="gazetteer-address", channel="webhook", url=receiver.url("a"))
    assert sub["secret"].startswith("whsec_")
    assert sub["status"] == "awaiting-agreement"
    assert "no active sharing agreement" in sub["status_reason"]
    shown = client.get(f"/api/v1/subscriptions/{sub['id']}", headers=auth("sds", "subscriber")).json()
    assert "secret" not in shown
    listed = client.get("/api/v1/subscriptions", headers=auth("sds", "subscriber")).json()["subscriptions"]
    assert [s["id"] for s in listed] == [sub["id"]] and "secret" not in listed[0]
    # Another org neither sees nor deletes it.
    assert client.get(f"/api/v1/subscriptions/{sub['id']}", headers=auth("sfrs", "subscriber")).status_code == 404
    assert client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=auth("sfrs", "subscriber")).status_code == 404
    assert client.delete(f"/api/v1/subscriptions/{sub['id']}", headers=auth("sds", "subscriber")).status_code == 204


def test_loopback_and_private_destinations_are_refused_unless_allow_listed(client, auth, settings):
    settings.delivery.webhook_allow = ()
    for url in ("http://127.0.0.1:9/hook", "https://10.1.2.3/hook", "https://localhost/hook", "https://[::1]/x"):
        response = client.post("/api/v1/subscriptions", headers=auth("sds", "subscriber"), json={
            "dataset": "gazetteer-address", "purpose": "p", "channel": "webhook", "url": url})
        assert response.status_code == 400, url
        assert "allow-list" in response.json()["detail"] or "https" in response.json()["detail"]


def test_receiver_holds_every_entitled_record_once_in_key_order(services, subscribe, publish, grant, worker, receiver):
    grant("sds", "gazetteer-address", providers=("edinburgh",), fields=["uprn", "town", "postcode"])
    sub = subscribe(dataset="gazetteer-address", channel="webhook", url=receiver.url("a"), start="beginning")
    receiver.control(secrets={"a": sub["secret"]})
    expected = []
    for round_ in range(4):
        records = [gazetteer_record(uprn) for uprn in range(1000, 1010)]
        expected += publish(records)
        publish([gazetteer_record(uprn, custodian="glasgow") for uprn in range(2000, 2003)], org="glasgow")
        if round_ == 1:
            receiver.control(fail_next={"a": 5})
        if round_ == 2:
            receiver.restart()
            receiver.control(fail_next={"a": 3})
    wait_until(lambda: len(held(receiver, "a")) >= len(expected), message="all entitled records")
    events = held(receiver, "a")
    state = receiver.state("a")
    assert state["bad_signatures"] == 0
    assert sorted(int(e["sequence"]) for e in events) == sorted(expected)  # each once, nothing else
    assert {e["source"] for e in events} == {"/causeway/orgs/edinburgh"}
    assert all(set(e["data"]) <= {"uprn", "town", "postcode"} for e in events)  # projected
    by_key = collections.defaultdict(list)
    for e in events:
        by_key[e["subject"]].append(int(e["sequence"]))
    assert all(seqs == sorted(seqs) for seqs in by_key.values())
    assert any(r["status"] == 500 for r in state["requests"])  # the burst really happened
    # The cursor passes glasgow's records too (not entitled, so nothing to wait for).
    wait_until(lambda: services.delivery.status(sub["id"], _admin())["lag"]["records"] == 0, message="no lag")
    assert services.delivery.status(sub["id"], _admin())["status"] == "active"


def _admin():
    from hub.auth import Principal

    return Principal("hub", "admin", "test")


def _setup(grant, subscribe, receiver, name="a", **extra):
    grant("sds", "gazetteer-address")
    sub = subscribe(dataset="gazetteer-address", channel="webhook", url=receiver.url(name), start="beginning", **extra)
    receiver.control(secrets={name: sub["secret"]})
    return sub


def test_a_refused_event_goes_to_dead_letters_the_rest_flow_and_it_can_be_retried(
        client, auth, subscribe, publish, grant, worker, receiver):
    sub = _setup(grant, subscribe, receiver)
    records = [gazetteer_record(3000 + i) for i in range(5)]
    receiver.control(refuse=[records[2]["id"]])
    seqs = publish(records)
    wait_until(lambda: len(held(receiver, "a")) >= 4, message="the other four")
    headers = auth("sds", "subscriber")
    letters = wait_until(lambda: client.get(f"/api/v1/subscriptions/{sub['id']}/dead-letters",
                                            headers=headers).json()["dead_letters"], message="a dead letter")
    assert [(d["seq"], d["status_code"], d["state"]) for d in letters] == [(seqs[2], 400, "dead")]
    assert sorted(int(e["sequence"]) for e in held(receiver, "a")) == [s for s in seqs if s != seqs[2]]
    # The receiver is fixed; the dead letter is retried on request and arrives.
    receiver.restart()
    response = client.post(f"/api/v1/subscriptions/{sub['id']}/dead-letters/{letters[0]['id']}/retry", headers=headers)
    assert response.status_code == 202 and response.json()["queued"] == 1
    wait_until(lambda: len(held(receiver, "a")) == 5, message="the retried dead letter")
    # The worker settles the dead letter just after the receiver has answered.
    wait_until(lambda: client.get(f"/api/v1/subscriptions/{sub['id']}/dead-letters",
                                  headers=headers).json()["dead_letters"] == [], message="the dead letter settled")


def test_gone_disables_the_subscription(client, auth, subscribe, publish, grant, worker, receiver):
    sub = _setup(grant, subscribe, receiver)
    receiver.control(gone=["a"])
    publish([gazetteer_record(3100)])
    status = wait_until(lambda: (s := client.get(f"/api/v1/subscriptions/{sub['id']}/status",
                                                 headers=auth("sds", "subscriber")).json())["status"] == "disabled" and s,
                        message="disabled")
    assert "410" in status["status_reason"]
    assert status["lag"]["records"] == 1


def test_a_failing_endpoint_holds_its_cursor_and_honours_retry_after(
        client, auth, subscribe, publish, grant, worker, receiver):
    sub = _setup(grant, subscribe, receiver)
    receiver.control(fail_next={"a": 1}, retry_after=6)
    seqs = publish([gazetteer_record(3200 + i) for i in range(3)])
    headers = auth("sds", "subscriber")
    status = wait_until(lambda: (s := client.get(f"/api/v1/subscriptions/{sub['id']}/status", headers=headers).json())
                        ["status"] == "failing" and s, message="failing")
    assert status["last_error"] == "the endpoint answered 500" and status["lag"]["records"] == 3
    assert status["next_retry_at"] is not None
    failed_at = receiver.state("a")["requests"][0]["started"]
    wait_until(lambda: len(held(receiver, "a")) == 3, message="delivery after Retry-After")
    retried_at = [r for r in receiver.state("a")["requests"] if r["status"] == 200][0]["started"]
    assert retried_at - failed_at >= 5.9  # the schedule says 0.2 s; the receiver asked for 6 s
    assert sorted(int(e["sequence"]) for e in held(receiver, "a")) == seqs
    status = wait_until(lambda: (s := client.get(f"/api/v1/subscriptions/{sub['id']}/status", headers=headers).json())
                        ["status"] == "active" and s, message="active again")  # the cursor commits after the POSTs
    assert status["lag"] == {"records": 0, "seconds": 0.0} and status["attempts"] == 0


def test_secret_rotation_signs_with_both_during_the_grace_period(
        client, auth, subscribe, publish, grant, worker, receiver):
    import os

    sub = _setup(grant, subscribe, receiver)
    headers = auth("sds", "subscriber")
    rotated = client.post(f"/api/v1/subscriptions/{sub['id']}/secret", json={"grace_seconds": 3600}, headers=headers).json()
    assert rotated["secret"] != sub["secret"] and rotated["secret"].startswith("whsec_")
    # A receiver that still knows only the old secret accepts...
    publish([gazetteer_record(3300)])
    wait_until(lambda: len(held(receiver, "a")) == 1, message="old-secret receiver")
    # ...and so does one that knows only the new one.
    receiver.stop()
    os.remove(receiver.state_path)
    receiver.start()
    receiver.control(secrets={"a": rotated["secret"]})
    publish([gazetteer_record(3301)])
    wait_until(lambda: len(held(receiver, "a")) == 1, message="new-secret receiver")
    assert receiver.state("a")["bad_signatures"] == 0


def test_signatures_follow_standard_webhooks():
    from hub.delivery import signing

    old, new = signing.new_secret(), signing.new_secret()
    headers = signing.sign([new, old], "msg_1", b'{"a":1}', timestamp=1_700_000_000)
    assert headers["webhook-id"] == "msg_1" and headers["webhook-timestamp"] == "1700000000"
    assert len(headers["webhook-signature"].split()) == 2
    signing.verify(new, headers, b'{"a":1}', now=1_700_000_010)
    signing.verify(old, headers, b'{"a":1}', now=1_700_000_010)
    for body, secret, now in ((b'{"a":2}', new, 1_700_000_010), (b'{"a":1}', signing.new_secret(), 1_700_000_010),
                              (b'{"a":1}', new, 1_700_001_000)):
        with pytest.raises(signing.SignatureError):
            signing.verify(secret, headers, body, now=now)


def test_replay_delivers_again_with_new_webhook_ids(client, auth, subscribe, publish, grant, worker, receiver):
    sub = _setup(grant, subscribe, receiver)
    seqs = publish([gazetteer_record(3400 + i) for i in range(3)])
    wait_until(lambda: len(held(receiver, "a")) == 3, message="first delivery")
    response = client.post(f"/api/v1/subscriptions/{sub['id']}/replay", json={"from_seq": seqs[1]},
                           headers=auth("sds", "subscriber"))
    assert response.json()["cursor"] == seqs[1] - 1
    wait_until(lambda: len(held(receiver, "a")) == 5, message="replayed events")
    assert [int(e["sequence"]) for e in held(receiver, "a")] == seqs + seqs[1:]


def test_suspended_agreement_holds_delivery_until_active_again(
        client, auth, subscribe, publish, grant, worker, receiver, key_for, services):
    grant_id = grant("sds", "gazetteer-address")
    sub = subscribe(dataset="gazetteer-address", channel="webhook", url=receiver.url("a"), start="beginning")
    receiver.control(secrets={"a": sub["secret"]})
    assert sub["status"] == "active"
    grant.suspend(grant_id)
    publish([gazetteer_record(3500)])
    headers = auth("sds", "subscriber")
    wait_until(lambda: client.get(f"/api/v1/subscriptions/{sub['id']}/status", headers=headers).json()["status"]
               == "paused", message="paused")
    assert held(receiver, "a") == []
    who = services.orgs.authenticate(key_for("edinburgh", "governance"))
    services.policy.agreements.transition(grant_id, "active", who)
    wait_until(lambda: len(held(receiver, "a")) == 1, message="delivery once active again")


def test_pull_feed_decides_per_record_and_ack_moves_the_position(client, auth, subscribe, publish, grant, services):
    def agent_auth(org):
        token, _ = services.orgs.create_enrolment(org, 3600, actor="test")
        enrolled = services.orgs.enrol_agent(token, public_key_b64(generate_key()), f"{org}-agent", "1.0")
        return {"Authorization": f"Bearer {enrolled['api_key']}"}

    grant("sds", "gazetteer-address", fields=["uprn", "town"])
    sub = subscribe(dataset="gazetteer-address", channel="pull", start="beginning")
    headers = auth("sds", "subscriber")
    mine = publish([gazetteer_record(3600 + i) for i in range(3)])
    publish([gazetteer_record(3700, custodian="glasgow")], org="glasgow")
    page = client.get(f"/api/v1/subscriptions/{sub['id']}/feed?limit=10", headers=headers).json()
    assert [int(e["sequence"]) for e in page["events"]] == mine
    assert all(set(e["data"]) <= {"uprn", "town"} for e in page["events"])
    assert page["next"] == mine[-1] + 1  # glasgow's record is passed over, not shown
    assert client.get(f"/api/v1/subscriptions/{sub['id']}/status", headers=headers).json()["lag"]["records"] == 4
    assert client.post(f"/api/v1/subscriptions/{sub['id']}/ack", json={"seq": page["next"]}, headers=headers).status_code == 200
    status = client.get(f"/api/v1/subscriptions/{sub['id']}/status", headers=headers).json()
    assert status["lag"]["records"] == 0 and status["acked"] == page["next"]
    # Another org cannot read this feed.
    assert client.get(f"/api/v1/subscriptions/{sub['id']}/feed", headers=auth("sfrs", "subscriber")).status_code == 404
    # The org's enrolled agent reads it with its own credential; another org's agent cannot.
    assert client.get(f"/api/v1/subscriptions/{sub['id']}/feed", headers=agent_auth("sds")).status_code == 200
    assert client.get(f"/api/v1/subscriptions/{sub['id']}/feed", headers=agent_auth("sfrs")).status_code == 404
