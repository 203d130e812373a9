"""The hash-chained audit log: who did what, provably unaltered."""
import subprocess
import sys

import pytest
from sqlalchemy import text

from support.factories import gazetteer_record


def hub_cli(db_url, *args):
    return subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", db_url],
                          capture_output=True, text=True, timeout=60)


def test_publishes_and_admin_actions_are_audited(client, auth):
    client.post("/api/v1/records", json={"records": [gazetteer_record(1)]}, headers=auth("edinburgh", "publisher"))
    entries = client.get("/api/v1/audit", headers=auth("edinburgh", "governance")).json()["entries"]
    actions = [e["action"] for e in entries]
    assert "org.add" in actions and "credential.issue" in actions and "records.publish" in actions
    publish = next(e for e in entries if e["action"] == "records.publish")
    assert publish["detail"]["accepted"] == {"gazetteer-address": 1}
    # an org sees only its own entries
    assert {e["org"] for e in entries} == {"edinburgh"}


@pytest.mark.parametrize("role", ["publisher", "subscriber"])
def test_audit_needs_governance_or_ops(client, auth, role):
    assert client.get("/api/v1/audit", headers=auth("edinburgh", role)).status_code == 403


def test_verify_passes_then_fails_at_the_altered_entry(client, auth, services, db_url):
    for i in range(3):
        client.post("/api/v1/records", json={"records": [gazetteer_record(i)]}, headers=auth("edinburgh", "publisher"))
    ok = hub_cli(db_url, "audit", "verify")
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout

    with services.engine.begin() as conn:
        target = conn.execute(text("SELECT seq FROM audit_log WHERE action = 'records.publish' ORDER BY seq LIMIT 1 OFFSET 1")).scalar()
        conn.execute(text("UPDATE audit_log SET detail = :d WHERE seq = :s"), {"d": '{"accepted":{}}', "s": target})
    broken = hub_cli(db_url, "audit", "verify")
    assert broken.returncode != 0
    assert f"entry {target}" in broken.stderr
    api = client.post("/api/v1/audit/verify", headers=auth("edinburgh", "ops")).json()
    assert api["intact"] is False and api["first_broken"]["seq"] == target


def test_verify_detects_a_deleted_entry(services, db_url, client, auth):
    client.post("/api/v1/records", json={"records": [gazetteer_record(1)]}, headers=auth("edinburgh", "publisher"))
    with services.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = 2"))
    result = hub_cli(db_url, "audit", "verify")
    assert result.returncode != 0
    assert "entry 2" in result.stderr
