"""Fixtures for data returns: an injectable hub clock, a real SMTP server
process and a real webhook receiver process, and every org in policies/orgs.yaml."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from hub.app import build_services
from hub.config import Settings
from support.clock import FakeClock
from support.returns import load_orgs
from support.sinks import sink_fixture

smtp_server = sink_fixture("smtp_sink.py", "session")
webhook_receiver = sink_fixture("webhook_sink.py", "session")


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
