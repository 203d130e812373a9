"""Return period names from dates and from the labels councils write on their returns.

The hub names periods by frequency (as its returns register does): `2026` (calendar
year), `2026-27` (financial year, 1 April to 31 March), `2026-Q4` (calendar quarter, October to December), `2026-10` (month),
`2026-W41` (ISO 8601 week) and `2026-10-14` (day). The agent cannot import the hub,
so the naming is repeated here; a test holds the two to the same answers.

A label is read as the span of days it covers, and the period asked for must hold the
whole span: "October 2026" is in quarter 2026-Q4 and in financial year 2026-27, but
"2026-27" (a financial year, April to March) is in no single calendar year, so asking
for `annual` refuses it (ask for `financial-year`).

Labels understood (any case; hyphen, en dash or "to" between months):

- a date, or a timestamp (taken in the task's time zone), or an Excel serial number: the
  period containing it (a whole number from 1000 to 9999 is a year, not a serial)
- the hub's own names: `2026`, `2026-Q3`, `2026-10`, `2026-W09`, `2026-10-14`
- calendar quarters: `Q3 2026`, `2026 Q3`, `Quarter 3 2026`
- financial years (1 April to 31 March): `2026-27`, `2026/27`, `FY 2026-27`, `2026-2027`
- financial quarters (Q1 April to June ... Q4 January to March): `2026-27 Q3`,
  `Q3 2026/27`, `Quarter 3 2026-27`
- months and runs of months: `October 2026`, `Oct 2026`, `10/2026`, `Oct-Dec 2026`,
  `Nov 2026 - Jan 2027`, `Quarter 3 (Oct–Dec 2026)` (the quarter's number must agree
  with the months, counted either way: Oct–Dec is calendar Q4 or financial Q3)
- weeks: `2026-W09`, `w/c 02/03/2026`, `week commencing 2 March 2026`
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

FREQUENCIES = ("annual", "financial-year", "quarterly", "monthly", "weekly", "daily")
KNOWN_LABELS = ("2026-Q3", "Q3 2026", "2026-27", "2026-27 Q3", "Quarter 3 (Oct–Dec 2026)",
                "October 2026", "2026-10", "2026-W09", "w/c 02/03/2026")
MONTHS = {name: number for number, names in enumerate(
    (("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",), ("jun", "june"),
     ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"), ("oct", "october"),
     ("nov", "november"), ("dec", "december")), start=1) for name in names}


class PeriodLabelError(ValueError):
    """A value that names no period, or not one of the frequency asked for."""


def _month_end(year: int, month: int) -> date:
    return date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)


def period_of(frequency: str, day: date) -> tuple[str, date, date]:
    """(name, first day, last day) of the period of this frequency that contains the day."""
    if frequency == "annual":
        return f"{day.year}", date(day.year, 1, 1), date(day.year, 12, 31)
    if frequency == "financial-year":
        start = day.year if day.month >= 4 else day.year - 1
        return f"{start}-{(start + 1) % 100:02d}", date(start, 4, 1), date(start + 1, 3, 31)
    if frequency == "quarterly":
        quarter = (day.month - 1) // 3 + 1
        return f"{day.year}-Q{quarter}", date(day.year, 3 * quarter - 2, 1), _month_end(day.year, 3 * quarter)
    if frequency == "monthly":
        return f"{day.year}-{day.month:02d}", date(day.year, day.month, 1), _month_end(day.year, day.month)
    if frequency == "weekly":
        iso_year, week, weekday = day.isocalendar()
        first = day - timedelta(days=weekday - 1)
        return f"{iso_year}-W{week:02d}", first, first + timedelta(days=6)
    if frequency == "daily":
        return day.isoformat(), day, day
    raise PeriodLabelError(f"frequency {frequency!r} must be one of {', '.join(FREQUENCIES)}")


# ---------------------------------------------------------------- labels -> spans of days

Span = tuple[date, date]
_DASH = r"(?:\s*-\s*|\s+to\s+)"
_FY = r"(?:fy\s*)?(\d{4})\s*[-/]\s*(\d{2}|\d{4})"
_QUARTER = r"(?:q|quarter\s*)([1-4])"


def _month(word: str) -> int:
    if word not in MONTHS:
        raise PeriodLabelError(f"{word!r} is not a month")
    return MONTHS[word]


def _financial_year(first: str, second: str) -> int | None:
    """The starting year of '2026-27' / '2026/2027', or None when the years do not follow."""
    start = int(first)
    follows = int(second) == start + 1 if len(second) == 4 else int(second) == (start + 1) % 100
    return start if follows else None


def _financial_quarter(start_year: int, quarter: int) -> Span:
    month = 3 * quarter + 1  # Q1 April
    year = start_year + (month > 12)
    month = (month - 1) % 12 + 1
    return date(year, month, 1), _month_end(year, month + 2)


def _months(first_month: int, first_year: int, last_month: int, last_year: int) -> Span:
    first, last = date(first_year, first_month, 1), _month_end(last_year, last_month)
    if last < first:
        raise PeriodLabelError("the months run backwards")
    return first, last


def _from_hub_name(match) -> Span:
    return _months(1, int(match[1]), 12, int(match[1]))


def _calendar_quarter(year: str, quarter: str) -> Span:
    q = int(quarter)
    return _months(3 * q - 2, int(year), 3 * q, int(year))


def _iso_week(year: str, week: str) -> Span:
    try:
        first = date.fromisocalendar(int(year), int(week), 1)
    except ValueError:
        raise PeriodLabelError(f"{year} has no week {int(week)}") from None
    return first, first + timedelta(days=6)


def _fy_span(match, year_groups=(1, 2)) -> Span | None:
    start = _financial_year(match[year_groups[0]], match[year_groups[1]])
    if start is None:
        return None
    return date(start, 4, 1), date(start + 1, 3, 31)


def _fy_quarter(first: str, second: str, quarter: str) -> Span | None:
    start = _financial_year(first, second)
    return None if start is None else _financial_quarter(start, int(quarter))


def _month_run(text: str) -> Span | None:
    match = re.fullmatch(rf"([a-z]+)\s+(\d{{4}}){_DASH}([a-z]+)\s+(\d{{4}})", text)
    if match:
        return _months(_month(match[1]), int(match[2]), _month(match[3]), int(match[4]))
    match = re.fullmatch(rf"([a-z]+){_DASH}([a-z]+)\s+(\d{{4}})", text)
    if match:
        first, last, year = _month(match[1]), _month(match[2]), int(match[3])
        # "Nov-Jan 2027": the run ends in the year written, so it starts in the one before.
        return _months(first, year - (first > last), last, year)
    match = re.fullmatch(r"([a-z]+)\s+(\d{4})", text)
    if match and match[1] in MONTHS:
        return _months(_month(match[1]), int(match[2]), _month(match[1]), int(match[2]))
    return None


def _quarter_with_months(quarter: str, inside: str) -> Span:
    span = _month_run(inside)
    if span is None:
        raise PeriodLabelError(f"({inside}) is not a run of months such as (Oct-Dec 2026)")
    first, last = span
    if (last.year - first.year) * 12 + last.month - first.month != 2:
        raise PeriodLabelError(f"({inside}) is not three months")
    if first.month % 3 != 1:
        raise PeriodLabelError(f"{inside} is not a calendar or financial quarter")
    calendar, financial = (first.month - 1) // 3 + 1, (first.month - 4) % 12 // 3 + 1
    if int(quarter) not in (calendar, financial):
        raise PeriodLabelError(f"quarter {quarter} does not fit the months {inside} "
                               f"(calendar quarter {calendar}, financial quarter {financial})")
    return span


def _week_commencing(text: str, parse_date: Callable[[str], date]) -> Span:
    first = parse_date(text)
    return first, first + timedelta(days=6)


def label_span(text: str, parse_date: Callable[[str], date]) -> Span:
    """The days a label covers; parse_date reads a date written as text (or raises ValueError)."""
    label = re.sub(r"\s+", " ", text.strip().lower().replace("\u2013", "-").replace("\u2014", "-"))
    if match := re.fullmatch(r"(\d{4})", label):
        return _from_hub_name(match)
    if match := re.fullmatch(r"(\d{4})\s*-?\s*q([1-4])", label):
        return _calendar_quarter(match[1], match[2])
    if match := re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", label):  # before financial years: 2011-12 is December
        return _months(int(match[2]), int(match[1]), int(match[2]), int(match[1]))
    if match := re.fullmatch(r"(\d{4})-?w(\d{1,2})", label):
        return _iso_week(match[1], match[2])
    if match := re.fullmatch(rf"{_QUARTER}\s+(\d{{4}})", label):
        return _calendar_quarter(match[2], match[1])
    if match := re.fullmatch(rf"{_FY}\s*{_QUARTER}", label):
        if span := _fy_quarter(match[1], match[2], match[3]):
            return span
    if match := re.fullmatch(rf"{_QUARTER}\s*{_FY}", label):
        if span := _fy_quarter(match[2], match[3], match[1]):
            return span
    if match := re.fullmatch(_FY, label):
        if span := _fy_span(match):
            return span
    if match := re.fullmatch(rf"{_QUARTER}\s*\((.+)\)", label):
        return _quarter_with_months(match[1], match[2])
    if match := re.fullmatch(r"(\d{1,2})/(\d{4})", label):
        if 1 <= int(match[1]) <= 12:
            return _months(int(match[1]), int(match[2]), int(match[1]), int(match[2]))
    if match := re.fullmatch(r"(?:w/c|wc|week (?:commencing|beginning|starting))\s+(.+)", label):
        return _week_commencing(match[1], parse_date)
    span = _month_run(label)
    if span is not None:
        return span
    day = parse_date(text)
    return day, day


def period_name(frequency: str, span: Span, label) -> str:
    """The name of the one period of `frequency` holding every day of the span."""
    first, last = span
    name, _, period_last = period_of(frequency, first)
    if last > period_last:
        shown = "this" if first == last else f"{first:%d %b %Y} to {last:%d %b %Y}"
        raise PeriodLabelError(f"{label!r} ({shown}) is longer than one {frequency} period "
                               f"({name} ends {period_last:%d %b %Y})")
    return name


def _spoken_date(text: str) -> date:
    """'2 March 2026' / '2 Mar 2026'."""
    match = re.fullmatch(r"(\d{1,2})(?:st|nd|rd|th)? ([a-z]+),? (\d{4})", text.strip().lower())
    if not match or match[2] not in MONTHS:
        raise ValueError(text)
    return date(int(match[3]), MONTHS[match[2]], int(match[1]))


def period_converter(frequency: str, read_date: Callable[[object], date]) -> Callable[[object], str]:
    """A converter: value -> the name of its period. read_date turns a cell (date, timestamp,
    Excel serial, date text) into a date, raising ValueError when it is none."""
    if frequency not in FREQUENCIES:
        raise ValueError(f"period needs a frequency: {', '.join(FREQUENCIES)}, not {frequency!r}")

    def parse_date(text: str) -> date:
        try:
            return _spoken_date(text)
        except ValueError:
            return read_date(text)

    def convert(value) -> str:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer() \
                and 1000 <= value <= 9999:
            value = str(int(value))  # a year typed into a number cell, not Excel's serial for a day in 1905
        if isinstance(value, (date, datetime, int, float)) and not isinstance(value, bool):
            day = read_date(value)
            return period_of(frequency, day)[0]
        try:
            span = label_span(str(value), parse_date)
        except ValueError as exc:
            detail = f" ({exc})" if isinstance(exc, PeriodLabelError) else ""
            raise PeriodLabelError(f"{value!r} is not a period the agent knows{detail}; write a date or a "
                                   f"label such as {', '.join(KNOWN_LABELS)}") from None
        return period_name(frequency, span, value)

    return convert
