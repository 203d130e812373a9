"""Every party's say-so, and rights only over the versions an org is named in (SQLite and PostgreSQL)."""
import yaml

from support.agreements import POLICIES, example, gazetteer_agreement, publish, read_feed
from support.factories import gazetteer_record

PURPOSE = "EmergencyResponse"


def create(client, headers, source):
    return client.post("/api/v1/agreements", json={"source": source}, headers=headers)


def put(client, headers, agreement_id, source):
    return client.put(f"/api/v1/agreements/{agreement_id}", json={"source": source}, headers=headers)


def move(client, headers, agreement_id, to, **extra):
    return client.post(f"/api/v1/agreements/{agreement_id}/transitions", json={"to": to, **extra}, headers=headers)


def approve_all(client, auth, agreement_id, orgs):
    for org in orgs:
        assert move(client, auth(org, "governance"), agreement_id, "approved").status_code == 200


def test_one_provider_and_the_recipient_do_not_approve_for_another_provider(client, auth):
    edinburgh, fife, sds = (auth(o, "governance") for o in ("edinburgh", "fife", "sds"))
    assert create(client, edinburgh, gazetteer_agreement("two-councils", ["edinburgh", "fife"], ["sds"])).status_code == 201
    assert move(client, edinburgh, "two-councils", "approved").json()["status"] == "draft"
    answer = move(client, sds, "two-councils", "approved").json()
    assert answer["status"] == "draft"
    assert answer["approved_by"] == ["edinburgh", "sds"] and answer["waiting_for_orgs"] == ["fife"]
    assert "fife" in answer["waiting_for"]
    refused = move(client, sds, "two-councils", "active")
    assert refused.status_code == 409, refused.json()

    # Nothing of fife's (nor edinburgh's) reaches sds while fife has not said yes.
    publish(client, auth("fife", "publisher"), [gazetteer_record(1, custodian="fife")])
    publish(client, auth("edinburgh", "publisher"), [gazetteer_record(2, custodian="edinburgh")])
    assert read_feed(client, auth("sds", "subscriber"), "gazetteer-address", PURPOSE)["events"] == []

    assert move(client, fife, "two-councils", "approved").json()["status"] == "approved"
    assert move(client, fife, "two-councils", "active").json()["status"] == "active"
    events = read_feed(client, auth("sds", "subscriber"), "gazetteer-address", PURPOSE)["events"]
    assert sorted(e["data"]["custodian"] for e in events) == ["edinburgh", "fife"]


def test_every_recipient_must_approve_too(client, auth):
    assert create(client, auth("edinburgh", "governance"),
                  gazetteer_agreement("two-agencies", ["edinburgh"], ["sds", "sfrs"])).status_code == 201
    approve_all(client, auth, "two-agencies", ["edinburgh", "sds"])
    body = client.get("/api/v1/agreements/two-agencies", headers=auth("sds", "governance")).json()
    assert body["status"] == "draft"
    assert move(client, auth("sfrs", "governance"), "two-agencies", "approved").json()["status"] == "approved"


def test_a_party_added_in_a_new_version_must_approve_that_version(client, auth):
    edinburgh, sds, fife = (auth(o, "governance") for o in ("edinburgh", "sds", "fife"))
    create(client, edinburgh, gazetteer_agreement("grows", ["edinburgh"], ["sds"]))
    approve_all(client, auth, "grows", ["edinburgh", "sds"])
    assert move(client, sds, "grows", "active").json()["status"] == "active"

    assert put(client, edinburgh, "grows", gazetteer_agreement("grows", ["edinburgh", "fife"], ["sds"])).json()["version"] == 2
    # Approving version 1 committed nobody to version 2: each party approves it again.
    assert move(client, sds, "grows", "approved").json()["waiting_for_orgs"] == ["edinburgh", "fife"]
    assert move(client, edinburgh, "grows", "approved").json()["status"] == "draft"
    assert move(client, sds, "grows", "active").status_code == 409
    assert move(client, fife, "grows", "approved").json() == {
        "id": "grows", "version": 2, "status": "approved", "approved_by": ["edinburgh", "fife", "sds"]}
    assert move(client, fife, "grows", "active").json() == {"id": "grows", "version": 2, "status": "active"}


def test_the_32_council_gazetteer_needs_every_council(services, client, auth):
    for org in yaml.safe_load((POLICIES / "orgs.yaml").read_text()):
        services.orgs.ensure_org(org["slug"], org["name"], org["kind"], actor="test")
    document = yaml.safe_load(example("gazetteer-emergency-services"))
    assert create(client, auth("edinburgh", "governance"), example("gazetteer-emergency-services")).status_code == 201
    answer = move(client, auth("edinburgh", "governance"), document["id"], "approved").json()
    answer = move(client, auth(document["recipients"][0], "governance"), document["id"], "approved").json()
    assert answer["status"] == "draft"
    parties = set(document["providers"]) | set(document["recipients"])
    assert set(answer["waiting_for_orgs"]) == parties - {"edinburgh", document["recipients"][0]}
    for org in sorted(parties - {"edinburgh", document["recipients"][0]}):
        answer = move(client, auth(org, "governance"), document["id"], "approved").json()
    assert answer["status"] == "approved"


def test_a_non_party_cannot_approve_a_version_even_when_named_in_another(client, auth):
    edinburgh = auth("edinburgh", "governance")
    create(client, edinburgh, gazetteer_agreement("narrowing", ["edinburgh", "fife"], ["sds"]))
    put(client, edinburgh, "narrowing", gazetteer_agreement("narrowing", ["edinburgh"], ["sds"]))
    refused = move(client, auth("fife", "governance"), "narrowing", "approved")
    assert refused.status_code == 404, refused.json()
    assert move(client, auth("fife", "governance"), "narrowing", "approved", version=2).status_code == 404
    body = client.get("/api/v1/agreements/narrowing", headers=edinburgh).json()
    assert body["latest"] is None and body["approvals"] == []


def test_an_org_removed_in_a_later_version_keeps_only_what_it_was_party_to(client, auth):
    edinburgh, fife, sds = (auth(o, "governance") for o in ("edinburgh", "fife", "sds"))
    create(client, edinburgh, gazetteer_agreement("shrinks", ["edinburgh", "fife"], ["sds"]))
    approve_all(client, auth, "shrinks", ["edinburgh", "fife", "sds"])
    move(client, sds, "shrinks", "active")
    put(client, edinburgh, "shrinks", gazetteer_agreement("shrinks", ["edinburgh"], ["sds"]))
    approve_all(client, auth, "shrinks", ["edinburgh", "sds"])
    assert move(client, sds, "shrinks", "active").json()["version"] == 2

    # fife reads version 1, which named it, and nothing of version 2.
    versions = client.get("/api/v1/agreements/shrinks/versions", headers=fife).json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "retired")]
    seen = client.get("/api/v1/agreements/shrinks", headers=fife).json()
    assert (seen["version"], seen["status"], seen["in_force_version"], seen["latest_version"]) == (1, "retired", None, 1)
    assert {h["version"] for h in seen["history"]} == {1}
    assert [a["id"] for a in client.get("/api/v1/agreements", headers=fife).json()["agreements"]] == ["shrinks"]

    # ... and cannot act on the version in force.
    for to in ("suspended", "retired"):
        assert move(client, fife, "shrinks", to).status_code == 404
        assert move(client, fife, "shrinks", to, version=2).status_code == 404
    assert put(client, fife, "shrinks", gazetteer_agreement("shrinks", ["edinburgh", "fife"], ["sds"])).status_code in (403, 404)
    assert client.get("/api/v1/agreements/shrinks", headers=sds).json()["status"] == "active"
    versions = client.get("/api/v1/agreements/shrinks/versions", headers=sds).json()["versions"]
    assert [(v["version"], v["status"]) for v in versions] == [(1, "retired"), (2, "active")]


def test_being_named_in_a_superseded_draft_gives_no_rights_over_the_version_in_force(client, auth):
    edinburgh, fife, sds = (auth(o, "governance") for o in ("edinburgh", "fife", "sds"))
    create(client, edinburgh, gazetteer_agreement("pair", ["edinburgh"], ["sds"]))
    approve_all(client, auth, "pair", ["edinburgh", "sds"])
    move(client, sds, "pair", "active")
    put(client, edinburgh, "pair", gazetteer_agreement("pair", ["edinburgh", "fife"], ["sds"]))  # v2 names fife

    # While named only in the draft, fife has no say over version 1.
    assert move(client, fife, "pair", "suspended").status_code == 404
    assert move(client, fife, "pair", "retired", version=1).status_code == 404

    put(client, edinburgh, "pair", gazetteer_agreement("pair", ["edinburgh"], ["sds"]).replace("365", "180"))  # v3
    assert [(v["version"], v["status"]) for v in
            client.get("/api/v1/agreements/pair/versions", headers=fife).json()["versions"]] == [(2, "retired")]
    assert move(client, fife, "pair", "suspended").status_code == 404
    assert move(client, fife, "pair", "approved").status_code == 404
    assert move(client, fife, "pair", "approved", version=3).status_code == 404
    assert move(client, fife, "pair", "active", version=1).status_code == 404
    assert put(client, fife, "pair", gazetteer_agreement("pair", ["edinburgh", "fife"], ["sds"])).status_code in (403, 404)
    body = client.get("/api/v1/agreements/pair", headers=sds).json()
    assert (body["version"], body["status"], body["latest_version"], body["latest_status"]) == (1, "active", 3, "draft")
