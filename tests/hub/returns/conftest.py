"""Fixtures for data returns: an injectable hub clock, a real SMTP server
process and a real webhook receiver process, and every org in policies/orgs.yaml."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from scenario import load_orgs  # noqa: E402
from servers import free_port, wait_for_port  # noqa: E402

from hub.app import build_services  # noqa: E402
from hub.config import Settings  # noqa: E402


class FakeClock:
    """The hub's clock, set by the test."""

    def __init__(self, moment: datetime):
        self.now = moment

    def set(self, text: str) -> datetime:
        self.now = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return self.now

    def __call__(self) -> datetime:
        return self.now


class SinkProcess:
    """A receiver process (SMTP or HTTP) that appends what it receives to a JSON-lines file."""

    def __init__(self, script: str, folder: Path):
        self.port = free_port()
        self.path = folder / f"{Path(script).stem}.jsonl"
        self.path.touch()
        self.proc = subprocess.Popen([sys.executable, str(HERE / script), str(self.port), str(self.path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        wait_for_port(self.port, proc=self.proc)

    def received(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received()

    def clear(self) -> None:
        self.path.write_text("", encoding="utf-8")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory):
    sink = SinkProcess("smtp_sink.py", tmp_path_factory.mktemp("smtp"))
    yield sink
    sink.stop()


@pytest.fixture(scope="session")
def webhook_receiver(tmp_path_factory):
    sink = SinkProcess("webhook_sink.py", tmp_path_factory.mktemp("webhooks"))
    yield sink
    sink.stop()


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 4, 1, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def settings(db_url, smtp_server, webhook_receiver):
    smtp_server.clear()
    webhook_receiver.clear()
    return Settings(db_url=db_url, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                    smtp_from="returns@causeway.example", webhook_allowed_networks=("127.0.0.1/32",))


@pytest.fixture
def services(settings, clock):
    built = build_services(settings, clock=clock)
    load_orgs(built)
    yield built
    built.engine.dispose()
