"""The data-quality page over HTTP in-process: one row per broken rule (not per offending value),
said in words from the dataset's own field descriptions (never its regular expression), with the
record's own key (the UPRN) as the example, and a reject rate beside the counts. SQLite: rendering."""
from __future__ import annotations

import pytest

from support.agreements import publish
from support.console import add_staff, sign_in
from support.factories import gazetteer_record

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def bad_postcode(uprn: int, postcode: str) -> dict:
    record = gazetteer_record(uprn)
    record["payload"]["postcode"] = postcode
    return record


def test_one_row_per_rule_in_words_with_the_uprn_to_find(client, services, auth):
    add_staff(services, "omar", "edinburgh", "ops")
    no_street = gazetteer_record(906700000004)
    del no_street["payload"]["street"]
    publish(client, auth("edinburgh", "publisher"), [
        bad_postcode(906700000001, "not a postcode"), bad_postcode(906700000002, "eh1 1yj"),
        bad_postcode(906700000003, "EH99"), no_street, gazetteer_record(906700000005),
        gazetteer_record(906700000006), gazetteer_record(906700000007), gazetteer_record(906700000008)])
    assert sign_in(client, "omar").status_code == 302
    html = client.get("/console/quality").text
    rules = html.split('id="quality-rules"')[1].split("</table>")[0]
    rows = rules.split("<tr data-rule=")[1:]
    assert [row.split(">")[0] for row in rows] == ['"pattern"', '"required"']  # three values, one rule
    postcode, street = rows
    assert "<td>3</td>" in postcode
    assert "Postcode is not written the way the dataset expects: Royal Mail postcode in upper case" in postcode
    assert "^[A-Z]" not in rules and "does not match" not in rules
    assert "UPRN 906700000003" in postcode  # the latest example, by the key the council's system knows
    assert "Street is missing: every gazetteer address needs it." in street and "UPRN 906700000004" in street
    totals = html.split('id="quality-totals"')[1].split("</table>")[0]
    assert "<td>8</td><td>4</td><td>4</td>" in totals and "50.0 %" in totals
