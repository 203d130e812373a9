"""The table `make bench` ends with: each path, its figure, the floor measured in the same
run, the ratio, issue 18's aim, and whether it was met.

    python bench/summary.py RESULTS.jsonl

RESULTS.jsonl holds the lines the benchmarks wrote (see bench/results.py). A path of
`make bench` with no line (its benchmark failed or was not run) is shown as missed.
Exits 1 if any path has no result.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import met  # noqa: E402

# What a full `make bench` records, in the order of the table.
EXPECTED = ["ingest, SQLite", "ingest, PostgreSQL", "ingest, PostgreSQL, 2 API processes", "agent, CSV -> hub",
            "agent, 3,000,000 rows at that rate", "agent peak RSS", "fan-out, 10 webhooks + 1 MQTT",
            "fan-out, against the same work done bare",
            "fan-out p99 latency", "policy decisions", "notices p99, batch", "notices p99, one event per request",
            "open data page"]


def number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def aim_text(row: dict) -> str:
    parts = []
    if "aim_ratio" in row:
        parts.append(f">= {row['aim_ratio']:.2f} of floor")
    if "aim_min" in row:
        parts.append(f">= {number(row['aim_min'])} {row['unit']}")
    if "aim_max" in row:
        parts.append(f"< {number(row['aim_max'])} {row['unit']}")
    return ", ".join(parts) or "-"


def resolve_floors(rows: list[dict]) -> None:
    """A floor bounded by another path's figure (the agent's: read + map, or the hub's ingest)."""
    figures = {row["path"]: row["figure"] for row in rows}
    for row in rows:
        other = figures.get(row.get("floor_min_of", ""))
        if other is not None and (row.get("floor") is None or other < row["floor"]):
            row["floor"], row["floor_label"] = other, row["floor_min_of"]


def table(rows: list[dict]) -> list[list[str]]:
    lines = [["path", "figure", "floor", "ratio", "aim", "result"]]
    for row in rows:
        floor = row.get("floor")
        verdict = met(row["figure"], floor, row.get("aim_ratio"), row.get("aim_min"), row.get("aim_max"))
        floor_text = "-" if floor is None else number(floor) + (f" ({row['floor_label']})" if row.get("floor_label") else "")
        lines.append([row["path"], f"{number(row['figure'])} {row['unit']}", floor_text,
                      "-" if not floor else f"{row['figure'] / floor:.2f}", aim_text(row), "met" if verdict else "MISSED"])
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", type=Path)
    args = parser.parse_args(argv)
    text = args.results.read_text(encoding="utf-8") if args.results.exists() else ""
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    resolve_floors(rows)
    recorded = {row["path"] for row in rows}
    missing = [path for path in EXPECTED if path not in recorded]
    lines = table(rows) + [[path, "no result", "-", "-", "-", "MISSED"] for path in missing]
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for n, line in enumerate(lines):
        print(" | ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip())
        if n == 0:
            print("-+-".join("-" * width for width in widths))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
