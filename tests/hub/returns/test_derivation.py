"""The derivation of a return from records, without a hub: what each kind of measure gives on
records counted by hand, where records without a value go, and building warrants as a second
source (a sum and a median, one row per quarter)."""
from __future__ import annotations

import pytest

from causeway_common.catalogue import load_catalogue
from hub.errors import Invalid
from hub.returns.derivation import NOT_STATED, check_derivation, compute


class Catalogue:
    def __init__(self):
        self.datasets = load_catalogue()

    def get(self, name):
        return self.datasets.get(name)


CATALOGUE = Catalogue()
WARRANT_FIELDS = {"type": "object", "required": ["received", "value_of_works"], "properties": {
    "received": {"type": "integer"}, "value_of_works": {"type": "number"},
    "median_days_to_first_report": {"type": "number"}, "notes": {"type": "string"}}}
WARRANTS = {"dataset": "building-warrant", "period_field": "received_date",
            "where": [{"field": "status", "not_in": ["withdrawn"]}],
            "measures": [{"as": "received", "count": True}, {"as": "value_of_works", "sum": "value_of_works"},
                         {"as": "median_days_to_first_report",
                          "median_days": {"from": "validated_date", "to": "first_report_date"}}]}


def live(*payloads):
    return [{"key": p["reference"], "id": f"id-{n}", "seq": n, "payload": p} for n, p in enumerate(payloads, start=1)]


def warrant(reference, received, value, validated=None, first_report=None, status="validated"):
    found = {"reference": reference, "received_date": received, "value_of_works": value, "status": status}
    found.update({k: v for k, v in (("validated_date", validated), ("first_report_date", first_report)) if v})
    return found


def test_building_warrants_give_one_row_a_quarter_with_a_sum_and_a_median():
    derivation = check_derivation(WARRANTS, WARRANT_FIELDS, CATALOGUE, "quarterly")
    found = compute(derivation, live(
        warrant("BW/1", "2026-07-01", 1000, "2026-07-02", "2026-07-12"),    # 10 days
        warrant("BW/2", "2026-07-03", 2500.5, "2026-07-04", "2026-07-24"),  # 20 days
        warrant("BW/3", "2026-08-01", 100, "2026-08-02", "2026-08-14"),     # 12 days
        warrant("BW/4", "2026-08-02", 400, "2026-08-03"),                   # no first report yet
        warrant("BW/5", "2026-08-03", 900, "2026-08-10", "2026-08-01"),     # report before validation: a mistake
        warrant("BW/6", "2026-08-04", 50, status="withdrawn"),
        warrant("BW/7", "2026-10-01", 70)))
    assert sorted(found) == ["2026-Q3", "2026-Q4"]
    q3 = found["2026-Q3"]
    assert q3.rows == [{"key": "all", "values": {"received": 5, "value_of_works": 4900.5,
                                                 "median_days_to_first_report": 12.0}}]
    assert [(e["key"], e["value"]) for e in q3.lineage["all"]["value_of_works"]] == [
        ("BW/1", 1000), ("BW/2", 2500.5), ("BW/3", 100), ("BW/4", 400), ("BW/5", 900)]
    assert [(e["key"], e["reason"]) for e in q3.not_counted] == [
        ("BW/4", "median_days_to_first_report: no first_report_date"),
        ("BW/5", "median_days_to_first_report: first_report_date is before validated_date"),
        ("BW/6", "left out: status is one of withdrawn")]
    assert found["2026-Q4"].rows == [{"key": "all", "values": {"received": 1, "value_of_works": 70}}]


def test_records_without_a_group_value_are_a_row_of_their_own_and_a_median_of_two_is_their_mean():
    fields = {"type": "object", "properties": {"hierarchy": {"type": "string"}, "decided": {"type": "integer"},
                                               "median_days": {"type": "number"}}}
    derivation = check_derivation({
        "dataset": "planning-application", "period_field": "decision_date",
        "group_by": [{"field": "development_hierarchy", "as": "hierarchy"}],
        "measures": [{"as": "decided", "count": True},
                     {"as": "median_days", "median_days": {"from": "received_date", "to": "decision_date"}}]},
        fields, CATALOGUE, "monthly")
    found = compute(derivation, live(
        {"reference": "A/1", "development_hierarchy": "major", "received_date": "2026-01-01", "decision_date": "2026-03-02"},
        {"reference": "A/2", "received_date": "2026-03-01", "decision_date": "2026-03-11"},
        {"reference": "A/3", "received_date": "2026-03-01", "decision_date": "2026-03-04"},
        {"reference": "A/4", "received_date": "2026-03-01"}))  # not decided: in no month
    assert found["2026-03"].rows == [
        {"key": "major", "values": {"hierarchy": "major", "decided": 1, "median_days": 60.0}},
        {"key": NOT_STATED, "values": {"hierarchy": NOT_STATED, "decided": 2, "median_days": 6.5}}]


def test_every_value_of_a_coded_field_gets_a_row_of_zeros_where_no_record_has_it():
    fields = {"type": "object", "properties": {"kind": {"type": "string"}, "received": {"type": "integer"},
                                               "median_days": {"type": "number"}}}
    derivation = check_derivation({
        "dataset": "planning-application", "period_field": "received_date",
        "group_by": [{"field": "application_type", "as": "kind", "every_value": True}],
        "measures": [{"as": "received", "count": True},
                     {"as": "median_days", "median_days": {"from": "received_date", "to": "decision_date"}}]},
        fields, CATALOGUE, "quarterly")
    (rows,) = [c.rows for c in compute(derivation, live(
        {"reference": "A/1", "application_type": "full", "received_date": "2026-01-05"})).values()]
    schema = CATALOGUE.get("planning-application").schemas[1]["properties"]["application_type"]
    assert [r["key"] for r in rows] == sorted(schema["enum"])
    assert {r["key"]: r["values"]["received"] for r in rows}["full"] == 1
    assert [r["values"] for r in rows if r["key"] == "householder"] == [{"kind": "householder", "received": 0}]


@pytest.mark.parametrize("fields, derivation, path", [
    # a group into an enum that would refuse some of the source's values
    ({"type": "object", "properties": {"kind": {"enum": ["full", "householder"]}, "n": {"type": "integer"}}},
     {"dataset": "planning-application", "period_field": "received_date",
      "group_by": [{"field": "application_type", "as": "kind"}], "measures": [{"as": "n", "count": True}]},
     "/derived_from/group_by/0/as"),
    # a median into a required field: a row without decisions would have none
    ({"type": "object", "required": ["d"], "properties": {"d": {"type": "number"}}},
     {"dataset": "building-warrant", "period_field": "received_date",
      "measures": [{"as": "d", "median_days": {"from": "received_date", "to": "decision_date"}}]},
     "/derived_from/measures/0/as"),
    # a count into a text field
    ({"type": "object", "properties": {"n": {"type": "string"}}},
     {"dataset": "building-warrant", "period_field": "received_date", "measures": [{"as": "n", "count": True}]},
     "/derived_from/measures/0/as"),
    # a sum of a fractional field into an integer field
    ({"type": "object", "properties": {"v": {"type": "integer"}}},
     {"dataset": "building-warrant", "period_field": "received_date", "measures": [{"as": "v", "sum": "value_of_works"}]},
     "/derived_from/measures/0/as"),
    # a measure's own period field that is no date
    ({"type": "object", "properties": {"n": {"type": "integer"}}},
     {"dataset": "building-warrant", "period_field": "received_date",
      "measures": [{"as": "n", "count": True, "period_field": "reference"}]},
     "/derived_from/measures/0/period_field"),
    # every value of a field that has no list of values
    ({"type": "object", "properties": {"a": {"type": "string"}, "n": {"type": "integer"}}},
     {"dataset": "building-warrant", "period_field": "received_date",
      "group_by": [{"field": "council", "as": "a", "every_value": True}], "measures": [{"as": "n", "count": True}]},
     "/derived_from/group_by/0/every_value"),
    # a filter that says two things
    ({"type": "object", "properties": {"n": {"type": "integer"}}},
     {"dataset": "building-warrant", "period_field": "received_date",
      "measures": [{"as": "n", "count": True, "where": [{"field": "status", "in": ["granted"], "present": True}]}]},
     "/derived_from/measures/0/where/0"),
])
def test_a_derivation_that_cannot_fill_the_return_is_refused_at_its_place(fields, derivation, path):
    with pytest.raises(Invalid) as refused:
        check_derivation(derivation, fields, CATALOGUE, "quarterly")
    assert refused.value.details["errors"][0]["path"] == path
