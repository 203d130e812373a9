"""The public pages in real headless Chromium against a real hub process: a resident finds
a dataset, searches a postcode district, reads the table and downloads the CSV, on a
desktop and on a phone-width screen (no horizontal scroll), with no browser errors."""
from __future__ import annotations

import pytest

from support.browser import Console, ConsoleHub
from support.opendata import OPEN_ENV, publish_open_gazetteer

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("open-hub"), env=OPEN_ENV)
    server.prepare()
    server.start()
    publish_open_gazetteer(server)
    yield server
    server.stop()


def test_a_resident_searches_a_district_downloads_it_and_asks_for_alerts(chromium, hub):
    console = Console(chromium, hub)
    page = console.page
    try:
        page.goto("/open/")
        console.assert_accessible("open catalogue")
        console.assert_reflows("open-catalogue")
        page.get_by_role("link", name="Gazetteer address").click()
        page.wait_for_url("**/open/gazetteer-address")
        assert page.locator("caption").inner_text().startswith("Records")
        console.assert_accessible("open dataset page")
        console.assert_reflows("open-dataset")
        page.get_by_label("Postcode district or postcode (for example EH1)").fill("eh1")
        page.keyboard.press("Enter")
        page.wait_for_url("**district=eh1*")
        rows = page.locator("table:has(#records-caption) tbody tr")
        assert rows.count() == 2 and "EH6" not in page.locator("table:has(#records-caption) tbody").inner_text()
        assert page.locator("caption").inner_text() == "Records in EH1"
        console.assert_accessible("open district search")
        console.assert_reflows("open-district-search")
        with page.expect_download() as download:
            page.get_by_role("link", name="those in EH1").click()
        assert download.value.suggested_filename == "gazetteer-address-EH1.csv"
        assert len(open(download.value.path(), encoding="utf-8").read().strip().splitlines()) == 3

        page.get_by_label("Your e-mail address").fill("resident@example.org")
        page.get_by_role("button", name="Send me alerts").click()
        page.wait_for_url("**/open/gazetteer-address/alerts")
        # this hub sends no e-mail: the form says so rather than pretending
        assert "sends no e-mail" in page.get_by_role("alert").inner_text()
        console.assert_accessible("open alert refused")

        page.goto("/open/gazetteer-address")
        page.get_by_label("Postcode district or postcode (for example EH1)").fill("nonsense!")
        page.keyboard.press("Enter")
        assert page.get_by_role("alert").inner_text().endswith("is not a postcode district (for example EH1) or a postcode")
        console.assert_accessible("open search refused")
    finally:
        console.close()
    # the refused search and alert answer 400, which Chromium logs as a failed resource
    assert [e for e in console.errors if "400" not in e] == []
