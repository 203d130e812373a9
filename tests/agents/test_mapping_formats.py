"""Mapping values councils need formatted: templates, period names, and naive
timestamps placed in the task's time zone (BST and GMT, and the hours the clocks
change)."""
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from agents.config import ConfigError, load_config
from agents.mapping import Mapper, MappingConfigError, MappingError
from connectors.base import SourceRow
from hub.returns.periods import FREQUENCIES, period_containing


def row(**data):
    return SourceRow(data=data, location={"file": "returns.csv", "line": 4}, identity="returns.csv#4", version="v1")


def mapper(fields, key="k", **settings):
    return Mapper({"dataset": "d", "key": key, "fields": fields}, **settings)


# ---------------------------------------------------------------- templates


def test_a_template_pads_a_reference_and_keeps_its_literal_text():
    m = mapper({"k": {"template": "FIFE-REF-{REF_ID:06d}"}})
    assert m.map(row(REF_ID="123"))[1] == "FIFE-REF-000123"
    assert m.map(row(REF_ID=123.0))[1] == "FIFE-REF-000123"  # a spreadsheet number
    assert m.map(row(REF_ID=" 42 "))[1] == "FIFE-REF-000042"
    # Without a type the value is text, padded as it is: fine for references that are not numbers.
    assert mapper({"k": {"template": "{Ref:0>6}"}}).map(row(Ref="12A"))[1] == "00012A"


def test_a_template_reads_other_fields_including_constants_and_converted_periods():
    m = mapper({"return_id": {"template": "{@council}-{@period}"}, "council": {"const": "fife"},
                "period": {"from": "Quarter", "convert": [{"period": "quarterly"}]},
                "label": {"template": "{Team} / {Quarter}", "convert": ["upper"]}}, key="return_id")
    payload, key, _ = m.map(row(Quarter="2026-27 Q3", Team="Meals"))
    assert key == "fife-2026-Q4"
    assert payload == {"return_id": "fife-2026-Q4", "council": "fife", "period": "2026-Q4", "label": "MEALS / 2026-27 Q3"}


def test_a_key_templated_from_other_fields_is_found_for_a_delete():
    m = mapper({"return_id": {"template": "{@council}-{@period}"}, "council": {"const": "fife"},
                "period": {"from": "Quarter", "convert": [{"period": "quarterly"}]}}, key="return_id")
    deleted = SourceRow(data={"Quarter": "Q1 2026"}, location={}, identity="x", version="v", op="delete")
    assert m.map(deleted)[:2] == (None, "fife-2026-Q1")


def test_an_empty_value_empties_the_template_so_required_and_default_apply():
    m = mapper({"k": {"from": "K"}, "ref": {"template": "FIFE-REF-{REF_ID:06d}", "required": True},
                "note": {"template": "seen {Seen}", "default": "never seen"}})
    with pytest.raises(MappingError, match="field 'ref' from column 'REF_ID': is required"):
        m.map(row(K="1", REF_ID="  ", Seen=""))
    assert mapper({"k": {"from": "K"}, "note": {"template": "seen {Seen}", "default": "never seen"}}).map(
        row(K="1", Seen=None))[0]["note"] == "never seen"


def test_a_value_the_format_cannot_take_is_a_row_error_naming_field_column_and_value():
    m = mapper({"k": {"template": "FIFE-REF-{REF_ID:06d}"}})
    with pytest.raises(MappingError) as caught:
        m.map(row(REF_ID="12A"))
    assert str(caught.value) == "field 'k' from column 'REF_ID': template placeholder {REF_ID:06d}: '12A' is not a number"
    with pytest.raises(MappingError, match="from column 'REF_ID': .*'12.5' is not a whole number"):
        m.map(row(REF_ID="12.5"))


@pytest.mark.parametrize("template, message", [
    ("FIFE-{REF_ID:zz}", r"placeholder \{REF_ID:zz\}: Unknown format code"),
    ("FIFE-{REF_ID:06}", r"write :06d for a number padded with zeros \(123 -> 000123\), or :0>6 for text"),
    ("FIFE-{REF_ID", "expected '}' before end of string"),
    ("FIFE-{}", r"each \{...\} names one column"),
    ("FIFE-{REF_ID!r}", r"each \{...\} names one column"),
    ("FIFE-{@nothing}", "reads @nothing, which is not a field mapped from the source"),
    ("FIFE-{@other}", "reads @other, which is not a field mapped from the source"),  # a template reading a template
    ("", "template must be text"),
])
def test_template_mistakes_are_found_when_the_task_loads(template, message):
    with pytest.raises(MappingConfigError, match=message):
        mapper({"k": {"template": template}, "other": {"template": "{@k}"}})


def test_a_task_with_a_bad_template_is_named_by_check(tmp_path):
    from agents.mapping_adapter import MappingSetupError, row_mapper

    class Schema:
        dataset, version, key_field = "referral", 3, "referral_id"

    class Task:
        name, mapping, time_zone = "referrals", {"fields": {"referral_id": {"template": "R-{Ref:q}"}}}, "Europe/London"

    with pytest.raises(MappingSetupError, match=r"task referrals: mapping: field 'referral_id': template placeholder"):
        row_mapper(Task, Schema)


# ---------------------------------------------------------------- periods


QUARTERLY = {"k": {"from": "K"}, "period": {"from": "P", "convert": [{"period": "quarterly"}]}}


@pytest.mark.parametrize("label, expected", [
    ("Quarter 3 (Oct–Dec 2026)", "2026-Q4"),   # financial Q3 is October to December
    ("Quarter 4 (Oct-Dec 2026)", "2026-Q4"),   # counted as calendar quarters
    ("2026-27 Q3", "2026-Q4"),
    ("2026/27 Q4", "2027-Q1"),                 # January to March 2027
    ("Q1 2026-27", "2026-Q2"),
    ("Quarter 2 2026/2027", "2026-Q3"),
    ("2026-Q4", "2026-Q4"),
    ("Q4 2026", "2026-Q4"),
    ("2026 q4", "2026-Q4"),
    ("October 2026", "2026-Q4"),
    ("Oct-Dec 2026", "2026-Q4"),
    ("October to December 2026", "2026-Q4"),
    ("11/2026", "2026-Q4"),
    ("14/11/2026", "2026-Q4"),
    ("2026-11-14", "2026-Q4"),
    (date(2026, 11, 14), "2026-Q4"),
    (datetime(2026, 11, 14, 9, 30), "2026-Q4"),
    (46340, "2026-Q4"),                        # Excel serial of 14/11/2026
])
def test_quarter_labels_councils_write_become_the_hubs_period_name(label, expected):
    assert mapper(QUARTERLY).map(row(K="1", P=label))[0]["period"] == expected


@pytest.mark.parametrize("frequency, label, expected", [
    ("annual", "2026", "2026"),
    ("annual", 2026, "2026"),                  # a year in a number cell, not Excel serial 2026 (1905)
    ("annual", 2026.0, "2026"),
    ("annual", "March 2026", "2026"),
    ("financial-year", "2026-27", "2026-27"),
    ("financial-year", "FY 2026/27", "2026-27"),
    ("financial-year", "2026-2027", "2026-27"),
    ("financial-year", "2026-27 Q3", "2026-27"),    # a financial quarter lies inside its year
    ("financial-year", "Oct-Dec 2026", "2026-27"),
    ("financial-year", "14/02/2027", "2026-27"),
    ("financial-year", "01/04/2027", "2027-28"),
    ("monthly", "March 2026", "2026-03"),
    ("monthly", "Mar 2026", "2026-03"),
    ("monthly", "2011-12", "2011-12"),         # the hub's month name, not financial year 2011-12
    ("weekly", "2026-W09", "2026-W09"),
    ("weekly", "w/c 02/03/2026", "2026-W10"),
    ("weekly", "week commencing 2 March 2026", "2026-W10"),
    ("weekly", "2027-01-01", "2026-W53"),      # ISO weeks: a new year's first days may be last year's week
    ("daily", "14/03/2026", "2026-03-14"),
])
def test_every_frequency_the_hub_knows(frequency, label, expected):
    m = mapper({"k": {"from": "K"}, "period": {"from": "P", "convert": [{"period": frequency}]}})
    assert m.map(row(K="1", P=label))[0]["period"] == expected


@pytest.mark.parametrize("frequency", FREQUENCIES)
def test_a_date_gets_the_same_period_name_as_the_hub_gives_it(frequency):
    m = mapper({"k": {"from": "K"}, "period": {"from": "P", "convert": [{"period": frequency}]}})
    day = date(2024, 12, 20)
    while day < date(2027, 1, 10):
        assert m.map(row(K="1", P=day.strftime("%d/%m/%Y")))[0]["period"] == period_containing(frequency, day).name
        day += timedelta(days=3)


def test_a_timestamp_counts_in_the_task_time_zone():
    # 23:30 UTC on 30 June is 00:30 on 1 July in London: the third quarter.
    m = mapper(QUARTERLY)
    assert m.map(row(K="1", P="2026-06-30T23:30:00Z"))[0]["period"] == "2026-Q3"
    assert mapper(QUARTERLY, time_zone="UTC").map(row(K="1", P="2026-06-30T23:30:00Z"))[0]["period"] == "2026-Q2"


@pytest.mark.parametrize("label, reason", [
    ("Summer term", "not a period the agent knows"),
    ("Quarter 1 (Oct-Dec 2026)", r"quarter 1 does not fit the months oct-dec 2026 \(calendar quarter 4, financial quarter 3\)"),
    ("Quarter 3 (Nov-Jan 2027)", "not a calendar or financial quarter"),
    ("Nov 2026 - Jan 2027", "longer than one quarterly period"),
    ("2026-27", "longer than one quarterly period"),
    ("2026-28 Q1", "not a period the agent knows"),   # years that do not follow
    ("Q5 2026", "not a period the agent knows"),
    ("31/02/2026", "not a period the agent knows"),
])
def test_an_unknown_or_impossible_label_is_a_clear_error_for_that_row(label, reason):
    with pytest.raises(MappingError, match=r"field 'period' from column 'P': .*" + reason):
        mapper(QUARTERLY).map(row(K="1", P=label))


def test_a_financial_year_is_no_calendar_year():
    m = mapper({"k": {"from": "K"}, "period": {"from": "P", "convert": [{"period": "annual"}]}})
    with pytest.raises(MappingError, match=r"'2026-27' \(01 Apr 2026 to 31 Mar 2027\) is longer than one annual period"):
        m.map(row(K="1", P="2026-27"))


def test_an_unknown_frequency_is_a_configuration_error():
    with pytest.raises(MappingConfigError, match="period needs a frequency: annual, financial-year, quarterly, monthly, weekly, daily"):
        mapper({"k": {"from": "K", "convert": [{"period": "fortnightly"}]}})


# ---------------------------------------------------------------- time zones

AT = {"k": {"from": "K"}, "at": {"from": "At", "convert": ["datetime"]}}


@pytest.mark.parametrize("local, utc", [
    # Spring forward, Sunday 29 March 2026 at 01:00 GMT.
    ("29/03/2026 00:59:59", "2026-03-29T00:59:59Z"),   # GMT, the last second before
    ("29/03/2026 02:00:00", "2026-03-29T01:00:00Z"),   # BST, the first local time after
    ("29/03/2026 01:30:00", "2026-03-29T01:30:00Z"),   # never happened: taken with the offset before (GMT)
    # Fall back, Sunday 25 October 2026 at 01:00 GMT (02:00 BST).
    ("25/10/2026 00:30:00", "2026-10-24T23:30:00Z"),   # BST
    ("25/10/2026 01:30:00", "2026-10-25T00:30:00Z"),   # happened twice: the first time, in BST (fold=0)
    ("25/10/2026 02:00:00", "2026-10-25T02:00:00Z"),   # GMT
    ("15/07/2026 12:00", "2026-07-15T11:00:00Z"),
    ("15/01/2026 12:00", "2026-01-15T12:00:00Z"),
])
def test_naive_times_are_london_time_either_side_of_the_clock_changes(local, utc):
    assert mapper(AT).map(row(K="1", At=local))[0]["at"] == utc


def test_a_naive_timestamp_cell_without_a_converter_is_placed_in_the_zone_too():
    m = mapper({"k": {"from": "K"}, "at": {"from": "At"}, "day": {"from": "Day"}})
    payload = m.map(row(K="1", At=datetime(2026, 7, 15, 12, 0), Day=date(2026, 7, 15)))[0]
    assert payload == {"k": "1", "at": "2026-07-15T11:00:00Z", "day": "2026-07-15"}


def test_an_offset_in_the_source_wins_over_the_time_zone():
    m = mapper(AT, time_zone="America/New_York")
    assert m.map(row(K="1", At="2026-07-15T12:00:00+02:00"))[0]["at"] == "2026-07-15T10:00:00Z"
    assert m.map(row(K="1", At=datetime(2026, 7, 15, 12, tzinfo=ZoneInfo("UTC"))))[0]["at"] == "2026-07-15T12:00:00Z"
    assert m.map(row(K="1", At="15/07/2026 12:00"))[0]["at"] == "2026-07-15T16:00:00Z"


def _config(tmp_path, top="", task=""):
    path = tmp_path / "agent.yaml"
    path.write_text(f"""hub: {{url: http://127.0.0.1:1}}
state_dir: state
{top}
tasks:
  - name: returns
    direction: publish
    dataset: data-return.school-meals
    connector: {{kind: spreadsheet, options: {{folder: drop}}}}
    mapping: {{fields: {{return_id: Id}}}}
    schedule: {{interval_seconds: 60}}
{task}
  - name: other
    direction: publish
    dataset: data-return.school-meals
    connector: {{kind: spreadsheet, options: {{folder: drop2}}}}
    mapping: {{fields: {{return_id: Id}}}}
    schedule: {{interval_seconds: 60}}
""", encoding="utf-8")
    return path


def test_the_time_zone_is_europe_london_unless_the_agent_or_task_says_otherwise(tmp_path):
    assert [t.time_zone for t in load_config(_config(tmp_path)).tasks] == ["Europe/London", "Europe/London"]
    config = load_config(_config(tmp_path, top="time_zone: UTC", task="    time_zone: Europe/Dublin"))
    assert config.time_zone == "UTC"
    assert [t.time_zone for t in config.tasks] == ["Europe/Dublin", "UTC"]


def test_an_unknown_time_zone_is_named_with_its_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(_config(tmp_path, task="    time_zone: Europe/Londn"))
    assert caught.value.problems == ["line 11: tasks[0].time_zone: 'Europe/Londn' is not a time zone "
                                     "(an IANA name such as Europe/London or UTC)"]
