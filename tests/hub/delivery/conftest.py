"""Fixtures for delivery tests: settings that allow-list loopback, fast retries,
a webhook receiver process, and publishing helpers."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from hub.config import DeliverySettings, Settings
from support import ROOT
from support.agreements import agreement_yaml
from support.delivery import HUB_MQTT_PASSWORD, SECRETS_KEY, Receiver
from support.servers import MosquittoServer

PURPOSE = "PublicSafety"
FIELDS = {
    "gazetteer-address": ["uprn", "town", "postcode", "custodian"],
    "referral": ["referral_id", "referring_org", "receiving_service", "goals"],
}



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
        body.setdefault("purpose", PURPOSE)
        response = client.post("/api/v1/subscriptions", json=body, headers=auth(org, "subscriber"))
        assert response.status_code == 201, response.json()
        return response.json()
    return create


@pytest.fixture
def grant(services, key_for):
    """grant(recipient, dataset, purpose, providers, fields): a real sharing agreement,
    applied, approved by every provider and the recipient, and put in force."""
    made = []

    def allow(recipient, dataset, purpose=PURPOSE, providers=("edinburgh",), fields=None, conditions=None,
              lawful_basis="public-task", retention_days=365):
        agreement_id = f"test-{dataset.replace('.', '-')}-{recipient}-{len(made) + 1}"
        spec = {"fields": list(fields or FIELDS[dataset])}
        if conditions:
            spec["conditions"] = list(conditions)
        source = agreement_yaml(agreement_id, providers, [recipient], {dataset: spec}, purposes=[purpose],
                                lawful_basis=lawful_basis, title=f"{dataset} to {recipient} (test)",
                                valid_from="2020-01-01", valid_until="2099-12-31", retention_days=retention_days)
        provider_key = services.orgs.authenticate(key_for(providers[0], "governance"))
        services.policy.agreements.apply(source, provider_key)
        for party in dict.fromkeys([*providers, recipient]):  # every party approves for itself
            services.policy.agreements.transition(agreement_id, "approved",
                                                  services.orgs.authenticate(key_for(party, "governance")))
        services.policy.agreements.transition(agreement_id, "active", provider_key)
        made.append(agreement_id)
        return agreement_id

    def suspend(agreement_id):
        who = services.orgs.authenticate(key_for("edinburgh", "governance"))
        services.policy.agreements.transition(agreement_id, "suspended", who, reason="review")

    allow.suspend = suspend
    return allow


@pytest.fixture
def worker(services, grant):
    from hub.delivery.runner import build_worker

    started = build_worker(services, worker_id="test-worker").start()
    yield started
    started.stop()


@pytest.fixture
def broker(tmp_path, db_url, services):
    """A real Mosquitto with the password file and ACL written by `causeway-hub mqtt acl`;
    `broker.passwords` holds each org's MQTT password."""
    passwd, acl = tmp_path / "passwd", tmp_path / "acl"
    result = subprocess.run(
        [sys.executable, "-m", "hub.cli", "mqtt", "acl", "--db", db_url, "--password-file", str(passwd),
         "--acl-file", str(acl)], cwd=str(ROOT), capture_output=True, text=True, timeout=60,
        env={**os.environ, "CAUSEWAY_MQTT_PASSWORD": HUB_MQTT_PASSWORD})
    assert result.returncode == 0, result.stderr
    passwords = dict(line.split() for line in result.stdout.splitlines() if line.startswith("  "))
    assert HUB_MQTT_PASSWORD not in passwd.read_text()  # only hashes are written
    server = MosquittoServer(password_file=str(passwd), acl_file=str(acl)).start()
    server.passwords = passwords
    yield server
    server.close()
