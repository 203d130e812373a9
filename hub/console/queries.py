"""Read-only queries behind the console's pages: record flow, rejects, quality, audit,
and the subscription statuses several pages summarise.

Every SQL query takes the org whose data the caller may see (None: all orgs, for
admins), the same rule the API applies to the audit log and the record log; reads
through a domain service take the signed-in user's principal, so the service decides.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from hub.audit.models import audit_log
from hub.auth import Principal
from hub.errors import NotFound
from hub.records.models import batches, record_rejects, records
from hub.timeutil import iso_utc

from .filters import duration, plural
from .quality_words import rule_of

# A subscription whose oldest undelivered record is older than this is "lagging".
LAG_WARNING_SECONDS = 300


BUCKET_FORMATS = {"minute": ("YYYY-MM-DD HH24:MI", "%Y-%m-%d %H:%M"), "hour": ("YYYY-MM-DD HH24", "%Y-%m-%d %H"),
                  "day": ("YYYY-MM-DD", "%Y-%m-%d")}


def _bucket(engine: Engine, column, unit: str):
    """A text label of the UTC minute ('2026-11-02 09:30'), hour ('2026-11-02 09') or day
    ('2026-11-02') a time falls in."""
    postgres, sqlite = BUCKET_FORMATS[unit]
    if engine.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), postgres)
    return func.strftime(sqlite, column)


@dataclass(frozen=True)
class TimeRange:
    """A period the overview shows: its name in the URL, words, and the buckets of its chart."""
    name: str
    words: str
    unit: str  # minute | hour | day
    buckets: int

    def labels(self, now: datetime) -> list[str]:
        if self.unit == "day":
            return day_labels(now.date(), self.buckets)
        step = timedelta(minutes=1) if self.unit == "minute" else timedelta(hours=1)
        last = now.replace(second=0, microsecond=0) if self.unit == "minute" else \
            now.replace(minute=0, second=0, microsecond=0)
        _, fmt = BUCKET_FORMATS[self.unit]
        return [(last - step * (self.buckets - 1 - i)).strftime(fmt) for i in range(self.buckets)]

    def since(self, now: datetime) -> datetime:
        return {"minute": now - timedelta(hours=1), "hour": now - timedelta(hours=24),
                "day": now - timedelta(days=7)}[self.unit]


RANGES = {r.name: r for r in (TimeRange("1h", "last hour", "minute", 60),
                              TimeRange("24h", "last 24 hours", "hour", 24),
                              TimeRange("7d", "last 7 days", "day", 7))}


def records_per_bucket(engine: Engine, org: str | None, now: datetime,
                       chosen: TimeRange) -> tuple[list[str], dict[str, list[int]]]:
    """Records accepted into the log per dataset per UTC minute, hour or day of a range."""
    labels = chosen.labels(now)
    bucket = _bucket(engine, records.c.received_at, chosen.unit).label("bucket")
    query = (select(records.c.dataset, bucket, func.count().label("n"))
             .where(records.c.received_at >= start_of_day(now.date() - timedelta(days=chosen.buckets - 1))
                    if chosen.unit == "day" else records.c.received_at >= chosen.since(now).replace(second=0))
             .group_by(records.c.dataset, bucket))
    if org is not None:
        query = query.where(records.c.publisher == org)
    series: dict[str, list[int]] = {}
    position = {label: i for i, label in enumerate(labels)}
    with engine.connect() as conn:
        for row in conn.execute(query):
            if row.bucket in position:
                series.setdefault(row.dataset, [0] * len(labels))[position[row.bucket]] += row.n
    return labels, dict(sorted(series.items()))


def day_labels(today: date, days: int) -> list[str]:
    return [(today - timedelta(days=days - 1 - i)).isoformat() for i in range(days)]


def start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.utc)


def _publish_entries(engine: Engine, org: str | None, since: datetime, until: datetime | None = None):
    query = (select(audit_log.c.at, audit_log.c.org, audit_log.c.detail)
             .where(audit_log.c.action == "records.publish", audit_log.c.at >= since).order_by(audit_log.c.seq))
    if until is not None:
        query = query.where(audit_log.c.at < until)
    if org is not None:
        query = query.where(audit_log.c.org == org)
    with engine.connect() as conn:
        for row in conn.execute(query):
            at = row.at if row.at.tzinfo else row.at.replace(tzinfo=timezone.utc)
            yield at, row.org, json.loads(row.detail)


@dataclass
class PublishTotals:
    accepted: dict[str, int]
    rejected: dict[str, int]
    duplicates: int = 0

    @property
    def total_rejected(self) -> int:
        return sum(self.rejected.values())

    @property
    def total_accepted(self) -> int:
        return sum(self.accepted.values())


def publish_totals(engine: Engine, org: str | None, since: datetime, until: datetime | None = None) -> PublishTotals:
    """Accepted and rejected records by dataset, from the audit log's publish entries."""
    totals = PublishTotals({}, {})
    for _at, _org, detail in _publish_entries(engine, org, since, until):
        for dataset, n in (detail.get("accepted") or {}).items():
            totals.accepted[dataset] = totals.accepted.get(dataset, 0) + n
        for dataset, n in (detail.get("rejected") or {}).items():
            totals.rejected[dataset] = totals.rejected.get(dataset, 0) + n
        totals.duplicates += detail.get("duplicates", 0)
    return totals


def rejects_per_day(engine: Engine, org: str | None, today: date, days: int = 14,
                    by: str = "publisher") -> tuple[list[str], dict[str, list[int]]]:
    """Rejected records per day, one series per publisher or per dataset."""
    labels = day_labels(today, days)
    position = {label: i for i, label in enumerate(labels)}
    series: dict[str, list[int]] = {}
    for at, publisher, detail in _publish_entries(engine, org, start_of_day(today - timedelta(days=days - 1))):
        day = at.astimezone(timezone.utc).date().isoformat()
        for dataset, n in (detail.get("rejected") or {}).items():
            name = publisher if by == "publisher" else dataset
            if day in position and n:
                series.setdefault(name or "unknown", [0] * days)[position[day]] += n
    return labels, dict(sorted(series.items()))


def rejected_fields(engine: Engine, org: str | None, since: datetime, limit: int = 20) -> list[dict]:
    """Which fields fail most: (publisher, dataset, path) with the number of errors."""
    query = (select(record_rejects.c.publisher, record_rejects.c.dataset, record_rejects.c.path,
                    func.count().label("errors"))
             .where(record_rejects.c.received_at >= since)
             .group_by(record_rejects.c.publisher, record_rejects.c.dataset, record_rejects.c.path)
             .order_by(func.count().desc(), record_rejects.c.dataset, record_rejects.c.path).limit(limit))
    if org is not None:
        query = query.where(record_rejects.c.publisher == org)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(query)]


def common_errors(engine: Engine, org: str | None, since: datetime, limit: int = 10) -> list[dict]:
    """The rules broken most often, one row per dataset, field and rule (however many values broke
    it), each with the number of errors and its latest example (the record's key, id, batch, time)."""
    grouped = (select(record_rejects.c.dataset, record_rejects.c.path, record_rejects.c.message,
                      func.count().label("errors"), func.max(record_rejects.c.id).label("example_id"))
               .where(record_rejects.c.received_at >= since)
               .group_by(record_rejects.c.dataset, record_rejects.c.path, record_rejects.c.message))
    if org is not None:
        grouped = grouped.where(record_rejects.c.publisher == org)
    rules: dict[tuple[str, str, str], dict] = {}
    with engine.connect() as conn:
        for row in conn.execute(grouped):
            rule = rule_of(row.message)[0]
            found = rules.setdefault((row.dataset, row.path, rule if rule != "other" else row.message), {
                "dataset": row.dataset, "path": row.path, "rule": rule, "message": row.message, "errors": 0,
                "example_id": row.example_id})
            found["errors"] += row.errors
            if row.example_id >= found["example_id"]:
                found["example_id"], found["message"] = row.example_id, row.message
        rows = sorted(rules.values(), key=lambda r: (-r["errors"], r["dataset"], r["path"]))[:limit]
        examples = {r.id: r for r in conn.execute(
            select(record_rejects).where(record_rejects.c.id.in_([r["example_id"] for r in rows])))} if rows else {}
    for row in rows:
        example = examples.get(row["example_id"])
        row["example"] = None if example is None else {
            "publisher": example.publisher, "record_id": example.record_id, "record_index": example.record_index,
            "key": example.key, "batch_id": example.batch_id, "received_at": iso_utc(example.received_at)}
    return rows


QUALITY_REPORT_COLUMNS = ("date", "publisher", "dataset", "accepted", "rejected", "reject_rate_percent",
                          "most_common_error_field", "most_common_error", "errors_of_that_kind")


def daily_quality_report(engine: Engine, org: str | None, day: date) -> list[dict]:
    """One row per publisher and dataset for one UTC day: accepted, rejected, and the most common error."""
    since, until = start_of_day(day), start_of_day(day + timedelta(days=1))
    counts: dict[tuple[str, str], list[int]] = {}
    for _at, publisher, detail in _publish_entries(engine, org, since, until):
        for kind, index in (("accepted", 0), ("rejected", 1)):
            for dataset, n in (detail.get(kind) or {}).items():
                counts.setdefault((publisher, dataset), [0, 0])[index] += n
    query = (select(record_rejects.c.publisher, record_rejects.c.dataset, record_rejects.c.path,
                    record_rejects.c.message, func.count().label("n"))
             .where(record_rejects.c.received_at >= since, record_rejects.c.received_at < until)
             .group_by(record_rejects.c.publisher, record_rejects.c.dataset, record_rejects.c.path,
                       record_rejects.c.message))
    if org is not None:
        query = query.where(record_rejects.c.publisher == org)
    top: dict[tuple[str, str], tuple] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            key = (row.publisher, row.dataset)
            if key not in top or (row.n, row.path) > (top[key][2], top[key][0]):
                top[key] = (row.path, row.message, row.n)
    rows = []
    for (publisher, dataset), (accepted, rejected) in sorted(counts.items()):
        path, message, n = top.get((publisher, dataset), ("", "", 0))
        total = accepted + rejected
        rows.append({"date": day.isoformat(), "publisher": publisher, "dataset": dataset, "accepted": accepted,
                     "rejected": rejected, "reject_rate_percent": f"{100 * rejected / total:.1f}" if total else "0.0",
                     "most_common_error_field": path, "most_common_error": message, "errors_of_that_kind": n})
    return rows


# -- audit log --------------------------------------------------------------
@dataclass
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    target: str | None = None
    actor_is: str | None = None  # exactly this actor ("only my own actions")
    org: str | None = None  # only for admins; others are fixed to their own org
    since: date | None = None
    until: date | None = None  # inclusive
    before: int | None = None  # page: entries with seq below this


def audit_page(engine: Engine, visible_org: str | None, chosen: AuditFilter, limit: int = 50) -> tuple[list[dict], int | None]:
    """Audit entries, newest first; returns (entries, seq to pass as `before` for the next page or None)."""
    query = select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit + 1)
    org = visible_org if visible_org is not None else chosen.org
    if org:
        query = query.where(audit_log.c.org == org)
    if chosen.action:
        query = query.where(audit_log.c.action == chosen.action)
    if chosen.actor:
        query = query.where(audit_log.c.actor.contains(chosen.actor, autoescape=True))
    if chosen.actor_is:
        query = query.where(audit_log.c.actor == chosen.actor_is)
    if chosen.target:
        query = query.where(audit_log.c.target.contains(chosen.target, autoescape=True))
    if chosen.since:
        query = query.where(audit_log.c.at >= start_of_day(chosen.since))
    if chosen.until:
        query = query.where(audit_log.c.at < start_of_day(chosen.until + timedelta(days=1)))
    if chosen.before:
        query = query.where(audit_log.c.seq < chosen.before)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    entries = [{"seq": r.seq, "at": iso_utc(r.at), "actor": r.actor, "org": r.org, "action": r.action,
                "target": r.target, "detail": json.loads(r.detail), "hash": r.hash} for r in rows[:limit]]
    return entries, (entries[-1]["seq"] if len(rows) > limit else None)


def audit_actions(engine: Engine, visible_org: str | None) -> list[str]:
    query = select(audit_log.c.action).distinct().order_by(audit_log.c.action)
    if visible_org is not None:
        query = query.where(audit_log.c.org == visible_org)
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(query)]


# -- deliveries ---------------------------------------------------------------
def record_keys(engine: Engine, seqs: list[int]) -> dict[int, str]:
    """The natural key of each record in the log at these sequence numbers."""
    if not seqs:
        return {}
    with engine.connect() as conn:
        return {r.seq: r.key for r in conn.execute(select(records.c.seq, records.c.key).where(records.c.seq.in_(seqs)))}


def subscription_statuses(delivery, principal: Principal, org: str | None = None) -> list[dict]:
    """The status (lag, errors, dead letters) of every subscription the principal may see."""
    found = []
    for listed in delivery.list(principal, org):
        try:
            found.append(delivery.status(listed["id"], principal))
        except NotFound:  # ended between listing and reading
            pass
    return found


def needs_attention(status: dict) -> list[str]:
    """Why a subscription's status needs someone to look (empty: it does not)."""
    reasons = []
    if status["status"] == "failing":
        reasons.append("failing")
    if status["lag"]["seconds"] > LAG_WARNING_SECONDS:
        reasons.append(f"{plural(status['lag']['records'], 'record')} behind, oldest {duration(status['lag']['seconds'])}")
    if status["dead_letters"]:
        reasons.append(plural(status["dead_letters"], "dead letter"))
    return reasons


# Most urgent first: failing, disabled, lagging, holding dead letters, held (paused or awaiting
# an agreement), then healthy.
SEVERITY = ("failing", "disabled", "lagging", "dead letters", "held", "healthy")


def severity(status: dict) -> str:
    if status["status"] in ("failing", "disabled"):
        return status["status"]
    if status["lag"]["seconds"] > LAG_WARNING_SECONDS:
        return "lagging"
    if status["dead_letters"]:
        return "dead letters"
    if status["status"] in ("paused", "awaiting-agreement"):
        return "held"
    return "healthy"


def by_severity(statuses: list[dict]) -> list[dict]:
    """Subscriptions most urgent first; within a rank, the furthest behind first."""
    return sorted(statuses, key=lambda s: (SEVERITY.index(severity(s)), -s["lag"]["seconds"], -s["dead_letters"],
                                           s["dataset"], s["org"], s["id"]))


def agent_rejects(engine: Engine, agent_id: str, limit: int = 20) -> tuple[int, list[dict]]:
    """Records the hub rejected from batches this agent sent: how many, and the latest."""
    joined = record_rejects.join(batches, batches.c.id == record_rejects.c.batch_id)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(joined).where(batches.c.agent_id == agent_id)).scalar()
        rows = conn.execute(select(record_rejects).select_from(joined).where(batches.c.agent_id == agent_id)
                            .order_by(record_rejects.c.id.desc()).limit(limit)).all()
    return total or 0, [{"dataset": r.dataset, "record_id": r.record_id, "record_index": r.record_index,
                         "batch_id": r.batch_id, "path": r.path, "message": r.message,
                         "received_at": iso_utc(r.received_at)} for r in rows]
