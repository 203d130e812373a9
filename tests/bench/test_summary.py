"""The table `make bench` ends with, from the lines the benchmarks write."""
import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def bench(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.setenv("CAUSEWAY_BENCH_RESULTS", str(tmp_path / "results.jsonl"))
    for name in ("results", "summary"):
        sys.modules.pop(name, None)
    spec = importlib.util.spec_from_file_location("summary", BENCH / "summary.py")
    summary = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(summary)
    return summary, sys.modules["results"], tmp_path / "results.jsonl"


def rows_of(output: str) -> dict[str, list[str]]:
    lines = [line.split(" | ") for line in output.splitlines()[2:]]
    return {cells[0].strip(): [cell.strip() for cell in cells[1:]] for cells in lines}


def test_each_path_shows_its_floor_ratio_aim_and_verdict(bench, capsys):
    summary, results, path = bench
    results.record("ingest, SQLite", 40_000, "records/s", floor=50_000, floor_label="validate + executemany",
                   aim_ratio=0.70)
    # `ingest.py --workers 2`: two API processes against one, in the same run.
    results.record("ingest, PostgreSQL, 2 API processes", 18_000, "records/s", floor=15_000,
                   floor_label="1 API process", aim_ratio=1.0)
    results.record("fan-out, 10 webhooks + 1 MQTT", 11_000, "deliveries/s", floor=22_000, aim_ratio=0.75)
    results.record("fan-out p99 latency", 86, "ms", aim_max=200)
    results.record("policy decisions", 90_000, "decisions/s", aim_min=100_000)
    # The agent's floor is the lesser of read + map and the hub's own ingest.
    results.record("agent, CSV -> hub", 30_000, "rows/s", floor=97_000, floor_label="read + map", aim_ratio=0.60,
                   floor_min_of="ingest, SQLite")

    code = summary.main([str(path)])
    rows = rows_of(capsys.readouterr().out)

    assert rows["ingest, SQLite"] == ["40,000 records/s", "50,000 (validate + executemany)", "0.80",
                                      ">= 0.70 of floor", "met"]
    assert rows["ingest, PostgreSQL, 2 API processes"][1:] == ["15,000 (1 API process)", "1.20",
                                                               ">= 1.00 of floor", "met"]
    assert rows["fan-out, 10 webhooks + 1 MQTT"][2:] == ["0.50", ">= 0.75 of floor", "MISSED"]
    assert rows["fan-out p99 latency"][3:] == ["< 200 ms", "met"]
    assert rows["policy decisions"][3:] == [">= 100,000 decisions/s", "MISSED"]
    assert rows["agent, CSV -> hub"][1:] == ["40,000 (ingest, SQLite)", "0.75", ">= 0.60 of floor", "met"]
    # Paths of a full run with no result (their benchmark failed) are missed, and the run fails.
    assert rows["notices p99, batch"] == ["no result", "-", "-", "-", "MISSED"]
    assert code == 1


def test_nothing_is_written_without_a_results_file(bench, monkeypatch):
    _, results, path = bench
    monkeypatch.delenv("CAUSEWAY_BENCH_RESULTS")
    results.record("policy decisions", 1.0, "decisions/s", aim_min=100_000)
    assert not path.exists()
