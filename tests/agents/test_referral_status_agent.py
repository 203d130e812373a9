"""Must show, against a real hub and a real agent: the referring council's agent writes the
status updates of its referrals back into its case-management database through a subscribe
task, the decline with its reason; updates about other councils' referrals never arrive."""
import sqlite3

import pytest
import requests

from hub.app import build_services
from hub.config import Settings
from support.agents import enrol, run_agent, write_config
from support.agreements import agreement_yaml
from support.referrals import referral, status

pytestmark = pytest.mark.e2e
PURPOSE = "ServiceProvision"
AGREEMENT = agreement_yaml("referrals-edinburgh-sds-test", ["edinburgh"], ["sds"], {
    "referral": {"fields": ["referral_id", "referring_org", "receiving_org", "referred_at"]},
    "referral-status": {"direction": "recipients-to-providers",
                        "fields": ["status_id", "referral_id", "referring_org", "receiving_org", "status",
                                   "decline_reason", "status_at"]}})


def put_in_force(hub) -> None:
    services = build_services(Settings(db_url=hub.db_url))
    edinburgh = services.orgs.authenticate(hub.key("edinburgh", "governance"))
    sds = services.orgs.authenticate(hub.key("sds", "governance"))
    services.policy.agreements.apply(AGREEMENT, edinburgh)
    for party in (edinburgh, sds):
        services.policy.agreements.transition("referrals-edinburgh-sds-test", "approved", party)
    services.policy.agreements.transition("referrals-edinburgh-sds-test", "active", edinburgh)
    services.engine.dispose()


def post(hub, path: str, key: str, body: dict) -> dict:
    answer = requests.post(f"{hub.url}/api/v1{path}", json=body, timeout=10, headers={"Authorization": f"Bearer {key}"})
    assert answer.status_code in (200, 201), answer.text
    return answer.json()


def test_the_referrers_agent_writes_status_updates_into_its_database(hub, tmp_path):
    put_in_force(hub)
    post(hub, "/records", hub.key("edinburgh", "publisher"),
         {"records": [referral("EDI-AG-001", "sds"), referral("EDI-AG-002", "sds")]})
    sds = hub.key("sds", "publisher")
    published = post(hub, "/records", sds, {"records": [
        status("EDI-AG-001", "sds", "received"), status("EDI-AG-001", "sds", "accepted"),
        status("EDI-AG-002", "sds", "declined", decline_reason="client-declined"),
        status("SFRS-9", "sds", "accepted", referring_org="sfrs")]})
    assert published["accepted"] == 4

    subscription = post(hub, "/subscriptions", hub.key("edinburgh", "subscriber"),
                        {"dataset": "referral-status", "channel": "pull", "purpose": PURPOSE, "start": "beginning"})
    table, state = tmp_path / "caselink.db", tmp_path / "edinburgh-state"
    enrol(hub, state, org="edinburgh", name="edinburgh-caselink")
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [
        {"name": "referral-status-in", "direction": "subscribe", "subscription": subscription["id"],
         "connector": {"kind": "sql", "options": {"url": f"sqlite:///{table}", "table": "referral_status_in"}},
         "schedule": {"interval_seconds": 300}}])
    result = run_agent(config, "run", "--once")
    assert result.returncode == 0, result.stderr[-2000:]

    rows = sqlite3.connect(table).execute(
        "SELECT referral_id, status, decline_reason FROM referral_status_in ORDER BY referral_id, status").fetchall()
    assert rows == [("EDI-AG-001", "accepted", None), ("EDI-AG-001", "received", None),
                    ("EDI-AG-002", "declined", "client-declined")]
