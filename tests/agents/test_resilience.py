"""Must show: nothing lost and nothing duplicated when the hub goes away or the
agent is killed (SIGKILL) mid-read or between outbox write and send."""
import json
import os
import signal

import pytest

from support.agents import (
    GAZETTEER_HEADER,
    enrol,
    gazetteer_line,
    gazetteer_task,
    hub_get,
    outbox_figures,
    run_agent,
    start_agent,
    write_config,
    write_gazetteer_csv,
)
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def assert_exactly_once(hub, expected_rows: int):
    records = hub.records("gazetteer-address")
    keys = [r["key"] for r in records]
    assert len(set(keys)) == expected_rows, "rows lost"
    assert len(keys) == expected_rows, "rows duplicated at the hub"


def kill(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_the_agent_keeps_reading_while_the_hub_is_down_and_drains_after(hub, tmp_path):
    drop, state = tmp_path / "drop", tmp_path / "state"
    drop.mkdir()
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [gazetteer_task(drop)])
    write_gazetteer_csv(drop / "monday.csv", 300, start=0)
    agent = start_agent(config, log_path=tmp_path / "agent.log")
    try:
        wait_until(lambda: len(hub.records("gazetteer-address")) == 300, timeout=60, message="monday's rows at the hub")
        hub.stop()
        write_gazetteer_csv(drop / "tuesday.csv", 400, start=300)
        write_gazetteer_csv(drop / "wednesday.csv", 500, start=700)
        # The agent reads on: both files end up in the outbox while the hub is away.
        wait_until(lambda: outbox_figures(state)["depth"] == 900, timeout=60, message="900 records waiting in the outbox")
        # The file is moved once its rows' outbox commit is done, just after.
        wait_until(lambda: (drop / "processed" / "wednesday.csv").exists(), timeout=30, message="wednesday.csv processed")
        status = run_agent(config, "status")
        assert "900 records waiting for the hub" in status.stdout

        hub.start()
        wait_until(lambda: outbox_figures(state)["depth"] == 0, timeout=90, message="the outbox to drain")
        assert_exactly_once(hub, 1200)
        # The hub hears how the task went.
        ops = hub.key("edinburgh", "ops")
        wait_until(lambda: (hub_get(hub, "/agents", ops)["agents"][0]["report"] or {}).get("tasks", [{}])[0]
                   .get("published") == 1200, timeout=30, message="a heartbeat with the published count")
        agent_view = hub_get(hub, "/agents", ops)["agents"][0]
        assert agent_view["status"] == "up"
        assert agent_view["report"]["tasks"][0]["rows_read"] == 1200
        assert agent_view["report"]["outbox_depth"] == 0
    finally:
        stop(agent)
    log = (tmp_path / "agent.log").read_text()
    assert "cannot reach the hub" in log
    from agents.state import StateDir
    from support.agents import PASSPHRASE

    secret = StateDir(state).load_credential(PASSPHRASE).api_key
    assert secret not in log and PASSPHRASE not in log  # secrets never reach the log


def test_sigkill_mid_read_loses_and_duplicates_nothing(hub, tmp_path):
    drop, state = tmp_path / "drop", tmp_path / "state"
    drop.mkdir()
    enrol(hub, state)
    rows = 15_000
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [gazetteer_task(drop, chunk_rows=250)])
    write_gazetteer_csv(drop / "full-export.csv", rows)
    agent = start_agent(config, log_path=tmp_path / "agent.log")

    def part_read():
        checkpoint = outbox_figures(state)["checkpoints"].get("gazetteer")
        return checkpoint and checkpoint["rows_done"] >= 1000

    try:
        wait_until(part_read, timeout=120, interval=0.05, message="the first chunks of the file to be committed")
    finally:
        kill(agent)
    checkpoint = outbox_figures(state)["checkpoints"]["gazetteer"]
    assert not checkpoint["complete"], "the read finished before the kill; use a larger file"
    assert (drop / "full-export.csv").exists()

    result = run_agent(config, "run", "--once", timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert_exactly_once(hub, rows)
    assert outbox_figures(state)["depth"] == 0


def test_sigkill_between_outbox_write_and_send_loses_and_duplicates_nothing(hub, tmp_path):
    drop, state = tmp_path / "drop", tmp_path / "state"
    drop.mkdir()
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [gazetteer_task(drop)])
    write_gazetteer_csv(drop / "a.csv", 250, start=0)
    assert run_agent(config, "run", "--once").returncode == 0  # schemas cached, first rows sent
    hub.stop()
    write_gazetteer_csv(drop / "b.csv", 750, start=250)
    agent = start_agent(config, log_path=tmp_path / "agent.log")
    try:
        wait_until(lambda: outbox_figures(state)["depth"] == 750, timeout=60, message="b.csv in the outbox")
    finally:
        kill(agent)  # written to the outbox, never sent

    hub.start()
    result = run_agent(config, "run", "--once")
    assert result.returncode == 0, result.stderr[-2000:]
    assert_exactly_once(hub, 1000)
    # Re-reading does not resend: the files are done and nothing waits.
    assert run_agent(config, "run", "--once").returncode == 0
    assert_exactly_once(hub, 1000)


def test_sigkill_with_several_batches_in_flight_keeps_each_key_in_order_once(hub, tmp_path):
    """The same addresses twice (a file, then a re-export marking them historic), sent in small
    batches four at a time, the agent killed while batches are out: after a restart the hub
    holds each version exactly once, the first before the second for every key."""
    drop, state = tmp_path / "drop", tmp_path / "state"
    drop.mkdir()
    enrol(hub, state)
    rows = 4000
    write_gazetteer_csv(drop / "a-export.csv", rows)
    with open(drop / "b-export.csv", "w", encoding="utf-8") as out:
        out.write(GAZETTEER_HEADER + "\n")
        for n in range(rows):
            fields = gazetteer_line(n).split(",")
            fields[8] = "H"  # STATUS: historic
            out.write(",".join(fields) + "\n")
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [gazetteer_task(drop, chunk_rows=500)],
                          sender={"batch_size": 100, "in_flight": 4})
    agent = start_agent(config, log_path=tmp_path / "agent.log")
    try:
        wait_until(lambda: hub.count("gazetteer-address") >= 1500, timeout=120, interval=0.05,
                   message="batches reaching the hub")
    finally:
        kill(agent)
    assert hub.count("gazetteer-address") < 2 * rows, "everything arrived before the kill; use a larger file"

    result = run_agent(config, "run", "--once", timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    records = hub.records("gazetteer-address")
    assert len(records) == 2 * rows and len({r["id"] for r in records}) == 2 * rows, "a version lost or held twice"
    statuses: dict[str, list[str]] = {}
    for record in records:
        statuses.setdefault(record["key"], []).append(json.loads(record["payload"])["status"])
    assert len(statuses) == rows
    assert all(seen[-1] == "historic" and seen[0] != "historic" for seen in statuses.values()), \
        "a key's versions reached the hub out of order"
    assert outbox_figures(state)["depth"] == 0
