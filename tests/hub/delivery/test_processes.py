"""Delivery workers as real processes: killed with SIGKILL mid-batch, and two of them
sharing subscriptions through leases on PostgreSQL."""
from __future__ import annotations

import collections
import time

import pytest

from support.delivery import WorkerProcess, worker_env
from support.factories import gazetteer_record
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]

def test_worker_killed_mid_batch_repeats_only_the_page_in_flight_with_the_same_webhook_ids(
        db_url, tmp_path, subscribe, publish, grant, receiver):
    grant("sds", "gazetteer-address")
    sub = subscribe(dataset="gazetteer-address", channel="webhook", url=receiver.url("a"), batch=True,
                    start="beginning")
    # Each answer held 5 s: long enough that the second batch is still unanswered when looked at.
    receiver.control(secrets={"a": sub["secret"]}, delay=5.0)
    seqs = []
    for start in range(0, 60, 15):
        seqs += publish([gazetteer_record(5000 + i) for i in range(start, start + 15)])
    first = WorkerProcess(db_url, "first", worker_env(CAUSEWAY_BATCH_MAX_EVENTS=10), tmp_path / "first.log").start()
    try:
        # The second batch is held by the receiver (stored, not yet answered): the worker waits on it.
        wait_until(lambda: len(receiver.events("a")) >= 20, message="a second batch in flight")
        state = receiver.state("a")
        assert len([r for r in state["requests"] if r["status"] == 200]) == 1, "the second batch must be in flight"
        # The page (every record here: six batches) goes again from its first batch, the one
        # acknowledged included, under the same webhook-ids.
        sent_before = list(dict.fromkeys(e["_webhook_id"] for e in state["events"]))
        assert len(sent_before) == 2
    finally:
        first.kill()
    receiver.control(delay=0)
    second = WorkerProcess(db_url, "second", worker_env(CAUSEWAY_BATCH_MAX_EVENTS=10), tmp_path / "second.log").start()
    try:
        wait_until(lambda: len(receiver.events("a")) >= len(seqs), message="every record after the restart")
    finally:
        second.stop()
    state = receiver.state("a")
    assert sorted(int(e["sequence"]) for e in state["events"]) == seqs  # nothing missing, nothing twice
    repeated = [r["webhook_id"] for r in state["requests"] if r["duplicate"]]
    assert repeated == sent_before  # only what the page had sent, under the same webhook-ids
    assert state["bad_signatures"] == 0


@pytest.mark.postgres
def test_two_workers_never_hold_a_subscription_at_once_and_take_over_after_the_lease(
        db_url, tmp_path, subscribe, publish, grant, receiver):
    if not db_url.startswith("postgresql"):
        pytest.skip("several delivery workers share subscriptions on PostgreSQL; SQLite runs one in-process")
    grant("sds", "gazetteer-address")
    names = [f"s{i}" for i in range(4)]
    for name in names:
        sub = subscribe(dataset="gazetteer-address", channel="webhook", url=receiver.url(name), start="beginning")
        receiver.control(secrets={name: sub["secret"]})
    receiver.control(delay=0.05)
    env = worker_env(CAUSEWAY_DELIVERY_CONCURRENCY=2)
    workers = {w: WorkerProcess(db_url, w, env, tmp_path / f"{w}.log").start() for w in ("w1", "w2")}
    expected = []
    try:
        for round_ in range(6):
            expected += publish([gazetteer_record(7000 + round_ * 10 + i) for i in range(10)])
            time.sleep(0.3)
            if round_ == 2:
                wait_until(lambda: any("w1" in (r["user_agent"] or "") for r in receiver.state()["requests"]),
                           message="w1 to deliver something")
                workers["w1"].kill()
                killed_at = time.time()
        wait_until(lambda: all(len(receiver.events(n)) >= len(expected) for n in names), timeout=90,
                   message="every subscription to catch up")
    finally:
        for w in workers.values():
            w.stop()
    state = receiver.state()
    by_sub = collections.defaultdict(list)
    for request in state["requests"]:
        by_sub[request["name"]].append(request)
    for name in names:
        held = [int(e["sequence"]) for e in receiver.events(name)]
        assert sorted(held) == sorted(expected), name
        timeline = sorted(by_sub[name], key=lambda r: r["started"])
        for before, after in zip(timeline, timeline[1:]):
            if _worker(before) != _worker(after):
                assert after["started"] >= before["ended"] - 0.01, f"{name}: two workers at once"
    w1_subs = {n for n in names if any(_worker(r) == "w1" for r in by_sub[n])}
    taken_over = {n for n in w1_subs if any(_worker(r) == "w2" and r["started"] > killed_at for r in by_sub[n])}
    assert w1_subs and taken_over == w1_subs  # everything w1 had, w2 delivered after it died
    assert all(_worker(r) == "w2" for n in names for r in by_sub[n] if r["started"] > killed_at + 0.5)


def _worker(request) -> str:
    agent = request["user_agent"] or ""
    return "w1" if "(w1)" in agent else "w2" if "(w2)" in agent else agent
