"""Reporting periods: their names, their dates, and when a return for one is due.

Names: annual `2026`, financial year `2026-27` (1 April 2026 to 31 March 2027),
quarterly `2026-Q1`, monthly `2026-03`, weekly (ISO 8601 weeks) `2026-W09`,
daily `2026-03-14`. A return is due by the end of
the day `due_days_after_period_end` days after the period's last day, in
Scotland's time zone (Europe/London), so "due 30 April" means before
midnight at the end of 30 April, BST or GMT as it falls.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

LOCAL_TIME = ZoneInfo("Europe/London")
FREQUENCIES = ("annual", "financial-year", "quarterly", "monthly", "weekly", "daily")
EXAMPLES = {"annual": "2026", "financial-year": "2026-27", "quarterly": "2026-Q1", "monthly": "2026-03", "weekly": "2026-W09", "daily": "2026-03-14"}
_PATTERNS = {
    "annual": re.compile(r"^(\d{4})$"),
    "financial-year": re.compile(r"^(\d{4})-(\d{2})$"),
    "quarterly": re.compile(r"^(\d{4})-Q([1-4])$"),
    "monthly": re.compile(r"^(\d{4})-(\d{2})$"),
    "weekly": re.compile(r"^(\d{4})-W(\d{2})$"),
    "daily": re.compile(r"^(\d{4})-(\d{2})-(\d{2})$"),
}


class PeriodError(ValueError):
    pass


@dataclass(frozen=True, order=True)
class Period:
    first_day: date
    last_day: date
    frequency: str
    name: str

    def next(self) -> "Period":
        return period_containing(self.frequency, self.last_day + timedelta(days=1))

    def previous(self) -> "Period":
        return period_containing(self.frequency, self.first_day - timedelta(days=1))

    def due_date(self, due_days: int) -> date:
        return self.last_day + timedelta(days=due_days)

    def deadline(self, due_days: int) -> datetime:
        """The first instant at which a return for this period is late."""
        return datetime.combine(self.due_date(due_days) + timedelta(days=1), time(0), LOCAL_TIME)


def parse_period(frequency: str, name: str) -> Period:
    if frequency not in _PATTERNS:
        raise PeriodError(f"frequency {frequency!r} must be one of {', '.join(FREQUENCIES)}")
    match = _PATTERNS[frequency].match(name or "")
    if not match:
        raise PeriodError(f"period {name!r} is not a {frequency} period (write it like {EXAMPLES[frequency]})")
    numbers = [int(g) for g in match.groups()]
    try:
        if frequency == "annual":
            first = date(numbers[0], 1, 1)
        elif frequency == "financial-year":
            if numbers[1] != (numbers[0] + 1) % 100:
                raise PeriodError(f"period {name!r} is not a financial year: {numbers[0]} is followed by "
                                  f"{(numbers[0] + 1) % 100:02d} (write it like {EXAMPLES[frequency]})")
            first = date(numbers[0], 4, 1)
        elif frequency == "quarterly":
            first = date(numbers[0], 3 * numbers[1] - 2, 1)
        elif frequency == "monthly":
            first = date(numbers[0], numbers[1], 1)
        elif frequency == "weekly":
            first = date.fromisocalendar(numbers[0], numbers[1], 1)
        else:
            first = date(*numbers)
    except ValueError as exc:
        raise PeriodError(f"period {name!r} does not exist: {exc}") from None
    return period_containing(frequency, first)


def period_containing(frequency: str, day: date) -> Period:
    if frequency == "annual":
        first, last, name = date(day.year, 1, 1), date(day.year, 12, 31), f"{day.year}"
    elif frequency == "financial-year":
        start = day.year if day.month >= 4 else day.year - 1
        first, last, name = date(start, 4, 1), date(start + 1, 3, 31), f"{start}-{(start + 1) % 100:02d}"
    elif frequency == "quarterly":
        quarter = (day.month - 1) // 3 + 1
        first = date(day.year, 3 * quarter - 2, 1)
        last = _month_end(date(day.year, 3 * quarter, 1))
        name = f"{day.year}-Q{quarter}"
    elif frequency == "monthly":
        first, last, name = date(day.year, day.month, 1), _month_end(day), f"{day.year}-{day.month:02d}"
    elif frequency == "weekly":
        iso_year, week, weekday = day.isocalendar()
        first = day - timedelta(days=weekday - 1)
        last, name = first + timedelta(days=6), f"{iso_year}-W{week:02d}"
    elif frequency == "daily":
        first = last = day
        name = day.isoformat()
    else:
        raise PeriodError(f"frequency {frequency!r} must be one of {', '.join(FREQUENCIES)}")
    return Period(first, last, frequency, name)


def periods_between(first: Period, last: Period, limit: int = 400) -> list[Period]:
    """Periods from first to last inclusive; refuses absurdly long ranges."""
    if last < first:
        raise PeriodError(f"period range runs backwards: {first.name} is after {last.name}")
    found = [first]
    while found[-1] != last:
        if len(found) >= limit:
            raise PeriodError(f"range {first.name} to {last.name} spans more than {limit} periods; ask for a shorter one")
        found.append(found[-1].next())
    return found


def _month_end(day: date) -> date:
    following = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return following - timedelta(days=1)
