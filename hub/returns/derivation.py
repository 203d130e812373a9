"""A return derived from records a council already publishes ("collect once"): the declarative
`derived_from` block of a return drafted as data, checked on drafting and computed per council
and period. Nothing in it is code: a source dataset, the date field that places a record in a
period, filters, rows grouped by fields, and count / sum / median-of-days measures, each named
after the return field it fills.

    {"dataset": "planning-application", "period_field": "received_date",
     "where": [{"field": "status", "not_in": ["returned"]}],
     "group_by": [{"field": "application_type", "as": "application_type"}],
     "measures": [{"as": "received", "count": true},
                  {"as": "decided", "count": true, "period_field": "decision_date",
                   "where": [{"field": "status", "in": ["decided"]}]},
                  {"as": "median_days_to_decision", "period_field": "decision_date",
                   "median_days": {"from": "validated_date", "to": "decision_date"}}]}

A record counts for a measure in the period containing its `period_field` day (a measure may
name its own, so "decided in the quarter" and "received in the quarter" can sit in one row).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import product
from statistics import median

from causeway_common.catalogue import PayloadValidator
from hub.errors import Invalid

from .periods import period_containing

NOT_STATED = "not stated"  # the group of records that leave a group-by field empty
MEASURES = ("count", "sum", "median_days")
_NAME = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,62}$"}
_SCALAR = {"type": ["string", "number", "integer", "boolean"]}
_FILTER = {"type": "object", "additionalProperties": False, "required": ["field"], "properties": {
    "field": _NAME, "in": {"type": "array", "minItems": 1, "maxItems": 100, "items": _SCALAR},
    "not_in": {"type": "array", "minItems": 1, "maxItems": 100, "items": _SCALAR},
    "present": {"type": "boolean"}}}
_WHERE = {"type": "array", "maxItems": 20, "items": _FILTER}
SHAPE = {
    "type": "object", "additionalProperties": False, "required": ["dataset", "period_field", "measures"],
    "properties": {
        "dataset": {"type": "string", "minLength": 1, "maxLength": 100},
        "period_field": _NAME,
        "where": _WHERE,
        "group_by": {"type": "array", "maxItems": 3, "items": {
            "type": "object", "additionalProperties": False, "required": ["field", "as"],
            "properties": {"field": _NAME, "as": _NAME, "every_value": {"type": "boolean"}}}},
        "measures": {"type": "array", "minItems": 1, "maxItems": 50, "items": {
            "type": "object", "additionalProperties": False, "required": ["as"],
            "properties": {"as": _NAME, "count": {"const": True}, "sum": _NAME,
                           "median_days": {"type": "object", "additionalProperties": False,
                                           "required": ["from", "to"], "properties": {"from": _NAME, "to": _NAME}},
                           "period_field": _NAME, "where": _WHERE}}},
    },
}
_shape = PayloadValidator(SHAPE, prefix="/derived_from")


def _problem(path: str, message: str) -> Invalid:
    return Invalid(f"{path}: {message}", errors=[{"path": path, "message": message}])


def _kinds(spec: dict) -> set:
    kind = spec.get("type")
    return set(kind) if isinstance(kind, list) else {kind}


def _is_date(spec: dict) -> bool:
    return "string" in _kinds(spec) and spec.get("format") == "date"


@dataclass(frozen=True)
class Filter:
    field: str
    among: tuple | None = None
    not_among: tuple | None = None
    present: bool | None = None

    def passes(self, payload: dict) -> bool:
        value = payload.get(self.field)
        if self.present is not None and (value is not None) != self.present:
            return False
        if self.among is not None and value not in self.among:
            return False
        return not (self.not_among is not None and value in self.not_among)

    def describe(self) -> str:
        if self.among is not None:
            return f"{self.field} is not one of {', '.join(map(str, self.among))}"
        if self.not_among is not None:
            return f"{self.field} is one of {', '.join(map(str, self.not_among))}"
        return f"{self.field} is {'empty' if self.present else 'given'}"


@dataclass(frozen=True)
class Measure:
    target: str
    kind: str  # count | sum | median_days
    period_field: str
    where: tuple[Filter, ...]
    field: str | None = None  # sum: the number field added up
    days_from: str | None = None
    days_to: str | None = None


@dataclass(frozen=True)
class Derivation:
    dataset: str
    frequency: str
    period_field: str
    where: tuple[Filter, ...]
    group_by: tuple[tuple[str, str], ...]  # (source field, return field)
    measures: tuple[Measure, ...]
    # per group-by field: every value of its enum, for a row of zeros where no record has it (or None)
    every_value: tuple[tuple | None, ...] = ()

    def period_of(self, payload: dict, field: str) -> str | None:
        day = _day(payload.get(field))
        return period_containing(self.frequency, day).name if day else None


def _day(value) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _filters(raw: list, path: str, source: dict) -> tuple[Filter, ...]:
    found = []
    for index, item in enumerate(raw):
        where = f"{path}/{index}"
        spec = source.get(item["field"])
        if spec is None:
            raise _problem(f"{where}/field", f"{item['field']!r} is not a field of the source dataset")
        given = [k for k in ("in", "not_in", "present") if k in item]
        if len(given) != 1:
            raise _problem(where, "say exactly one of in, not_in or present")
        for kind in ("in", "not_in"):
            for number, value in enumerate(item.get(kind, [])):
                if "enum" in spec and value not in spec["enum"]:
                    raise _problem(f"{where}/{kind}/{number}", f"{value!r} is not a value of {item['field']} "
                                                               f"(one of {', '.join(map(str, spec['enum']))})")
        found.append(Filter(item["field"], tuple(item["in"]) if "in" in item else None,
                            tuple(item["not_in"]) if "not_in" in item else None, item.get("present")))
    return tuple(found)


def check_derivation(raw, fields: dict, catalogue, frequency: str) -> Derivation:
    """The derivation a `derived_from` block declares, or Invalid naming the first mistake by its
    path (/derived_from/measures/2/sum ...). `fields` is the return's JSON Schema of a row."""
    errors = _shape.errors(raw)
    if errors:
        raise Invalid(f"{errors[0].path or '/derived_from'}: {errors[0].message}", errors=[e.as_dict() for e in errors])
    dataset = catalogue.get(raw["dataset"])
    if dataset is None:
        raise _problem("/derived_from/dataset", f"{raw['dataset']!r} is not a dataset of this hub")
    if dataset.personal:
        raise _problem("/derived_from/dataset", f"{dataset.name} holds personal data: a return is not derived from "
                                                "it (publish counts of it under disclosure control instead)")
    source = dataset.schemas[dataset.latest_version].get("properties") or {}
    targets = fields.get("properties") or {}

    def date_field(name: str, path: str) -> str:
        if name not in source:
            raise _problem(path, f"{name!r} is not a field of {dataset.name}")
        if not _is_date(source[name]):
            raise _problem(path, f"{name!r} is not a date field of {dataset.name}")
        return name

    def target(name: str, path: str, numeric: str | None) -> dict:
        if name in filled:
            raise _problem(path, f"{name!r} is filled twice: each return field comes from one group or measure")
        if name not in targets:
            raise _problem(path, f"{name!r} is not a field of the return (add it to fields)")
        kinds = _kinds(targets[name])
        if numeric == "integer" and not kinds & {"integer", "number"}:
            raise _problem(path, f"{name!r} receives a count: make it an integer field")
        if numeric == "number" and "number" not in kinds:
            raise _problem(path, f"{name!r} receives a figure that may have a fraction: make it a number field")
        filled.add(name)
        return targets[name]

    filled: set[str] = set()
    period_field = date_field(raw["period_field"], "/derived_from/period_field")
    where = _filters(raw.get("where", []), "/derived_from/where", source)
    required = set(dataset.schemas[dataset.latest_version].get("required") or [])
    group_by, every_value = [], []
    for index, item in enumerate(raw.get("group_by", [])):
        path = f"/derived_from/group_by/{index}"
        spec = source.get(item["field"])
        if spec is None:
            raise _problem(f"{path}/field", f"{item['field']!r} is not a field of {dataset.name}")
        if not _kinds(spec) & {"string", "integer", "boolean"} and "enum" not in spec:
            raise _problem(f"{path}/field", f"{item['field']!r} cannot name a row: group by a text or coded field")
        into = target(item["as"], f"{path}/as", None)
        if "string" not in _kinds(into) and "enum" not in into:
            raise _problem(f"{path}/as", f"{item['as']!r} holds the group's name: make it a text field")
        if "enum" in into:
            needed = list(spec.get("enum") or []) + ([] if item["field"] in required else [NOT_STATED])
            missing = [v for v in needed if v not in into["enum"]] if spec.get("enum") else ["any value"]
            if missing:
                raise _problem(f"{path}/as", f"{item['as']!r} would refuse {', '.join(map(str, missing))}: "
                                             "list every value of the source field in its enum, or drop the enum")
        if item.get("every_value") and not spec.get("enum"):
            raise _problem(f"{path}/every_value", f"{item['field']!r} has no list of values to give a row each")
        group_by.append((item["field"], item["as"]))
        every_value.append(tuple(spec["enum"]) if item.get("every_value") else None)
    measures = []
    for index, item in enumerate(raw["measures"]):
        path = f"/derived_from/measures/{index}"
        kinds = [k for k in MEASURES if k in item]
        if len(kinds) != 1:
            raise _problem(path, "say exactly one of count, sum or median_days")
        kind = kinds[0]
        own_period = date_field(item["period_field"], f"{path}/period_field") if "period_field" in item else period_field
        measure = Measure(item["as"], kind, own_period, _filters(item.get("where", []), f"{path}/where", source))
        if kind == "count":
            target(item["as"], f"{path}/as", "integer")
        elif kind == "sum":
            spec = source.get(item["sum"])
            if spec is None or not _kinds(spec) & {"integer", "number"}:
                raise _problem(f"{path}/sum", f"{item['sum']!r} is not a number field of {dataset.name}")
            target(item["as"], f"{path}/as", "integer" if _kinds(spec) == {"integer"} else "number")
            measure = Measure(item["as"], kind, own_period, measure.where, field=item["sum"])
        else:
            days = item["median_days"]
            target(item["as"], f"{path}/as", "number")
            if item["as"] in (fields.get("required") or []):
                raise _problem(f"{path}/as", f"{item['as']!r} has no value when no record counts: make it optional")
            measure = Measure(item["as"], kind, own_period, measure.where,
                              days_from=date_field(days["from"], f"{path}/median_days/from"),
                              days_to=date_field(days["to"], f"{path}/median_days/to"))
        measures.append(measure)
    unfilled = [name for name in fields.get("required") or [] if name not in filled]
    if unfilled:
        raise _problem("/derived_from", f"the return requires {', '.join(unfilled)}, which no group or measure fills")
    return Derivation(dataset.name, frequency, period_field, where, tuple(group_by), tuple(measures),
                      tuple(every_value))


def not_totalled(raw: dict | None) -> frozenset[str]:
    """The return fields a derivation fills with medians, which no total adds up."""
    measures = (raw or {}).get("measures") if isinstance(raw, dict) else None
    return frozenset(m["as"] for m in measures or [] if isinstance(m, dict) and "median_days" in m and "as" in m)


# -- computing ---------------------------------------------------------------
@dataclass
class Computed:
    """One council's rows for one period, with the records behind every figure."""
    rows: list[dict]  # [{key, values}] as a row set
    lineage: dict[str, dict[str, list[dict]]]  # row key -> return field -> [{key, id, seq, ...}]
    not_counted: list[dict]  # [{key, id, seq, reason}]: records of the period that no figure counts

    def as_json(self) -> dict:
        return {"rows": self.rows, "lineage": self.lineage, "not_counted": self.not_counted}


def compute(derivation: Derivation, live: list[dict]) -> dict[str, Computed]:
    """period name -> the rows the council's current records give (live: [{key, id, seq, payload}],
    the latest version of each key, deletes already taken out)."""
    groups: dict[str, dict[tuple, dict]] = {}  # period -> group values -> {field: [entries]}
    not_counted: dict[str, list[dict]] = {}
    for record in live:
        payload = record["payload"]
        ref = {"key": record["key"], "id": record["id"], "seq": record["seq"]}
        home = derivation.period_of(payload, derivation.period_field)
        failed = next((f for f in derivation.where if not f.passes(payload)), None)
        if failed is not None:
            if home:
                not_counted.setdefault(home, []).append({**ref, "reason": f"left out: {failed.describe()}"})
            continue
        group = tuple(payload.get(field, NOT_STATED) if payload.get(field) is not None else NOT_STATED
                      for field, _ in derivation.group_by)
        for measure in derivation.measures:
            period = derivation.period_of(payload, measure.period_field)
            if period is None or not all(f.passes(payload) for f in measure.where):
                continue
            entry = dict(ref)
            if measure.kind == "sum":
                value = payload.get(measure.field)
                if not isinstance(value, (int, float)) or isinstance(value, bool):
                    not_counted.setdefault(period, []).append(
                        {**ref, "reason": f"{measure.target}: no {measure.field}"})
                    continue
                entry["value"] = value
            elif measure.kind == "median_days":
                start, end = _day(payload.get(measure.days_from)), _day(payload.get(measure.days_to))
                if start is None or end is None or end < start:
                    why = (f"no {measure.days_from if start is None else measure.days_to}" if start is None or end is None
                           else f"{measure.days_to} is before {measure.days_from}")
                    not_counted.setdefault(period, []).append({**ref, "reason": f"{measure.target}: {why}"})
                    continue
                entry["days"] = (end - start).days
            groups.setdefault(period, {}).setdefault(group, {}).setdefault(measure.target, []).append(entry)
    found = {}
    for period in sorted(set(groups) | set(not_counted)):
        if any(derivation.every_value) and period in groups:
            observed = groups[period]
            choices = [listed or sorted({g[i] for g in observed}, key=str)
                       for i, listed in enumerate(derivation.every_value)]
            for group in product(*choices):
                observed.setdefault(tuple(group), {})
        rows, lineage = [], {}
        for group, by_field in sorted(groups.get(period, {}).items(), key=lambda item: [str(v) for v in item[0]]):
            key = " / ".join(str(v) for v in group) or "all"
            values = {target: value for (_, target), value in zip(derivation.group_by, group)}
            lineage[key] = {}
            for measure in derivation.measures:
                entries = sorted(by_field.get(measure.target, []), key=lambda e: e["key"])
                lineage[key][measure.target] = entries
                figure = _figure(measure, entries)
                if figure is not None:
                    values[measure.target] = figure
            rows.append({"key": key, "values": values})
        if rows:
            found[period] = Computed(rows, lineage, sorted(not_counted.get(period, []), key=lambda e: e["key"]))
    return found


def _figure(measure: Measure, entries: list[dict]):
    if measure.kind == "count":
        return len(entries)
    if measure.kind == "sum":
        total = sum(e["value"] for e in entries)
        return round(total, 2) if isinstance(total, float) else total
    return float(median(e["days"] for e in entries)) if entries else None
