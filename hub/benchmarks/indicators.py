"""Indicators a return's requesting org defines over the return's number fields:
the sum of the numerator fields over the sum of the denominator fields (or the council's
population), times `per` (100 for a percentage, 1,000 for a rate per 1,000), in a unit."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from hub.errors import Invalid

NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
POPULATION = "population"
MAX_TERMS = 20


@dataclass(frozen=True)
class Indicator:
    name: str
    title: str
    numerator: tuple[str, ...]
    denominator: tuple[str, ...]  # field names, or ("population",)
    per: float
    unit: str
    higher_is_better: bool

    def value(self, totals: dict, population: int | None) -> float | None:
        """The council's figure, or None when a field is not reported or the denominator is 0."""
        if any(totals.get(name) is None for name in self.numerator):
            return None
        numerator = sum(totals[name] for name in self.numerator)
        if self.denominator == (POPULATION,):
            denominator = population
        elif any(totals.get(name) is None for name in self.denominator):
            denominator = None
        else:
            denominator = sum(totals[name] for name in self.denominator)
        if not denominator:
            return None
        return round(numerator / denominator * self.per, 6)

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title, "numerator": list(self.numerator),
                "denominator": POPULATION if self.denominator == (POPULATION,) else list(self.denominator),
                "per": self.per, "unit": self.unit, "higher_is_better": self.higher_is_better}

    def stored(self) -> dict:
        return {"title": self.title, "numerator": json.dumps(list(self.numerator)),
                "denominator": json.dumps(list(self.denominator)), "per": self.per, "unit": self.unit,
                "higher_is_better": self.higher_is_better}

    @classmethod
    def from_row(cls, row) -> Indicator:
        return cls(row.name, row.title, tuple(json.loads(row.numerator)), tuple(json.loads(row.denominator)),
                   row.per, row.unit, row.higher_is_better)


def _problem(path: str, message: str) -> Invalid:
    return Invalid(f"{path}: {message}", errors=[{"path": path, "message": message}])


def _fields(value, path: str, numeric: set[str], population_allowed: bool) -> tuple[str, ...]:
    if population_allowed and value == POPULATION:
        return (POPULATION,)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or len(value) > MAX_TERMS:
        also = ' or "population"' if population_allowed else ""
        raise _problem(path, f"give 1 to {MAX_TERMS} number fields of the return to add up{also}")
    for index, name in enumerate(value):
        if not isinstance(name, str) or name not in numeric:
            known = ", ".join(sorted(numeric)) or "none"
            raise _problem(f"{path}/{index}", f"{name!r} is not a number field of the return (its number fields: {known})")
    if len(set(value)) != len(value):
        raise _problem(path, "a field is named twice")
    return tuple(value)


def indicator_from(name: str, body: dict, numeric: set[str]) -> Indicator:
    """An indicator from its definition, or Invalid naming the first mistake by its path."""
    if not NAME.match(name or ""):
        raise _problem("/name", f"{name!r}: an indicator's name is lower-case letters, digits and _ (at most 63)")
    if not isinstance(body, dict):
        raise _problem("/", "an indicator is an object: title, numerator, denominator, unit, higher_is_better")
    title = body.get("title")
    if not isinstance(title, str) or not title.strip() or len(title) > 200:
        raise _problem("/title", "say what the indicator measures, in 1 to 200 characters")
    numerator = _fields(body.get("numerator"), "/numerator", numeric, population_allowed=False)
    denominator = _fields(body.get("denominator"), "/denominator", numeric, population_allowed=True)
    per = body.get("per", 1)
    if isinstance(per, bool) or not isinstance(per, (int, float)) or not 0 < per <= 1_000_000:
        raise _problem("/per", f"{per!r}: per is a number above 0 and at most 1,000,000 (100 for a percentage)")
    unit = body.get("unit")
    if not isinstance(unit, str) or not unit.strip() or len(unit) > 100:
        raise _problem("/unit", "say the unit, e.g. \"% of pupils\" or \"per 1,000 people\"")
    better = body.get("higher_is_better")
    if not isinstance(better, bool):
        raise _problem("/higher_is_better", "say true when a higher figure is better, false when lower is")
    return Indicator(name, title.strip(), numerator, denominator, float(per), unit.strip(), better)
