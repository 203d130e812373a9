"""Fixtures for alerts: the hub's services on an injected clock, a real SMTP server process
and a real webhook receiver process (each a separate program), and helpers to put an agent
in a state and read what the receivers got."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from causeway_common.signing import generate_key, public_key_b64
from hub.alerts.registry import RULES
from hub.app import build_services
from hub.auth import Principal
from hub.config import AlertSettings, Settings
from support.clock import FakeClock
from support.sinks import sink_fixture

OPERATOR = "improvement-service"
ORGS = [("edinburgh", "The City of Edinburgh Council", "council"), ("glasgow", "Glasgow City Council", "council"),
        (OPERATOR, "Improvement Service", "agency")]


def only(*rules: str) -> AlertSettings:
    """Alert settings with every rule but these switched off, so a test sees only its own."""
    return AlertSettings(disabled_rules=tuple(name for name in RULES if name not in rules))


smtp_server = sink_fixture("smtp_sink.py", "module")
webhook_sink = sink_fixture("webhook_sink.py", "module")


@pytest.fixture
def clock():
    return FakeClock(datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def alert_settings():
    return only("agent-stale")


@pytest.fixture
def settings(db_url, smtp_server, webhook_sink, alert_settings):
    smtp_server.clear()
    webhook_sink.clear()
    return Settings(db_url=db_url, smtp_host="127.0.0.1", smtp_port=smtp_server.port,
                    smtp_from="alerts@causeway.example", webhook_allowed_networks=("127.0.0.1/32",),
                    hub_operator=OPERATOR, public_url="https://hub.causeway.example", alerts=alert_settings)


@pytest.fixture
def services(settings, clock):
    built = build_services(settings, clock=clock)
    for slug, name, kind in ORGS:
        built.orgs.add_org(slug, name, kind, actor="test")
    yield built
    built.engine.dispose()


def admin(org: str = "edinburgh") -> Principal:
    return Principal(org=org, role="admin", credential_id="test")


def ops(org: str) -> Principal:
    return Principal(org=org, role="ops", credential_id=f"test-{org}-ops")


class Agents:
    def __init__(self, services):
        self.services = services

    def enrol(self, org: str, name: str) -> str:
        token = self.services.orgs.create_enrolment(org, 3600, actor="test")[0]
        return self.services.orgs.enrol_agent(token, public_key_b64(generate_key()), name, "1.4.0")["agent_id"]

    def beat(self, org: str, agent_id: str) -> None:
        agent = Principal(org=org, role="publisher", credential_id="agent", agent_id=agent_id)
        self.services.health.record_heartbeat(agent, agent_id, {"version": "1.4.0", "interval_seconds": 30})


@pytest.fixture
def agents(services):
    return Agents(services)
