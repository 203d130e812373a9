"""Nothing acknowledged is ever lost: a hub killed mid-publish keeps every answered batch."""
import threading
import time

import pytest
import requests

from support.factories import gazetteer_record
from support.hubprocess import HubProcess, hub_cli, issue_key

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def publish_until_stopped(url, key, stop, answered, unanswered):
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    n = 0
    while not stop.is_set():
        batch = [gazetteer_record(n * 100 + i) for i in range(100)]
        n += 1
        try:
            response = session.post(f"{url}/api/v1/records", json={"records": batch}, timeout=10)
        except requests.RequestException:
            unanswered.append(batch)
            continue
        if response.status_code == 200:
            answered.append(batch)
        else:
            unanswered.append(batch)


def test_sigkill_while_publishing_loses_no_answered_batch(services, db_url, tmp_path):
    key = issue_key(db_url, "edinburgh", "publisher")
    admin = issue_key(db_url, "edinburgh", "admin")
    hub = HubProcess(db_url, log_path=tmp_path / "hub.log").start()
    stop, answered, unanswered = threading.Event(), [], []
    client = threading.Thread(target=publish_until_stopped, args=(hub.url, key, stop, answered, unanswered))
    client.start()
    try:
        deadline = time.monotonic() + 30
        while len(answered) < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        hub.kill()  # mid-stream: the client is sending batches continuously
        time.sleep(0.5)
    finally:
        stop.set()
        client.join(timeout=30)
    assert len(answered) >= 5

    hub = HubProcess(db_url, port=hub.port, log_path=tmp_path / "hub.log").start()
    try:
        ids, after = [], 0
        while True:
            page = requests.get(f"{hub.url}/api/v1/feeds/gazetteer-address", params={"after": after, "limit": 1000},
                                headers={"Authorization": f"Bearer {admin}"}, timeout=10).json()
            if not page["events"]:
                break
            ids.extend(e["id"] for e in page["events"])
            after = page["next"]
        stored = set(ids)
        assert len(ids) == len(stored), "a record is in the log twice"
        for batch in answered:
            assert {r["id"] for r in batch} <= stored
        # a batch that got no answer was either committed whole or not at all
        for batch in unanswered:
            present = {r["id"] for r in batch} & stored
            assert not present or len(present) == len(batch)
        # re-sending what went unanswered completes the log without duplicates
        for batch in unanswered:
            results = requests.post(f"{hub.url}/api/v1/records", json={"records": batch},
                                    headers={"Authorization": f"Bearer {key}"}, timeout=10).json()["results"]
            assert {r["status"] for r in results} <= {"accepted", "duplicate"}
    finally:
        hub.stop()
    assert hub_cli(db_url, "audit", "verify").returncode == 0
