"""The decision dry run (POST /policy/decisions) is a disclosure path: who may ask, with which
state it is decided, what it shows and that it is audited. On SQLite and PostgreSQL."""
from support.agreements import REFERRAL_PUBLIC_TASK, example, publish
from support.factories import referral_record

REFERRAL = "referral-edinburgh-sds"
PAST = "2026-06-01T12:00:00Z"


def edinburgh_referral(referral_id, subject, to="sds"):
    return referral_record(referral_id, subject=subject, to=to, fields={"referring_org": "edinburgh"})


def consent(client, auth, subject):
    response = client.post("/api/v1/consents", headers=auth("edinburgh", "governance"), json={
        "subject": subject, "purpose": "ServiceProvision", "recipients": ["sds"], "method": "signed form",
        "evidence_ref": f"EV-{subject}", "given_at": "2026-01-05T10:00:00Z"})
    assert response.status_code == 201, response.json()
    return response.json()


def dry_run(client, headers, **body):
    return client.post("/api/v1/policy/decisions", json=body, headers=headers)


def test_only_the_publishers_governance_may_dry_run_a_stored_record(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    consent(client, auth, "subj-anna")
    record = edinburgh_referral("REF-A1", "subj-anna")
    publish(client, auth("edinburgh", "publisher"), [record])
    ask = {"record_id": record["id"], "recipient": "sds", "purpose": "ServiceProvision"}

    allowed = dry_run(client, auth("edinburgh", "governance"), **ask)
    assert allowed.status_code == 200 and allowed.json()["decision"] == "allow"
    assert allowed.json()["payload"]["referral_id"] == "REF-A1"
    # The recipient named in the agreement, another council, and other roles of the publisher: no.
    for org, role in (("sds", "governance"), ("fife", "governance"), ("sds", "admin")):
        refused = dry_run(client, auth(org, role), **ask)
        assert refused.status_code == 404, (org, role, refused.json())
        assert "REF-A1" not in refused.text
    for role in ("publisher", "subscriber", "ops"):
        assert dry_run(client, auth("edinburgh", role), **ask).status_code == 403


def test_a_dry_run_in_the_past_is_decided_with_todays_consent(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    given = consent(client, auth, "subj-anna")
    record = edinburgh_referral("REF-A1", "subj-anna")
    publish(client, auth("edinburgh", "publisher"), [record])
    governance = auth("edinburgh", "governance")
    ask = {"record_id": record["id"], "recipient": "sds", "purpose": "ServiceProvision", "at": PAST}
    assert dry_run(client, governance, **ask).json()["decision"] == "allow"

    assert client.post(f"/api/v1/consents/{given['id']}/withdraw", headers=governance).status_code == 200
    answer = dry_run(client, governance, **ask).json()
    assert answer["decision"] == "deny" and answer["payload"] is None and answer["denial"] == "no-consent"
    inline = dry_run(client, governance, recipient="sds", purpose="ServiceProvision", at=PAST,
                     record={k: record[k] for k in ("dataset", "op", "subject", "payload")}).json()
    assert inline["decision"] == "deny"


def test_a_dry_run_in_the_past_is_decided_with_todays_objections(client, auth, activate):
    activate(REFERRAL_PUBLIC_TASK, "edinburgh", "glasgow")
    record = edinburgh_referral("REF-A1", "subj-anna", "glasgow")
    publish(client, auth("edinburgh", "publisher"), [record])
    governance = auth("edinburgh", "governance")
    ask = {"record_id": record["id"], "recipient": "glasgow", "purpose": "ServiceProvision", "at": PAST}
    objection = client.post("/api/v1/objections", headers=governance, json={
        "subject": "subj-anna", "method": "letter", "evidence_ref": "OBJ-1"}).json()
    assert dry_run(client, governance, **ask).json()["denial"] == "objection"  # lodged today, asked for June
    client.post(f"/api/v1/objections/{objection['id']}/withdraw", headers=governance)
    assert dry_run(client, governance, **ask).json()["decision"] == "allow"


def test_a_stored_record_dry_run_is_audited(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    consent(client, auth, "subj-anna")
    record = edinburgh_referral("REF-A1", "subj-anna")
    publish(client, auth("edinburgh", "publisher"), [record])
    governance = auth("edinburgh", "governance")
    dry_run(client, governance, record_id=record["id"], recipient="sds", purpose="ServiceProvision")
    dry_run(client, governance, record_id=record["id"], recipient="glasgow", purpose="ServiceProvision")
    entries = [e for e in client.get("/api/v1/audit", headers=governance).json()["entries"]
               if e["action"] == "policy.dry-run"]
    assert [(e["target"], e["org"], e["detail"]["recipient"], e["detail"]["decision"]) for e in entries] == [
        (record["id"], "edinburgh", "sds", "allow"), (record["id"], "edinburgh", "glasgow", "deny")]
    assert entries[0]["detail"]["agreement"] == f"{REFERRAL}/v1" and entries[0]["detail"]["payload_shown"] is True
    assert "REF-A1" not in str(entries)  # the audit says what was shown, not the payload itself
    assert client.post("/api/v1/audit/verify", headers=governance).json()["intact"] is True
    # Still nothing disclosed to the recipient by asking.
    assert client.get("/api/v1/subjects/subj-anna/disclosures", headers=governance).json()["disclosures"] == []


def test_an_inline_record_of_another_publisher_reveals_no_consent_or_objection_ids(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    activate(REFERRAL_PUBLIC_TASK, "edinburgh", "glasgow")
    given = consent(client, auth, "subj-anna")
    objection = client.post("/api/v1/objections", headers=auth("edinburgh", "governance"), json={
        "subject": "subj-ben", "method": "letter", "evidence_ref": "OBJ-1"}).json()
    anna, ben = edinburgh_referral("REF-A1", "subj-anna"), edinburgh_referral("REF-B1", "subj-ben", "glasgow")

    def inline(record, recipient, org):
        return dry_run(client, auth(org, "governance"), recipient=recipient, purpose="ServiceProvision",
                       record={"publisher": "edinburgh", **{k: record[k] for k in ("dataset", "op", "subject", "payload")}})

    by_sds = inline(anna, "sds", "sds")
    assert by_sds.status_code == 200 and by_sds.json()["decision"] == "allow"
    assert given["id"] not in by_sds.text
    sent = anna["payload"]
    assert by_sds.json()["payload"]["referral_id"] == sent["referral_id"]  # the projection of what was sent
    by_glasgow = inline(ben, "glasgow", "glasgow")
    assert by_glasgow.json()["denial"] == "objection" and objection["id"] not in by_glasgow.text
    # The controller itself may see which of its own records decided it.
    assert given["id"] in inline(anna, "sds", "edinburgh").text
    assert objection["id"] in inline(ben, "glasgow", "edinburgh").text
    # Inline dry runs are audited too, naming no record of the hub's.
    entries = [e for e in client.get("/api/v1/audit", headers=auth("sds", "governance")).json()["entries"]
               if e["action"] == "policy.dry-run" and e["org"] == "sds"]
    assert [(e["target"], e["detail"]["record"]) for e in entries] == [(None, "inline")]
