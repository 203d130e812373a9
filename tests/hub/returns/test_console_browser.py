"""The returns pages inside the console, rendered by real headless Chromium against a real
HTTP server: a staff member signs in once through the console's form and works through
the returns (list, grid, a submission's figures and flags, CSV export) in the console's
shell, with its security headers; a council's staff see their own return only."""
import threading
from pathlib import Path

import pytest
import uvicorn

from hub.app import create_app
from hub.page_headers import CONTENT_SECURITY_POLICY
from support.returns import (
    COUNCILS,
    DATASET,
    LATE,
    MISSING,
    OUTLIER,
    QUARTER,
    RESUBMITTER,
    build_quarter,
    load_population,
)
from support.servers import free_port, wait_for_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"
COLOURS = {"submitted": "rgb(200, 230, 201)", "late": "rgb(255, 224, 178)", "missing": "rgb(255, 205, 210)"}
PASSWORD = "a long browser-test password"
SECURITY_HEADERS = {"content-security-policy": CONTENT_SECURITY_POLICY, "x-frame-options": "DENY",
                    "x-content-type-options": "nosniff", "referrer-policy": "same-origin", "cache-control": "no-store"}


@pytest.fixture
def hub_url(services):
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(services=services), host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def quarter(services, client, auth, clock):
    load_population(services)
    build_quarter(services, client, auth, clock)


@pytest.fixture
def tab(chromium, hub_url):
    """tab(username) -> a browser tab signed in to the console as that user; the test fails if
    the browser reported an error (a style or script the CSP refused is one)."""
    opened, errors = [], []

    def open_(username):
        context = chromium.new_context(base_url=hub_url, accept_downloads=True,
                                       viewport={"width": 1100, "height": 1400})
        context.set_default_timeout(10_000)
        opened.append(context)
        page = context.new_page()
        page.on("console", lambda m: m.type == "error" and not _the_page_itself(page, m)
                and errors.append(f"console: {m.text} ({m.location.get('url')})"))
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.goto("/console/returns/")
        assert page.url.endswith("/console/sign-in?next=/console/returns/")
        page.fill("#username", username)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("form.stacked button[type=submit]")
        assert page.url.endswith("/console/returns/"), page.url
        return page

    yield open_
    for context in opened:
        context.close()
    assert errors == [], "the browser reported errors"


def _the_page_itself(page, message) -> bool:
    """A refused page (its status is asserted by the test) rather than a stylesheet or script."""
    return message.text.startswith("Failed to load resource") and message.location.get("url") == page.url


def assert_console_shell(page, response):
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (page.url, name, response.headers)
    assert page.locator('nav[aria-label="Console pages"] a[aria-current="page"]').inner_text() == "Data returns"
    assert page.locator(".who").inner_text().startswith("Signed in as")


def test_staff_sign_in_once_and_work_through_the_returns_in_the_console(services, quarter, tab):
    services.accounts.add_user("greta", "scottish-government", "governance", PASSWORD, actor="test")
    page = tab("greta")
    page.click(f'a[href="/console/returns/{DATASET}"]')
    assert page.url.endswith(f"/console/returns/{DATASET}")

    assert_console_shell(page, page.goto(f"/console/returns/{DATASET}?from=2025-Q4&to={QUARTER}"))
    cells = page.locator(f'td.cell[data-period="{QUARTER}"]')
    assert cells.count() == 32
    statuses = dict(zip(cells.evaluate_all("cs => cs.map(c => c.dataset.org)"),
                        cells.evaluate_all("cs => cs.map(c => c.dataset.status)")))
    expected = {org: "submitted" for org in COUNCILS}
    expected.update({org: "late" for org in LATE}, **{MISSING: "missing"})
    assert statuses == expected

    def colour(org):
        return page.locator(f'td.cell[data-org="{org}"][data-period="{QUARTER}"]').evaluate(
            "c => getComputedStyle(c).backgroundColor")

    assert colour("edinburgh") == COLOURS["submitted"]  # the console's stylesheet colours the grid
    assert colour("angus") == COLOURS["late"]
    assert colour(MISSING) == COLOURS["missing"]
    assert "↻" in page.locator(f'td.cell[data-org="{RESUBMITTER}"][data-period="{QUARTER}"]').inner_text()
    assert page.locator(f'td.cell[data-org="{OUTLIER}"][data-period="{QUARTER}"] .flag').inner_text() == "⚑1"

    def total(name):
        return page.locator(f'tr[data-total="{name}"] td[data-period="{QUARTER}"]').inner_text()

    assert [total(n) for n in ("submitted", "late", "missing", "resubmitted", "flagged")] == ["27", "4", "1", "1", "1"]
    assert page.locator('tr[data-total="missing"] td[data-period="2025-Q4"]').inner_text() == "32"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "returns-grid.png"), full_page=True)

    with page.expect_navigation() as shown:
        page.locator(f'td.cell[data-org="{OUTLIER}"][data-period="{QUARTER}"] a').click()
    assert_console_shell(page, shown.value)
    assert page.locator("#status").inner_text() == "submitted"
    assert "median absolute deviations" in page.locator("#flags li").inner_text()
    assert page.locator("h2", has_text="Records").count() == 1 and "free_meals_registered" in page.content()

    page.goto(f"/console/returns/{DATASET}?from={QUARTER}&to={QUARTER}")
    with page.expect_download() as download:
        page.locator("#export-csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("dataset,period,due_date,org")
    assert len(text.splitlines()) == 33


def test_a_councils_staff_see_their_own_return_and_not_another_councils(services, quarter, tab):
    services.accounts.add_user("olive", "edinburgh", "ops", PASSWORD, actor="test")
    page = tab("olive")
    page.goto(f"/console/returns/{DATASET}?from={QUARTER}&to={QUARTER}")
    assert page.locator("td.cell").evaluate_all("cs => cs.map(c => c.dataset.org)") == ["edinburgh"]
    assert "Fife" not in page.locator("#returns-grid").inner_text()

    refused = page.goto(f"/console/returns/{DATASET}/{QUARTER}/fife")
    assert refused.status == 404
    assert refused.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.locator("h1").inner_text().lower() == "not found"  # the console's error page, in its shell
    assert page.locator("main .notice-error").count() == 1
    assert page.locator(".who").inner_text().startswith("Signed in as")
    assert "free_meals" not in page.content() and "scottish-government" not in page.content()

    page.goto(f"/console/returns/{DATASET}/{QUARTER}/edinburgh")
    assert page.locator("h1").inner_text() == f"The City of Edinburgh Council: {QUARTER}"


def test_the_returns_pages_send_a_stranger_to_sign_in(services, quarter, chromium, hub_url):
    page = chromium.new_page()
    response = page.goto(f"{hub_url}/console/returns/{DATASET}")
    assert response.url == f"{hub_url}/console/sign-in?next=/console/returns/{DATASET}"
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "Fife" not in page.content() and page.locator("#username").count() == 1
    page.close()
