"""Ingest benchmark: records/s through the real HTTP server vs the floor.

Publishes N gazetteer-address records in batches through a real hub process
(`causeway-hub serve`, SQLite by default) and, in the same run, measures the
floor: the same records validated with the same validators and inserted with
a bare executemany in one process. Prints both and the ratio.

On PostgreSQL (`--db postgresql://user@host/empty_db`, or `--db postgresql` to
have the bench start a throw-away server of its own, as the test suite does)
the floor is measured on the same server in the same run, twice: the same
validators with a bare executemany, and with COPY. The floor's table lives in a
schema of its own (`bench_floor`, dropped afterwards); the hub is set up in the
database the URL names, which must be empty.

With `--workers N` (PostgreSQL) the hub is measured twice in the same run, as one API process
and as `serve --workers N`, each on a database of its own (the second is made beside the first,
`<name>_workers`, and dropped afterwards), and both figures are printed with their ratio.

    python bench/ingest.py [--records 200000] [--batch 1000] [--clients 2] [--db URL|postgresql]
                           [--workers N]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import requests
from results import record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "tests"))  # support.servers: a throw-away PostgreSQL

from causeway_common.canonical import canonical_json, digest  # noqa: E402
from causeway_common.catalogue import PayloadValidator, load_catalogue, load_format_schema  # noqa: E402


def make_records(count: int, start: int = 0) -> list[dict]:
    example = load_catalogue()["gazetteer-address"].schemas[1]["examples"][0]
    records = []
    for n in range(start, start + count):
        payload = dict(example, uprn=str(100000000 + n), paon=str(n % 300 + 1))
        records.append({"id": str(uuid.uuid4()), "dataset": "gazetteer-address", "schema_version": 1,
                        "key": payload["uprn"], "op": "upsert", "occurred_at": "2026-11-02T09:30:00Z",
                        "payload": payload})
    return records


def request_bodies(records: list[dict], batch: int) -> list[bytes]:
    return [json.dumps({"records": records[i:i + batch]}).encode() for i in range(0, len(records), batch)]


def make_bodies(count: int, batch: int) -> list[bytes]:
    """Request bodies of `batch` new records each, `count` records in all, made a batch at a time:
    a million records held as dicts take gigabytes, their bodies a third of one."""
    return [body for start in range(0, count, batch)
            for body in request_bodies(make_records(min(batch, count - start), start), batch)]


def hub(db_url: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", db_url],
                          capture_output=True, text=True, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"causeway-hub {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Measured(NamedTuple):
    rate: float  # records/s
    cpu_ms_per_1000: float  # CPU time (user + system) of the process doing the work


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and everything it started so far (Linux /proc):
    on a shared machine CPU per record varies far less than records/s."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = [int(c) for task in Path(f"/proc/{pid}/task").glob("*") for c in (task / "children").read_text().split()]
    return own + sum(process_cpu_seconds(child) for child in children)


def measure_http(db_url: str, bodies: list[bytes], count: int, clients: int, workers: int = 1) -> Measured:
    """`serve` (with `--workers N`: N API processes) publishing the request bodies, `count` records
    in all; CPU counts every process."""
    hub(db_url, "init")
    hub(db_url, "org", "add", "edinburgh", "--name", "The City of Edinburgh Council")
    key = hub(db_url, "key", "issue", "edinburgh", "--role", "publisher").strip().splitlines()[-1]
    port = free_port()
    log = Path(tempfile.mkdtemp(prefix="bench-ingest-")) / "serve.log"
    with open(log, "wb") as out:
        server = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--db", db_url, "--port", str(port),
                                   "--no-access-log", "--workers", str(workers)], cwd=ROOT, stdout=out,
                                  stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        wait_for_startup(log, workers, server)
        for _ in range(300):
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        queue = list(reversed(bodies))
        lock = threading.Lock()
        failures: list[str] = []
        accepted: list[int] = []

        def worker():
            session = requests.Session()
            # Each batch on a connection of its own, as many agents' batches arrive: two long-lived
            # connections may both be accepted by one of N API processes, which then measures one.
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Connection": "close"}
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                response = session.post(f"{url}/records", data=body, headers=headers, timeout=60)
                result = response.json()
                if response.status_code != 200 or result["rejected"] or result["duplicates"]:
                    failures.append(response.text[:300])
                else:
                    accepted.append(result["accepted"])

        cpu_before = process_cpu_seconds(server.pid)
        api_before = {pid: process_cpu_seconds(pid) for pid in api_processes(server.pid)} if workers > 1 else {}
        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        cpu = process_cpu_seconds(server.pid) - cpu_before
        if api_before:  # how the kernel spread the clients' connections over the API processes
            shares = ", ".join(f"{process_cpu_seconds(pid) - before:.1f} s" for pid, before in api_before.items())
            print(f"CPU of each of the {workers} API processes during the run: {shares}")
        if failures or sum(accepted) != count:
            raise SystemExit(f"{len(failures)} batches failed, e.g. {failures[0] if failures else None}; "
                             f"{sum(accepted):,} of {count:,} records accepted")
        return Measured(count / elapsed, 1000 * 1000 * cpu / count)
    finally:
        server.terminate()
        server.wait(timeout=30)


def api_processes(pid: int) -> list[int]:
    """The API processes of `serve --workers N` (uvicorn spawns them with multiprocessing)."""
    children = [int(c) for task in Path(f"/proc/{pid}/task").glob("*") for c in (task / "children").read_text().split()]
    return [c for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]


def wait_for_startup(log: Path, processes: int, server: subprocess.Popen, timeout: float = 180) -> None:
    """The clock starts when every API process has loaded the app (uvicorn logs each), not when
    the first one answers."""
    deadline = time.monotonic() + timeout
    while log.read_text(errors="replace").count("Application startup complete") < processes:
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the hub did not start {processes} API processes:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


def floor_rows(records: list[dict], batch: int, received_at) -> Iterator[list[tuple]]:
    """Batches of log rows: each record checked with the hub's validators, digested and
    its payload made canonical, as the hub does; seq counted on from 1. The validators
    are compiled here, before the caller starts its clock."""
    envelope = PayloadValidator(load_format_schema("envelope"), prefix="")
    payload_validator = load_catalogue()["gazetteer-address"].validator(1)

    def batches() -> Iterator[list[tuple]]:
        seq = 0
        for i in range(0, len(records), batch):
            rows = []
            for r in records[i:i + batch]:
                if envelope.errors(r) or payload_validator.errors(r["payload"]):
                    raise SystemExit("floor: an invalid record")
                seq += 1
                rows.append((seq, r["id"], r["dataset"], 1, r["key"], r["op"], None, "edinburgh", r["occurred_at"],
                             received_at, "b", digest(r), canonical_json(r["payload"]).decode(), None))
            yield rows
    return batches()


def measure_floor(path: Path, records: list[dict], batch: int) -> Measured:
    """Same validators, bare executemany into a table of the same shape, one process."""
    # The hub's own table definition (same columns and indexes), filled with a bare executemany.
    from sqlalchemy import create_engine

    from hub.records.models import records as log_table

    engine = create_engine(f"sqlite:///{path}")
    log_table.create(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    columns = ", ".join(c.name for c in log_table.columns)
    insert = f"INSERT INTO records ({columns}) VALUES ({', '.join('?' * len(log_table.columns))})"
    batches = floor_rows(records, batch, "2026-11-22 00:00:00.000000")
    started, cpu_before = time.perf_counter(), time.process_time()
    for rows in batches:
        with conn:
            conn.executemany(insert, rows)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    conn.close()
    return Measured(len(records) / elapsed, 1000 * 1000 * cpu / len(records))


def measure_postgres_floor(db_url: str, records: list[dict], batch: int, copy: bool) -> Measured:
    """The same on PostgreSQL, one transaction per batch: executemany (psycopg's
    pipelined form) or COPY, into the hub's table in a schema of its own."""
    import psycopg
    from sqlalchemy import create_engine, text

    from hub.records.models import records as log_table

    dsn = db_url.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = "bench_floor"
    engine = create_engine(dsn.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {schema}"))
        conn.execute(text(f"SET LOCAL search_path TO {schema}"))
        log_table.create(conn)
    engine.dispose()
    columns = ", ".join(c.name for c in log_table.columns)
    insert = f"INSERT INTO records ({columns}) VALUES ({', '.join(['%s'] * len(log_table.columns))})"
    try:
        batches = floor_rows(records, batch, datetime(2026, 11, 22, tzinfo=timezone.utc))
        with psycopg.connect(dsn, options=f"-c search_path={schema}") as conn:
            started, cpu_before = time.perf_counter(), time.process_time()
            for rows in batches:
                with conn.transaction(), conn.cursor() as cur:
                    if copy:
                        with cur.copy(f"COPY records ({columns}) FROM STDIN") as sink:
                            for row in rows:
                                sink.write_row(row)
                    else:
                        cur.executemany(insert, rows)
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_before
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    return Measured(len(records) / elapsed, 1000 * 1000 * cpu / len(records))


def settle(db_url: str) -> None:
    """Leave the server quiet for the next measurement: what was just written vacuumed and analysed
    now (else autovacuum takes the new rows in hand during the next run) and the dirty pages
    written out (CHECKPOINT, where the bench's role may)."""
    import psycopg

    with psycopg.connect(db_url.replace("postgresql+psycopg://", "postgresql://", 1), autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            pass


@contextmanager
def own_postgres() -> Iterator[str]:
    """A throw-away PostgreSQL server with an empty database for the hub (the test
    suite's; durability settings relaxed as there)."""
    from support.servers import PostgresServer

    with PostgresServer() as server:
        yield server.create_database("causeway_bench").replace("postgresql+psycopg://", "postgresql://", 1)


@contextmanager
def sibling_database(db_url: str, suffix: str) -> Iterator[str]:
    """An empty database beside db_url's on the same server (CREATE DATABASE rights needed), dropped after."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(db_url)
    name = f"{url.database}_{suffix}"
    dsn = db_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(requested: str | None, tmp: str) -> Iterator[str]:
    if requested == "postgresql":
        with own_postgres() as url:
            yield url
    else:
        yield requested or f"sqlite:///{tmp}/hub.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2, help="concurrent publishing connections")
    parser.add_argument("--db", help="hub database URL (default: a new SQLite file); `postgresql` alone "
                                     "starts a throw-away PostgreSQL server for the run")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="PostgreSQL: measure `serve --workers N` too and print 1 vs N API processes")
    args = parser.parse_args()
    if args.workers > 1 and not (args.db or "").startswith("postgresql"):
        parser.error("--workers N needs --db postgresql (or a PostgreSQL URL): SQLite serves with one process")

    records = make_records(args.records)
    with tempfile.TemporaryDirectory() as tmp, database(args.db, tmp) as db_url:
        floors: list[tuple[str, Measured]]
        if not db_url.startswith("sqlite") and not os.environ.get("CAUSEWAY_SECRETS_KEY"):
            # The hub seals secrets at rest; a PostgreSQL database has no file beside it for the key.
            os.environ.setdefault("CAUSEWAY_SECRETS_KEY_FILE", f"{tmp}/secrets.key")
        if db_url.startswith("sqlite"):
            floors = [("validate + executemany", measure_floor(Path(tmp) / "floor.db", records, args.batch))]
        else:
            floors = [("validate + executemany", measure_postgres_floor(db_url, records, args.batch, copy=False)),
                      ("validate + COPY", measure_postgres_floor(db_url, records, args.batch, copy=True))]
        if not db_url.startswith("sqlite"):
            settle(db_url)
        http = measure_http(db_url, request_bodies(records, args.batch), args.records, args.clients)
        if args.workers > 1:
            settle(db_url)
            with sibling_database(db_url, "workers") as workers_url:
                several = measure_http(workers_url, make_bodies(args.records, args.batch), args.records, args.clients,
                                       workers=args.workers)
    engine = "SQLite" if db_url.startswith("sqlite") else "PostgreSQL"
    print(f"records:            {args.records} in batches of {args.batch}, {args.clients} clients, {engine}")
    print(f"{'':<46}{'records/s':>10}  {'CPU ms per 1,000 records':>24}")
    for label, floor in floors:
        print(f"{'floor (' + label + ', one process):':<46}{floor.rate:>10,.0f}  {floor.cpu_ms_per_1000:>24,.0f}")
    print(f"{'hub over HTTP (server process):':<46}{http.rate:>10,.0f}  {http.cpu_ms_per_1000:>24,.0f}")
    for label, floor in floors:
        print(f"{'ratio hub/floor (' + label + '):':<46}{http.rate / floor.rate:>10.2f}  "
              f"{floor.cpu_ms_per_1000 / http.cpu_ms_per_1000:>24.2f}")
    executemany = floors[0][1]
    record(f"ingest, {engine}", http.rate, "records/s", floor=executemany.rate,
           floor_label="validate + executemany", aim_ratio=0.70 if engine == "SQLite" else 0.60)
    if args.workers > 1:
        label = f"hub over HTTP, {args.workers} API processes:"
        print(f"{label:<46}{several.rate:>10,.0f}  {several.cpu_ms_per_1000:>24,.0f}")
        print(f"{'ratio ' + str(args.workers) + ' API processes / 1:':<46}{several.rate / http.rate:>10.2f}")
        # Not slower than one process is the aim: on 2 cores the database and the clients share them.
        record(f"ingest, PostgreSQL, {args.workers} API processes", several.rate, "records/s", floor=http.rate,
               floor_label="1 API process", aim_ratio=1.0)


if __name__ == "__main__":
    main()
