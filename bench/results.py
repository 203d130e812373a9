"""Each benchmark's result as one JSON line, for `bench/summary.py` to print as one table.

A benchmark calls `record(...)` once per figure it measures; the line is appended to the
file named by CAUSEWAY_BENCH_RESULTS (nothing is written when it is unset, so a benchmark
run by hand prints only its own lines). The aims are issue 18's: a ratio to the floor
measured in the same run (`aim_ratio`), or a bound on the figure itself (`aim_min`,
`aim_max`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "CAUSEWAY_BENCH_RESULTS"


def met(figure: float, floor: float | None = None, aim_ratio: float | None = None, aim_min: float | None = None,
        aim_max: float | None = None) -> bool:
    """Whether a figure meets every aim given for it."""
    if aim_ratio is not None and (not floor or figure / floor < aim_ratio):
        return False
    if aim_min is not None and figure < aim_min:
        return False
    return aim_max is None or figure < aim_max


def record(path: str, figure: float, unit: str, *, floor: float | None = None, floor_label: str | None = None,
           aim_ratio: float | None = None, aim_min: float | None = None, aim_max: float | None = None,
           floor_min_of: str | None = None) -> None:
    """Append one result. `floor_min_of` names another path whose figure also bounds this one's
    floor (the agent's floor is the lesser of read + map and the hub's own ingest)."""
    target = os.environ.get(ENV)
    if not target:
        return
    line = {"path": path, "figure": figure, "unit": unit, "floor": floor, "floor_label": floor_label,
            "aim_ratio": aim_ratio, "aim_min": aim_min, "aim_max": aim_max, "floor_min_of": floor_min_of}
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    with open(target, "a", encoding="utf-8") as out:
        out.write(json.dumps({k: v for k, v in line.items() if v is not None}) + "\n")
