"""The hub keeps personal payloads in its log only for the hub retention period, then
leaves a tombstone that keeps the digest: provenance still proves the record's origin,
the audit chain still verifies, and nobody is delivered the tombstone. Against a real
hub process, on SQLite and PostgreSQL."""
import os
import subprocess
import sys
import uuid

import pytest
import requests

from causeway_common.canonical import digest
from causeway_common.signing import (
    build_manifest,
    generate_key,
    load_public_key,
    public_key_b64,
    sign_manifest,
    verify_manifest,
)
from support.agreements import REFERRAL_PUBLIC_TASK
from support.factories import gazetteer_record, referral_record
from support.hubprocess import HubProcess
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]


def hub_command(db_url, *args, **env):
    return subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", db_url], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def call(hub, method, path, key, **kwargs):
    answer = requests.request(method, f"{hub.url}/api/v1{path}", headers={"Authorization": f"Bearer {key}"},
                              timeout=30, **kwargs)
    assert answer.status_code < 300, answer.text
    return answer.json()


def activate(hub, key_for, source, provider, recipient):
    agreement = call(hub, "POST", "/agreements", key_for(provider, "governance"), json={"source": source})["id"]
    for org in (provider, recipient):
        call(hub, "POST", f"/agreements/{agreement}/transitions", key_for(org, "governance"), json={"to": "approved"})
    call(hub, "POST", f"/agreements/{agreement}/transitions", key_for(provider, "governance"), json={"to": "active"})


def referral(referral_id):
    return referral_record(referral_id, subject=f"subj-{referral_id}", to="glasgow",
                           fields={"referring_org": "edinburgh"})


@pytest.fixture
def agent(hub, services):
    token, _ = services.orgs.create_enrolment("edinburgh", ttl_seconds=3600, actor="test")
    key = generate_key()
    enrolled = requests.post(f"{hub.url}/api/v1/agents/enrol", timeout=10, json={
        "token": token, "public_key": public_key_b64(key), "name": "caselink-agent"}).json()
    return {"key": key, "public_key": public_key_b64(key), **enrolled}


def publish_signed(hub, agent, records):
    manifest = build_manifest(records, str(uuid.uuid4()), agent["agent_id"])
    body = {"records": records, "manifest": manifest, "signature": sign_manifest(manifest, agent["key"])}
    results = call(hub, "POST", "/records", agent["api_key"], json=body)["results"]
    assert [r["status"] for r in results] == ["accepted"] * len(records)


def test_a_purge_leaves_tombstones_that_still_prove_their_origin(hub, agent, key_for, db_url):
    activate(hub, key_for, REFERRAL_PUBLIC_TASK, "edinburgh", "glasgow")
    referrals = [referral("EDI-EMP-2026-00001"), referral("EDI-EMP-2026-00002")]
    address = gazetteer_record(906700000001)
    publish_signed(hub, agent, [*referrals, address])
    glasgow = key_for("glasgow", "subscriber")
    feed = {"purpose": "ServiceProvision", "after": 0}
    assert len(call(hub, "GET", "/feeds/referral", glasgow, params=feed)["events"]) == 2

    purge = hub_command(db_url, "retention", "run", CAUSEWAY_HUB_RETENTION_DAYS="referral=0")
    assert purge.returncode == 0, purge.stderr
    [line] = [line for line in purge.stdout.splitlines() if line.startswith("referral ")]
    assert line.split() == ["referral", "0", "days", "purged", "2", "tombstones", "2"]

    publisher = key_for("edinburgh", "publisher")
    for original in referrals:
        shown = call(hub, "GET", f"/records/{original['id']}", publisher)
        assert shown["record"]["payload"] is None and shown["purged_at"]
        assert shown["record"]["key"] == original["key"] and shown["record"]["subject"] == original["subject"]
        # The digest of what the agent sent is kept, is in the manifest it signed, and the signature holds.
        assert shown["digest"] == digest(original)
        provenance = shown["provenance"]
        assert shown["digest"] in provenance["manifest"]["record_digests"]
        verify_manifest(provenance["manifest"], provenance["signature"], load_public_key(agent["public_key"]))
    assert call(hub, "GET", f"/records/{address['id']}", publisher)["record"]["payload"]["uprn"] == "906700000001"

    # Nobody is delivered a tombstone; the recipient's cursor moves past them.
    assert call(hub, "GET", "/feeds/referral", glasgow, params=feed)["events"] == []
    assert [e["id"] for e in call(hub, "GET", "/feeds/referral", publisher, params={"after": 0})["events"]] == []

    verify = hub_command(db_url, "audit", "verify")
    assert verify.returncode == 0 and "intact" in verify.stdout, verify.stdout + verify.stderr
    again = hub_command(db_url, "retention", "run", CAUSEWAY_HUB_RETENTION_DAYS="referral=0")
    assert "purged 0" in " ".join(again.stdout.split())


def test_the_default_period_is_the_longest_agreements_and_fresh_payloads_stay(hub, key_for, db_url):
    activate(hub, key_for, REFERRAL_PUBLIC_TASK, "edinburgh", "glasgow")  # retention_days: 365
    activate(hub, key_for, REFERRAL_PUBLIC_TASK.replace("referral-edinburgh-glasgow", "referral-long")
             .replace("retention_days: 365", "retention_days: 730"), "edinburgh", "glasgow")
    record = referral("EDI-EMP-2026-00003")
    call(hub, "POST", "/records", key_for("edinburgh", "publisher"), json={"records": [record]})
    run = hub_command(db_url, "retention", "run")
    assert run.returncode == 0, run.stderr
    [line] = [line for line in run.stdout.splitlines() if line.startswith("referral ")]
    assert line.split() == ["referral", "730", "days", "purged", "0", "tombstones", "0"]
    shown = call(hub, "GET", f"/records/{record['id']}", key_for("edinburgh", "publisher"))
    assert shown["record"]["payload"]["referral_id"] == "EDI-EMP-2026-00003" and shown["purged_at"] is None


def test_serve_purges_on_its_schedule(services, db_url, key_for, tmp_path):
    env = {"CAUSEWAY_HUB_RETENTION_DAYS": "referral=0", "CAUSEWAY_RETENTION_INTERVAL_SECONDS": "1"}
    with HubProcess(db_url, env=env, log_path=tmp_path / "hub.log") as hub:
        record = referral("EDI-EMP-2026-00004")
        publisher = key_for("edinburgh", "publisher")
        call(hub, "POST", "/records", publisher, json={"records": [record]})
        wait_until(lambda: call(hub, "GET", f"/records/{record['id']}", publisher)["purged_at"] is not None,
                   timeout=20, message="the scheduled purge")
        assert call(hub, "GET", f"/records/{record['id']}", publisher)["record"]["payload"] is None
