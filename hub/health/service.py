"""Agent health: heartbeats in, the latest and a bounded history out.

An agent reports every `interval_seconds` (30 by default); it is `up` while its
last heartbeat is at most three intervals old and `stale` after that (or when
it has never reported).
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from hub import db
from hub.auth import Principal, has_operator_view
from hub.errors import Forbidden, not_found
from hub.timeutil import iso_utc

from .models import agent_health, agent_heartbeats

DEFAULT_INTERVAL_SECONDS = 30.0
MISSED_BEATS_BEFORE_STALE = 3
# Who reads an org's own agents (admin: every org's; the hub operator's ops: every org's, as metadata).
READERS = ("ops", "governance")
MAX_HISTORY = 120  # heartbeats one answer may carry (the contract says the same)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class HealthService:
    def __init__(self, engine: Engine, list_agents: Callable[[str | None], list[dict]], history_days: int = 7,
                 clock: Callable[[], datetime] = db.utcnow, hub_operator: str | None = None):
        self.engine = engine
        self.hub_operator = hub_operator
        self._list_agents = list_agents  # org (or None for all) -> enrolled agents
        self.history = timedelta(days=history_days)
        self.clock = clock

    # -- in -----------------------------------------------------------------
    def record_heartbeat(self, principal: Principal, agent_id: str, report: dict) -> dict:
        if principal.agent_id is None:
            raise Forbidden("heartbeats come from enrolled agents; this credential is not an agent's")
        if principal.agent_id != agent_id:
            raise Forbidden(f"this agent's credential reports for agent {principal.agent_id} only, not {agent_id}")
        interval = float(report.get("interval_seconds") or DEFAULT_INTERVAL_SECONDS)
        interval = min(max(interval, 5.0), 3600.0)
        now = self.clock()
        document = json.dumps(report, ensure_ascii=False, separators=(",", ":"))
        with db.write_transaction(self.engine) as conn:
            conn.execute(agent_heartbeats.insert().values(agent_id=agent_id, received_at=now, report=document))
            conn.execute(delete(agent_heartbeats).where(agent_heartbeats.c.agent_id == agent_id,
                                                        agent_heartbeats.c.received_at < now - self.history))
            updated = conn.execute(agent_health.update().where(agent_health.c.agent_id == agent_id).values(
                last_heartbeat_at=now, interval_seconds=interval, report=document,
                heartbeats=agent_health.c.heartbeats + 1)).rowcount
            if not updated:
                conn.execute(agent_health.insert().values(agent_id=agent_id, org=principal.org, last_heartbeat_at=now,
                                                          interval_seconds=interval, heartbeats=1, report=document))
        return {"agent_id": agent_id, "received_at": iso_utc(now), "next_expected_within_seconds": interval}

    # -- out ----------------------------------------------------------------
    @staticmethod
    def _require_reader(principal: Principal) -> None:
        principal.require(*READERS)

    def _reads_all(self, principal: Principal) -> bool:
        return principal.is_admin or has_operator_view(principal, self.hub_operator)

    @staticmethod
    def _shown(principal: Principal, summary: dict) -> dict:
        """Another org's agent, as the hub operator sees it: counts and states, no error text
        (it can quote rows, paths or hosts of the council's systems)."""
        if principal.is_admin or summary["org"] == principal.org:
            return summary
        shown = dict(summary, report=_without_errors(summary["report"]))
        if "history" in shown:
            shown["history"] = [dict(beat, report=_without_errors(beat["report"])) for beat in shown["history"]]
        return shown

    def _summary(self, agent: dict, health) -> dict:
        now = self.clock()
        summary = {"id": agent["id"], "org": agent["org"], "name": agent["name"], "version": agent["version"],
                   "enrolled_at": iso_utc(agent["enrolled_at"]), "active": bool(agent["active"]),
                   "status": "stale", "last_heartbeat_at": None, "report": None}
        if health is not None:
            last = _aware(health.last_heartbeat_at)
            fresh = now - last <= timedelta(seconds=MISSED_BEATS_BEFORE_STALE * health.interval_seconds)
            report = json.loads(health.report)
            summary.update(status="up" if fresh else "stale", last_heartbeat_at=iso_utc(last),
                           interval_seconds=health.interval_seconds, heartbeats=health.heartbeats,
                           version=report.get("version") or agent["version"], report=report)
        if not agent["active"]:
            summary["status"] = "stale"
        return summary

    def list_agents(self, principal: Principal, org: str | None = None, status: str | None = None) -> list[dict]:
        self._require_reader(principal)
        if not self._reads_all(principal):
            if org is not None:
                principal.require_org(org)
            org = principal.org
        enrolled = self._list_agents(org)
        query = select(agent_health)
        if org is not None:
            query = query.where(agent_health.c.org == org)
        with self.engine.connect() as conn:
            latest = {row.agent_id: row for row in conn.execute(query)}
        found = [self._shown(principal, self._summary(agent, latest.get(agent["id"]))) for agent in enrolled]
        return [a for a in found if status is None or a["status"] == status]

    def summaries(self) -> dict[str, dict]:
        """Every enrolled agent's status and version by id, for services that decide for
        themselves what a caller may see of them (the coverage view)."""
        with self.engine.connect() as conn:
            latest = {row.agent_id: row for row in conn.execute(select(agent_health))}
        return {agent["id"]: self._summary(agent, latest.get(agent["id"])) for agent in self._list_agents(None)}

    def latest_report(self, agent_id: str) -> dict | None:
        """The agent's latest heartbeat as it sent it (None before the first), for other services."""
        with self.engine.connect() as conn:
            report = conn.execute(select(agent_health.c.report).where(agent_health.c.agent_id == agent_id)).scalar()
        return json.loads(report) if report else None

    def get_agent(self, principal: Principal, agent_id: str, history: int = 20) -> dict:
        self._require_reader(principal)
        agent = next((a for a in self._list_agents(None if self._reads_all(principal) else principal.org)
                      if a["id"] == agent_id), None)
        if agent is None:
            raise not_found(f"agent {agent_id}")
        with self.engine.connect() as conn:
            latest = conn.execute(select(agent_health).where(agent_health.c.agent_id == agent_id)).first()
            rows = conn.execute(select(agent_heartbeats.c.received_at, agent_heartbeats.c.report)
                                .where(agent_heartbeats.c.agent_id == agent_id)
                                .order_by(agent_heartbeats.c.id.desc()).limit(max(0, min(history, MAX_HISTORY)))).all()
            kept = conn.execute(select(func.count()).select_from(agent_heartbeats)
                                .where(agent_heartbeats.c.agent_id == agent_id)).scalar()
        summary = self._summary(agent, latest)
        summary["history"] = [{"received_at": iso_utc(r.received_at), "report": json.loads(r.report)} for r in rows]
        summary["history_kept"] = kept
        return self._shown(principal, summary)


def _without_errors(report: dict | None) -> dict | None:
    if not report:
        return report
    shown = {k: v for k, v in report.items() if k != "last_error"}
    if isinstance(report.get("tasks"), list):
        shown["tasks"] = [{k: v for k, v in t.items() if k != "last_error"} if isinstance(t, dict) else t
                          for t in report["tasks"]]
    if isinstance(report.get("sender"), dict):
        shown["sender"] = {k: v for k, v in report["sender"].items() if k != "last_error"}
    return shown

