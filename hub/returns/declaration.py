"""A dataset's `periodic:` block, checked and turned into a typed declaration.

The block is checked twice: its shape against schemas/formats/periodic.json,
then its meaning against the dataset's own schema (the period field and every
checked field must exist; checked fields must be numbers).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from causeway_common.catalogue import CatalogueError, Dataset, PayloadValidator, load_format_schema

from .periods import FREQUENCIES
from .rules import Rule

DEFAULT_REMIND_DAYS = (-7, -1, 1, 7)
ALL_COUNCILS = "all-councils"


@dataclass(frozen=True)
class SumCheck:
    total: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class RateCheck:
    field: str
    min: float | None
    max: float | None


@dataclass(frozen=True)
class OutlierCheck:
    fields: tuple[str, ...]
    mad_threshold: float = 3.0
    per_population: bool = False
    history_periods: int = 4
    min_values: int = 5
    min_relative_difference: float = 0.05


@dataclass(frozen=True)
class ReturnDeclaration:
    dataset: str
    title: str
    frequency: str
    due_days: int
    period_field: str
    expected_publishers: str | tuple[str, ...]
    requesting_org: str
    guidance: str
    introduced: date
    reviewed: date | None
    retired: date | None
    remind_days: tuple[int, ...]
    sums: tuple[SumCheck, ...] = ()
    rates: tuple[RateCheck, ...] = ()
    outlier: OutlierCheck | None = None
    raw: dict = field(default_factory=dict, compare=False, repr=False)
    # Returns drafted as data (hub.returns.definitions) are sets of rows submitted to the hub;
    # file-declared ones are records of their dataset in the record log, as version 1.
    source: str = "records"  # records | rows
    version: int = 1
    applies_from: str | None = None
    schema: dict | None = field(default=None, compare=False, repr=False)
    rules: tuple[Rule, ...] = ()
    computed_rates: tuple[ComputedRate, ...] = ()
    # Number fields a council's totals leave out: a median per row added up means nothing.
    not_totalled: frozenset[str] = frozenset()

    def review_due(self) -> date:
        """A return is due for review a year after it was last reviewed (or introduced)."""
        last = self.reviewed or self.introduced
        try:
            return last.replace(year=last.year + 1)
        except ValueError:  # reviewed on 29 February
            return date(last.year + 1, 3, 1)

    def due_for_review(self, today: date) -> bool:
        return not (self.retired and self.retired <= today) and self.review_due() < today

    def numeric_fields(self) -> set[str]:
        """The number fields added up into a council's totals."""
        return numeric_fields_of(self.schema or {}) - self.not_totalled

    def summary(self) -> dict:
        found = {"dataset": self.dataset, "title": self.title, **self.raw, "remind_days": list(self.remind_days),
                 "source": self.source, "version": self.version, "review_due": self.review_due().isoformat()}
        if self.source == "rows":
            found.update(introduced=self.introduced.isoformat(), fields=self.schema, applies_from=self.applies_from,
                         rules=[r.as_dict() for r in self.rules],
                         rates=[r.as_dict() for r in self.computed_rates])
            for name, value in (("reviewed", self.reviewed), ("retired", self.retired)):
                if value:
                    found[name] = value.isoformat()
                else:
                    found.pop(name, None)
        return found


@dataclass(frozen=True)
class ComputedRate:
    """A rate the hub computes from a council's totals (never an average of its rows' rates)."""
    name: str
    numerator: str
    denominator: str
    per: float = 100

    def as_dict(self) -> dict:
        return {"name": self.name, "numerator": self.numerator, "denominator": self.denominator, "per": self.per}

    def of(self, totals: dict) -> float | None:
        top, bottom = totals.get(self.numerator), totals.get(self.denominator)
        if top is None or not bottom:
            return None
        return round(top / bottom * self.per, 2)


def numeric_fields_of(schema: dict) -> set[str]:
    found = set()
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        kinds = set(kind) if isinstance(kind, list) else {kind}
        if kinds & {"integer", "number"}:
            found.add(name)
    return found


def _as_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def declaration_of(dataset: Dataset) -> ReturnDeclaration | None:
    """The typed declaration of a periodic dataset (None for other datasets).
    Assumes the block was validated when the catalogue was loaded."""
    block = dataset.periodic
    if not block:
        return None
    return declaration_from_block(dataset.name, dataset.title, block)


def declaration_from_block(name: str, title: str, block: dict, **extra) -> ReturnDeclaration:
    """A declaration from a `periodic:` block's settings (extra: the settings of returns drafted as data)."""
    checks = block.get("checks") or {}
    outlier = checks.get("outlier")
    expected = block["expected_publishers"]
    return ReturnDeclaration(
        dataset=name,
        title=title,
        frequency=block["frequency"],
        due_days=block["due_days_after_period_end"],
        period_field=block.get("period_field", ""),
        expected_publishers=expected if expected == ALL_COUNCILS else tuple(expected),
        requesting_org=block["requesting_org"],
        guidance=block.get("guidance", ""),
        introduced=_date(block["introduced"]),
        reviewed=_date(block.get("reviewed")),
        retired=_date(block.get("retired")),
        remind_days=tuple(sorted(block.get("remind_days", DEFAULT_REMIND_DAYS))),
        sums=tuple(SumCheck(s["total"], tuple(s["parts"])) for s in _as_list(checks.get("sum"))),
        rates=tuple(RateCheck(r["field"], r.get("min"), r.get("max")) for r in _as_list(checks.get("rate_per_1000"))),
        outlier=OutlierCheck(
            fields=tuple(outlier["fields"]),
            mad_threshold=float(outlier.get("mad_threshold", 3)),
            per_population=bool(outlier.get("per_population", False)),
            history_periods=int(outlier.get("history_periods", 4)),
            min_values=int(outlier.get("min_values", 5)),
            min_relative_difference=float(outlier.get("min_relative_difference", 0.05)),
        ) if outlier else None,
        raw=block,
        **extra,
    )


def validate_periodic(datasets: dict[str, Dataset], schemas_dir: Path | str) -> None:
    """Raise CatalogueError naming the dataset and the mistake in its periodic block."""
    validator = PayloadValidator(load_format_schema("periodic", schemas_dir), prefix="periodic")
    for dataset in datasets.values():
        block = dataset.periodic
        if block is None:
            continue
        where = f"dataset {dataset.name}: periodic"
        if not isinstance(block, dict):
            raise CatalogueError(f"{where} must be a mapping of settings")
        for name, value in block.items():
            if isinstance(value, date):
                raise CatalogueError(f"{where}/{name}: write the date in quotes (\"{value.isoformat()}\") so it stays text")
        if block.get("frequency") not in FREQUENCIES:
            raise CatalogueError(f"{where}/frequency: {block.get('frequency')!r} must be one of {', '.join(FREQUENCIES)}")
        errors = validator.errors(block)
        if errors:
            raise CatalogueError(f"{where}: {errors[0].path or 'periodic'}: {errors[0].message}".replace(
                "periodic: periodic", "periodic"))
        declaration = declaration_of(dataset)
        assert declaration is not None
        properties = dataset.schemas[dataset.latest_version].get("properties", {})
        check_fields(properties, declaration, where, f"{dataset.name} version {dataset.latest_version}")


def check_fields(properties: dict, declaration: ReturnDeclaration, where: str, of: str) -> None:
    """Raise CatalogueError when a setting names a field the return does not have, or a
    checked field is not a number."""
    def need(name: str, numeric: bool, role: str) -> None:
        if name not in properties:
            raise CatalogueError(f"{where}: {role} {name!r} is not a field of {of}")
        kind = properties[name].get("type")
        kinds = set(kind) if isinstance(kind, list) else {kind}
        if numeric and not kinds & {"integer", "number"}:
            raise CatalogueError(f"{where}: {role} {name!r} must be a number field; it is {kind or 'untyped'}")

    if declaration.source == "records":
        need(declaration.period_field, False, "period_field")
    for check in declaration.sums:
        need(check.total, True, "checks/sum total")
        for part in check.parts:
            need(part, True, "checks/sum part")
    for check in declaration.rates:
        need(check.field, True, "checks/rate_per_1000 field")
        if check.min is not None and check.max is not None and check.min > check.max:
            raise CatalogueError(f"{where}: checks/rate_per_1000 for {check.field}: min {check.min} is above max {check.max}")
    if declaration.outlier:
        for name in declaration.outlier.fields:
            need(name, True, "checks/outlier field")
    if declaration.retired and declaration.retired < declaration.introduced:
        raise CatalogueError(f"{where}: retired {declaration.retired} is before introduced {declaration.introduced}")
