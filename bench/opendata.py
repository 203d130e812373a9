"""Open-data page benchmark: how long the public's pages take with a million records in the
dataset, against the aim of 300 ms a page (issue 15).

Sets up a hub database (SQLite in a temporary folder by default) with an open agreement for
the gazetteer, fills `open_records` with N current addresses across 60 postcode districts
and their counts in all and by month (as the projector would leave them), then times the catalogue, the dataset's first page,
a district search, a page deep in the cursor and a JSON feed page through the app, each
several times, and prints the median and the worst.

    python bench/opendata.py [--records 1000000] [--repeat 15] [--db URL]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import orjson
from results import record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from causeway_common.catalogue import load_catalogue  # noqa: E402
from hub.app import build_services, create_app  # noqa: E402
from hub.auth import Principal  # noqa: E402
from hub.config import Settings  # noqa: E402
from hub.db import make_engine, write_transaction  # noqa: E402
from hub.migrate import upgrade  # noqa: E402
from hub.opendata.models import open_monthly, open_records, open_summary  # noqa: E402
from hub.records.service import sync_catalogue  # noqa: E402

AIM_MS = 300
DISTRICTS = [f"EH{n}" for n in range(1, 61)]
AGREEMENT = """\
id: gazetteer-open
title: Gazetteer addresses as open data
providers: [edinburgh]
recipients: [public]
purposes: [ServiceProvision]
lawful_basis: public-task
valid_from: 2026-01-01
valid_until: 2030-12-31
retention_days: 3650
datasets:
  gazetteer-address:
    fields: [uprn, paon, street, town, postcode, status]
"""


def set_up(url: str, count: int):
    engine = make_engine(url)
    upgrade(engine)
    sync_catalogue(engine, load_catalogue())
    engine.dispose()
    services = build_services(Settings(db_url=url, hub_operator="improvement-service"))
    for slug, name in (("edinburgh", "The City of Edinburgh Council"), ("improvement-service", "Improvement Service")):
        services.orgs.ensure_org(slug, name, "council", actor="bench")
    registry = services.policy.agreements
    registry.apply(AGREEMENT, Principal(org="edinburgh", role="governance", credential_id="bench"), mode="create")
    for org in ("edinburgh", "improvement-service"):
        registry.transition("gazetteer-open", "approved", Principal(org=org, role="governance", credential_id="b"))
    registry.transition("gazetteer-open", "active", Principal(org="edinburgh", role="governance", credential_id="b"))
    services.open_data.project()  # records its routes, so later rounds keep what is filled in below
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    batch = []
    with write_transaction(services.engine) as conn:
        for n in range(count):
            district = DISTRICTS[n % len(DISTRICTS)]
            payload = {"uprn": str(906700000000 + n), "paon": str(n % 200 + 1), "street": f"Example Street {n % 997}",
                       "town": "Edinburgh", "postcode": f"{district} {n % 9}AB", "status": "approved"}
            batch.append({"dataset": "gazetteer-address", "publisher": "edinburgh", "key": payload["uprn"],
                          "seq": n + 1, "op": "upsert", "postcode_district": district,
                          "payload": orjson.dumps(payload).decode(), "agreement_id": "gazetteer-open",
                          "occurred_at": "2026-11-02T09:30:00Z", "published_at": now})
            if len(batch) == 20_000:
                conn.execute(open_records.insert(), batch)
                batch = []
        if batch:
            conn.execute(open_records.insert(), batch)
        conn.execute(open_summary.insert().values(dataset="gazetteer-address", records=count, modified=now))
        conn.execute(open_monthly.insert().values(dataset="gazetteer-address", month="2026-11", publisher="edinburgh",
                                                  records=count))
    return services


def timed(client, path: str, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return statistics.median(times), max(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        url = args.db or f"sqlite:///{folder}/bench.db"
        started = time.perf_counter()
        services = set_up(url, args.records)
        print(f"filled {args.records:,} open records in {time.perf_counter() - started:.1f} s")
        deep = args.records // 2
        paths = {"catalogue": "/open/", "dataset page": "/open/gazetteer-address",
                 "district search": "/open/gazetteer-address?district=EH17",
                 "deep page": f"/open/gazetteer-address?after={deep}",
                 "JSON feed page": f"/open/gazetteer-address.json?after={deep}&limit=1000"}
        with create_app(services=services).test_client() as client:
            worst_median = 0.0
            for label, path in paths.items():
                median, worst = timed(client, path, args.repeat)
                worst_median = max(worst_median, median)
                print(f"{label:<16} median {median:7.1f} ms   worst {worst:7.1f} ms   {path}")
        print(f"slowest median {worst_median:.1f} ms; aim < {AIM_MS} ms")
        record("open data page", worst_median, "ms", floor_label=f"{args.records:,} records", aim_max=AIM_MS)
        services.engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
