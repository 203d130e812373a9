"""The coverage view: every council × every dataset that declares a cadence, one cell each.

A cell is `never_published` (no record of that dataset from that council in the log),
`stale_agent` (the agent that sent the council's latest record of it has stopped
reporting), `quiet` (nothing for longer than the dataset's cadence plus its grace) or
`live`. Each cell carries the last publish time, the records and rejected records of the
last seven days, the reject rate and the publishing agent's version, flagged `agent_outdated`
when it is older than the hub's minimum supported version (`Settings.min_agent_version`).

The cadence is the dataset's (`cadence` in its catalogue entry), or a stricter one an
agreement in force declares for that provider and dataset; a dataset appears when either
declares one.

Who sees what: admin and the hub operator's ops every council (counts, times and
versions only: health metadata); a council's publisher, ops and governance its own row;
anyone else is refused.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from packaging.version import InvalidVersion, Version
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from hub import db
from hub.auth import Principal, has_operator_view
from hub.errors import Forbidden, not_found
from hub.records.models import batches, record_rejects, records
from hub.timeutil import iso_utc

WINDOW = timedelta(days=7)
STATES = ("live", "quiet", "stale_agent", "never_published")
# A council's own row is read by the roles that run its publishing.
OWN_ROW_READERS = ("publisher", "ops", "governance")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class CoverageService:
    def __init__(self, engine: Engine, catalogue, list_orgs: Callable[[], list[dict]],
                 agent_summaries: Callable[[], dict[str, dict]],
                 promised_cadences: Callable[[datetime], dict[tuple[str, str], dict]],
                 clock: Callable[[], datetime] = db.utcnow, hub_operator: str | None = None,
                 min_agent_version: str | None = None):
        self.engine = engine
        self.min_agent_version = Version(min_agent_version) if min_agent_version else None
        self.catalogue = catalogue
        self._list_orgs = list_orgs
        self._agent_summaries = agent_summaries
        self._promised_cadences = promised_cadences  # (provider, dataset) -> an agreement's cadence
        self.clock = clock
        self.hub_operator = hub_operator

    def coverage(self, principal: Principal, org: str | None = None, dataset: str | None = None) -> dict:
        councils = self._councils_shown(principal, org)
        now = self.clock()
        promised = self._promised_cadences(now)
        promised_datasets = {name for _, name in promised}
        datasets = [d for d in self.catalogue.all() if d.cadence or d.name in promised_datasets]
        if dataset is not None:
            datasets = [d for d in datasets if d.name == dataset]
            if not datasets:
                raise not_found(f"dataset {dataset} (or neither it nor an agreement declares a cadence, "
                                "so it has no coverage)")
        names, slugs = [d.name for d in datasets], [c["slug"] for c in councils]
        latest, counts, rejects = self._figures(slugs, names, now - WINDOW)
        agents = self._agent_summaries()
        cells = []
        for council in councils:
            # which agreement holds a council to a cadence is its own and admin's to read
            names_agreement = principal.is_admin or council["slug"] == principal.org
            for ds in datasets:
                key = (council["slug"], ds.name)
                cadence = _cadence(ds, promised.get(key), names_agreement)
                cell = self._cell(key, ds, cadence, latest.get(key), counts.get(key, 0), rejects.get(key, 0),
                                  agents, now)
                cell["agent_outdated"] = self._outdated(cell["agent_version"])
                cells.append(cell)
        return {"generated_at": iso_utc(now), "window_days": WINDOW.days,
                "min_agent_version": str(self.min_agent_version) if self.min_agent_version else None,
                "datasets": [{"name": d.name, "title": d.title, "cadence": d.cadence} for d in datasets],
                "councils": [{"org": c["slug"], "name": c["name"]} for c in councils],
                "cells": cells, "totals": _totals(datasets, cells, len(councils))}

    def _outdated(self, version: str | None) -> bool | None:
        """Whether the publishing agent is older than the hub supports (None: no minimum, no agent,
        or a version that is not a version number)."""
        if self.min_agent_version is None or not version:
            return None
        try:
            return Version(version) < self.min_agent_version
        except InvalidVersion:
            return None

    # -- who sees which rows ------------------------------------------------
    def _councils_shown(self, principal: Principal, org: str | None) -> list[dict]:
        councils = [o for o in self._list_orgs() if o["kind"] == "council"]
        if not (principal.is_admin or has_operator_view(principal, self.hub_operator)):
            principal.require(*OWN_ROW_READERS)
            if org is not None and org != principal.org:
                raise Forbidden(f"your credential belongs to {principal.org} and shows only its own coverage row")
            org = principal.org
        if org is not None:
            councils = [c for c in councils if c["slug"] == org]
            if not councils:
                raise not_found(f"council {org}")
        return councils

    # -- figures ------------------------------------------------------------
    def _figures(self, slugs: list[str], names: list[str], since: datetime):
        """Latest record (time and agent), records and rejected records since `since`, per
        (council, dataset): three grouped queries, whatever the number of cells."""
        if not slugs or not names:
            return {}, {}, {}
        newest = (select(func.max(records.c.seq).label("seq"))
                  .where(records.c.publisher.in_(slugs), records.c.dataset.in_(names))
                  .group_by(records.c.publisher, records.c.dataset).subquery())
        latest_query = (select(records.c.publisher, records.c.dataset, records.c.received_at, batches.c.agent_id)
                        .join(newest, newest.c.seq == records.c.seq)
                        .join(batches, batches.c.id == records.c.batch_id, isouter=True))
        count_query = (select(records.c.publisher, records.c.dataset, func.count())
                       .where(records.c.publisher.in_(slugs), records.c.dataset.in_(names),
                              records.c.received_at >= since)
                       .group_by(records.c.publisher, records.c.dataset))
        # One reject row per error: a rejected record is one (batch, index) however many errors it had.
        rejected = (select(record_rejects.c.publisher, record_rejects.c.dataset, record_rejects.c.batch_id,
                           record_rejects.c.record_index)
                    .where(record_rejects.c.publisher.in_(slugs), record_rejects.c.dataset.in_(names),
                           record_rejects.c.received_at >= since).distinct().subquery())
        reject_query = (select(rejected.c.publisher, rejected.c.dataset, func.count())
                        .group_by(rejected.c.publisher, rejected.c.dataset))
        with self.engine.connect() as conn:
            latest = {(r.publisher, r.dataset): (_aware(r.received_at), r.agent_id) for r in conn.execute(latest_query)}
            counts = {(r[0], r[1]): r[2] for r in conn.execute(count_query)}
            rejects = {(r[0], r[1]): r[2] for r in conn.execute(reject_query)}
        return latest, counts, rejects

    @staticmethod
    def _cell(key: tuple[str, str], ds, cadence: dict | None, latest, recent: int, rejected: int, agents: dict, now: datetime) -> dict:
        cell = {"org": key[0], "dataset": ds.name, "state": "never_published", "cadence": cadence,
                "last_published_at": None,
                "quiet_after": None, "records_7d": recent, "rejected_7d": rejected,
                "reject_rate": round(rejected / (recent + rejected), 4) if recent + rejected else None,
                "agent_id": None, "agent_status": None, "agent_version": None}
        if latest is None:
            return cell
        last, agent_id = latest
        quiet_after = (last + timedelta(hours=cadence["every_hours"] + cadence["grace_hours"])) if cadence else None
        agent = agents.get(agent_id) if agent_id else None
        if agent is not None:
            cell.update(agent_id=agent_id, agent_status=agent["status"], agent_version=agent["version"])
        if agent is not None and agent["status"] == "stale":
            state = "stale_agent"
        else:
            state = "quiet" if quiet_after is not None and now > quiet_after else "live"
        cell.update(state=state, last_published_at=iso_utc(last),
                    quiet_after=iso_utc(quiet_after) if quiet_after else None)
        return cell


def _cadence(ds, promised: dict | None, names_agreement: bool) -> dict | None:
    """The cadence a council is held to for a dataset: the catalogue's, or an agreement's stricter one."""
    declared = dict(ds.cadence, declared_by="catalogue") if ds.cadence else None
    if promised and (declared is None or promised["every_hours"] + promised["grace_hours"]
                     < declared["every_hours"] + declared["grace_hours"]):
        return {"every_hours": promised["every_hours"], "grace_hours": promised["grace_hours"],
                "declared_by": f"agreement {promised['agreement']}" if names_agreement else "agreement"}
    return declared


def _totals(datasets, cells: list[dict], councils: int) -> list[dict]:
    totals = []
    for ds in datasets:
        states = [c["state"] for c in cells if c["dataset"] == ds.name]
        counted = {state: states.count(state) for state in STATES}
        totals.append({"dataset": ds.name, "councils": councils, **counted,
                       "summary": f"{ds.name}: {counted['live']} of {councils} live"})
    return totals
