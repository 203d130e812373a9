"""The agent's heartbeat: what the hub (and the operators watching it) see of
this agent every 30 seconds. Built from the local outbox, so `causeway-agent
status` prints the same figures without the hub."""
from __future__ import annotations

import logging
import platform
import time

from agents import __version__

from .config import AgentConfig
from .hub_client import HubClient, HubError
from .outbox import Outbox

log = logging.getLogger("causeway.agent.heartbeat")
MAX_ERROR_CHARS = 1000  # the hub's contract bounds every field of a heartbeat


def _error(text: str | None) -> str | None:
    return text if text is None or len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS - 1] + "…"


def _iso(moment: float | None) -> str | None:
    if moment is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def report(config: AgentConfig, outbox: Outbox, started_at: float, sender=None,
           config_version: int | None = None) -> dict:
    stats = outbox.task_stats()
    tasks = []
    for task in config.tasks:
        s = stats.get(task.name, {})
        tasks.append({
            "name": task.name,
            "direction": task.direction,
            "dataset": task.dataset,
            "subscription": task.subscription,
            "last_run_at": _iso(s.get("last_run_started")),
            "last_run_finished_at": _iso(s.get("last_run_finished")),
            "status": s.get("status") or "never-run",
            "rows_read": s.get("rows_read", 0),
            "published": s.get("published", 0),
            "rejected": s.get("rejected", 0),
            "delivered": s.get("delivered", 0),
            "outbox_depth": s.get("outbox_depth", 0),
            "last_error": _error(s.get("last_error")),
        })
    body = {
        "version": __version__,
        "host": platform.node(),
        "uptime_seconds": round(time.time() - started_at, 1),
        "interval_seconds": config.heartbeat_seconds,
        "management": config.managed_by,
        "outbox_depth": outbox.depth(),
        "rejects": outbox.reject_count(),
        "tasks": tasks,
    }
    if config.managed_by == "hub":
        body["config_version"] = config_version
    if sender is not None:
        body["sender"] = {"status": sender.status, "last_error": _error(sender.last_error),
                          "last_sent_at": _iso(sender.last_sent_at)}
    return body


def send(hub: HubClient, agent_id: str, body: dict) -> bool:
    try:
        hub.heartbeat(agent_id, body)
        return True
    except HubError as exc:
        log.info("heartbeat not delivered: %s", exc)
        return False
