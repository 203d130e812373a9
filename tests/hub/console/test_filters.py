"""Dates and times as people in the UK read them, with the exact instant on hover."""
from __future__ import annotations

from datetime import date, datetime, timezone

from hub.console.filters import day, iso_local, moment, uk_date, uk_time


def test_winter_times_read_as_gmt_and_summer_times_as_bst():
    assert uk_time("2026-12-01T09:30:00Z") == "1 Dec 2026, 09:30"
    assert uk_time("2026-07-01T09:30:00.123456Z") == "1 Jul 2026, 10:30"  # BST: an hour ahead of UTC
    assert iso_local("2026-07-01T09:30:00Z") == "2026-07-01T10:30:00+01:00"
    assert iso_local(datetime(2026, 12, 1, 9, 30)) == "2026-12-01T09:30:00+00:00"  # naive means UTC


def test_a_time_is_a_time_element_with_the_iso_instant_on_hover():
    assert str(moment("2026-03-29T01:15:00Z")) == (
        '<time datetime="2026-03-29T02:15:00+01:00" title="2026-03-29T02:15:00+01:00">29 Mar 2026, 02:15</time>')
    assert str(moment(None)) == "" and str(moment("")) == ""
    assert str(moment("<b>not a time</b>")) == "&lt;b&gt;not a time&lt;/b&gt;"  # shown as it is, escaped


def test_dates_read_by_their_uk_day():
    assert uk_date("2026-12-01") == "1 Dec 2026"
    assert uk_date(date(2027, 1, 9)) == "9 Jan 2027"
    assert uk_date("2026-06-30T23:30:00Z") == "1 Jul 2026"  # half past midnight BST
    assert str(day("2026-12-01")) == '<time datetime="2026-12-01" title="2026-12-01">1 Dec 2026</time>'
    assert str(day(None)) == "" and str(day("soon")) == "soon"
    assert uk_time(datetime(2026, 1, 5, 10, 0, tzinfo=timezone.utc)) == "5 Jan 2026, 10:00"


def test_the_overview_chart_reads_its_hours_and_minutes_in_uk_time():
    from hub.console.overview_views import _chart_label

    assert _chart_label("2026-07-01 09", "hour") == "10:00"  # BST
    assert _chart_label("2026-12-01 09:30", "minute") == "09:30"  # GMT
    assert _chart_label("2026-12-01", "day") == "1 Dec"


def test_a_replay_time_is_read_as_uk_time():
    from hub.console.operations_views import _replay_time

    assert _replay_time("2026-07-01T10:30") == "2026-07-01T09:30:00Z"
    assert _replay_time("2026-12-01T10:30") == "2026-12-01T10:30:00Z"
