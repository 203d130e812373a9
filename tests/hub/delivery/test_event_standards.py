"""Delivered events follow CloudEvents 1.0 and Standard Webhooks, checked with the
official tools (the CloudEvents SDK, the CloudEvents JSON schema, the standardwebhooks
library): from a real hub process, to a real webhook receiver process and through both
pull feeds. `dataschema` is an absolute URI under the hub's public URL, `sequence`
sorts as a string, and `retentionuntil` tells the recipient when to delete."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
import requests

from support.cloudevents_check import check_event
from support.factories import gazetteer_record
from support.hubprocess import HubProcess
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

PUBLIC_URL = "https://hub.example"
PURPOSE = "PublicSafety"  # what the grant fixture's agreements cover
RETENTION_DAYS = 30


@pytest.fixture
def hub(db_url, tmp_path, services, settings):
    process = HubProcess(db_url, env={"CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
                                      "CAUSEWAY_SECRETS_KEY": settings.delivery.secrets_key,
                                      "CAUSEWAY_PUBLIC_URL": PUBLIC_URL,
                                      "CAUSEWAY_POLL_SECONDS": "0.05"},
                         log_path=tmp_path / "hub.log").start()
    yield process
    process.stop()


def _today() -> date:
    return datetime.now(timezone.utc).date()


def test_webhook_and_feed_events_pass_the_official_cloudevents_checks(hub, grant, receiver, key_for):
    grant("sds", "gazetteer-address", fields=["uprn", "town", "postcode"], retention_days=RETENTION_DAYS)
    subscriber = {"Authorization": f"Bearer {key_for('sds', 'subscriber')}"}
    publisher = {"Authorization": f"Bearer {key_for('edinburgh', 'publisher')}"}
    made = requests.post(f"{hub.url}/api/v1/subscriptions", headers=subscriber, timeout=10, json={
        "dataset": "gazetteer-address", "purpose": PURPOSE, "channel": "webhook", "url": receiver.url("a"),
        "start": "beginning"})
    assert made.status_code == 201, made.text
    receiver.control(secrets={"a": made.json()["secret"]})
    # Enough records that the log passes from one digit to two: 9 < 10 only if compared as padded strings.
    answered = requests.post(f"{hub.url}/api/v1/records", headers=publisher, timeout=30, json={
        "records": [gazetteer_record(9000 + i) for i in range(12)]}).json()["results"]
    seqs = [r["seq"] for r in answered]
    started = _today()

    # The receiver process verified every signature with standardwebhooks and parsed every
    # event with the CloudEvents SDK against the schema (receiver.events() fails otherwise).
    events = wait_until(lambda: (e := receiver.events("a")) and len(e) >= len(seqs) and e, message="every event")
    state = receiver.state("a")
    assert state["bad_signatures"] == 0 and state["bad_events"] == []
    assert [int(e["sequence"]) for e in events] == seqs
    assert sorted(e["sequence"] for e in events) == [e["sequence"] for e in events]  # string order is log order
    assert {len(e["sequence"]) for e in events} == {20}
    assert {e["dataschema"] for e in events} == {f"{PUBLIC_URL}/api/v1/datasets/gazetteer-address/schemas/1"}
    assert {e["retentionuntil"] for e in events} <= {
        (started + timedelta(days=RETENTION_DAYS)).isoformat(),
        (_today() + timedelta(days=RETENTION_DAYS)).isoformat()}  # a test run across midnight
    date.fromisoformat(events[0]["retentionuntil"])  # an RFC 3339 full-date

    # The subscription's pull feed and the recipient feed: the same checks on every event.
    pulled = requests.post(f"{hub.url}/api/v1/subscriptions", headers=subscriber, timeout=10, json={
        "dataset": "gazetteer-address", "purpose": PURPOSE, "channel": "pull", "start": "beginning"}).json()
    page = requests.get(f"{hub.url}/api/v1/subscriptions/{pulled['id']}/feed?limit=100", headers=subscriber,
                        timeout=10).json()
    feed = requests.get(f"{hub.url}/api/v1/feeds/gazetteer-address?purpose={PURPOSE}&limit=100",
                        headers=subscriber, timeout=10).json()
    own = requests.get(f"{hub.url}/api/v1/feeds/gazetteer-address?limit=100", headers=publisher, timeout=10).json()
    for events_ in (page["events"], feed["events"], own["events"]):
        assert [int(e["sequence"]) for e in events_] == seqs
        for event in events_:
            parsed = check_event(event)
            assert parsed.get_dataschema() == f"{PUBLIC_URL}/api/v1/datasets/gazetteer-address/schemas/1"
    for event in page["events"] + feed["events"]:
        assert event["retentionuntil"] == events[0]["retentionuntil"]
    assert all("retentionuntil" not in e for e in own["events"])  # a publisher's own records: its own rules


def test_without_a_public_url_serve_names_schemas_under_the_address_it_listens_on(db_url, tmp_path, services,
                                                                                  key_for, monkeypatch):
    monkeypatch.delenv("CAUSEWAY_PUBLIC_URL", raising=False)
    process = HubProcess(db_url, log_path=tmp_path / "hub.log").start()
    try:
        publisher = {"Authorization": f"Bearer {key_for('edinburgh', 'publisher')}"}
        requests.post(f"{process.url}/api/v1/records", headers=publisher, timeout=30,
                      json={"records": [gazetteer_record(9100)]}).raise_for_status()
        own = requests.get(f"{process.url}/api/v1/feeds/gazetteer-address", headers=publisher, timeout=10).json()
        assert [e["dataschema"] for e in own["events"]] == [
            f"{process.url}/api/v1/datasets/gazetteer-address/schemas/1"]
        schema = requests.get(own["events"][0]["dataschema"], headers=publisher, timeout=10)
        assert schema.status_code == 200 and schema.json()["$schema"].startswith("https://json-schema.org/")
    finally:
        process.stop()
