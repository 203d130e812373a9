"""Every party's approval, rights per version and the dry run, against a real hub process
(`causeway-hub serve`) on SQLite and PostgreSQL."""
import pytest
import requests

from support.agreements import example, gazetteer_agreement
from support.factories import gazetteer_record, referral_record

pytestmark = pytest.mark.e2e
PURPOSE = "EmergencyResponse"


@pytest.fixture
def call(hub, key_for):
    """call(method, path, org, role, **requests_kwargs) -> response."""
    session = requests.Session()

    def send(method, path, org, role, **kwargs):
        return session.request(method, f"{hub.url}/api/v1{path}", timeout=30,
                               headers={"Authorization": f"Bearer {key_for(org, role)}"}, **kwargs)
    yield send
    session.close()


def move(call, org, agreement_id, to, **extra):
    return call("POST", f"/agreements/{agreement_id}/transitions", org, "governance", json={"to": to, **extra})


def feed(call, org, after=0):
    response = call("GET", f"/feeds/gazetteer-address?purpose={PURPOSE}&after={after}&limit=1000", org, "subscriber")
    assert response.status_code == 200, response.text
    return response.json()["events"]


def test_every_party_approves_and_rights_follow_the_versions_naming_an_org(call):
    created = call("POST", "/agreements", "edinburgh", "governance",
                   json={"source": gazetteer_agreement("councils-to-sfrs", ["edinburgh", "fife"], ["sfrs"])})
    assert created.status_code == 201, created.text
    assert move(call, "edinburgh", "councils-to-sfrs", "approved").json()["status"] == "draft"
    waiting = move(call, "sfrs", "councils-to-sfrs", "approved").json()
    assert waiting["status"] == "draft" and waiting["waiting_for_orgs"] == ["fife"]
    assert move(call, "sfrs", "councils-to-sfrs", "active").status_code == 409
    assert move(call, "glasgow", "councils-to-sfrs", "approved").status_code == 404  # not a party

    published = call("POST", "/records", "fife", "publisher", json={"records": [gazetteer_record(7, custodian="fife")]})
    assert published.status_code == 200
    assert feed(call, "sfrs") == []  # fife has not said yes: nothing of its reaches sfrs

    assert move(call, "fife", "councils-to-sfrs", "approved").json()["status"] == "approved"
    assert move(call, "fife", "councils-to-sfrs", "active").json()["status"] == "active"
    assert [e["data"]["custodian"] for e in feed(call, "sfrs")] == ["fife"]

    # fife is left out of version 2: it keeps reading version 1 only, and cannot touch version 2.
    narrowed = call("PUT", "/agreements/councils-to-sfrs", "edinburgh", "governance",
                    json={"source": gazetteer_agreement("councils-to-sfrs", ["edinburgh"], ["sfrs"])})
    assert narrowed.json()["version"] == 2
    for org in ("edinburgh", "sfrs"):
        assert move(call, org, "councils-to-sfrs", "approved").status_code == 200
    assert move(call, "sfrs", "councils-to-sfrs", "active").json() == {"id": "councils-to-sfrs", "version": 2,
                                                                       "status": "active"}
    versions = call("GET", "/agreements/councils-to-sfrs/versions", "fife", "governance").json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "retired")]
    for to in ("suspended", "retired"):
        assert move(call, "fife", "councils-to-sfrs", to).status_code == 404
    assert call("GET", "/agreements/councils-to-sfrs", "sfrs", "governance").json()["status"] == "active"


def test_the_dry_run_is_the_publishers_own_decided_with_todays_consent_and_audited(call):
    assert call("POST", "/agreements", "edinburgh", "governance",
                json={"source": example("referral-edinburgh-sds")}).status_code == 201
    for org in ("edinburgh", "sds"):
        move(call, org, "referral-edinburgh-sds", "approved")
    assert move(call, "edinburgh", "referral-edinburgh-sds", "active").json()["status"] == "active"
    consent = call("POST", "/consents", "edinburgh", "governance", json={
        "subject": "subj-anna", "purpose": "ServiceProvision", "recipients": ["sds"], "method": "signed form",
        "evidence_ref": "EV-1", "given_at": "2026-01-05T10:00:00Z"}).json()
    record = referral_record("REF-A1", subject="subj-anna")
    record["payload"]["referring_org"] = "edinburgh"
    assert call("POST", "/records", "edinburgh", "publisher", json={"records": [record]}).status_code == 200
    ask = {"record_id": record["id"], "recipient": "sds", "purpose": "ServiceProvision", "at": "2026-06-01T12:00:00Z"}

    assert call("POST", "/policy/decisions", "edinburgh", "governance", json=ask).json()["decision"] == "allow"
    for org in ("sds", "fife"):
        refused = call("POST", "/policy/decisions", org, "governance", json=ask)
        assert refused.status_code == 404 and "REF-A1" not in refused.text
    inline = call("POST", "/policy/decisions", "sds", "governance", json={
        "recipient": "sds", "purpose": "ServiceProvision",
        "record": {"publisher": "edinburgh", **{k: record[k] for k in ("dataset", "op", "subject", "payload")}}})
    assert inline.json()["decision"] == "allow" and consent["id"] not in inline.text

    assert call("POST", f"/consents/{consent['id']}/withdraw", "edinburgh", "governance").status_code == 200
    after = call("POST", "/policy/decisions", "edinburgh", "governance", json=ask).json()
    assert (after["decision"], after["payload"]) == ("deny", None)

    entries = call("GET", "/audit?action=policy.dry-run", "edinburgh", "governance").json()["entries"]
    assert [(e["target"], e["detail"]["decision"]) for e in entries if e["org"] == "edinburgh"] == [
        (record["id"], "allow"), (record["id"], "deny")]
    assert call("POST", "/audit/verify", "edinburgh", "governance").json()["intact"] is True
