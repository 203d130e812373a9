"""The coverage view as a spreadsheet-ready CSV: one line per council and dataset."""
from __future__ import annotations

import csv
import io

from causeway_common.cells import csv_row

COLUMNS = ("org", "dataset", "state", "every_hours", "grace_hours", "cadence_declared_by", "last_published_at",
           "quiet_after", "records_7d", "rejected_7d", "reject_rate", "agent_id", "agent_status", "agent_version",
           "agent_outdated")


def coverage_csv(view: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    # agent versions come from the councils' own heartbeats: neutralised like any cell of theirs
    writer.writerows(csv_row(_flat(cell)) for cell in view["cells"])
    return out.getvalue()


def _flat(cell: dict) -> list:
    cadence = cell["cadence"] or {}
    values = {**cell, "every_hours": cadence.get("every_hours"), "grace_hours": cadence.get("grace_hours"),
              "cadence_declared_by": cadence.get("declared_by")}
    return ["" if values[c] is None else values[c] for c in COLUMNS]
