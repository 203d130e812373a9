"""Returns as CSV: one row per publisher and period, the same columns for one period or a grid."""
from __future__ import annotations

import csv
import io

from causeway_common.cells import csv_row

COLUMNS = ["dataset", "period", "due_date", "org", "name", "status", "submitted_at", "last_submitted_at",
           "submitted_by", "record_count", "resubmitted", "flag_count", "flags"]


def _line(dataset: str, period: dict, row: dict) -> list:
    return [dataset, period["period"], period["due_date"], row["org"], row["name"], row["status"],
            row["submitted_at"] or "", row["last_submitted_at"] or "", row["submitted_by"] or "",
            row["record_count"], "yes" if row["resubmitted"] else "no", len(row["flags"]),
            " | ".join(f["message"] for f in row["flags"])]


def _write(lines) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(csv_row(line) for line in lines)  # names and flag messages come from councils' data
    return out.getvalue()


def period_csv(status: dict) -> str:
    return _write(_line(status["dataset"], status, row) for row in status["publishers"])


def grid_csv(grid: dict) -> str:
    return _write(_line(grid["dataset"], period, publisher["cells"][period["period"]])
                  for period in grid["periods"] for publisher in grid["publishers"])
