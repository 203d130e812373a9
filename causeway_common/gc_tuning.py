"""Garbage-collector settings for the long-running processes on the record path.

A 1,000-record batch allocates tens of thousands of containers (parsed JSON, rows,
results), so with the default thresholds (700, 10, 10) the collector runs many times
per batch, and every tenth of those walks the whole heap (the loaded app, schemas,
validators), which never becomes garbage. Freezing what startup built takes it out
of every later walk; larger thresholds let a batch finish before the young
generation is examined. Reference cycles are still collected, only less often.
"""
import gc

THRESHOLDS = (50_000, 20, 100)


def tune_for_throughput() -> None:
    """Call once, after startup has loaded what the process keeps for its life."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
