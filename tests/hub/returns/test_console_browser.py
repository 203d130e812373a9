"""The console's returns grid, rendered by real headless Chromium against a real HTTP server."""
import threading
from pathlib import Path

import pytest
import uvicorn

from hub.app import create_app
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
def browser(chromium):
    return chromium


def test_the_grid_renders_coloured_with_counts_and_drills_down(services, client, auth, key_for, clock, hub_url, browser):
    load_population(services)
    build_quarter(services, client, auth, clock)
    page = browser.new_page(extra_http_headers={"Authorization": f"Bearer {key_for('scottish-government', 'subscriber')}"},
                            viewport={"width": 1100, "height": 1400})
    page.goto(f"{hub_url}/console/returns/{DATASET}?from=2025-Q4&to={QUARTER}")

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

    assert colour("edinburgh") == COLOURS["submitted"]
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

    page.locator(f'td.cell[data-org="{OUTLIER}"][data-period="{QUARTER}"] a').click()
    page.wait_for_selector("#flags")
    assert page.locator("#status").inner_text() == "submitted"
    assert "median absolute deviations" in page.locator("#flags li").inner_text()

    with page.expect_download() as download:
        page.goto(f"{hub_url}/console/returns/{DATASET}?from={QUARTER}&to={QUARTER}")
        page.locator("#export-csv").click()
    text = Path(download.value.path()).read_text(encoding="utf-8")
    assert text.splitlines()[0].startswith("dataset,period,due_date,org")
    assert len(text.splitlines()) == 33


def test_the_grid_is_refused_without_a_credential(services, hub_url, browser):
    page = browser.new_page()
    response = page.goto(f"{hub_url}/console/returns/{DATASET}")
    assert response.status == 401
    assert "sign in" in page.content()
