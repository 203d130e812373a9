"""Ingest benchmark: records/s through the real HTTP server vs the floor.

Publishes N gazetteer-address records in batches through a real hub process
(`causeway-hub serve`, SQLite by default) and, in the same run, measures the
floor: the same records validated with the same validators and inserted with
a bare executemany in one process. Prints both and the ratio.

    python bench/ingest.py [--records 200000] [--batch 1000] [--clients 2] [--db URL]
"""
from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
from results import record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from causeway_common.canonical import canonical_json, digest  # noqa: E402
from causeway_common.catalogue import PayloadValidator, load_catalogue, load_format_schema  # noqa: E402


def make_records(count: int) -> list[dict]:
    example = load_catalogue()["gazetteer-address"].schemas[1]["examples"][0]
    records = []
    for n in range(count):
        payload = dict(example, uprn=str(100000000 + n), paon=str(n % 300 + 1))
        records.append({"id": str(uuid.uuid4()), "dataset": "gazetteer-address", "schema_version": 1,
                        "key": payload["uprn"], "op": "upsert", "occurred_at": "2026-11-02T09:30:00Z",
                        "payload": payload})
    return records


def hub(db_url: str, *args: str) -> str:
    return subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", db_url], check=True,
                          capture_output=True, text=True, cwd=ROOT).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def measure_http(db_url: str, records: list[dict], batch: int, clients: int) -> float:
    hub(db_url, "init")
    hub(db_url, "org", "add", "edinburgh", "--name", "The City of Edinburgh Council")
    key = hub(db_url, "key", "issue", "edinburgh", "--role", "publisher").strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--db", db_url, "--port", str(port),
                               "--no-access-log", "--log-level", "warning"], cwd=ROOT)
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{url}/health", timeout=1).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        bodies = [json.dumps({"records": records[i:i + batch]}).encode() for i in range(0, len(records), batch)]
        queue = list(reversed(bodies))
        lock = threading.Lock()
        failures = []

        def worker():
            session = requests.Session()
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                response = session.post(f"{url}/records", data=body, headers=headers, timeout=60)
                result = response.json()
                if response.status_code != 200 or result["accepted"] != batch:
                    failures.append(response.text[:300])

        started = time.perf_counter()
        threads = [threading.Thread(target=worker) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        if failures:
            raise SystemExit(f"{len(failures)} batches failed, e.g. {failures[0]}")
        return len(records) / elapsed
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure_floor(path: Path, records: list[dict], batch: int) -> float:
    """Same validators, bare executemany into a table of the same shape, one process."""
    envelope = PayloadValidator(load_format_schema("envelope"), prefix="")
    payload_validator = load_catalogue()["gazetteer-address"].validator(1)
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
    started = time.perf_counter()
    seq = 0
    for i in range(0, len(records), batch):
        rows = []
        for r in records[i:i + batch]:
            if envelope.errors(r) or payload_validator.errors(r["payload"]):
                raise SystemExit("floor: an invalid record")
            seq += 1
            rows.append((seq, r["id"], r["dataset"], 1, r["key"], r["op"], None, "edinburgh", r["occurred_at"],
                         "2026-11-22 00:00:00.000000", "b", digest(r), canonical_json(r["payload"]).decode(), None))
        with conn:
            conn.executemany(f"INSERT INTO records ({columns}) VALUES ({', '.join('?' * len(rows[0]))})", rows)
    elapsed = time.perf_counter() - started
    conn.close()
    return len(records) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=2, help="concurrent publishing connections")
    parser.add_argument("--db", help="hub database URL (default: a new SQLite file)")
    args = parser.parse_args()

    records = make_records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.db or f"sqlite:///{tmp}/hub.db"
        floor = measure_floor(Path(tmp) / "floor.db", records, args.batch)
        http = measure_http(db_url, records, args.batch, args.clients)
    print(f"records:            {args.records} in batches of {args.batch}, {args.clients} clients, "
          f"{'SQLite' if db_url.startswith('sqlite') else db_url.split(':')[0]}")
    print(f"floor (validate + executemany, one process): {floor:,.0f} records/s")
    print(f"hub over HTTP:                               {http:,.0f} records/s")
    print(f"ratio hub/floor:                             {http / floor:.2f}")
    sqlite = db_url.startswith("sqlite")
    record("ingest, SQLite" if sqlite else "ingest, PostgreSQL", http, "records/s", floor=floor,
           floor_label="validate + executemany", aim_ratio=0.70 if sqlite else 0.60)


if __name__ == "__main__":
    main()
