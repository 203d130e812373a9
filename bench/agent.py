"""Agent benchmark: a gazetteer CSV through the agent into a real hub on SQLite.

Prints, from one run on this machine:
  floors      rows/s of reading and mapping the CSV alone (no validation, outbox or hub), and
              records/s the hub ingests over HTTP (bench/ingest.py's measurement: batches of
              1,000 from 2 clients into a hub of its own), over as many records as the run: a
              record costs SQLite more the longer the log (the (id, publisher) index takes ids
              in random order), so a floor over fewer would be one the run could never reach
  end to end  rows/s from the file to records committed at the hub (`causeway-agent run --once`),
              with the agent's and the hub's CPU per 1,000 rows
  ratios      end to end / each floor, and / the lesser of the two (the aim)
  peak RSS    of the agent process during the end-to-end run (and of an idle agent)

    python bench/agent.py              # 1,000,000 rows
    python bench/agent.py --rows 3000000 --in-flight 3

Targets: at least 5,000 rows/s end to end; agent peak RSS under 150 MB; idle under 80 MB.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import NamedTuple

from ingest import Measured, make_bodies, measure_http, process_cpu_seconds
from results import record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from support.agents import (
    GAZETTEER_MAPPING,
    AgentHub,
    agent_env,
    enrol,
    gazetteer_task,
    write_config,
    write_gazetteer_csv,
)

TARGET_ROWS_PER_SECOND = 5000
TARGET_PEAK_MB = 150
TARGET_IDLE_MB = 80


def floor_rate(csv_folder: Path, rows: int) -> float:
    """Read and map every row in this process: the most the agent could do."""
    from agents.mapping import compile_mapping
    from connectors import load_source

    task = gazetteer_task(csv_folder)
    source = load_source("spreadsheet", task["connector"]["options"])
    mapper = compile_mapping({"dataset": "gazetteer-address", "key": "uprn", **GAZETTEER_MAPPING})
    started = time.perf_counter()
    count = 0
    for chunk in source.read(None):  # on_commit is never called: the file stays for the real run
        for row in chunk.rows:
            mapper.map(row)
            count += 1
    elapsed = time.perf_counter() - started
    assert count == rows, f"read {count} rows, expected {rows}"
    return count / elapsed


class Run(NamedTuple):
    code: int
    seconds: float
    peak_mb: float
    cpu_seconds: float  # user + system of the child


def run_measured(command: list[str], env: dict) -> Run:
    """Exit code, seconds, peak RSS and CPU of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.stderr.write(proc.stderr.read().decode()[-3000:])
    # Linux reports KiB
    return Run(proc.returncode, elapsed, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime)


def ingest_floor(scratch: Path, rows: int) -> Measured:
    """The hub's own ingest rate on this machine now over `rows` records, as bench/ingest.py
    measures it."""
    return measure_http(f"sqlite:///{scratch / 'ingest-floor.db'}", make_bodies(rows, 1000), rows, clients=2)


def idle_rss(config: Path, env: dict, seconds: float = 8) -> float:
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "run", "-c", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    rss_kib = 0
    for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kib = int(line.split()[1])
    proc.terminate()
    proc.wait(timeout=30)
    return rss_kib / 1024


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--in-flight", type=int, default=3, help="the agent's sender.in_flight")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="causeway-bench-agent-") as scratch:
        scratch = Path(scratch)
        drop = scratch / "drop"
        drop.mkdir()
        print(f"generating a {args.rows:,}-row gazetteer CSV ...", flush=True)
        write_gazetteer_csv(drop / "gazetteer.csv", args.rows)
        size_mb = (drop / "gazetteer.csv").stat().st_size / 1e6

        floor = floor_rate(drop, args.rows)
        print(f"floor (read + map only):  {floor:>10,.0f} rows/s", flush=True)

        hub = AgentHub(scratch / "hub").start()
        try:
            state = scratch / "state"
            enrol(hub, state, name="bench-agent")
            config = write_config(scratch / "agent.yaml", hub.url, state,
                                  [gazetteer_task(drop, interval=3600, chunk_rows=2000)],
                                  sender={"batch_size": 1000, "max_backoff_seconds": 2, "in_flight": args.in_flight})
            assert hub.process is not None
            hub_cpu_before = process_cpu_seconds(hub.process.pid)
            run = run_measured([sys.executable, "-m", "agents.cli", "run", "--once", "-c", str(config)], agent_env())
            hub_cpu = process_cpu_seconds(hub.process.pid) - hub_cpu_before
            at_hub = hub.count("gazetteer-address")
            if run.code or at_hub != args.rows:
                print(f"end-to-end run failed: exit {run.code}, {at_hub:,} of {args.rows:,} rows at the hub")
                return 1
            end_to_end = args.rows / run.seconds
            idle_mb = idle_rss(config, agent_env())
        finally:
            hub.close()
        # Last: the bodies it holds would count in the agent's peak RSS (a child's peak
        # includes the parent's memory it was forked from).
        ingest = ingest_floor(scratch, args.rows)
        print(f"floor (hub ingest):       {ingest.rate:>10,.0f} records/s  ({args.rows:,} records into an empty log; "
              f"hub CPU {ingest.cpu_ms_per_1000:,.0f} ms per 1,000)", flush=True)

    seconds, peak_mb, lesser = run.seconds, run.peak_mb, min(floor, ingest.rate)
    print(f"end to end (file -> hub): {end_to_end:>10,.0f} rows/s  ({args.rows:,} rows, {size_mb:,.0f} MB, {seconds:,.1f} s, "
          f"{args.in_flight} batches in flight)")
    print(f"CPU per 1,000 rows:       {1e6 * run.cpu_seconds / args.rows:>10,.0f} ms agent, "
          f"{1e6 * hub_cpu / args.rows:,.0f} ms hub")
    print(f"ratio to read + map:      {end_to_end / floor:>10.2f}")
    print(f"ratio to hub ingest:      {end_to_end / ingest.rate:>10.2f}")
    print(f"ratio to the lesser:      {end_to_end / lesser:>10.2f}  (aim >= 0.60)")
    print(f"agent peak RSS:           {peak_mb:>10.1f} MB")
    print(f"agent idle RSS:           {idle_mb:>10.1f} MB")
    print(f"bench process peak RSS:   {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:>10.1f} MB (not the agent)")
    record("agent, CSV -> hub", end_to_end, "rows/s", floor=lesser,
           floor_label="read + map" if floor <= ingest.rate else "hub ingest", aim_ratio=0.60)
    record("agent, 3,000,000 rows at that rate", 3e6 / end_to_end / 60, "min", aim_max=2)
    record("agent peak RSS", peak_mb, "MB", aim_max=TARGET_PEAK_MB)
    verdicts = [("end to end >= 5,000 rows/s", end_to_end >= TARGET_ROWS_PER_SECOND),
                ("end to end >= 0.60 of the lesser floor", end_to_end >= 0.60 * lesser),
                (f"3,000,000 rows in under 2 minutes (at this rate: {3e6 / end_to_end / 60:.1f} min; the hub alone, "
                 f"ingesting at its own floor with the machine to itself, would take {3e6 / ingest.rate / 60:.1f} min)",
                 3e6 / end_to_end < 120),
                ("agent peak RSS < 150 MB", peak_mb < TARGET_PEAK_MB),
                ("idle agent RSS < 80 MB", idle_mb < TARGET_IDLE_MB)]
    for label, met in verdicts:
        print(f"  {'met' if met else 'MISSED'}: {label}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
