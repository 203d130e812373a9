"""The sender against a real hub process: signed batches, per-record answers,
nothing deleted before the hub has answered, back-off while the hub is away."""
import json
import random
import shutil
import threading

import pytest

from agents.hub_client import HubClient, HubRefused, HubUnavailable, Response, Transport
from agents.outbox import NewRecord, Outbox
from agents.sender import Backoff, Sender
from causeway_common.canonical import canonical_json
from causeway_common.envelope import derived_record_id
from causeway_common.signing import generate_key, public_key_b64
from support.factories import gazetteer_record
from support.servers import free_port
from support.waiting import wait_until


def enrolled_client(hub, org="edinburgh"):
    key = generate_key()
    answer = HubClient(hub.url).enrol(hub.enrolment_token(org), public_key_b64(key), "sender-test")
    return HubClient(hub.url, answer["api_key"], timeout=10), answer["agent_id"], key


def queue(outbox, uprns, task="gazetteer", **overrides):
    records = []
    for uprn in uprns:
        record = gazetteer_record(uprn, id=derived_record_id(task, uprn, "v1"), **overrides)
        records.append(NewRecord(record["id"], canonical_json(record).decode(), {"file": "gazetteer.csv", "line": uprn + 1}))
    outbox.commit_chunk(task, records, [], {"line": max(uprns) + 1}, rows_read=len(records))


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


def test_a_drained_outbox_is_at_the_hub_signed_and_empty_locally(shared_hub, outbox):
    client, agent_id, key = enrolled_client(shared_hub)
    queue(outbox, range(1000, 1025))
    totals = Sender(outbox, client, agent_id, key, batch_size=10).drain()
    assert (totals.batches, totals.delivered, totals.rejected) == (3, 25, 0)
    assert outbox.depth() == 0
    ids = {r["id"] for r in shared_hub.records("gazetteer-address")}
    assert {derived_record_id("gazetteer", u, "v1") for u in range(1000, 1025)} <= ids
    record = client._call("GET", f"/records/{derived_record_id('gazetteer', 1000, 'v1')}", "a record")
    assert record["provenance"]["agent_id"] == agent_id and record["provenance"]["signature_verified"] is True
    assert outbox.task_stats()["gazetteer"]["published"] == 25


def test_resending_after_a_crash_before_deletion_duplicates_nothing(shared_hub, outbox, tmp_path):
    client, agent_id, key = enrolled_client(shared_hub)
    queue(outbox, range(2000, 2010))
    outbox.close()
    shutil.copy(tmp_path / "outbox.sqlite", tmp_path / "before-send.sqlite")  # as if killed after the hub's commit
    Sender(Outbox(tmp_path / "outbox.sqlite"), client, agent_id, key).drain()
    before = len(shared_hub.records("gazetteer-address"))

    restored = Outbox(tmp_path / "before-send.sqlite")
    assert restored.depth() == 10
    totals = Sender(restored, client, agent_id, key).drain()
    assert totals.delivered == 10 and restored.depth() == 0
    assert len(shared_hub.records("gazetteer-address")) == before
    restored.close()


def test_records_the_hub_rejects_are_kept_with_their_source_and_the_rest_go_through(shared_hub, outbox):
    client, agent_id, key = enrolled_client(shared_hub)
    queue(outbox, [3001])
    bad = gazetteer_record(3002, id=derived_record_id("gazetteer", 3002, "v1"))
    bad["payload"]["postcode"] = "nowhere"
    outbox.commit_chunk("gazetteer", [NewRecord(bad["id"], canonical_json(bad).decode(), {"file": "gazetteer.csv", "line": 7})],
                        [], None, rows_read=1)
    totals = Sender(outbox, client, agent_id, key).drain()
    assert (totals.delivered, totals.rejected) == (1, 1)
    (reject,) = outbox.rejects()
    assert reject["stage"] == "hub"
    assert reject["location"] == {"file": "gazetteer.csv", "line": 7}
    assert reject["errors"][0]["path"] == "/payload/postcode"
    assert outbox.depth() == 0


def test_nothing_leaves_the_outbox_while_the_hub_is_unreachable(outbox):
    client = HubClient(f"http://127.0.0.1:{free_port()}", "cw_x", timeout=2)
    queue(outbox, [4001, 4002])
    with pytest.raises(HubUnavailable, match="cannot reach the hub"):
        Sender(outbox, client, "agent", generate_key()).drain()
    assert outbox.depth() == 2


def test_the_sender_backs_off_while_the_hub_is_down_and_drains_when_it_returns(hub, outbox):
    client, agent_id, key = enrolled_client(hub)
    hub.stop()
    queue(outbox, range(5000, 5040))
    sender = Sender(outbox, client, agent_id, key, batch_size=16, max_backoff=1.0)
    stop = threading.Event()
    thread = threading.Thread(target=sender.run, args=(stop,), daemon=True)
    thread.start()
    try:
        # Each retry says "sending" while it tries; between tries it says it is waiting.
        wait_until(lambda: sender.backoff.failures >= 2 and sender.status == "waiting for the hub", timeout=30,
                   message="two failed attempts, waiting for the hub")
        assert outbox.depth() == 40
        hub.start()
        wait_until(lambda: outbox.depth() == 0, timeout=60, message="the outbox to drain")
    finally:
        stop.set()
        sender.wake.set()
        thread.join(10)
    assert len(hub.records("gazetteer-address")) == 40
    assert sender.last_error is None


def test_a_revoked_credential_is_a_refusal_not_a_retry(shared_hub, outbox):
    client, agent_id, key = enrolled_client(shared_hub)
    shared_hub.orgs.revoke_key(client._api_key.split("_")[1], actor="test")
    queue(outbox, [6001])
    with pytest.raises(HubRefused) as refused:
        Sender(outbox, client, agent_id, key).drain()
    assert refused.value.status == 401
    assert outbox.depth() == 1


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap():
    backoff = Backoff(base=1, cap=60, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(10)]
    for attempt, delay in enumerate(delays):
        ceiling = min(60, 2 ** attempt)
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[6:]}) > 1  # jittered, not all equal at the cap
    backoff.reset()
    assert backoff.next_delay() <= 1


class ScriptedTransport(Transport):
    """Answers from a script, recording what was sent (for a pure unit test of the client seam)."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.sent = []

    def request(self, method, url, *, headers, body, timeout):
        self.sent.append(json.loads(body) if body else None)
        status, payload = self.answers.pop(0)
        if status is None:
            raise ConnectionError("connection refused")
        return Response(status, json.dumps(payload).encode(), {})


def test_a_batch_the_hub_finds_too_large_is_split(outbox):
    queue(outbox, range(10))
    ok = lambda n: (200, {"batch_id": "b", "results": [{"status": "accepted"}] * n})  # noqa: E731
    transport = ScriptedTransport([(413, {"detail": "too large"}), ok(5), ok(5)])
    sender = Sender(outbox, HubClient("http://hub", "cw_x", transport), "agent", generate_key(), batch_size=10)
    sender.drain()
    assert [len(s["records"]) for s in transport.sent] == [10, 5, 5]
    assert outbox.depth() == 0


def test_every_batch_carries_a_fresh_manifest_signed_over_its_records(outbox):
    queue(outbox, range(3))
    transport = ScriptedTransport([(503, {}), (200, {"batch_id": "b", "results": [{"status": "accepted"}] * 3})])
    sender = Sender(outbox, HubClient("http://hub", "cw_x", transport), "agent-1", generate_key())
    with pytest.raises(HubUnavailable):
        sender.drain()
    sender.drain()
    first, second = transport.sent
    assert first["manifest"]["batch_id"] != second["manifest"]["batch_id"]
    from causeway_common.canonical import digest
    assert second["manifest"]["record_digests"] == [digest(r) for r in second["records"]]
    assert second["manifest"]["agent_id"] == "agent-1"


class GatedTransport(Transport):
    """Holds each batch until the test lets the hub answer it, and logs sends and answers.
    Batches in flight at once reach the hub in no set order, so each is named by its first key."""

    def __init__(self):
        self.lock = threading.Lock()
        self.batches: dict[str, tuple[list[str], threading.Event]] = {}
        self.log: list[tuple[str, str]] = []

    def request(self, method, url, *, headers, body, timeout):
        keys = [r["key"] for r in json.loads(body)["records"]]
        gate = threading.Event()
        with self.lock:
            self.batches[keys[0]] = (keys, gate)
            self.log.append(("sent", keys[0]))
        assert gate.wait(60), "the test never answered this batch"
        with self.lock:
            self.log.append(("answered", keys[0]))
        return Response(200, json.dumps({"batch_id": "b", "results": [{"status": "accepted"}] * len(keys)}).encode(), {})

    def answer(self, first_key):
        self.batches[first_key][1].set()

    def sent(self):
        with self.lock:
            return {first: keys for first, (keys, _) in self.batches.items()}


def test_several_batches_are_in_flight_but_never_two_with_the_same_key(outbox):
    def queue_versions(uprns, version):
        outbox.commit_chunk("gazetteer", [
            NewRecord(derived_record_id("gazetteer", u, version),
                      canonical_json(gazetteer_record(u, id=derived_record_id("gazetteer", u, version))).decode(),
                      {"line": u}, str(u)) for u in uprns], [], None, rows_read=len(uprns))

    queue_versions(range(0, 20), "v1")  # two batches of ten
    queue_versions([20, 21], "v1")
    queue_versions([5], "v2")  # a newer version of a key the first batch carries
    queue_versions(range(22, 30), "v1")
    transport = GatedTransport()
    sender = Sender(outbox, HubClient("http://hub", "cw_x", transport), "agent", generate_key(), batch_size=10,
                    in_flight=4)
    draining = threading.Thread(target=sender.drain, daemon=True)
    draining.start()
    try:
        wait_until(lambda: len(transport.sent()) == 3, timeout=60, message="three batches in flight at once")
        assert transport.sent() == {"0": [str(u) for u in range(10)], "10": [str(u) for u in range(10, 20)],
                                    "20": ["20", "21"]}, "the third batch stops short of the key still in flight"
        transport.answer("10")
        transport.answer("20")
        wait_until(lambda: outbox.depth() == 31 - 12, timeout=60, message="two batches settled")
        assert "5" not in transport.sent(), "key 5's new version went out while its old one was unanswered"
        transport.answer("0")
        wait_until(lambda: "5" in transport.sent(), timeout=60, message="the held batch to go")
        assert transport.sent()["5"] == ["5", *[str(u) for u in range(22, 30)]]
        assert transport.log.index(("answered", "0")) < transport.log.index(("sent", "5"))
        transport.answer("5")
        draining.join(60)
    finally:
        for first in list(transport.batches):
            transport.answer(first)
    assert not draining.is_alive() and outbox.depth() == 0


def test_a_publish_run_waits_while_the_outbox_is_far_ahead_of_the_hub_and_reads_on_when_it_stalls(outbox, monkeypatch):
    queue(outbox, range(50))  # read_ahead: 4 batches of 10 with one in flight
    transport = GatedTransport()
    sender = Sender(outbox, HubClient("http://hub", "cw_x", transport), "agent", generate_key(), batch_size=10,
                    in_flight=1)
    assert sender.read_ahead == 40
    draining = threading.Thread(target=sender.drain, daemon=True)
    draining.start()
    reading = threading.Thread(target=sender.wait_for_room, daemon=True)
    try:
        wait_until(lambda: "0" in transport.sent(), timeout=60, message="the first batch out")
        sender.status = "sending"
        reading.start()
        reading.join(0.5)
        assert reading.is_alive(), "the run went on reading with 50 records waiting and the hub answering"
        transport.answer("0")
        reading.join(60)
        assert not reading.is_alive() and outbox.depth() == 40, "room once the hub's answer came"
        queue(outbox, range(50, 60))
        wait_until(lambda: "10" in transport.sent(), timeout=60, message="the next batch out")
        monkeypatch.setattr("agents.sender.STALL_SECONDS", 0.2)
        sender.wait_for_room()  # the hub silent for STALL_SECONDS: read on, the outbox holds it
        sender.wait_for_room()  # and straight on while it stays silent
        sender.status = "waiting for the hub"
        transport.answer("10")
        wait_until(lambda: "20" in transport.sent(), timeout=60, message="the batch after it")
        sender.wait_for_room()  # a sender backing off holds nothing up
    finally:
        for first in list(transport.batches):
            transport.answer(first)
        while draining.is_alive():
            for first in list(transport.batches):
                transport.answer(first)
            draining.join(0.1)
    assert outbox.depth() == 0
