"""Agreements through the HTTP API: writing, checking, versions, lifecycle, approval and visibility."""
import pytest
import yaml

from support.agreements import GAZETTEER_SFRS, POLICIES, example

REFERRAL = "referral-edinburgh-sds"


def create(client, headers, source):
    return client.post("/api/v1/agreements", json={"source": source}, headers=headers)


def move(client, headers, agreement_id, to, **extra):
    return client.post(f"/api/v1/agreements/{agreement_id}/transitions", json={"to": to, **extra}, headers=headers)


def test_agreement_goes_from_draft_to_active_only_with_both_sides_approval(client, auth):
    edinburgh, sds = auth("edinburgh", "governance"), auth("sds", "governance")
    created = create(client, edinburgh, example(REFERRAL))
    assert created.status_code == 201
    assert created.json() == {"id": REFERRAL, "version": 1, "status": "draft", "changed": True, "changes": ["first version"]}

    assert move(client, edinburgh, REFERRAL, "active").status_code == 409  # not approved yet
    first = move(client, edinburgh, REFERRAL, "approved").json()
    assert first["status"] == "draft"
    assert "recipient" in first["waiting_for"]
    assert move(client, edinburgh, REFERRAL, "active").status_code == 409  # one side is not enough
    assert move(client, sds, REFERRAL, "approved").json()["status"] == "approved"
    assert move(client, sds, REFERRAL, "active").json()["status"] == "active"

    body = client.get(f"/api/v1/agreements/{REFERRAL}", headers=sds).json()
    assert body["status"] == "active" and body["in_force_version"] == 1
    assert {a["org"] for a in body["approvals"]} == {"edinburgh", "sds"}
    assert [h["to"] for h in body["history"] if h["event"] == "status"] == ["approved", "active"]


def test_two_providers_approving_do_not_make_an_approval(client, auth):
    glasgow, edinburgh = auth("glasgow", "governance"), auth("edinburgh", "governance")
    assert create(client, glasgow, GAZETTEER_SFRS).status_code == 201
    move(client, glasgow, "gazetteer-to-sfrs", "approved")
    assert move(client, edinburgh, "gazetteer-to-sfrs", "approved").json()["status"] == "draft"
    assert move(client, auth("sfrs", "governance"), "gazetteer-to-sfrs", "approved").json()["status"] == "approved"


def test_admin_cannot_approve_on_behalf_of_a_party(client, auth):
    create(client, auth("edinburgh", "governance"), example(REFERRAL))
    response = move(client, auth("fife", "admin"), REFERRAL, "approved")
    assert response.status_code == 403
    assert "governance credential" in response.json()["detail"]


def test_third_org_can_neither_read_nor_approve_an_agreement_between_two_others(client, auth):
    create(client, auth("edinburgh", "governance"), example(REFERRAL))
    fife = auth("fife", "governance")
    for response in (client.get(f"/api/v1/agreements/{REFERRAL}", headers=fife),
                     client.get(f"/api/v1/agreements/{REFERRAL}/versions", headers=fife),
                     move(client, fife, REFERRAL, "approved"),
                     client.put(f"/api/v1/agreements/{REFERRAL}", json={"source": example(REFERRAL)}, headers=fife)):
        assert response.status_code in (403, 404), response.json()
        assert REFERRAL not in response.json().get("title", "") or response.status_code == 404
    assert client.get("/api/v1/agreements", headers=fife).json()["agreements"] == []
    assert [a["id"] for a in client.get("/api/v1/agreements", headers=auth("sds", "governance")).json()["agreements"]] == [REFERRAL]
    assert [a["id"] for a in client.get("/api/v1/agreements", headers=auth("fife", "admin")).json()["agreements"]] == [REFERRAL]
    # The draft is still waiting for both parties: fife's attempt counted for nothing.
    body = client.get(f"/api/v1/agreements/{REFERRAL}", headers=auth("sds", "governance")).json()
    assert body["status"] == "draft" and body["approvals"] == []


def test_outsider_cannot_write_an_agreement_it_is_not_party_to(client, auth):
    response = create(client, auth("fife", "governance"), example(REFERRAL))
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["publisher", "subscriber", "ops"])
def test_other_roles_cannot_read_agreements(client, auth, role):
    assert client.get("/api/v1/agreements", headers=auth("edinburgh", role)).status_code == 403


def test_editing_an_active_agreement_makes_a_draft_while_the_active_version_stays_in_force(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    edinburgh, sds = auth("edinburgh", "governance"), auth("sds", "governance")
    changed = example(REFERRAL).replace("      - goals\n", "").replace("valid_until: 2027-12-31", "valid_until: 2028-06-30")
    response = client.put(f"/api/v1/agreements/{REFERRAL}", json={"source": changed}, headers=edinburgh)
    assert response.status_code == 200
    assert response.json()["version"] == 2 and response.json()["status"] == "draft"
    assert "datasets.referral.fields: removed 'goals'" in response.json()["changes"]
    assert "valid_until: '2027-12-31' → '2028-06-30'" in response.json()["changes"]

    body = client.get(f"/api/v1/agreements/{REFERRAL}", headers=sds).json()
    assert (body["status"], body["version"], body["latest_version"]) == ("active", 1, 2)
    assert "goals" in body["document"]["datasets"]["referral"]["fields"]

    versions = client.get(f"/api/v1/agreements/{REFERRAL}/versions", headers=sds).json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "active"), (2, "draft")]
    assert versions[0]["source"] == example(REFERRAL)

    move(client, edinburgh, REFERRAL, "approved")
    move(client, sds, REFERRAL, "approved")
    assert move(client, sds, REFERRAL, "active").json() == {"id": REFERRAL, "version": 2, "status": "active"}
    versions = client.get(f"/api/v1/agreements/{REFERRAL}/versions", headers=sds).json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "retired"), (2, "active")]


def test_reapplying_the_same_text_changes_nothing(client, auth):
    headers = auth("edinburgh", "governance")
    create(client, headers, example(REFERRAL))
    again = client.put(f"/api/v1/agreements/{REFERRAL}", json={"source": example(REFERRAL)}, headers=headers).json()
    assert again["changed"] is False and again["version"] == 1


def test_suspend_and_resume(client, auth, activate):
    activate(example(REFERRAL), "edinburgh", "sds")
    sds = auth("sds", "governance")
    for reason in ({}, {"reason": ""}, {"reason": "   "}):  # suspending and retiring always say why
        for to in ("suspended", "retired"):
            refused = move(client, sds, REFERRAL, to, **reason)
            assert refused.status_code == 400, refused.text
            assert refused.headers["Content-Type"].startswith("application/problem+json")
            assert "give a reason for" in refused.json()["detail"]
    assert client.get(f"/api/v1/agreements/{REFERRAL}", headers=sds).json()["status"] == "active"  # nothing moved
    assert move(client, sds, REFERRAL, "suspended", reason="breach under investigation").json()["status"] == "suspended"
    assert move(client, sds, REFERRAL, "suspended", reason="again").status_code == 409
    assert move(client, sds, REFERRAL, "active").json()["status"] == "active"
    assert move(client, sds, REFERRAL, "retired", reason=" replaced by a national agreement ").json()["status"] == "retired"
    history = client.get(f"/api/v1/agreements/{REFERRAL}", headers=sds).json()["history"]
    assert [h["reason"] for h in history if h.get("to") in ("suspended", "retired")] == [
        "breach under investigation", "replaced by a national agreement"]
    refused = move(client, sds, REFERRAL, "active")
    assert refused.status_code == 409 and "retired" in refused.json()["detail"]


def _with(source: str, old: str, new: str) -> str:
    assert old in source
    return source.replace(old, new, 1)


BASE = example(REFERRAL)


@pytest.mark.parametrize("source, path, line, words", [
    ("id: x\n  title: [unclosed\n", "", 2, "not valid YAML"),
    (_with(BASE, "recipients: [sds]", "recipients: [sds, nowhere-org]"), "recipients[1]", 10, "unknown org 'nowhere-org'"),
    (_with(BASE, "datasets:\n  referral:", "datasets:\n  no-such-data:"), "datasets.no-such-data", 17, "unknown dataset"),
    (_with(BASE, "      - goals\n", "      - national_insurance_number\n"), "datasets.referral.fields[6]", 25,
     "'national_insurance_number' is not a field of dataset referral"),
    (_with(BASE, "      - referred_at\n", "      - referred_at\n      - date_of_birth\n"), "datasets.referral.generalise.date_of_birth",
     None, "listed in both fields and generalise"),
    (_with(BASE, "valid_until: 2027-12-31", "valid_until: 2025-06-30"), "valid_until", 14, "before it starts"),
    (_with(BASE, "lawful_basis: consent", "lawful_basis: legitimate-interests"), "lawful_basis", 12, ""),
    (_with(BASE, "payload.referring_org == provider", "payload.referring_org = provider"),
     "datasets.referral.conditions[0]", 37, "unexpected character"),
    (_with(BASE, "      - referral_id\n", ""), "datasets.referral.fields", 18, "key field 'referral_id'"),
    (_with(BASE, "retention_days: 365", "retention_days: 365\nretention_days: 30"), "retention_days", 16, "given twice"),
])
def test_mistakes_are_named_with_their_place(client, auth, source, path, line, words):
    response = create(client, auth("edinburgh", "governance"), source)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problems = response.json()["problems"]
    assert any(p["path"] == path and (line is None or p["line"] == line) and words in p["message"] for p in problems), problems
    assert client.get("/api/v1/agreements", headers=auth("edinburgh", "governance")).json()["agreements"] == []


def test_the_example_agreements_are_valid(services, client, auth):
    for org in yaml.safe_load((POLICIES / "orgs.yaml").read_text()):
        services.orgs.ensure_org(org["slug"], org["name"], org["kind"], actor="test")
    for name in ("referral-edinburgh-sds", "gazetteer-emergency-services"):
        response = create(client, auth("edinburgh", "governance"), example(name))
        assert response.status_code == 201, response.json()
    listed = client.get("/api/v1/agreements", headers=auth("sfrs", "governance")).json()["agreements"]
    assert [a["id"] for a in listed] == ["gazetteer-emergency-services"]
    assert len(listed[0]["providers"]) == 32
