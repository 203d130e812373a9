"""A derived return in the console, in real headless Chromium against a real hub process: a
council's governance opens the draft the hub computed from its planning-application records,
follows "where each figure came from" to the records behind every figure, sees a figure it
edited by hand and the newer figures the records give, and takes them. axe-core finds no
accessibility violation, and nothing scrolls sideways at phone width."""
from __future__ import annotations

import copy
import uuid

import pytest

from hub.returns.derived_demo import SPEC as DEMO_SPEC
from support.browser import Console, ConsoleHub
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
PERIOD = "2026-Q3"  # ended: the hub keeps real time
SPEC = {**copy.deepcopy(DEMO_SPEC), "name": "data-return.planning-in-browser", "expected_publishers": ["edinburgh"]}


def application(reference, kind, received, **more):
    payload = {"reference": reference, "council": "edinburgh", "site_address": "1 High Street",
               "description": "A proposal", "application_type": kind, "received_date": received,
               "status": "under-consideration", **more}
    return {"id": str(uuid.uuid4()), "dataset": "planning-application", "schema_version": 1, "op": "upsert",
            "occurred_at": "2026-09-30T12:00:00Z", "payload": payload}


@pytest.fixture(scope="module")
def console_hub(tmp_path_factory):
    hub = ConsoleHub(tmp_path_factory.mktemp("derived-console"), env={"CAUSEWAY_DERIVED_RETURNS_INTERVAL_SECONDS": "0.5"})
    hub.prepare()
    hub.start()
    assert hub.api("POST", "/return-definitions", "scottish-government", "governance", json=SPEC).status_code == 201
    assert hub.api("POST", f"/return-definitions/{SPEC['name']}/versions/1/approve", "scottish-government",
                   "admin").status_code == 200
    hub.publish("edinburgh", [
        application("26/0001/HH", "householder", "2026-07-01", status="decided", validated_date="2026-07-02",
                    decision_date="2026-07-22", decision="granted"),
        application("26/0002/HH", "householder", "2026-07-09"),
        application("26/0003/FUL", "full", "2026-08-01", status="returned")])
    yield hub
    hub.stop()


def lineage(hub):
    return hub.api("GET", f"/returns/{SPEC['name']}/{PERIOD}/edinburgh/lineage", "edinburgh", "publisher")


def test_a_council_sees_the_records_behind_each_figure_and_takes_newer_figures_over_its_edit(chromium, console_hub):
    wait_until(lambda: lineage(console_hub).status_code == 200, timeout=30, message="the draft derived")
    console = Console(chromium, console_hub)
    page = console.sign_in("gina")  # edinburgh governance
    page.goto(f"/console/return-definitions/{SPEC['name']}")
    derivation = page.locator("#derivation-1")
    assert "planning-application" in derivation.locator("caption").inner_text()
    assert "median days from validated_date to decision_date, in the period of decision_date" in derivation.inner_text()
    console.screenshot("derived-definition")
    page.goto(f"/console/returns/{SPEC['name']}/{PERIOD}/edinburgh")
    page.click("#lineage-link")
    assert page.locator("h1").inner_text() == "Where the figures came from"
    received = page.locator('table[data-row="householder"] tr[data-field="received"]')
    assert received.locator("td").first.inner_text() == "2"
    received.locator("summary").click()
    assert received.locator("ul.record-keys li").all_inner_texts() == ["26/0001/HH", "26/0002/HH"]
    days = page.locator('table[data-row="householder"] tr[data-field="median_days_to_decision"]')
    days.locator("summary").click()
    assert days.locator("li").all_inner_texts() == ["26/0001/HH · 20 days"]
    assert page.locator("#not-counted").inner_text() == "26/0003/FUL: left out: status is one of returned"
    console.screenshot("derived-lineage")

    # the council corrects one figure by hand; then a new record arrives
    rows = [{"key": row["key"], "values": {f["field"]: f["value"] for f in row["figures"] if f["value"] is not None}}
            for row in lineage(console_hub).json()["rows"]]
    rows[0]["values"]["received"] = 5
    assert console_hub.api("PUT", f"/returns/{SPEC['name']}/{PERIOD}/edinburgh/rows", "edinburgh", "publisher",
                           json={"rows": rows}).status_code == 200
    console_hub.publish("edinburgh", [application("26/0004/HH", "householder", "2026-07-20")])
    wait_until(lambda: lineage(console_hub).json()["newer"], timeout=30, message="newer figures kept")
    page.reload()
    assert page.locator("#edited").is_visible()
    assert "by hand (records give 2)" in received.locator("td").first.inner_text()
    (difference,) = page.locator("#newer-differences tbody tr").all()
    assert difference.locator("td").all_inner_texts() == ["householder", "received", "5", "3"]
    console.screenshot("derived-lineage-edited")

    page.check("#replace-edits")
    with page.expect_navigation():
        page.click("#derive-now")
    assert "replaced the council's edits" in page.locator(".notice-success, [role=status]").first.inner_text()
    assert received.locator("td").first.inner_text() == "3"
    assert page.locator("#edited").count() == 0 and page.locator("#newer").count() == 0
    console.screenshot("derived-lineage-recomputed")
    assert console.errors == [], "\n".join(console.errors)
    console.close()
