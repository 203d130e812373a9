"""Fixtures for delivery tests: settings that allow-list loopback, fast retries,
a webhook receiver process, and publishing helpers."""
from __future__ import annotations

import base64
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from harness import Receiver  # noqa: E402

from hub.config import DeliverySettings, Settings  # noqa: E402

SECRETS_KEY = base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def settings(db_url):
    return Settings(db_url=db_url, delivery=DeliverySettings(
        webhook_allow=("127.0.0.1/32",), retry_schedule=(0.2, 0.5, 1.0), lease_seconds=3.0,
        poll_interval_seconds=0.05, secrets_key=SECRETS_KEY, agreement_recheck_seconds=0.2,
        mqtt_retry_seconds=0.5))


@pytest.fixture
def receiver(tmp_path):
    started = Receiver(tmp_path / "receiver-state.db").start()
    yield started
    started.stop()


@pytest.fixture
def publish(client, auth):
    def send(records, org="edinburgh"):
        response = client.post("/api/v1/records", json={"records": records}, headers=auth(org, "publisher"))
        assert response.status_code == 200, response.json()
        results = response.json()["results"]
        assert all(r["status"] == "accepted" for r in results), results
        return [r["seq"] for r in results]
    return send


@pytest.fixture
def subscribe(client, auth):
    def create(org="sds", **body):
        body.setdefault("purpose", "service-planning")
        response = client.post("/api/v1/subscriptions", json=body, headers=auth(org, "subscriber"))
        assert response.status_code == 201, response.json()
        return response.json()
    return create


@pytest.fixture
def grant(services):
    """grant(recipient, dataset, purpose, providers=..., fields=...): an active agreement."""
    from fakes import FakePolicy

    from hub.delivery.policy import PolicyPort

    policy = FakePolicy()
    services.delivery.policy = PolicyPort(policy)
    grant.policy = policy

    def allow(recipient, dataset, purpose="service-planning", providers=("edinburgh",), fields=None):
        policy.allow(recipient, dataset, purpose, providers, fields)

    allow.policy = policy
    return allow


@pytest.fixture
def worker(services, grant):
    from hub.delivery.runner import build_worker

    started = build_worker(services, worker_id="test-worker").start()
    yield started
    started.stop()
