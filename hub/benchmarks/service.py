"""Benchmarks: each council's figures for a return beside the median and quartiles of every council
asked for it ("Scotland") and of its family groups, as totals, rates per 1,000 population and the
indicators the return's owner defines, over the last few periods.

Who sees what (deny by default):
- a council asked for the return sees its own figures (whatever their sign-off state) and the
  aggregates, never another council by name unless the return's owner lets councils see each other
  (`named_figures: councils`) or an active agreement shares the dataset with it;
- the requesting org (and the hub's admin) sees every council's figures by name;
- anyone else gets 404, as for a return that does not exist.
A row set counts (in aggregates and for anyone but its council) only from the council's approval
on, as in the returns themselves. Aggregates are order statistics over at least MIN_COUNCILS
councils (hub.benchmarks.spread).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, Forbidden, Invalid, NotFound, not_found
from hub.returns.checks import field_totals
from hub.returns.declaration import ReturnDeclaration, numeric_fields_of
from hub.returns.periods import Period
from hub.returns.reference import populations_for_year
from hub.returns.submissions import read_submissions

from .groups import FamilyGroups, memberships
from .indicators import POPULATION, Indicator, indicator_from
from .models import benchmark_indicators, benchmark_settings
from .sharing import plain_fields_shared
from .spread import MIN_COUNCILS, QUARTILE_METHOD, quartile_of, spread

NAMED_FIGURES = ("requester", "councils")
COUNTED = ("approved", "accepted")  # a row set the agency has sent back is being corrected
DEFAULT_PERIODS, MAX_PERIODS = 4, 12


@dataclass(frozen=True)
class Measure:
    name: str
    title: str
    kind: str  # indicator | total | per_1000
    unit: str
    higher_is_better: bool | None
    of: Callable[[dict, int | None], float | None]
    fields: frozenset  # the return's fields it is made of (what an agreement must pass to name a council)

    def describe(self) -> dict:
        return {"name": self.name, "title": self.title, "kind": self.kind, "unit": self.unit,
                "higher_is_better": self.higher_is_better}


def _per_1000(field: str) -> Callable[[dict, int | None], float | None]:
    def of(totals: dict, population: int | None) -> float | None:
        value = totals.get(field)
        return None if value is None or not population else round(value / population * 1000, 6)
    return of


def _total(field: str) -> Callable[[dict, int | None], float | None]:
    return lambda totals, population: totals.get(field)


def measures_of(fields: dict, indicators: list[Indicator]) -> list[Measure]:
    """The owner's indicators first, then every number field as a total and per 1,000 population."""
    properties = fields.get("properties") or {}
    found = [Measure(i.name, i.title, "indicator", i.unit, i.higher_is_better, i.value,
                     frozenset(i.numerator + i.denominator) - {POPULATION}) for i in indicators]
    for field in sorted(numeric_fields_of(fields)):
        title = (properties.get(field) or {}).get("title") or field.replace("_", " ")
        found.append(Measure(field, title, "total", "", None, _total(field), frozenset({field})))
        found.append(Measure(f"{field}_per_1000", f"{title} per 1,000 population", "per_1000",
                             "per 1,000 population", None, _per_1000(field), frozenset({field})))
    return found


@dataclass
class Audience:
    publishers: dict[str, str]  # slug -> name of every council asked for the return
    named: set[str]  # whose figures the caller may see by name
    # for a council named through an agreement: the fields it passes (a measure of others is not named)
    limited: dict[str, set[str]]

    def may_name(self, org: str, measure: Measure) -> bool:
        return org in self.named and (org not in self.limited or measure.fields <= self.limited[org])


class BenchmarkService:
    def __init__(self, engine: Engine, returns, clock: Callable[[], datetime],
                 active_agreements: Callable[[], list] = list):
        self.engine = engine
        self.returns = returns
        self.clock = clock
        self.active_agreements = active_agreements
        self.groups = FamilyGroups(engine, clock)

    # -- who sees what ----------------------------------------------------------
    def _named_setting(self, conn: Connection, dataset: str) -> str:
        row = conn.execute(select(benchmark_settings.c.named_figures)
                           .where(benchmark_settings.c.dataset == dataset)).first()
        return row.named_figures if row else "requester"

    def _audience(self, conn: Connection, declaration: ReturnDeclaration, caller: Principal) -> Audience:
        publishers = dict(self.returns.expected_publishers(conn, declaration))
        allowed = self.returns.visible_publishers(declaration, caller)  # None: every publisher's
        named = set(publishers) if allowed is None else set(publishers) & allowed
        limited: dict[str, set[str]] = {}
        if caller.org in publishers and self._named_setting(conn, declaration.dataset) == "councils":
            named = set(publishers)
        elif allowed is not None:
            shared = plain_fields_shared(self.active_agreements, caller.org, declaration.dataset, self.clock())
            limited = {org: shared.get(org, set()) for org in named if org != caller.org}
        if not named:
            raise not_found(f"benchmarks of {declaration.dataset}")
        return Audience(publishers, named, limited)

    def _fields(self, declaration: ReturnDeclaration) -> dict:
        """The return's fields as a JSON Schema: a drafted return's own, else its dataset's latest schema."""
        if declaration.schema is not None:
            return declaration.schema
        dataset = self.returns.catalogue.get(declaration.dataset)
        return dataset.schemas[dataset.latest_version] if dataset else {}

    def _declaration(self, dataset: str) -> tuple[ReturnDeclaration, dict]:
        declaration = self.returns.declaration(dataset)
        fields = self._fields(declaration)
        if not numeric_fields_of(fields):
            raise Conflict(f"{dataset} has no number fields: there is nothing to benchmark")
        return declaration, fields

    def _owner(self, declaration: ReturnDeclaration, caller: Principal) -> None:
        caller.require("governance")
        if caller.org != declaration.requesting_org and not caller.is_admin:
            raise Forbidden(f"only {declaration.requesting_org}, which requests {declaration.dataset}, "
                            "sets its benchmarks")

    # -- reading ----------------------------------------------------------------
    def list(self, caller: Principal) -> list[dict]:
        """The returns with number fields whose benchmarks the caller may see."""
        found = []
        with self.engine.connect() as conn:
            for declaration in self.returns.declarations():
                if not numeric_fields_of(self._fields(declaration)):
                    continue
                try:
                    self._audience(conn, declaration, caller)
                except NotFound:
                    continue
                found.append({"dataset": declaration.dataset, "title": declaration.title,
                              "requesting_org": declaration.requesting_org, "frequency": declaration.frequency})
        return found

    def _indicators(self, conn: Connection, dataset: str) -> list[Indicator]:
        return [Indicator.from_row(row) for row in conn.execute(
            select(benchmark_indicators).where(benchmark_indicators.c.dataset == dataset)
            .order_by(benchmark_indicators.c.name))]

    def _periods(self, declaration: ReturnDeclaration, period: str | None, count: int) -> list[Period]:
        if not 1 <= count <= MAX_PERIODS:
            raise Invalid(f"periods must be from 1 to {MAX_PERIODS}", errors=[{"path": "periods",
                                                                               "message": "out of range"}])
        # The returns' own reading of a period name, so both say the same about a period outside its life.
        end = self.returns._period(declaration, period) if period else self.returns.latest_due_period(
            declaration, self.clock())
        found = [end]
        while len(found) < count and found[0].previous().last_day >= declaration.introduced:
            found.insert(0, found[0].previous())
        return found

    def benchmark(self, dataset: str, period: str | None, org: str | None, periods: int | None,
                  caller: Principal) -> dict:
        declaration, fields = self._declaration(dataset)
        chosen = self._periods(declaration, period, periods or DEFAULT_PERIODS)
        with self.engine.connect() as conn:
            audience = self._audience(conn, declaration, caller)
            focus = org or (caller.org if caller.org in audience.publishers else None)
            if focus is not None and (focus not in audience.named or focus in audience.limited):
                # a council named through an agreement is shown in `councils`, measure by measure
                raise not_found(f"benchmarks of {focus} for {dataset}")
            submissions = read_submissions(conn, declaration)
            groups = [g for g in memberships(conn).values() if focus in g["members"]]
            measures = measures_of(fields, self._indicators(conn, dataset))
            named_setting = self._named_setting(conn, dataset)
            populations = {year: populations_for_year(conn, year) for year in {p.last_day.year for p in chosen}}
        numeric = numeric_fields_of(fields)
        rows = {m.name: [] for m in measures}
        disclosed: set[str] = set()
        for period_ in chosen:
            population = populations[period_.last_day.year]
            totals, counted, states = _figures(declaration, submissions, audience, period_, numeric, caller)
            for measure in measures:
                values = {slug: measure.of(figures, population.get(slug)) for slug, figures in totals.items()}
                scotland = spread(values[s] for s in counted)
                own = values.get(focus) if focus in totals else None
                councils = [{"org": s, "name": audience.publishers[s], "value": values[s]}
                            for s in sorted(set(values)) if audience.may_name(s, measure)
                            and (s in counted or s == caller.org)]
                disclosed |= {c["org"] for c in councils if c["org"] != caller.org}
                rows[measure.name].append({
                    "period": period_.name, "own": own, "own_state": states.get(focus) if own is not None else None,
                    "quartile": quartile_of(own, scotland, measure.higher_is_better), "scotland": scotland,
                    "family": [{"group": g["name"], "title": g["title"],
                                **spread(values[s] for s in counted if s in g["members"])} for g in groups],
                    "councils": councils})
        if disclosed:
            with db.write_transaction(self.engine) as conn:
                audit.append(conn, at=self.clock(), actor=caller.actor, org=caller.org, action="benchmark.disclosed",
                             target=f"{dataset}/{chosen[-1].name}", detail={"orgs": sorted(disclosed)})
        return {
            "dataset": dataset, "title": declaration.title, "requesting_org": declaration.requesting_org,
            "frequency": declaration.frequency, "period": chosen[-1].name, "periods": [p.name for p in chosen],
            "org": focus, "org_name": audience.publishers.get(focus) if focus else None,
            "quartile_method": QUARTILE_METHOD, "minimum_councils": MIN_COUNCILS, "named_figures": named_setting,
            "family_groups": [{"name": g["name"], "title": g["title"], "basis": g["basis"],
                               "member_count": len(g["members"])} for g in groups],
            "measures": [{**m.describe(), "periods": rows[m.name]} for m in measures],
        }

    # -- the owner's settings ---------------------------------------------------
    def indicators(self, dataset: str, caller: Principal) -> list[dict]:
        declaration, _ = self._declaration(dataset)
        with self.engine.connect() as conn:
            self._audience(conn, declaration, caller)
            return [i.as_dict() for i in self._indicators(conn, dataset)]

    def set_indicator(self, dataset: str, name: str, body: dict, caller: Principal) -> dict:
        declaration, fields = self._declaration(dataset)
        self._owner(declaration, caller)
        indicator = indicator_from(name, body, numeric_fields_of(fields))
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            conn.execute(delete(benchmark_indicators).where(benchmark_indicators.c.dataset == dataset,
                                                            benchmark_indicators.c.name == name))
            conn.execute(benchmark_indicators.insert().values(dataset=dataset, name=name, updated_at=now,
                                                              updated_by=caller.actor, **indicator.stored()))
            audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="benchmark.indicator.set",
                         target=f"{dataset}/{name}", detail=indicator.as_dict())
        return indicator.as_dict()

    def remove_indicator(self, dataset: str, name: str, caller: Principal) -> None:
        declaration, _ = self._declaration(dataset)
        self._owner(declaration, caller)
        with db.write_transaction(self.engine) as conn:
            gone = conn.execute(delete(benchmark_indicators).where(benchmark_indicators.c.dataset == dataset,
                                                                   benchmark_indicators.c.name == name)).rowcount
            if not gone:
                raise NotFound(f"{dataset} has no indicator {name}")
            audit.append(conn, at=self.clock(), actor=caller.actor, org=caller.org,
                         action="benchmark.indicator.removed", target=f"{dataset}/{name}")

    def set_named_figures(self, dataset: str, value: str, caller: Principal) -> dict:
        declaration, _ = self._declaration(dataset)
        self._owner(declaration, caller)
        if value not in NAMED_FIGURES:
            raise Invalid(f"/named_figures: {value!r} is not one of {', '.join(NAMED_FIGURES)}",
                          errors=[{"path": "/named_figures", "message": f"one of {', '.join(NAMED_FIGURES)}"}])
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            conn.execute(delete(benchmark_settings).where(benchmark_settings.c.dataset == dataset))
            conn.execute(benchmark_settings.insert().values(dataset=dataset, named_figures=value, updated_at=now,
                                                            updated_by=caller.actor))
            audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="benchmark.settings.set",
                         target=dataset, detail={"named_figures": value})
        return {"dataset": dataset, "named_figures": value}


def _figures(declaration: ReturnDeclaration, submissions: dict, audience: Audience, period: Period,
             numeric: set[str], caller: Principal) -> tuple[dict, set, dict]:
    """Each council's totals for the period that the caller may use, which of them count in the
    aggregates (a row set from its approval on; records always), and each row set's sign-off state."""
    totals, counted, states = {}, set(), {}
    for slug in audience.publishers:
        found = submissions.get((slug, period.name))
        if found is None:
            continue
        state = (found.sign_off or {}).get("state") if declaration.source == "rows" else None
        if state is None or state in COUNTED:
            counted.add(slug)
        elif slug != caller.org:
            continue  # not yet approved: only its own council sees it
        totals[slug], states[slug] = field_totals(found.payloads, numeric), state
    return totals, counted, states
