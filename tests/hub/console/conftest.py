import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def chromium():
    """Headless Chromium (the system's), shared by every browser test."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    from browser import CHROMIUM, CHROMIUM_ARGS

    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        yield browser
        browser.close()


@pytest.fixture
def open_console(chromium, hub):
    """open_console() -> a new browser tab (Console) on the module's `hub`; the test fails
    if any tab reported a browser error."""
    from browser import Console

    opened = []

    def open_():
        console = Console(chromium, hub)
        opened.append(console)
        return console

    yield open_
    errors = [e for c in opened for e in c.errors]
    for console in opened:
        console.close()
    assert errors == [], "the browser reported errors"
