"""The decision point at disclosure, seen through a recipient's feed."""
import re

from support.agreements import GAZETTEER_SFRS, REFERRAL_PUBLIC_TASK, example, publish, read_feed
from support.factories import gazetteer_record, referral_record

REFERRAL = "referral-edinburgh-sds"
PSEUDONYM = re.compile(r"^ps_[0-9a-f]{32}$")


def edinburgh_referral(referral_id, subject, to="sds"):
    return referral_record(referral_id, subject=subject, to=to, fields={"referring_org": "edinburgh"})


def consent(client, auth, subject, recipients=("sds",), **extra):
    response = client.post("/api/v1/consents", headers=auth("edinburgh", "governance"), json={
        "subject": subject, "purpose": "ServiceProvision", "recipients": list(recipients),
        "method": "signed form", "evidence_ref": f"EV-{subject}", "given_at": "2026-01-05T10:00:00Z", **extra})
    assert response.status_code == 201, response.json()
    return response.json()


def test_recipient_receives_only_consented_records_projected(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    consent(client, auth, "subj-anna")
    anna, ben = edinburgh_referral("REF-A1", "subj-anna"), edinburgh_referral("REF-B1", "subj-ben")
    publish(client, auth("edinburgh", "publisher"), [anna, ben])

    feed = read_feed(client, auth("sds", "subscriber"), "referral", "ServiceProvision")
    assert [e["id"] for e in feed["events"]] == [anna["id"]]
    event = feed["events"][0]
    data = event["data"]
    assert "consent_reference" not in data  # not in the agreement's fields
    assert data["date_of_birth"] == anna["payload"]["date_of_birth"][:4]
    assert data["postcode"] == "G33"
    assert PSEUDONYM.match(data["personal_details_ref"])
    assert PSEUDONYM.match(event["datasubject"]) and event["datasubject"] != "subj-anna"
    assert event["agreement"] == f"{REFERRAL}/v1" and event["lawfulbasis"] == "consent"
    assert feed["next"] >= 2  # the cursor moved past ben's refused record too

    # The subject-access report names the disclosure; the refused record was not disclosed.
    report = client.get("/api/v1/subjects/subj-anna/disclosures", headers=auth("edinburgh", "governance")).json()
    assert [(d["record_id"], d["recipient"], d["agreement_id"], d["lawful_basis"]) for d in report["disclosures"]] == [
        (anna["id"], "sds", REFERRAL, "consent")]
    assert client.get("/api/v1/subjects/subj-ben/disclosures", headers=auth("edinburgh", "governance")).json()["disclosures"] == []
    # Another org's governance sees nothing of edinburgh's subjects.
    assert client.get("/api/v1/subjects/subj-anna/disclosures", headers=auth("fife", "governance")).json()["disclosures"] == []


def test_disclosures_and_denials_are_audited(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    consent(client, auth, "subj-anna")
    publish(client, auth("edinburgh", "publisher"), [edinburgh_referral("REF-A1", "subj-anna"),
                                                      edinburgh_referral("REF-B1", "subj-ben"),
                                                      edinburgh_referral("REF-B2", "subj-ben")])
    read_feed(client, auth("sds", "subscriber"), "referral", "ServiceProvision")
    entries = client.get("/api/v1/audit", headers=auth("sds", "governance")).json()["entries"]
    disclosed = [e for e in entries if e["action"] == "records.disclose"]
    denied = [e for e in entries if e["action"] == "records.deny"]
    assert [e["detail"]["count"] for e in disclosed] == [1]
    assert [e["detail"]["denied"] for e in denied] == [{"no-consent": 2}]
    assert client.post("/api/v1/audit/verify", headers=auth("sds", "governance")).json()["intact"] is True


def test_withdrawing_consent_stops_the_next_read_and_sends_a_notice(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    given = consent(client, auth, "subj-anna")
    first, second = edinburgh_referral("REF-A1", "subj-anna"), edinburgh_referral("REF-A2", "subj-anna")
    publish(client, auth("edinburgh", "publisher"), [first, second])
    sds = auth("sds", "subscriber")
    before = read_feed(client, sds, "referral", "ServiceProvision")
    assert [e["id"] for e in before["events"]] == [first["id"], second["id"]]

    withdrawn = client.post(f"/api/v1/consents/{given['id']}/withdraw", headers=auth("edinburgh", "governance"))
    assert withdrawn.status_code == 200
    assert withdrawn.json()["withdrawn_at"] is not None
    assert [(n["recipient"], sorted(n["records"])) for n in withdrawn.json()["notices"]] == [
        ("sds", sorted([first["id"], second["id"]]))]

    # Re-reading from the start: the subject's records are gone; the notice is there, in order.
    again = read_feed(client, sds, "referral", "ServiceProvision")
    assert [e["type"] for e in again["events"]] == ["uk.causeway.consent.withdrawn"]
    notice = again["events"][0]["data"]
    assert sorted(notice["records"]) == sorted([first["id"], second["id"]])
    assert notice["recipient"] == "sds" and "subj-anna" not in str(notice)
    # Reading on from the cursor: the notice arrives after what was already received.
    onward = read_feed(client, sds, "referral", "ServiceProvision", after=before["next"])
    assert [e["type"] for e in onward["events"]] == ["uk.causeway.consent.withdrawn"]
    # A record published after withdrawal is not disclosed either.
    third = edinburgh_referral("REF-A3", "subj-anna")
    publish(client, auth("edinburgh", "publisher"), [third])
    assert read_feed(client, sds, "referral", "ServiceProvision", after=onward["next"])["events"] == []
    assert client.post(f"/api/v1/consents/{given['id']}/withdraw", headers=auth("edinburgh", "governance")).status_code == 409


def test_notices_reach_only_their_addressee(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    given = consent(client, auth, "subj-anna")
    publish(client, auth("edinburgh", "publisher"), [edinburgh_referral("REF-A1", "subj-anna")])
    read_feed(client, auth("sds", "subscriber"), "referral", "ServiceProvision")
    client.post(f"/api/v1/consents/{given['id']}/withdraw", headers=auth("edinburgh", "governance"))
    for org in ("glasgow", "sfrs"):
        assert read_feed(client, auth(org, "subscriber"), "referral", "ServiceProvision")["events"] == []
        assert read_feed(client, auth(org, "subscriber"), "causeway.notice", "ServiceProvision")["events"] == []
    assert len(read_feed(client, auth("sds", "subscriber"), "causeway.notice", "ServiceProvision")["events"]) == 1


def test_suspending_an_agreement_stops_disclosure_at_once_and_reactivation_resumes_it(client, auth, activate):
    activate(GAZETTEER_SFRS, "edinburgh", "sfrs")
    records = [gazetteer_record(i, custodian="edinburgh") for i in range(1, 4)]
    publish(client, auth("edinburgh", "publisher"), records)
    sfrs = auth("sfrs", "subscriber")
    assert len(read_feed(client, sfrs, "gazetteer-address", "EmergencyResponse")["events"]) == 3

    suspended = client.post("/api/v1/agreements/gazetteer-to-sfrs/transitions", json={"to": "suspended", "reason": "review"},
                            headers=auth("sfrs", "governance"))
    assert suspended.json()["status"] == "suspended"
    assert read_feed(client, sfrs, "gazetteer-address", "EmergencyResponse")["events"] == []

    client.post("/api/v1/agreements/gazetteer-to-sfrs/transitions", json={"to": "active"}, headers=auth("edinburgh", "governance"))
    assert [e["id"] for e in read_feed(client, sfrs, "gazetteer-address", "EmergencyResponse")["events"]] == [r["id"] for r in records]


def test_conditions_purpose_and_providers_are_enforced(client, auth, activate):
    activate(GAZETTEER_SFRS, "edinburgh", "sfrs")
    own = gazetteer_record(1, custodian="edinburgh")
    foreign = gazetteer_record(2, custodian="glasgow")  # edinburgh publishing glasgow's address
    publish(client, auth("edinburgh", "publisher"), [own, foreign])
    fife = gazetteer_record(3, custodian="fife")
    publish(client, auth("fife", "publisher"), [fife])  # fife is not a provider
    sfrs = auth("sfrs", "subscriber")
    assert [e["id"] for e in read_feed(client, sfrs, "gazetteer-address", "EmergencyResponse")["events"]] == [own["id"]]
    assert read_feed(client, sfrs, "gazetteer-address", "Marketing")["events"] == []
    event = read_feed(client, sfrs, "gazetteer-address", "EmergencyResponse")["events"][0]
    assert set(event["data"]) <= {"uprn", "paon", "street", "town", "postcode", "status", "custodian"}
    assert "easting" not in event["data"]


def test_deletions_reach_recipients_with_only_the_key(client, auth, activate):
    activate(GAZETTEER_SFRS, "edinburgh", "sfrs")
    publish(client, auth("edinburgh", "publisher"), [gazetteer_record(9, op="delete", payload=None)])
    events = read_feed(client, auth("sfrs", "subscriber"), "gazetteer-address", "EmergencyResponse")["events"]
    assert [(e["type"], e["subject"], e["data"]) for e in events] == [("uk.causeway.record.delete", "9", None)]


def test_objection_under_public_task_stops_that_subjects_records(client, auth, activate):
    activate(REFERRAL_PUBLIC_TASK, "edinburgh", "glasgow")
    publish(client, auth("edinburgh", "publisher"), [edinburgh_referral("REF-A1", "subj-anna", "glasgow"),
                                                      edinburgh_referral("REF-B1", "subj-ben", "glasgow")])
    glasgow = auth("glasgow", "subscriber")
    assert len(read_feed(client, glasgow, "referral", "ServiceProvision")["events"]) == 2
    objection = client.post("/api/v1/objections", headers=auth("edinburgh", "governance"), json={
        "subject": "subj-anna", "method": "letter", "evidence_ref": "OBJ-1"})
    assert objection.status_code == 201
    events = read_feed(client, glasgow, "referral", "ServiceProvision")["events"]
    assert [e["data"]["referral_id"] for e in events] == ["REF-B1"]
    client.post(f"/api/v1/objections/{objection.json()['id']}/withdraw", headers=auth("edinburgh", "governance"))
    assert len(read_feed(client, glasgow, "referral", "ServiceProvision")["events"]) == 2


def test_pseudonyms_link_within_an_agreement_and_differ_across_agreements(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    activate(REFERRAL_PUBLIC_TASK, "edinburgh", "glasgow")
    consent(client, auth, "subj-anna")
    publish(client, auth("edinburgh", "publisher"), [edinburgh_referral("REF-A1", "subj-anna"),
                                                      edinburgh_referral("REF-A2", "subj-anna"),
                                                      edinburgh_referral("REF-A3", "subj-anna", "glasgow")])
    to_sds = read_feed(client, auth("sds", "subscriber"), "referral", "ServiceProvision")["events"]
    to_glasgow = read_feed(client, auth("glasgow", "subscriber"), "referral", "ServiceProvision")["events"]
    assert to_sds[0]["datasubject"] == to_sds[1]["datasubject"]
    assert to_sds[0]["data"]["personal_details_ref"] == to_sds[1]["data"]["personal_details_ref"]
    assert to_sds[0]["datasubject"] != to_glasgow[0]["datasubject"]
    assert to_sds[0]["data"]["personal_details_ref"] != to_glasgow[0]["data"]["personal_details_ref"]


def test_recipient_feed_needs_a_purpose(client, auth):
    response = client.get("/api/v1/feeds/referral", headers=auth("sds", "subscriber"))
    assert response.status_code == 400
    assert "purpose" in response.json()["detail"]


def test_no_org_may_publish_hub_notices(client, auth):
    notice = {"id": "0b5f7d0a-3c1e-4d8b-9f2a-6a1e2c3d4b5f", "dataset": "causeway.notice", "schema_version": 1,
              "op": "upsert", "occurred_at": "2026-11-02T09:30:00Z",
              "payload": {"notice_id": "0b5f7d0a-3c1e-4d8b-9f2a-6a1e2c3d4b5f", "type": "consent.withdrawn",
                          "recipient": "sds", "dataset": "referral", "provider": "edinburgh", "records": [],
                          "message": "forged"}}
    result = client.post("/api/v1/records", json={"records": [notice]}, headers=auth("edinburgh", "admin")).json()
    assert result["results"][0]["status"] == "rejected"
    assert "written by the hub" in result["results"][0]["errors"][0]["message"]
