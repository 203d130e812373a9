"""The daily quality report a council opts in to (its alert contact's `quality_report`):
by e-mail, the day before's rejected records by dataset and field with example messages
and a link to the console's data-quality page.

The examples are the messages the hub kept with each reject. For personal datasets the hub
keeps them without the offending value (hub.records.service), so no personal value reaches
the report; the report says so beside those datasets.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from hub.records.models import record_rejects

EXAMPLES = 3


def rejects_by_field(conn: Connection, org: str, day: date) -> dict[str, list[dict]]:
    """dataset -> [{field, rejects, examples}] for one UTC day, most rejects first."""
    since = datetime.combine(day, time(0), timezone.utc)
    t = record_rejects.c
    query = (select(t.dataset, t.path, t.message, func.count().label("n"))
             .where(t.publisher == org, t.received_at >= since, t.received_at < since + timedelta(days=1))
             .group_by(t.dataset, t.path, t.message))
    fields: dict[tuple[str, str], dict] = {}
    for row in conn.execute(query):
        entry = fields.setdefault((row.dataset, row.path), {"field": row.path or "(record)", "rejects": 0,
                                                            "examples": []})
        entry["rejects"] += row.n
        entry["examples"].append((row.n, row.message))
    found: dict[str, list[dict]] = {}
    for (dataset, _), entry in sorted(fields.items()):
        entry["examples"] = [m for _, m in sorted(entry["examples"], key=lambda e: (-e[0], e[1]))[:EXAMPLES]]
        found.setdefault(dataset, []).append(entry)
    for entries in found.values():
        entries.sort(key=lambda e: (-e["rejects"], e["field"]))
    return found


def report_email(org: str, day: date, by_dataset: dict[str, list[dict]], personal: set[str],
                 public_url: str) -> tuple[str, str]:
    total = sum(e["rejects"] for entries in by_dataset.values() for e in entries)
    subject = f"[Causeway] Data quality for {org} on {day.isoformat()}: " + (
        f"{total} rejected field error{'s' if total != 1 else ''}" if total else "no rejected records")
    lines = [f"Records {org} published on {day.isoformat()} (UTC) that the hub rejected, by dataset and field.", ""]
    if not by_dataset:
        lines.append("Nothing was rejected.")
    for dataset, entries in by_dataset.items():
        lines.append(f"{dataset}" + (" (personal data: messages leave out the values)" if dataset in personal else ""))
        for entry in entries:
            lines.append(f"  {entry['field']}: {entry['rejects']}")
            lines += [f"    e.g. {example}" for example in entry["examples"]]
        lines.append("")
    lines += [f"Details and charts: {public_url.rstrip('/')}/console/quality",
              "", "You receive this because your organisation asked for the daily quality report."]
    return subject, "\n".join(lines) + "\n"
