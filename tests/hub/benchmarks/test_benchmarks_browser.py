"""The benchmark pages in real headless Chromium against a real hub process: a council's governance
reads its figures beside every council's median and quartiles and its family group's, with a chart
and a table under each, and sees no other council by name; the hub's admin sees every council and
sets a family group; the return's owner defines, changes and removes an indicator (a mistake shown
beside its field first) and sets who sees councils by name; a resident reads the chart on a public dataset page. Every state passes axe-core
with no violation and reflows at 390 px; screenshots at desktop and phone width are in the artefacts."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub.app import build_services
from hub.config import Settings
from support import benchmarks as world
from support.browser import PASSWORD, Console, ConsoleHub
from support.clock import FakeClock
from support.opendata import OPEN_ENV, publish_open_gazetteer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
PAGE = f"/console/benchmarks/{world.DATASET}?period={world.Q2}&periods=2"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("benchmarks-hub"), env=OPEN_ENV)
    server.prepare()
    services = build_services(Settings(db_url=server.db_url),
                              clock=FakeClock(datetime(2026, 8, 15, tzinfo=timezone.utc)))
    world.build(services, services.clock)
    services.accounts.add_user("gus", world.AGENCY, "governance", PASSWORD, actor="test")  # the return's owner
    services.engine.dispose()
    server.start()
    publish_open_gazetteer(server)
    yield server
    server.stop()


def test_a_council_reads_its_benchmarks_beside_the_aggregates_and_no_other_council(chromium, hub):
    console = Console(chromium, hub)
    page = console.page
    try:
        console.sign_in("gina")  # edinburgh's governance
        page.goto("/console/benchmarks/")
        page.get_by_role("link", name="Housing assessments").click()
        page.wait_for_url(f"**/console/benchmarks/{world.DATASET}")
        page.goto(PAGE)
        row = page.locator('#benchmark-summary tr[data-measure="within_target_percent"]')
        assert row.locator("td.own").inner_text() == "75.00"  # 300 of 400 assessed within 28 days
        assert row.locator("td.median").inner_text() == "77.50"
        assert page.locator("#benchmark-councils").count() == 0
        assert page.locator("#benchmark-settings, #indicator-form").count() == 0  # the owner's form only
        for other in ("Glasgow", "glasgow", "Stirling", "Angus"):
            assert other not in page.locator("main").inner_text()
        chart = page.locator('figure[aria-labelledby="chart-within-target-percent-title"]')
        assert "Urban councils (median)" in chart.locator(".legend").inner_text()
        chart.locator("summary").click()  # the numbers as a table under the chart
        table = chart.locator("table").inner_text()
        assert "The City of Edinburgh Council\t70.0\t75.0" in table and "Median of councils\t–\t77.5" in table
        chart.locator(".point").first.focus()
        page.keyboard.press("ArrowRight")
        assert page.evaluate("document.activeElement.getAttribute('aria-label')").startswith(
            f"The City of Edinburgh Council, {world.Q2}: 75.0")
        console.assert_accessible("council benchmark page")
        console.assert_reflows("benchmarks-council")
        console.screenshot("benchmarks-council")
        with page.expect_download() as download:
            page.get_by_role("link", name="Download as CSV").click()
        assert download.value.suggested_filename == f"benchmarks-{world.DATASET}-{world.Q2}.csv"
    finally:
        console.close()
    assert console.errors == []


def test_the_admin_sees_every_council_and_sets_a_family_group(chromium, hub):
    console = Console(chromium, hub)
    page = console.page
    try:
        console.sign_in("ada")
        page.goto(PAGE)
        councils = page.locator("#benchmark-councils tbody tr")
        assert councils.count() == 6  # Moray's draft is not there
        assert "moray" not in page.locator("#benchmark-councils").inner_text()
        console.assert_accessible("agency benchmark page")
        console.assert_reflows("benchmarks-agency")
        page.goto("/console/benchmarks/")
        page.get_by_label("Name (lower-case letters, digits and hyphens)").fill("rural")
        page.get_by_label("Title").fill("Rural councils")
        for name in ("Angus Council", "The Moray Council"):
            page.get_by_label(name).check()
        page.get_by_role("button", name="Save the group").click()
        assert "Family group rural saved with 2 councils." in page.get_by_role("main").inner_text()
        assert "angus, moray" in page.locator("#family-groups").inner_text()
        console.assert_accessible("family groups")
        console.assert_reflows("benchmarks-groups")
    finally:
        console.close()
    assert console.errors == []


def test_the_owner_defines_changes_and_removes_an_indicator_and_sets_who_sees_councils(chromium, hub):
    console = Console(chromium, hub)
    page = console.page
    try:
        console.sign_in("gus")  # scottish-government's governance
        page.goto(PAGE)
        form = page.locator("#indicator-form")
        form.get_by_label("Name (lower-case letters, digits and _)").fill("fast_per_head")
        form.get_by_label("What it measures").fill("Fast assessments per head")
        form.locator('input[name="numerator"][value="within_target"]').check()
        form.get_by_label("Times (100 for a percentage, 1000 for a rate per 1,000)").fill("1000")
        form.get_by_label("Unit").fill("per 1,000 people")
        form.get_by_label("A higher figure").check()
        form.get_by_role("button", name="Save the indicator").click()  # the denominator left out
        summary = page.locator("[data-error-summary]")
        assert "Denominator: give 1 to 20 number fields" in summary.inner_text()
        console.assert_focus_on_error_summary()
        assert "give 1 to 20 number fields" in page.locator("#indicator-denominator-error").inner_text()
        assert form.get_by_label("What it measures").input_value() == "Fast assessments per head"  # nothing lost
        console.assert_accessible("indicator form with a mistake")
        console.assert_reflows("benchmarks-indicator-mistake")
        console.screenshot("benchmarks-indicator-mistake")
        form.get_by_label("The council's population (alone)").check()
        form.get_by_role("button", name="Save the indicator").click()
        assert "Indicator fast_per_head saved." in page.get_by_role("main").inner_text()
        row = page.locator('#indicators tr[data-indicator="fast_per_head"]')
        assert "per 1,000 people" in row.inner_text()
        assert f"period={world.Q2}" in page.url  # back on the period the form was sent from
        median = page.locator('#benchmark-summary tr[data-measure="fast_per_head"] td.median')
        assert median.inner_text() == "2.85"  # of 2, 2.25, 2.7, 3, 3, 4 assessed within target per 1,000 people
        console.assert_accessible("owner's indicators and form")
        console.assert_reflows("benchmarks-owner")
        console.screenshot("benchmarks-owner")
        row.get_by_role("link", name="Change fast_per_head").click()
        assert form.get_by_label("Name (lower-case letters, digits and _)").get_attribute("readonly") is not None
        form.get_by_label("Unit").fill("per 1,000 residents")
        form.get_by_role("button", name="Save the indicator").click()
        assert "per 1,000 residents" in row.inner_text()
        page.once("dialog", lambda dialog: dialog.accept())
        row.get_by_role("button", name="Remove fast_per_head").click()
        assert "Indicator fast_per_head removed." in page.get_by_role("main").inner_text()
        assert row.count() == 0
        page.get_by_label("Also every council asked for the return").check()
        page.get_by_role("button", name="Save who sees councils by name").click()
        assert page.get_by_label("Also every council asked for the return").is_checked()
        page.get_by_label("scottish-government and the hub's admin only").check()
        page.get_by_role("button", name="Save who sees councils by name").click()
        assert "Who sees councils by name saved." in page.get_by_role("main").inner_text()
    finally:
        console.close()
    assert len([e for e in console.errors if "status of 400" in e]) == 1  # the refused save's status, expected
    assert [e for e in console.errors if "status of 400" not in e] == []


def test_a_public_dataset_page_charts_its_records_with_a_table(chromium, hub):
    console = Console(chromium, hub)
    page = console.page
    try:
        page.goto("/open/gazetteer-address")
        chart = page.locator('figure[aria-labelledby="records-by-month-title"]')
        assert "The City of Edinburgh Council" in chart.locator(".legend").inner_text()
        chart.locator("summary").click()
        assert chart.locator("table tbody tr").count() == 1
        console.assert_accessible("public dataset chart")
        console.assert_reflows("open-dataset-chart")
        console.screenshot("open-dataset-chart")
    finally:
        console.close()
    assert console.errors == []
