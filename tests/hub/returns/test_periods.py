"""Period names, dates and deadlines."""
from datetime import date, datetime, timezone

import pytest

from hub.returns.periods import PeriodError, parse_period, period_containing, periods_between


@pytest.mark.parametrize("frequency, name, first, last", [
    ("annual", "2026", date(2026, 1, 1), date(2026, 12, 31)),
    ("financial-year", "2026-27", date(2026, 4, 1), date(2027, 3, 31)),
    ("financial-year", "1999-00", date(1999, 4, 1), date(2000, 3, 31)),
    ("quarterly", "2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
    ("quarterly", "2024-Q4", date(2024, 10, 1), date(2024, 12, 31)),
    ("monthly", "2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("weekly", "2026-W09", date(2026, 2, 23), date(2026, 3, 1)),
    ("weekly", "2026-W53", date(2026, 12, 28), date(2027, 1, 3)),  # 2026 has 53 ISO weeks
    ("daily", "2026-03-14", date(2026, 3, 14), date(2026, 3, 14)),
])
def test_periods_cover_the_right_days(frequency, name, first, last):
    period = parse_period(frequency, name)
    assert (period.first_day, period.last_day, period.name) == (first, last, name)


def test_next_and_previous_cross_year_ends():
    assert parse_period("quarterly", "2025-Q4").next().name == "2026-Q1"
    assert parse_period("weekly", "2027-W01").previous().name == "2026-W53"
    assert parse_period("monthly", "2026-01").previous().name == "2025-12"
    assert period_containing("weekly", date(2027, 1, 1)).name == "2026-W53"
    assert period_containing("financial-year", date(2027, 3, 31)).name == "2026-27"
    assert period_containing("financial-year", date(2027, 4, 1)).name == "2027-28"
    assert parse_period("financial-year", "2026-27").next().name == "2027-28"


@pytest.mark.parametrize("frequency, name, words", [
    ("quarterly", "2026-Q5", "like 2026-Q1"),
    ("quarterly", "2026Q1", "like 2026-Q1"),
    ("monthly", "2026-13", "does not exist"),
    ("financial-year", "2026-28", "not a financial year: 2026 is followed by 27"),
    ("financial-year", "2026", "like 2026-27"),
    ("weekly", "2025-W53", "does not exist"),  # 2025 has 52 ISO weeks
    ("fortnightly", "2026-F1", "must be one of"),
])
def test_bad_periods_are_named(frequency, name, words):
    with pytest.raises(PeriodError, match=words):
        parse_period(frequency, name)


def test_deadline_is_midnight_scottish_time_after_the_due_date():
    q1 = parse_period("quarterly", "2026-Q1")
    assert q1.due_date(30) == date(2026, 4, 30)
    # British Summer Time: midnight is 23:00 UTC
    assert q1.deadline(30) == datetime(2026, 4, 30, 23, 0, tzinfo=timezone.utc)
    # Greenwich Mean Time in winter
    assert parse_period("quarterly", "2025-Q4").deadline(30) == datetime(2026, 1, 31, 0, 0, tzinfo=timezone.utc)


def test_ranges_run_forwards_and_are_bounded():
    names = [p.name for p in periods_between(parse_period("quarterly", "2025-Q3"), parse_period("quarterly", "2026-Q2"))]
    assert names == ["2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2"]
    with pytest.raises(PeriodError, match="backwards"):
        periods_between(parse_period("monthly", "2026-03"), parse_period("monthly", "2026-01"))
    with pytest.raises(PeriodError, match="more than 400"):
        periods_between(parse_period("daily", "2020-01-01"), parse_period("daily", "2026-01-01"))
