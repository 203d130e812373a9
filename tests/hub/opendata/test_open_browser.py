"""The public pages in real headless Chromium against a real hub process: a resident finds
a dataset, searches a postcode district, reads the table and downloads the CSV, on a
desktop and on a phone-width screen (no horizontal scroll), with no browser errors."""
from __future__ import annotations

import pytest
import requests

from support.agreements import agreement_yaml
from support.browser import ARTIFACTS, ConsoleHub
from support.factories import gazetteer_record
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
OPEN = agreement_yaml("gazetteer-open", ["edinburgh"], ["public"], purposes=["ServiceProvision"],
                      datasets={"gazetteer-address": {"fields": ["uprn", "paon", "street", "town", "postcode"]}})


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("open-hub"),
                        env={"CAUSEWAY_HUB_OPERATOR": "sfrs", "CAUSEWAY_OPEN_DATA_INTERVAL_SECONDS": "0.5"})
    server.prepare()
    server.start()
    assert server.api("POST", "/agreements", "edinburgh", "governance", json={"source": OPEN}).status_code == 201
    for org in ("edinburgh", "sfrs"):
        answer = server.api("POST", "/agreements/gazetteer-open/transitions", org, "governance", json={"to": "approved"})
        assert answer.status_code == 200, answer.text
    assert server.api("POST", "/agreements/gazetteer-open/transitions", "edinburgh", "governance",
                      json={"to": "active"}).status_code == 200
    records = []
    for n, postcode in enumerate(["EH1 1YJ", "EH1 2NG", "EH6 6QQ"]):
        record = gazetteer_record(7700 + n)
        record["payload"].update(postcode=postcode, street=f"Example Street {n}")
        records.append(record)
    server.publish("edinburgh", records)
    wait_until(lambda: len(requests.get(f"{server.base_url}/open/gazetteer-address.json", timeout=5)
                           .json().get("records", [])) == 3, timeout=30, message="the projector to publish")
    yield server
    server.stop()


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)])
def test_a_resident_searches_a_district_and_downloads_it(chromium, hub, width, height):
    context = chromium.new_context(base_url=hub.base_url, viewport={"width": width, "height": height},
                                   accept_downloads=True)
    errors: list[str] = []
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto("/open/")
        page.get_by_role("link", name="Gazetteer address").click()
        page.wait_for_url("**/open/gazetteer-address")
        assert page.locator("caption").inner_text().startswith("Records")
        page.get_by_label("Postcode district or postcode (for example EH1)").fill("eh1")
        page.keyboard.press("Enter")
        page.wait_for_url("**district=eh1*")
        rows = page.locator("tbody tr")
        assert rows.count() == 2 and "EH6" not in page.locator("tbody").inner_text()
        assert page.locator("caption").inner_text() == "Records in EH1"
        assert page.evaluate("document.documentElement.scrollWidth") <= width  # no horizontal scroll
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"open-dataset-{width}.png"), full_page=True)
        with page.expect_download() as download:
            page.get_by_role("link", name="those in EH1").click()
        assert download.value.suggested_filename == "gazetteer-address-EH1.csv"
        assert len(open(download.value.path(), encoding="utf-8").read().strip().splitlines()) == 3

        page.get_by_label("Postcode district or postcode (for example EH1)").fill("nonsense!")
        page.keyboard.press("Enter")
        assert page.get_by_role("alert").inner_text().endswith("is not a postcode district (for example EH1) or a postcode")
    finally:
        context.close()
    assert [e for e in errors if "400" not in e] == []  # the refused search answers 400, which Chromium logs
