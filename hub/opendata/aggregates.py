"""Aggregates: an agreement may publish counts of a dataset, personal data among them,
instead of its records (`aggregate: {rows, columns, threshold, rounding}`). The hub counts
each provider's current records (the latest state of each key, deletions gone, the
agreement's conditions met), protects the table with `hub.statistics.suppression` and
keeps only the protected table: no count below the threshold, and none that the totals
would give away, ever leaves the hub.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import orjson
from sqlalchemy import delete, insert, select
from sqlalchemy.engine import Engine

from hub import db
from hub.audit import service as audit
from hub.errors import NotFound
from hub.policy.conditions import compile_condition
from hub.policy.vocabulary import PUBLIC
from hub.records.models import records
from hub.records.service import live_records
from hub.statistics.suppression import DEFAULT_THRESHOLD, protect

from .models import open_aggregates

UNKNOWN = "not stated"


def quarter_of(moment: str) -> str:
    """"2026-11-02T09:30:00Z" -> "2026-Q4"."""
    year, month = moment[:4], int(moment[5:7])
    return f"{year}-Q{(month - 1) // 3 + 1}"


class OpenAggregates:
    def __init__(self, engine: Engine, policy, clock: Callable[[], datetime] = db.utcnow):
        self.engine = engine
        self.policy = policy
        self.clock = clock

    def compute(self) -> int:
        """Recount every aggregate an active agreement publishes to the public; returns how many."""
        with self.engine.connect() as conn:
            active = self.policy.agreements.load_active(conn)
        wanted = []
        for document, version, _key in active:
            if PUBLIC not in document["recipients"]:
                continue
            for dataset, spec in document["datasets"].items():
                if "aggregate" in spec:
                    wanted.append((document, version, dataset, spec))
        now = self.clock()
        tables = [(document, version, dataset, self._table(document, dataset, spec))
                  for document, version, dataset, spec in wanted]
        with db.write_transaction(self.engine) as conn:
            conn.execute(delete(open_aggregates))
            for document, version, dataset, table in tables:
                conn.execute(insert(open_aggregates).values(
                    agreement_id=document["id"], dataset=dataset, version=version, title=document["title"],
                    document=json.dumps(table), computed_at=now))
            if tables:
                audit.append(conn, at=now, actor="hub", org=None, action="open.aggregates.publish",
                             detail={"tables": [f"{d['id']}/{dataset}" for d, _, dataset, _ in tables]})
        return len(tables)

    def _table(self, document: dict, dataset: str, spec: dict) -> dict:
        aggregate = spec["aggregate"]
        conditions = [compile_condition(text) for text in spec.get("conditions", ())]
        latest: dict[tuple[str, str], tuple[str, dict | None, str]] = {}
        query = (select(records.c.publisher, records.c.key, records.c.op, records.c.payload, records.c.occurred_at)
                 .where(records.c.dataset == dataset, records.c.publisher.in_(document["providers"]), live_records)
                 .order_by(records.c.seq))
        with self.engine.connect() as conn:
            for row in conn.execution_options(yield_per=5000).execute(query):
                payload = orjson.loads(row.payload) if row.payload is not None else None
                latest[(row.publisher, row.key)] = (row.op, payload, row.occurred_at)
        counts: Counter = Counter()
        for (publisher, _key), (op, payload, occurred_at) in latest.items():
            if op == "delete" or payload is None:
                continue
            env = {"provider": publisher, "recipient": PUBLIC, "purpose": None, "dataset": dataset}
            if not all(condition(payload, env) for condition in conditions):
                continue
            cell = tuple(_axis(axis, publisher, payload, occurred_at) for axis in (aggregate["rows"],
                                                                                  aggregate["columns"]))
            counts[cell] += 1
        rows = sorted({row for row, _ in counts})
        columns = sorted({column for _, column in counts})
        protected = protect(dict(counts), rows=rows, columns=columns,
                            threshold=aggregate.get("threshold", DEFAULT_THRESHOLD),
                            rounding_base=aggregate.get("rounding"))
        return {"rows_are": aggregate["rows"], "columns_are": aggregate["columns"], **protected.as_dict()}

    # -- reading ----------------------------------------------------------------
    def tables(self) -> list[dict]:
        with self.engine.connect() as conn:
            found = conn.execute(select(open_aggregates).order_by(open_aggregates.c.agreement_id,
                                                                  open_aggregates.c.dataset)).all()
        return [self._view(row) for row in found]

    def table(self, agreement_id: str, dataset: str) -> dict:
        with self.engine.connect() as conn:
            row = conn.execute(select(open_aggregates).where(open_aggregates.c.agreement_id == agreement_id,
                                                             open_aggregates.c.dataset == dataset)).first()
        if row is None:
            raise NotFound(f"no published table of {dataset} under {agreement_id}", slug="not-found")
        return self._view(row)

    @staticmethod
    def _view(row) -> dict:
        return {"agreement_id": row.agreement_id, "dataset": row.dataset, "version": row.version,
                "title": row.title, "computed_at": row.computed_at, "table": json.loads(row.document)}


def _axis(axis: str, publisher: str, payload: dict, occurred_at: str) -> str:
    if axis == "publisher":
        return publisher
    if axis == "quarter":
        return quarter_of(occurred_at)
    value = payload.get(axis)
    return UNKNOWN if value is None or value == "" else str(value)
