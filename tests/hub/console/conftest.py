
import pytest

from support.delivery import Receiver


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    """A real webhook receiver process for the module's hub to deliver to."""
    started = Receiver(tmp_path_factory.mktemp("receiver") / "held.db").start()
    yield started
    started.stop()


@pytest.fixture
def open_console(chromium, hub):
    """open_console() -> a new browser tab (Console) on the module's `hub`; the test fails
    if any tab reported a browser error."""
    from support.browser import Console

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
