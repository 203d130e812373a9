"""The benchmark pages in real headless Chromium against a real hub process: a council's governance
reads its figures beside every council's median and quartiles and its family group's, with a chart
and a table under each, and sees no other council by name; the hub's admin sees every council and
sets a family group; a resident reads the chart on a public dataset page. Every state passes axe-core
with no violation and reflows at 390 px; screenshots at desktop and phone width are in the artefacts."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub.app import build_services
from hub.config import Settings
from support import benchmarks as world
from support.browser import Console, ConsoleHub
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
