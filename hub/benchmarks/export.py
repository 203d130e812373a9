"""Benchmarks as CSV: one line per period, measure and series (the council, Scotland, each family
group, each council named to the reader)."""
from __future__ import annotations

import csv
import io

from causeway_common.cells import csv_row

COLUMNS = ["dataset", "period", "measure", "title", "kind", "unit", "series", "org", "councils", "value",
           "lower_quartile", "median", "upper_quartile", "withheld"]


def _blank(value) -> object:
    return "" if value is None else value


def benchmark_csv(result: dict) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for measure in result["measures"]:
        head = [measure["name"], measure["title"], measure["kind"], measure["unit"]]
        for entry in measure["periods"]:
            lines = []
            if result["org"]:
                lines.append(["council", result["org"], "", entry["own"], "", "", "", ""])
            aggregates = [("scotland", entry["scotland"])] + [(f"family:{f['group']}", f) for f in entry["family"]]
            for series, found in aggregates:
                lines.append([series, "", found["councils"], "", found["lower_quartile"], found["median"],
                              found["upper_quartile"], "yes" if found["withheld"] else "no"])
            lines += [["named", c["org"], "", c["value"], "", "", "", ""] for c in entry["councils"]]
            for line in lines:
                # Names and titles come from councils' and owners' data: neutralised for spreadsheets.
                writer.writerow(csv_row([result["dataset"], entry["period"], *head, *map(_blank, line)]))
    return out.getvalue()
