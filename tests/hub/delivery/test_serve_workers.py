"""`causeway-hub serve --workers N`: several API processes and separate delivery workers on one
PostgreSQL, with publishers racing each other; SQLite refuses more than one process."""
from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from hub.records.models import records as log
from support import ROOT
from support.delivery import worker_env
from support.factories import gazetteer_record
from support.servers import free_port
from support.waiting import wait_until

pytestmark = pytest.mark.timeout(180)

_names = itertools.count()
PUBLISHERS = {"edinburgh": 2, "glasgow": 2}  # concurrent publishing threads per org
BATCHES, BATCH = 6, 30  # per thread


@pytest.fixture
def db_url(postgres_server, postgres_template):
    """PostgreSQL only: several hub processes share one database there."""
    name = f"causeway_serve_workers_{os.getpid()}_{next(_names)}"
    yield postgres_server.create_database(name, template=postgres_template)
    postgres_server.drop_database(name)


def children(pid: int) -> set[int]:
    """Every process below pid (Linux /proc)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found |= {int(child)} | children(int(child))
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Publisher(threading.Thread):
    """Publishes its batches over fresh connections (so the kernel spreads them over the API
    processes), sends every third one again as an agent does after a lost answer, and keeps the
    hub's answer for every record."""

    def __init__(self, url: str, key: str, uprns: range, race: list[dict], barrier: threading.Barrier):
        super().__init__()
        self.url, self.key, self.race, self.barrier = url, key, race, barrier
        self.batches = [[gazetteer_record(u) for u in uprns[i:i + BATCH]] for i in range(0, len(uprns), BATCH)]
        self.answers: list[tuple[str, dict]] = []  # (record id, result)
        self.failures: list[str] = []

    def post(self, batch: list[dict]) -> None:
        response = requests.post(f"{self.url}/api/v1/records", json={"records": batch}, timeout=60,
                                 headers={"Authorization": f"Bearer {self.key}", "Connection": "close"})
        if response.status_code != 200:
            self.failures.append(f"{response.status_code}: {response.text[:300]}")
            return
        self.answers += [(r["id"], result) for r, result in zip(batch, response.json()["results"])]

    def run(self) -> None:
        self.barrier.wait()  # the publishers of the race batch post it at the same moment
        if self.race:
            self.post(self.race)
        for n, batch in enumerate(self.batches):
            self.post(batch)
            if n % 3 == 0:
                self.post(batch)


@pytest.mark.e2e
@pytest.mark.postgres
def test_two_api_processes_and_two_delivery_workers_lose_nothing_and_repeat_nothing(
        db_url, services, key_for, grant, subscribe, receiver, tmp_path):
    grant("sds", "gazetteer-address", providers=("edinburgh", "glasgow"))
    grant("sfrs", "gazetteer-address", providers=("edinburgh",))  # not entitled to Glasgow's records
    for org in ("sds", "sfrs"):
        sub = subscribe(org=org, dataset="gazetteer-address", channel="webhook", url=receiver.url(org),
                        batch=org == "sds", start="beginning")
        receiver.control(secrets={org: sub["secret"]})
    pull = subscribe(org="sds", dataset="gazetteer-address", channel="pull", start="beginning")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "serve.log", "wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--db", db_url, "--port", str(port), "--no-access-log",
             "--workers", "2", "--delivery-workers", "2"], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env={**os.environ, **worker_env(CAUSEWAY_DELIVERY_CONCURRENCY=1)}, start_new_session=True)
    try:
        wait_until(lambda: _answers(url), timeout=120, message="serve --workers 2 to answer")
        wait_until(lambda: len(children(serve.pid)) >= 4, timeout=60, message="2 API and 2 delivery processes")
        expected_children = children(serve.pid)
        api_processes = [pid for pid in expected_children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
        assert len(api_processes) == 2
        cpu_before = {pid: cpu_seconds(pid) for pid in api_processes}

        race = [gazetteer_record(900_000 + n) for n in range(BATCH)]
        threads = sum(PUBLISHERS.values())
        barrier = threading.Barrier(threads)
        publishers, base = [], 100_000
        for org, count in PUBLISHERS.items():
            for _ in range(count):
                publishers.append(Publisher(url, key_for(org, "publisher"), range(base, base + BATCHES * BATCH),
                                            race if org == "edinburgh" else [], barrier))
                base += 100_000
        done = threading.Event()
        own_feed = FeedReader(f"{url}/api/v1/feeds/gazetteer-address", key_for("edinburgh", "publisher"), done)
        pulled = FeedReader(f"{url}/api/v1/subscriptions/{pull['id']}/feed", key_for("sds", "subscriber"), done)
        for thread in (*publishers, own_feed, pulled):
            thread.start()
        for publisher in publishers:
            publisher.join(120)
        done.set()
        for reader in (own_feed, pulled):
            reader.join(60)
        assert [f for p in publishers for f in p.failures] == []
        # Both API processes took a share of the publishing (each connection goes to one of them, as
        # the kernel hands it out: on a loaded machine unevenly, hence only 5 %).
        used = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in api_processes}
        assert all(share > 0.05 * sum(used.values()) for share in used.values()), used

        # Every record accepted once, in the log once; a record sent again (or by two publishers
        # at once) is answered duplicate with the sequence it was accepted under.
        seq_of: dict[str, int] = {}
        for publisher in publishers:
            for record_id, result in publisher.answers:
                if result["status"] == "accepted":
                    assert record_id not in seq_of, f"{record_id} accepted twice"
                    seq_of[record_id] = result["seq"]
        for publisher in publishers:
            for record_id, result in publisher.answers:
                assert result["status"] in ("accepted", "duplicate"), result
                assert result["seq"] == seq_of[record_id]
        sent = {r["id"] for p in publishers for b in p.batches for r in b} | {r["id"] for r in race}
        assert set(seq_of) == sent
        with services.engine.connect() as conn:
            in_log = dict(conn.execute(select(log.c.id, log.c.seq)).all())
            assert conn.execute(select(func.count()).select_from(log)).scalar_one() == len(sent)
        assert in_log == seq_of

        edinburgh = sorted(seq_of[r["id"]] for p in publishers[:PUBLISHERS["edinburgh"]]
                           for b in p.batches for r in b) + [seq_of[r["id"]] for r in race]
        everyone = sorted(seq_of.values())
        # The feeds were read while the publishers wrote: a cursor that skipped a record committed
        # late (a lower sequence number committing after a higher one) would miss it here.
        assert own_feed.seqs == sorted(edinburgh)
        assert pulled.seqs == everyone

        # Each subscriber gets each record it is entitled to (at least once; de-duplicated by id, once).
        def received(org):
            return sorted({int(e["sequence"]) for e in receiver.events(org)})
        try:
            wait_until(lambda: received("sds") == everyone and received("sfrs") == sorted(edinburgh), timeout=90)
        except AssertionError:
            raise AssertionError(f"received {len(received('sds'))} of {len(everyone)} (sds), "
                                 f"{len(received('sfrs'))} of {len(edinburgh)} (sfrs)") from None
        assert {e["source"] for e in receiver.events("sfrs")} == {"/causeway/orgs/edinburgh"}
        assert receiver.state()["bad_signatures"] == 0
        workers = {r["user_agent"] for r in receiver.state()["requests"]}
        assert len(workers) == 2, workers  # one subscription each (concurrency 1): both delivered

        # SIGTERM stops every process `serve` started, each shutting down cleanly.
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(60) == 0, (tmp_path / "serve.log").read_text()[-3000:]
        # (multiprocessing's resource tracker leaves when the supervisor has gone: a moment later)
        wait_until(lambda: not any(alive(pid) for pid in expected_children), timeout=10,
                   message="every process serve started to exit")
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)
            serve.wait(10)


def _answers(url: str) -> bool:
    try:
        return requests.get(f"{url}/api/v1/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


class FeedReader(threading.Thread):
    """Follows a feed's cursor (`next`) while records are being published, then to its end."""

    def __init__(self, url: str, key: str, done: threading.Event):
        super().__init__()
        self.url, self.headers, self.done = url, {"Authorization": f"Bearer {key}"}, done
        self.seqs: list[int] = []

    def run(self) -> None:
        after, session = 0, requests.Session()
        while True:
            finished = self.done.is_set()  # read before the page: the page after the last publish ends it
            page = session.get(self.url, params={"after": after, "limit": 1000}, headers=self.headers,
                               timeout=30).json()
            self.seqs += [int(e["sequence"]) for e in page["events"]]
            after = page["next"]
            if finished and not page["events"]:
                return


@pytest.mark.e2e
def test_sqlite_refuses_several_api_processes(tmp_path):
    result = subprocess.run([sys.executable, "-m", "hub.cli", "serve", "--db", f"sqlite:///{tmp_path}/c.db",
                             "--workers", "2"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "several hub processes need PostgreSQL" in result.stderr
    assert "drop --workers" in result.stderr
    assert not (tmp_path / "c.db").exists()  # refused before anything was opened


PG = "postgresql://causeway@db1.internal/causeway"


@pytest.mark.parametrize("argv, processes", [
    (["serve", "--db", PG], (1, None)),  # one process, its delivery worker inside
    (["serve", "--db", PG, "--workers", "3"], (3, 1)),  # API processes stay stateless: delivery beside them
    (["serve", "--db", PG, "--workers", "2", "--delivery-workers", "4"], (2, 4)),
    (["serve", "--db", PG, "--workers", "2", "--delivery-workers", "0"], (2, 0)),
    (["serve", "--db", PG, "--no-worker"], (1, 0)),
    (["serve", "--db", "sqlite:///c.db"], (1, None)),
])
def test_the_processes_serve_runs(argv, processes):
    from hub.cli import build_parser
    from hub.cli.serve import _process_counts

    assert _process_counts(build_parser().parse_args(argv)) == processes


@pytest.mark.parametrize("argv, says", [
    (["--db", "sqlite:///c.db", "--delivery-workers", "1"], "several hub processes need PostgreSQL"),
    (["--db", PG, "--no-worker", "--delivery-workers", "2"], "contradict each other"),
    (["--db", PG, "--workers", "0"], "at least 1"),
    (["--db", PG, "--delivery-workers", "-1"], "at least 0"),
])
def test_combinations_serve_refuses(argv, says):
    from hub.cli import build_parser
    from hub.cli.context import CommandError
    from hub.cli.serve import _process_counts

    with pytest.raises(CommandError, match=says):
        _process_counts(build_parser().parse_args(["serve", *argv]))
