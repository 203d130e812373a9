"""The reminder job as the hub's scheduler runs it (`hub.jobs`)."""
from __future__ import annotations

import logging

log = logging.getLogger("causeway.hub.returns")


def send_reminders(reminders) -> None:
    sent = reminders.send_due_reminders()
    if sent:
        log.info("reminders: %d sent, %d failed", sum(s["status"] == "sent" for s in sent),
                 sum(s["status"] == "failed" for s in sent))
