"""Plausibility checks on returns, beyond what the schema can say.

Every check returns flags (plain dicts a person can read); nothing is
dropped or corrected. Outliers use the median absolute deviation (MAD, not
scaled): a value is flagged when it is more than `mad_threshold` MADs from
the median. When the comparison values are too few, or all equal (MAD 0),
no outlier flag is raised: there is nothing meaningful to compare against.
Nor is one raised for a value within `min_relative_difference` (default 5%)
of the median: when publishers agree closely, MAD is tiny and a trivial
difference would otherwise count as many deviations.
"""
from __future__ import annotations

from statistics import median

from .declaration import OutlierCheck, RateCheck, SumCheck

MIN_HISTORY = 3  # earlier returns needed before comparing a publisher with itself


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def sum_flags(key: str, payload: dict, sums: tuple[SumCheck, ...]) -> list[dict]:
    flags = []
    for check in sums:
        total = _number(payload.get(check.total))
        parts = [_number(payload.get(p)) for p in check.parts]
        if total is None or any(p is None for p in parts):
            continue  # the schema decides whether fields are required
        expected = sum(parts)
        if total != expected:
            flags.append({
                "check": "sum", "key": key, "field": check.total, "value": total, "expected": expected,
                "message": f"{check.total} is {_fmt(total)} but {' + '.join(check.parts)} "
                           f"add up to {_fmt(expected)} (difference {_fmt(total - expected)})",
            })
    return flags


def rate_flags(totals: dict[str, float], population: int | None, rates: tuple[RateCheck, ...], org: str) -> list[dict]:
    flags = []
    for check in rates:
        value = totals.get(check.field)
        if value is None:
            continue
        if not population:
            flags.append({"check": "rate_per_1000", "field": check.field, "value": value,
                          "message": f"no population figure for {org}: the rate per 1,000 of {check.field} "
                                     "cannot be checked (load one with causeway-hub returns population)"})
            continue
        rate = value / population * 1000
        low = check.min is not None and rate < check.min
        high = check.max is not None and rate > check.max
        if low or high:
            bounds = f"{_fmt(check.min) if check.min is not None else '-'} to {_fmt(check.max) if check.max is not None else '-'}"
            flags.append({
                "check": "rate_per_1000", "field": check.field, "value": value, "rate_per_1000": round(rate, 2),
                "population": population, "min": check.min, "max": check.max,
                "message": f"{check.field} is {_fmt(round(rate, 2))} per 1,000 population "
                           f"({_fmt(value)} of {_fmt(population)}), outside the expected {bounds}",
            })
    return flags


def _material(value: float, middle: float, check: OutlierCheck) -> bool:
    return abs(value - middle) > check.min_relative_difference * abs(middle)


def _mad(values: list[float]) -> tuple[float, float]:
    middle = median(values)
    return middle, median(abs(v - middle) for v in values)


def peer_outlier_flags(org: str, totals_by_org: dict[str, dict[str, float]], populations: dict[str, int | None],
                       check: OutlierCheck) -> list[dict]:
    """Compare an org's figures with every publisher's for the same period."""
    flags = []
    for name in check.fields:
        values = {}
        for other, totals in totals_by_org.items():
            value = totals.get(name)
            if value is None:
                continue
            if check.per_population:
                population = populations.get(other)
                if not population:
                    continue
                value = value / population * 1000
            values[other] = value
        if org not in values or len(values) < check.min_values:
            continue
        middle, mad = _mad(list(values.values()))
        if mad == 0:
            continue
        distance = abs(values[org] - middle) / mad
        if distance > check.mad_threshold and _material(values[org], middle, check):
            unit = " per 1,000 population" if check.per_population else ""
            flags.append({
                "check": "outlier_peers", "field": name, "value": totals_by_org[org][name],
                "compared": round(values[org], 2), "median": round(middle, 2), "mads": round(distance, 1),
                "message": f"{name} is {_fmt(round(values[org], 2))}{unit}, {distance:.1f} median absolute deviations "
                           f"from the median of {len(values)} publishers ({_fmt(round(middle, 2))}{unit}) "
                           f"for the same period; the threshold is {_fmt(check.mad_threshold)}",
            })
    return flags


def history_outlier_flags(totals: dict[str, float], history: list[dict[str, float]], check: OutlierCheck) -> list[dict]:
    """Compare an org's figures with its own returns for earlier periods (newest first)."""
    flags = []
    for name in check.fields:
        value = totals.get(name)
        earlier = [h[name] for h in history[:check.history_periods] if h.get(name) is not None]
        if value is None or len(earlier) < MIN_HISTORY:
            continue
        middle, mad = _mad(earlier)
        if mad == 0:
            continue
        distance = abs(value - middle) / mad
        if distance > check.mad_threshold and _material(value, middle, check):
            flags.append({
                "check": "outlier_history", "field": name, "value": value, "median": round(middle, 2),
                "mads": round(distance, 1),
                "message": f"{name} is {_fmt(value)}, {distance:.1f} median absolute deviations from the median of "
                           f"this publisher's last {len(earlier)} returns ({_fmt(round(middle, 2))}); "
                           f"the threshold is {_fmt(check.mad_threshold)}",
            })
    return flags


def field_totals(payloads: list[dict], fields: set[str]) -> dict[str, float]:
    """A publisher's figures for a period: each numeric field added up over its records."""
    totals: dict[str, float] = {}
    for payload in payloads:
        for name in fields:
            value = _number(payload.get(name))
            if value is not None:
                totals[name] = totals.get(name, 0.0) + value
    return {k: (int(v) if v.is_integer() else v) for k, v in totals.items()}


def incomplete_total_flags(live: dict[str, dict], fields: set[str]) -> list[dict]:
    """A total that leaves out rows with no value for the field: said, so no wrong figure goes unwarned."""
    flags = []
    for name in sorted(fields):
        without = [key for key, entry in live.items() if _number(entry["payload"].get(name)) is None]
        if without and len(without) < len(live):
            shown = ", ".join(without[:5]) + (f" and {len(without) - 5} more" if len(without) > 5 else "")
            flags.append({"check": "incomplete_total", "field": name,
                          "message": f"the total of {name} leaves out {len(without)} of {len(live)} rows "
                                     f"with no value for it ({shown})"})
    return flags
