"""The hub's retention of personal payloads in its record log.

A personal dataset's payloads stay in the log for the hub retention period of that
dataset: set per dataset (`CAUSEWAY_HUB_RETENTION_DAYS=referral=400,...`), or else
the longest `retention_days` among the agreements that cover it (any version past
draft). A dataset no agreement covers and no setting names keeps its payloads.
After the period a record becomes a tombstone: the payload is removed and
`purged_at` set, while id, key, subject, digest and batch stay, so the manifest
its agent signed still proves where it came from and the audit chain (which never
held payloads) still verifies. Tombstones are not delivered to anyone.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Engine

from hub import db
from hub.audit import service as audit
from hub.policy.models import agreement_versions

from .models import datasets, records

log = logging.getLogger("causeway.hub.retention")


def retention_periods(engine: Engine, configured: dict[str, int]) -> dict[str, int | None]:
    """Personal dataset -> days its payloads stay in the log (None: kept, nothing decides)."""
    longest: dict[str, int] = {}
    with engine.connect() as conn:
        personal = [r.name for r in conn.execute(select(datasets.c.name).where(datasets.c.personal.is_(True)))]
        for row in conn.execute(select(agreement_versions.c.document).where(agreement_versions.c.status != "draft")):
            document = json.loads(row.document)
            for name in document.get("datasets") or {}:
                days = document.get("retention_days")
                if isinstance(days, int) and days > longest.get(name, 0):
                    longest[name] = days
    return {name: configured.get(name, longest.get(name)) for name in sorted(personal)}


def purge(engine: Engine, configured: dict[str, int], now: datetime, actor: str = "hub") -> dict[str, dict]:
    """Tombstone every personal payload past its dataset's period as of `now`; the counts per dataset."""
    report: dict[str, dict] = {}
    for name, days in retention_periods(engine, configured).items():
        if days is None:
            report[name] = {"retention_days": None, "purged": 0}
            continue
        cutoff = now - timedelta(days=days)
        due = and_(records.c.dataset == name, records.c.received_at < cutoff,
                   records.c.purged_at.is_(None), records.c.payload.isnot(None))
        with db.write_transaction(engine) as conn:
            purged = conn.execute(update(records).where(due).values(payload=None, purged_at=now)).rowcount
            if purged:
                audit.append(conn, at=now, actor=actor, org=None, action="records.purge", target=name,
                             detail={"dataset": name, "retention_days": days, "purged": purged,
                                     "received_before": cutoff.isoformat().replace("+00:00", "Z")})
        report[name] = {"retention_days": days, "purged": purged}
    return report


def tombstones(engine: Engine) -> dict[str, int]:
    """How many tombstones each dataset's log holds."""
    with engine.connect() as conn:
        return dict(conn.execute(select(records.c.dataset, func.count()).where(records.c.purged_at.isnot(None))
                                 .group_by(records.c.dataset)).all())


class Retention:
    """The retention job over one database, at the hub's clock: run by `retention run` and,
    on a schedule, by `serve`."""

    def __init__(self, engine: Engine, configured: dict[str, int], clock: Callable[[], datetime] = db.utcnow):
        self.engine = engine
        self.configured = configured
        self.clock = clock

    def purge(self, actor: str = "hub") -> dict[str, dict]:
        return purge(self.engine, self.configured, self.clock(), actor=actor)

    def tombstones(self) -> dict[str, int]:
        return tombstones(self.engine)

    def run(self) -> None:
        """One scheduled run: purge, and log what was purged."""
        report = self.purge()
        for name, counts in report.items():
            if counts["purged"]:
                log.info("retention: %d %s payloads past %d days replaced by tombstones",
                         counts["purged"], name, counts["retention_days"])
