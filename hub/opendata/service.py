"""Open data: the projector that decides the record log for the public, and the reads.

The public is a recipient like any other: each record is decided by the decision point
for recipient `public` under the agreement that publishes its dataset openly, and what
is allowed is recorded as a disclosure (channel "open-data") before anyone can read it.
Reads then come from `open_records`, each key's current state as projected, so a page of
a million-record dataset is an indexed query, not a million decisions.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson
from sqlalchemy import delete, func, insert, select, tuple_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from causeway_common.canonical import canonical_json
from hub import db
from hub.errors import Invalid, NotFound
from hub.policy.decision import Disclosure
from hub.policy.disclosure import count_denials, record_denials, record_disclosures
from hub.policy.vocabulary import PUBLIC
from hub.records.models import records
from hub.records.service import envelope_of, live_records

from .models import open_monthly, open_records, open_state, open_summary, open_usage

CHANNEL = "open-data"
DISTRICT = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]?$")
MAX_PAGE = 1000


def postcode_district(postcode: object) -> str | None:
    """The outward code of a UK postcode ("EH1 1YJ" -> "EH1"), or None when it is not one."""
    if not isinstance(postcode, str):
        return None
    compact = postcode.replace(" ", "").upper()
    district = compact[:-3] if len(compact) >= 5 else ""
    return district if DISTRICT.match(district) else None


def district_query(text: str) -> str:
    """A searched district, normalised; a full postcode searches its district."""
    cleaned = text.strip().upper()
    district = cleaned if DISTRICT.match(cleaned.replace(" ", "")) else postcode_district(cleaned)
    if district is None or not DISTRICT.match(district.replace(" ", "")):
        raise Invalid(f"{text[:20]!r} is not a postcode district (for example EH1) or a postcode", slug="bad-district")
    return district.replace(" ", "")


@dataclass(frozen=True)
class OpenPage:
    rows: list[dict]
    next_after: int
    more: bool


class OpenData:
    def __init__(self, engine: Engine, catalogue, policy, clock: Callable[[], datetime] = db.utcnow,
                 batch_size: int = 2000):
        self.engine = engine
        self.catalogue = catalogue
        self.policy = policy
        self.clock = clock
        self.batch_size = batch_size

    # -- projecting the log for the public ----------------------------------------
    def project(self) -> int:
        """Decide every record after the cursor for the public and store what is allowed;
        returns how many records were looked at. A change in which agreements publish
        openly starts again from the beginning, so a suspended one's data disappears at
        once and a reactivated one's returns whole."""
        routes = self.policy.public_routes()
        fingerprint = json.dumps(sorted([list(route), list(purposes)] for route, purposes in routes.items()))
        with db.write_transaction(self.engine) as conn:
            state = conn.execute(select(open_state).where(open_state.c.name == "projector")).first()
            if state is None or state.routes != fingerprint:
                conn.execute(delete(open_records))
                conn.execute(delete(open_summary))
                conn.execute(delete(open_monthly))
                conn.execute(delete(open_state).where(open_state.c.name == "projector"))
                conn.execute(insert(open_state).values(name="projector", cursor=0, routes=fingerprint))
                cursor = 0
            else:
                cursor = state.cursor
        if not routes:
            return 0
        datasets = sorted({dataset for _, dataset in routes})
        looked = 0
        while True:
            with self.engine.connect() as conn:
                rows = conn.execute(select(records).where(records.c.dataset.in_(datasets), records.c.seq > cursor,
                                                          live_records)
                                    .order_by(records.c.seq).limit(self.batch_size)).all()
            if not rows:
                return looked
            self._apply(rows, routes)
            cursor = rows[-1].seq
            with db.write_transaction(self.engine) as conn:
                conn.execute(open_state.update().where(open_state.c.name == "projector").values(cursor=cursor))
            looked += len(rows)

    def _apply(self, rows, routes: dict[tuple[str, str], tuple[str, ...]]) -> None:
        at = self.clock()
        envelopes = [envelope_of(row) for row in rows]
        # Each record under the first purpose of an open agreement that allows it.
        decisions: list = [None] * len(rows)
        used: list[str | None] = [None] * len(rows)
        purposes = sorted({purpose for found in routes.values() for purpose in found})
        for purpose in purposes:
            pending = [i for i, decision in enumerate(decisions) if decision is None or not decision.allowed]
            if not pending:
                break
            decided = self.policy.decide_many([envelopes[i] for i in pending], PUBLIC, purpose, at)
            for i, decision in zip(pending, decided):
                if decisions[i] is None or decision.allowed:
                    decisions[i], used[i] = decision, purpose
        state: dict[tuple[str, str, str], dict] = {}
        made = []
        for row, envelope, decision, purpose in zip(rows, envelopes, decisions, used):
            ident = (row.dataset, row.publisher, row.key)
            if decision is None or not decision.allowed:
                # No longer allowed (a condition now false): the public must not keep seeing it.
                state[ident] = self._tombstone(row, at, agreement_id="")
                continue
            if row.op == "delete":
                state[ident] = self._tombstone(row, at, decision.agreement_id)
            else:
                dataset = self.catalogue.get(row.dataset)
                field = (dataset.open_data.get("postcode_field") if dataset else None)
                payload = decision.payload or {}
                state[ident] = {"dataset": row.dataset, "publisher": row.publisher, "key": decision.key or row.key,
                                "seq": row.seq, "op": row.op, "payload": canonical_json(payload).decode(),
                                "postcode_district": postcode_district(payload.get(field)) if field else None,
                                "agreement_id": decision.agreement_id, "occurred_at": row.occurred_at,
                                "published_at": at}
            made.append(Disclosure.of(envelope, row.seq, decision, PUBLIC, purpose, at))
        with db.write_transaction(self.engine) as conn:
            keys = list(state)
            # How many shown records each dataset gains: counted here, so that the public's
            # pages read one small row instead of counting a million.
            gained: dict[str, int] = {}
            monthly: dict[tuple[str, str, str], int] = {}  # (dataset, month, publisher) -> change
            for value in state.values():
                if value["op"] != "delete":
                    gained[value["dataset"]] = gained.get(value["dataset"], 0) + 1
                    month = (value["dataset"], value["occurred_at"][:7], value["publisher"])
                    monthly[month] = monthly.get(month, 0) + 1
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                identity = tuple_(open_records.c.dataset, open_records.c.publisher, open_records.c.key).in_(chunk)
                for dataset, shown in conn.execute(select(open_records.c.dataset, func.count())
                                                   .where(identity, open_records.c.op != "delete")
                                                   .group_by(open_records.c.dataset)).all():
                    gained[dataset] = gained.get(dataset, 0) - shown
                month_of = func.substr(open_records.c.occurred_at, 1, 7)
                for dataset, month, publisher, shown in conn.execute(
                        select(open_records.c.dataset, month_of, open_records.c.publisher, func.count())
                        .where(identity, open_records.c.op != "delete")
                        .group_by(open_records.c.dataset, month_of, open_records.c.publisher)).all():
                    monthly[dataset, month, publisher] = monthly.get((dataset, month, publisher), 0) - shown
                conn.execute(delete(open_records).where(identity))
            if state:
                conn.execute(insert(open_records), list(state.values()))
            self._add_to_summary(conn, gained, {value["dataset"] for value in state.values()}, at)
            self._add_to_months(conn, monthly)
            record_disclosures(conn, made, CHANNEL, "hub")
            denials = count_denials([d for d in decisions if d is not None])
            if denials:
                record_denials(conn, denials, PUBLIC, purposes[0], CHANNEL, "hub", at=at)

    @staticmethod
    def _add_to_summary(conn, gained: dict[str, int], touched: set[str], at: datetime) -> None:
        for dataset in sorted(touched):
            change = gained.get(dataset, 0)
            if conn.execute(update(open_summary).where(open_summary.c.dataset == dataset)
                            .values(records=open_summary.c.records + change, modified=at)).rowcount == 0:
                conn.execute(insert(open_summary).values(dataset=dataset, records=change, modified=at))

    @staticmethod
    def _add_to_months(conn, monthly: dict[tuple[str, str, str], int]) -> None:
        for (dataset, month, publisher), change in sorted(monthly.items()):
            if change == 0:
                continue
            where = (open_monthly.c.dataset == dataset, open_monthly.c.month == month,
                     open_monthly.c.publisher == publisher)
            if conn.execute(update(open_monthly).where(*where)
                            .values(records=open_monthly.c.records + change)).rowcount == 0:
                conn.execute(insert(open_monthly).values(dataset=dataset, month=month, publisher=publisher,
                                                         records=change))

    def records_by_month(self, name: str, months: int = 12) -> tuple[list[str], dict[str, list[int]]]:
        """The last `months` months up to this one, and per publisher how many of the records the public
        sees occurred in each (by the records' occurred_at), read from the projector's counts."""
        today = self.clock().date()
        labels = []
        year, month = today.year, today.month
        for _ in range(months):
            labels.insert(0, f"{year:04d}-{month:02d}")
            year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        counts: dict[str, list[int]] = {}
        with self.engine.connect() as conn:
            for row in conn.execute(select(open_monthly).where(open_monthly.c.dataset == name,
                                                               open_monthly.c.month >= labels[0],
                                                               open_monthly.c.month <= labels[-1])):
                counts.setdefault(row.publisher, [0] * months)[labels.index(row.month)] += int(row.records)
        return labels, dict(sorted(counts.items()))

    @staticmethod
    def _tombstone(row, at: datetime, agreement_id: str) -> dict:
        return {"dataset": row.dataset, "publisher": row.publisher, "key": row.key, "seq": row.seq, "op": "delete",
                "payload": None, "postcode_district": None, "agreement_id": agreement_id,
                "occurred_at": row.occurred_at, "published_at": at}

    # -- reading ------------------------------------------------------------------
    def open_datasets(self) -> list[dict]:
        """The datasets published openly now, with who publishes them and how many records."""
        routes = self.policy.public_routes()
        publishers: dict[str, set[str]] = {}
        for provider, dataset in routes:
            publishers.setdefault(dataset, set()).add(provider)
        with self.engine.connect() as conn:
            summary = {row.dataset: row for row in conn.execute(select(open_summary))}
        counts = {name: row.records for name, row in summary.items()}
        modified = {name: row.modified for name, row in summary.items()}
        found = []
        for name in sorted(publishers):
            dataset = self.catalogue.get(name)
            if dataset is None:
                continue
            found.append({"dataset": dataset, "publishers": sorted(publishers[name]),
                          "records": counts.get(name, 0), "modified": modified.get(name)})
        return found

    def open_dataset(self, name: str) -> dict:
        for entry in self.open_datasets():
            if entry["dataset"].name == name:
                return entry
        raise NotFound(f"no open dataset {name!r}: nothing publishes it to the public", slug="not-found")

    def page(self, name: str, after: int = 0, limit: int = 100, district: str | None = None,
             include_deleted: bool = False) -> OpenPage:
        """Records of an open dataset in log order after the cursor `after`; a feed reader
        passes `include_deleted` to learn of keys that went."""
        self.open_dataset(name)
        if not 1 <= limit <= MAX_PAGE:
            raise Invalid(f"limit must be from 1 to {MAX_PAGE}")
        query = select(open_records).where(open_records.c.dataset == name, open_records.c.seq > after)
        if district is not None:
            query = query.where(open_records.c.postcode_district == district_query(district))
        if not include_deleted:
            query = query.where(open_records.c.op != "delete")
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(open_records.c.seq).limit(limit + 1)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        shown = [{"publisher": r.publisher, "key": r.key, "seq": r.seq, "op": r.op,
                  "occurred_at": r.occurred_at,
                  "payload": orjson.loads(r.payload) if r.payload is not None else None} for r in rows]
        return OpenPage(shown, rows[-1].seq if rows else after, more)

    # -- usage ----------------------------------------------------------------------
    USE_KINDS = ("page", "download", "api")

    def count_use(self, name: str, kind: str) -> None:
        """One more page view, download or API call of an open dataset today."""
        day = self.clock().date().isoformat()
        where = (open_usage.c.dataset == name, open_usage.c.day == day, open_usage.c.kind == kind)
        for _ in range(2):
            try:
                with db.write_transaction(self.engine) as conn:
                    if conn.execute(update(open_usage).where(*where).values(count=open_usage.c.count + 1)).rowcount:
                        return
                    conn.execute(insert(open_usage).values(dataset=name, day=day, kind=kind, count=1))
                    return
            except IntegrityError:
                continue  # another request made today's row first: add to it

    def usage(self, days: int = 30) -> dict[str, dict[str, int]]:
        """Per open dataset: page views, downloads and API calls over the last `days` days."""
        since = (self.clock().date() - timedelta(days=days - 1)).isoformat()
        found: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for dataset, kind, count in conn.execute(
                    select(open_usage.c.dataset, open_usage.c.kind, func.sum(open_usage.c.count))
                    .where(open_usage.c.day >= since).group_by(open_usage.c.dataset, open_usage.c.kind)):
                found.setdefault(dataset, dict.fromkeys(self.USE_KINDS, 0))[kind] = int(count)
        return found
