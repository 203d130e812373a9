"""The returns calendar in real headless Chromium, on `make run`'s demo returns (quarterly,
monthly and weekly, councils in every state): a council's submitter and an agency's governance
each see their calendar, follow a due date to that return's page, and make the feed address;
every page state passes axe-core with no violation and reflows at 390 px with no sideways scroll."""
from __future__ import annotations

import shutil
import threading
from datetime import datetime, timezone

import pytest
import requests
import uvicorn
from icalendar import Calendar

from hub.app import build_services, create_app
from hub.config import Settings
from hub.returns.demo import publish_example_returns
from support.browser import ARTIFACTS, accessibility_violations, phone_width_overflow
from support.clock import FakeClock
from support.returns import load_orgs, load_population
from support.servers import free_port, wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]
PASSWORD = "a long calendar-test password"
WEEKLY = "data-return.care-home-occupancy"


@pytest.fixture(scope="module")
def hub_url(sqlite_template, tmp_path_factory):
    folder = tmp_path_factory.mktemp("calendar-browser")
    shutil.copy(sqlite_template, folder / "causeway.db")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    services = build_services(Settings(db_url=f"sqlite:///{folder / 'causeway.db'}", public_url=url),
                              clock=FakeClock(datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)))
    load_orgs(services)
    load_population(services)
    publish_example_returns(services)
    services.accounts.add_user("fiona", "fife", "submitter", PASSWORD, actor="test")
    services.accounts.add_user("greta", "scottish-government", "governance", PASSWORD, actor="test")
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    yield url
    server.should_exit = True
    thread.join(timeout=10)
    services.engine.dispose()


@pytest.fixture
def signed_in(chromium, hub_url):
    contexts, errors = [], []

    def open_(username):
        context = chromium.new_context(base_url=hub_url, viewport={"width": 1100, "height": 1000})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.goto("/console/returns/")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("form.stacked button[type=submit]")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert errors == [], "the browser reported errors"


def assert_accessible_and_reflows(page, state: str) -> None:
    assert accessibility_violations(page) == [], state
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = state.replace(" ", "-").replace("'", "")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    desktop = page.viewport_size
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        assert phone_width_overflow(page) == 0, f"{state} scrolls sideways at 390 px"
        page.screenshot(path=str(ARTIFACTS / f"{name}-phone.png"), full_page=True)
    finally:
        page.set_viewport_size(desktop)


def test_a_council_submitter_sees_every_state_follows_a_due_date_and_makes_a_feed(signed_in, hub_url):
    page = signed_in("fiona")
    with page.expect_navigation():
        page.click("#returns-calendar")
    assert page.locator("h1").inner_text() == "Returns calendar: Fife Council"
    entries = page.locator("#submits li.cal-entry")
    states = set(entries.evaluate_all("es => es.map(e => e.dataset.state)"))
    statuses = set(entries.evaluate_all("es => es.map(e => e.dataset.status)"))
    assert {"submitted", "not_started"} <= states and {"awaiting_approval", "late", "due"} <= statuses
    frequencies = page.locator("#submits .cal-meta").all_inner_texts()
    assert {f.split(",")[0] for f in frequencies} >= {"quarterly", "monthly", "weekly"}
    assert page.locator("#submits .cal-date time").first.inner_text().count(" ") == 2  # "30 Oct 2026"
    assert_accessible_and_reflows(page, "a council's calendar")

    awaiting = page.locator(f'#submits li[data-dataset="{WEEKLY}"][data-state="submitted"] a').first
    href = awaiting.get_attribute("href")
    with page.expect_navigation():
        awaiting.click()
    assert page.url == hub_url + href and page.locator("#sign-off-state").get_attribute("data-state") == "submitted"

    page.go_back()
    with page.expect_navigation():
        page.click("#make-feed")
    url = page.locator("#feed-url").input_value()
    assert url.startswith(f"{hub_url}/api/v1/return-calendar/fife/feed/calfeed_")
    assert_accessible_and_reflows(page, "a new feed address")
    feed = requests.get(url, timeout=10)
    events = Calendar.from_ical(feed.content).walk("VEVENT")
    assert any(f"submit.{WEEKLY}." in str(e["UID"]) for e in events)
    page.goto("/console/returns/calendar")  # the address is never shown again
    assert page.locator("#feed-url").count() == 0 and "in use" in page.locator("#feed-state").inner_text()


def test_an_agency_sees_which_council_is_overdue_on_what(signed_in):
    page = signed_in("greta")
    page.goto("/console/returns/calendar")
    stirling = page.locator("#overdue-by-council li.cal-entry[data-org=stirling]")
    stirling.locator("summary").click()
    overdue = stirling.locator("li[data-dataset]").evaluate_all("es => es.map(e => e.dataset.dataset)")
    assert {WEEKLY, "data-return.homelessness-applications"} <= set(overdue)
    group = page.locator(f'#asks li.cal-entry[data-dataset="{WEEKLY}"]').filter(
        has=page.locator('li[data-state="accepted"]')).first
    group.locator("summary").click()
    states = set(group.locator("li[data-state]").evaluate_all("es => es.map(e => e.dataset.state)"))
    assert {"accepted", "approved", "sent_back", "not_received"} <= states  # drafts and submitted: not yet its
    assert_accessible_and_reflows(page, "an agency's calendar with a return opened")
