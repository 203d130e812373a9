"""The hub's background jobs (return reminders, record retention): one APScheduler
inside the hub process runs them all, each at once and then every interval."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("causeway.hub.jobs")


def start_jobs(jobs: dict[str, tuple[Callable[[], None], float]]) -> BackgroundScheduler:
    """Start one scheduler running each job (name -> (job, interval in seconds))."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    for name, (job, interval_seconds) in jobs.items():
        scheduler.add_job(_guarded, "interval", seconds=interval_seconds, args=[name, job], id=name,
                          next_run_time=datetime.now(timezone.utc))
    scheduler.start()
    return scheduler


def _guarded(name: str, job: Callable[[], None]) -> None:
    try:
        job()
    except Exception:  # the scheduler must survive a bad run (database briefly away, ...)
        log.exception("%s job failed; it will run again at the next interval", name)
