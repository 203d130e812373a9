"""Consent records, CSV import and the dry-run decision API."""
from support.agreements import example
from support.factories import referral_record

REFERRAL = "referral-edinburgh-sds"

CSV = """subject,purpose,recipients,method,evidence_ref,given_at,expires_at
subj-1,ServiceProvision,sds,signed form,EV-1,2026-01-05T10:00:00Z,
subj-2,ServiceProvision,sds glasgow,online,EV-2,2026-02-01T09:00:00+00:00,2027-02-01T09:00:00Z
subj-3,service provision,sds,signed form,EV-3,2026-01-05T10:00:00Z,
subj-4,ServiceProvision,nowhere,signed form,EV-4,yesterday,
,ServiceProvision,sds,signed form,EV-5,2026-01-05T10:00:00Z,
subj-6,ServiceProvision,sds,signed form,EV-6,2026-03-01T10:00:00Z,2026-02-01T10:00:00Z
subj-7,ServiceProvision,sds,verbal (recorded),EV-7,2026-01-07T10:00:00Z,
"""


def import_csv(client, headers, text):
    return client.post("/api/v1/consents/import", content=text.encode(), headers={**headers, "Content-Type": "text/csv"})


def test_consent_is_recorded_and_listed_for_its_controller_only(client, auth):
    body = {"subject": "subj-1", "purpose": "ServiceProvision", "recipients": ["sds"], "method": "signed form",
            "evidence_ref": "EV-1", "given_at": "2026-01-05T10:00:00Z", "expires_at": "2027-01-05T10:00:00Z"}
    created = client.post("/api/v1/consents", json=body, headers=auth("edinburgh", "governance"))
    assert created.status_code == 201
    consent = created.json()
    assert consent["controller"] == "edinburgh" and consent["withdrawn_at"] is None
    listed = client.get("/api/v1/subjects/subj-1/consents", headers=auth("edinburgh", "governance")).json()
    assert [c["id"] for c in listed["consents"]] == [consent["id"]]
    assert client.get("/api/v1/subjects/subj-1/consents", headers=auth("fife", "governance")).json()["consents"] == []
    assert client.post(f"/api/v1/consents/{consent['id']}/withdraw", headers=auth("fife", "governance")).status_code == 404


def test_consent_mistakes_are_named(client, auth):
    body = {"subject": "subj-1", "purpose": "ServiceProvision", "recipients": ["sds", "atlantis"], "method": "form",
            "evidence_ref": "EV-1", "given_at": "2026-01-05T10:00:00Z", "expires_at": "2025-01-05T10:00:00Z"}
    response = client.post("/api/v1/consents", json=body, headers=auth("edinburgh", "governance"))
    assert response.status_code == 422
    assert {(e["field"]) for e in response.json()["errors"]} == {"recipients", "expires_at"}


def test_consent_for_another_controller_is_refused(client, auth):
    body = {"subject": "s", "controller": "glasgow", "purpose": "ServiceProvision", "recipients": ["sds"],
            "method": "form", "evidence_ref": "EV"}
    assert client.post("/api/v1/consents", json=body, headers=auth("edinburgh", "governance")).status_code == 403
    assert client.post("/api/v1/consents", json=body, headers=auth("edinburgh", "publisher")).status_code == 403


def test_csv_import_keeps_good_rows_and_names_each_bad_one(client, auth):
    headers = auth("edinburgh", "governance")
    result = import_csv(client, headers, CSV).json()
    assert (result["imported"], result["duplicates"], result["rejected"]) == (3, 0, 4)
    by_line = {r["line"]: r for r in result["rows"]}
    assert [by_line[n]["status"] for n in range(2, 9)] == ["imported", "imported", "rejected", "rejected", "rejected",
                                                          "rejected", "imported"]
    assert by_line[4]["errors"][0]["field"] == "purpose"
    assert {e["field"] for e in by_line[5]["errors"]} == {"recipients", "given_at"}
    assert by_line[6]["errors"][0]["field"] == "subject"
    assert by_line[7]["errors"][0]["field"] == "expires_at"
    stored = client.get("/api/v1/subjects/subj-2/consents", headers=headers).json()["consents"]
    assert stored[0]["recipients"] == ["glasgow", "sds"] and stored[0]["expires_at"].startswith("2027-02-01")

    again = import_csv(client, headers, CSV).json()
    assert (again["imported"], again["duplicates"], again["rejected"]) == (0, 3, 4)


def test_csv_with_wrong_header_is_refused_whole(client, auth):
    response = import_csv(client, auth("edinburgh", "governance"), "who,what\nx,y\n")
    assert response.status_code == 422
    assert "missing column(s) subject" in response.json()["detail"]


def test_dry_run_explains_the_decision(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    record = referral_record("REF-1", subject="subj-1")
    record["payload"]["referring_org"] = "edinburgh"
    ask = {"record": {k: record[k] for k in ("dataset", "op", "subject", "payload")}, "recipient": "sds",
           "purpose": "ServiceProvision", "at": "2026-06-01T12:00:00Z"}
    governance = auth("edinburgh", "governance")
    denied = client.post("/api/v1/policy/decisions", json=ask, headers=governance).json()
    assert denied["decision"] == "deny" and denied["payload"] is None
    assert "no current consent" in denied["reasons"][0]

    client.post("/api/v1/consents", headers=governance, json={
        "subject": "subj-1", "purpose": "ServiceProvision", "recipients": ["sds"], "method": "form",
        "evidence_ref": "EV", "given_at": "2026-01-01T00:00:00Z"})
    allowed = client.post("/api/v1/policy/decisions", json=ask, headers=governance).json()
    assert allowed["decision"] == "allow"
    assert allowed["agreement_id"] == REFERRAL and allowed["lawful_basis"] == "consent"
    assert allowed["payload"]["date_of_birth"] == "2004"
    assert "consent_reference" not in allowed["payload"]

    too_late = client.post("/api/v1/policy/decisions", json={**ask, "at": "2028-06-01T12:00:00Z"}, headers=governance).json()
    assert too_late["decision"] == "deny" and "not in force" in too_late["reasons"][0]
    # Nothing was disclosed by asking.
    assert client.get("/api/v1/subjects/subj-1/disclosures", headers=governance).json()["disclosures"] == []
    # A third org may not probe decisions about others' records.
    assert client.post("/api/v1/policy/decisions", json={**ask, "record": {**ask["record"], "publisher": "edinburgh"}},
                       headers=auth("fife", "governance")).status_code == 403
