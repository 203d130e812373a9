"""How fast the spreadsheet source and the mapping go, next to a bare csv read.

    python bench/mapping.py [rows]

Writes a gazetteer-shaped CSV to a temporary folder, then prints rows/s for:
a bare csv.reader pass, the spreadsheet source alone, and source + mapping.
"""
import csv
import sys
import tempfile
import time
from pathlib import Path

import connectors
from agents.mapping import Mapper

MAPPING = {
    "dataset": "gazetteer-address",
    "schema_version": 1,
    "key": "uprn",
    "fields": {
        "uprn": {"from": "UPRN", "convert": ["trim"]},
        "postcode": {"from": "Postcode", "convert": ["trim", "upper"]},
        "easting": {"from": "X", "convert": ["number"]},
        "northing": {"from": "Y", "convert": ["number"]},
        "last_updated": {"from": "Updated", "convert": [{"date": ["%d/%m/%Y", "excel"]}]},
        "status": {"from": "Status", "convert": ["trim", "lower", {"lookup": {"a": "approved", "p": "provisional"}}],
                   "default": "approved"},
        "custodian": {"const": "edinburgh"},
        "street": {"concat": ["Street1", "Street2"], "sep": " "},
    },
}


def write_csv(path: Path, rows: int) -> None:
    with open(path, "w", encoding="cp1252", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["UPRN", "Postcode", "X", "Y", "Updated", "Status", "Street1", "Street2"])
        for i in range(rows):
            writer.writerow([906700000000 + i, f" eh{i % 17} {i % 9}ab", f"3{i % 99999:05d}", f"67{i % 9999:04d}",
                             f"{1 + i % 28:02d}/{1 + i % 12:02d}/2024", "A" if i % 3 else "P", f"{i} High Street", ""])


def rate(label: str, rows: int, seconds: float) -> None:
    print(f"{label:<28}{rows / seconds:>12,.0f} rows/s  ({seconds:.2f} s)")


def main(rows: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "gazetteer.csv"
        write_csv(path, rows)

        started = time.perf_counter()
        with open(path, encoding="cp1252", newline="") as handle:
            count = sum(1 for _ in csv.reader(handle)) - 1
        rate("bare csv.reader", count, time.perf_counter() - started)

        source = connectors.load_source("spreadsheet", {"path": str(path), "settle_seconds": 0, "chunk_rows": 5000})
        started = time.perf_counter()
        chunks = list(source.read(None))
        source_time = time.perf_counter() - started
        read = [row for chunk in chunks for row in chunk.rows]
        rate("spreadsheet source", len(read), source_time)

        mapper = Mapper(MAPPING)
        started = time.perf_counter()
        for row in read:
            mapper.map(row)
        map_time = time.perf_counter() - started
        rate("mapping alone", len(read), map_time)
        rate("source + mapping", len(read), source_time + map_time)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
