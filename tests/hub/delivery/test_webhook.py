"""Webhook delivery to a real receiver process: signatures, retries, dead letters, replay."""
from __future__ import annotations

import collections

import pytest

from factories import gazetteer_record
from harness import wait_until

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
    status = services.delivery.status(sub["id"], _admin())
    assert status["status"] == "active" and status["lag"]["records"] <= 3  # glasgow's records need not wait


def _admin():
    from hub.auth import Principal

    return Principal("hub", "admin", "test")
