"""Runs the reminder job on a schedule inside the hub process (APScheduler)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger("causeway.hub.returns")


def _run(reminders) -> None:
    try:
        sent = reminders.send_due_reminders()
    except Exception:  # the scheduler must survive a bad run (database briefly away, ...)
        log.exception("reminder job failed; it will run again at the next interval")
        return
    if sent:
        log.info("reminders: %d sent, %d failed", sum(s["status"] == "sent" for s in sent),
                 sum(s["status"] == "failed" for s in sent))


def start_reminder_scheduler(reminders, interval_seconds: float) -> BackgroundScheduler:
    """Start a background scheduler that runs the reminder job every interval (first run at once)."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1})
    scheduler.add_job(_run, "interval", seconds=interval_seconds, args=[reminders], id="returns-reminders",
                      next_run_time=datetime.now(timezone.utc))
    scheduler.start()
    return scheduler
