"""The console in real headless Chromium against a real hub process.

Every test signs in through the form using the keyboard only, and fails if the
browser logs an error (a script error, a refused resource, a CSP violation).
Screenshots of each page are kept in test-artifacts/console/.
"""
from __future__ import annotations

import csv
import io

import pytest

from browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PASSWORD, ConsoleHub
from factories import gazetteer_record

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("console-hub"))
    server.prepare()
    server.start()
    bad = gazetteer_record(9002)
    bad["payload"]["postcode"] = "not a postcode"
    server.publish("edinburgh", [gazetteer_record(9001), bad, gazetteer_record(9003)])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chromium():
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield browser
        browser.close()


class Console:
    """One signed-in browser tab, collecting browser errors as it goes."""

    def __init__(self, browser, hub: ConsoleHub):
        self.hub = hub
        self.context = browser.new_context(base_url=hub.base_url, accept_downloads=True)
        self.context.set_default_timeout(10_000)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def sign_in(self, username: str, password: str = PASSWORD):
        page = self.page
        page.goto("/console/")
        assert page.url.endswith("/console/sign-in?next=/console/")
        page.keyboard.press("Tab")  # the skip link comes first
        page.focus("#username")
        page.keyboard.type(username)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "password"
        page.keyboard.type(password)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        return page

    def screenshot(self, name: str):
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self):
        self.context.close()


@pytest.fixture
def open_console(chromium, hub):
    opened = []

    def open_() -> Console:
        console = Console(chromium, hub)
        opened.append(console)
        return console

    yield open_
    errors = [e for c in opened for e in c.errors]
    for console in opened:
        console.close()
    assert errors == [], "the browser reported errors"


def test_sign_in_and_every_page_renders_without_browser_errors(open_console):
    console = open_console()
    page = console.page
    page.goto("/console/sign-in")
    console.screenshot("sign-in")
    console.sign_in("ada")
    assert page.get_by_text("Signed in as").is_visible()
    assert page.locator("h1").inner_text() == "Overview"
    nav = page.get_by_role("navigation", name="Console pages")
    labels = nav.get_by_role("link").all_inner_texts()
    assert {"Overview", "Data quality", "Catalogue", "Audit log"} <= set(labels)
    for label in labels:
        with page.expect_navigation():
            nav.get_by_role("link", name=label, exact=True).click()
        assert page.locator("h1").first.is_visible()
        assert page.title().endswith("Causeway console")
        console.screenshot(label.lower().replace(" ", "-"))
    page.goto("/console/catalogue/gazetteer-address")
    assert page.get_by_role("rowheader", name="uprn", exact=True).is_visible()
    console.screenshot("catalogue-dataset")


def test_the_overview_charts_records_and_counts_rejects(open_console):
    console = open_console()
    page = console.sign_in("gina")
    assert page.locator("#accepted-today").inner_text() == "2"
    assert page.locator("#rejects-today").inner_text() == "1"
    chart = page.get_by_role("img", name="Records accepted per hour, by dataset (last 24 hours, UTC)")
    assert chart.is_visible()
    assert chart.locator("polyline").count() == 1
    assert "gazetteer-address (2)" in page.locator("figure.chart .legend").inner_text()


def test_wrong_password_shows_an_error_and_keeps_the_form_usable(open_console):
    console = open_console()
    page = console.sign_in("gina", "this is not the password")
    alert = page.get_by_role("alert")
    assert "do not match an account" in alert.inner_text()
    assert page.locator("#username").input_value() == "gina"
    # The browser logs the 401 response of the refused sign-in as a console error; that one is expected.
    console.errors = [e for e in console.errors if "401" not in e]


def test_a_post_without_the_csrf_token_is_refused(open_console):
    console = open_console()
    page = console.sign_in("gina")
    response = page.request.post("/console/audit/verify", form={"anything": "1"}, max_redirects=0)
    assert response.status == 403
    assert "did not come from the console" in response.text()
    forged = page.request.post("/console/audit/verify", form={"csrf_token": "forged"}, max_redirects=0)
    assert forged.status == 403


def test_verify_the_audit_chain_and_filter_the_log_from_the_keyboard(open_console):
    console = open_console()
    page = console.sign_in("omar")
    page.goto("/console/audit")
    page.get_by_role("button", name="Verify the whole chain").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "The audit chain is intact" in page.get_by_role("status").inner_text()
    page.focus("#f-action")
    page.select_option("#f-action", "records.publish")
    page.focus("#f-actor")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # submits the filter form
    assert "action=records.publish" in page.url
    actions = page.locator("table.audit tbody td:nth-child(3)").all_inner_texts()
    assert actions and set(actions) == {"records.publish"}
    console.screenshot("audit-filtered")


def test_the_quality_page_names_the_failing_field_and_downloads_the_daily_csv(open_console):
    console = open_console()
    page = console.sign_in("gina")
    page.goto("/console/quality")
    assert page.get_by_role("cell", name="/payload/postcode").first.is_visible()
    with page.expect_download(timeout=10_000) as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("quality-edinburgh-")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert [(r["dataset"], r["accepted"], r["rejected"]) for r in rows] == [("gazetteer-address", "2", "1")]
    assert rows[0]["most_common_error_field"] == "/payload/postcode"


def test_sign_out_returns_to_the_sign_in_page(open_console):
    console = open_console()
    page = console.sign_in("gina")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert "You have signed out" in page.get_by_role("status").inner_text()
    page.goto("/console/audit")
    assert "/console/sign-in" in page.url
