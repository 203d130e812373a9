"""Open data: an agreement publishes a non-personal dataset to the public, approved by its
providers and by the hub operator for the public; anyone then reads it without a key, as
pages, CSV, a JSON feed with a cursor and DCAT metadata, and nothing else becomes public."""
from __future__ import annotations

import csv
import io
import json
import re

import pytest

from hub.app import build_services, create_app
from hub.auth import Principal
from hub.config import Settings
from hub.errors import InvalidContent, NotFound
from hub.orgs.service import OrgError
from support.agreements import agreement_yaml
from support.console import add_staff, sign_in
from support.factories import gazetteer_record, referral_record

OPERATOR = "sfrs"  # the hub operator answers for the public
OPEN_GAZETTEER = agreement_yaml(
    "gazetteer-open", ["edinburgh", "glasgow"], ["public"], purposes=["ServiceProvision"],
    title="Gazetteer addresses as open data",
    datasets={"gazetteer-address": {"fields": ["uprn", "street", "town", "postcode", "custodian"],
                                    "conditions": ["payload.custodian == provider"]}})


def governance(org):
    return Principal(org=org, role="governance", credential_id="test")


@pytest.fixture
def services(db_url):
    from conftest import TEST_ORGS

    built = build_services(Settings(db_url=db_url, hub_operator=OPERATOR))
    for slug, name, kind in TEST_ORGS:
        built.orgs.add_org(slug, name, kind, actor="test")
    yield built
    built.engine.dispose()


@pytest.fixture
def client(services):
    with create_app(services=services).test_client() as test_client:
        yield test_client


def publish(client, auth, org, records):
    answer = client.post("/api/v1/records", json={"records": records}, headers=auth(org, "publisher"))
    assert answer.status_code == 200, answer.text
    assert all(r["status"] == "accepted" for r in answer.json()["results"]), answer.json()
    return answer.json()


def open_agreement(services, source=OPEN_GAZETTEER, providers=("edinburgh", "glasgow")):
    registry = services.policy.agreements
    agreement_id = registry.apply(source, governance(providers[0]), mode="create")["id"]
    for org in providers:
        registry.transition(agreement_id, "approved", governance(org))
    return agreement_id


def address(uprn, postcode, custodian="edinburgh", **payload):
    record = gazetteer_record(uprn, custodian=custodian)
    record["payload"].update(postcode=postcode, **payload)
    return record


def test_the_public_side_is_approved_by_the_hub_operator_and_nobody_else(services):
    agreement_id = open_agreement(services)
    registry = services.policy.agreements
    assert registry.get(agreement_id, governance("edinburgh"))["status"] == "draft"  # waiting for the public's side
    with pytest.raises(NotFound):  # fife is neither a party nor the public's steward: it learns nothing
        registry.transition(agreement_id, "approved", governance("fife"))  # not a party, not the steward
    assert registry.transition(agreement_id, "approved", governance(OPERATOR))["status"] == "approved"
    assert registry.transition(agreement_id, "active", governance("edinburgh"))["status"] == "active"


def test_a_personal_dataset_cannot_be_published_to_the_public(services):
    source = agreement_yaml("referrals-open", ["edinburgh"], ["public"],
                            datasets={"referral": {"fields": ["referral_id"]}})
    with pytest.raises(InvalidContent) as refused:
        services.policy.agreements.apply(source, governance("edinburgh"), mode="create")
    assert "personal data, so it cannot be published to the public" in str(refused.value.details["problems"])


def test_no_org_can_take_the_publics_name(services):
    with pytest.raises(OrgError, match="reserves"):
        services.orgs.add_org("public", "Anyone at all", "agency", actor="test")


def test_anyone_reads_what_the_agreement_publishes_and_nothing_more(services, client, auth):
    agreement_id = open_agreement(services)
    services.policy.agreements.transition(agreement_id, "approved", governance(OPERATOR))
    services.policy.agreements.transition(agreement_id, "active", governance("edinburgh"))
    publish(client, auth, "edinburgh", [address(9051, "EH1 1YJ", street="High Street"),
                                        address(9052, "EH6 6QQ"),
                                        address(9053, "EH1 2NG", custodian="glasgow")])  # fails the condition
    publish(client, auth, "glasgow", [address(9061, "G11 6AD", custodian="glasgow")])
    publish(client, auth, "fife", [address(9071, "KY1 1XX", custodian="fife")])  # not a party
    publish(client, auth, "edinburgh", [referral_record("EDN-REF-2026-000001")])  # personal: never public
    services.open_data.project()

    page = client.get("/open/gazetteer-address.json")
    assert page.status_code == 200
    keys = [row["key"] for row in page.json()["records"]]
    assert sorted(keys) == ["9051", "9052", "9061"]
    first = next(row for row in page.json()["records"] if row["key"] == "9051")
    assert set(first["payload"]) == {"uprn", "street", "town", "postcode", "custodian"}  # only the agreed fields

    in_eh1 = client.get("/open/gazetteer-address.json?district=eh1").json()["records"]
    assert [row["key"] for row in in_eh1] == ["9051"]
    assert client.get("/open/gazetteer-address.json?district=EH1 1YJ").json()["records"] == in_eh1
    bad = client.get("/open/gazetteer-address.json?district=<script>")
    assert bad.status_code == 400 and "not a postcode district" in bad.json()["detail"]

    assert client.get("/open/referral.json").status_code == 404
    assert client.get("/open/planning-application").status_code == 404
    for path in ("/api/v1/records/x", "/api/v1/feeds/gazetteer-address?purpose=ServiceProvision",
                 "/api/v1/agreements", "/api/v1/datasets"):
        assert client.get(path).status_code == 401, path  # the rest of the hub still needs a key

    # every record the public can read was recorded as a disclosure to it
    with services.engine.connect() as conn:
        from sqlalchemy import select

        from hub.policy.models import disclosures
        recipients = conn.execute(select(disclosures.c.recipient, disclosures.c.channel)
                                  .where(disclosures.c.recipient == "public")).all()
    assert len(recipients) == 3 and {r.channel for r in recipients} == {"open-data"}


def test_the_feed_pages_with_a_cursor_and_tells_of_deletions(services, client, auth):
    agreement_id = open_agreement(services)
    services.policy.agreements.transition(agreement_id, "approved", governance(OPERATOR))
    services.policy.agreements.transition(agreement_id, "active", governance("edinburgh"))
    publish(client, auth, "edinburgh", [address(9100 + n, "EH3 9AA") for n in range(5)])
    services.open_data.project()
    first = client.get("/open/gazetteer-address.json?limit=3").json()
    assert len(first["records"]) == 3 and first["more"] is True
    rest = client.get(f"/open/gazetteer-address.json?limit=3&after={first['next']}").json()
    assert len(rest["records"]) == 2 and rest["more"] is False

    gone = address(9100, "EH3 9AA")
    gone.update(op="delete", payload=None)
    publish(client, auth, "edinburgh", [gone])
    services.open_data.project()
    changes = client.get(f"/open/gazetteer-address.json?after={rest['next']}&deleted=true").json()["records"]
    assert [(row["key"], row["op"]) for row in changes] == [("9100", "delete")]
    assert "9100" not in [row["key"] for row in client.get("/open/gazetteer-address.json").json()["records"]]
    assert services.open_data.open_dataset("gazetteer-address")["records"] == 4  # kept as it goes, not counted
    assert client.get("/open/gazetteer-address.json?limit=0").status_code == 400


def test_a_suspended_agreement_takes_its_data_off_the_public_pages_at_once(services, client, auth):
    agreement_id = open_agreement(services)
    registry = services.policy.agreements
    registry.transition(agreement_id, "approved", governance(OPERATOR))
    registry.transition(agreement_id, "active", governance("edinburgh"))
    publish(client, auth, "edinburgh", [address(9201, "EH1 1AA")])
    services.open_data.project()
    assert len(client.get("/open/gazetteer-address.json").json()["records"]) == 1
    registry.transition(agreement_id, "suspended", governance("glasgow"), reason="checking the licence")
    services.open_data.project()
    assert client.get("/open/gazetteer-address.json").status_code == 404
    assert client.get("/open/").status_code == 200 and b"gazetteer" not in client.get("/open/").content.lower()
    registry.transition(agreement_id, "active", governance("edinburgh"))
    services.open_data.project()
    assert len(client.get("/open/gazetteer-address.json").json()["records"]) == 1


def test_csv_download_and_dcat_metadata(services, client, auth):
    agreement_id = open_agreement(services)
    services.policy.agreements.transition(agreement_id, "approved", governance(OPERATOR))
    services.policy.agreements.transition(agreement_id, "active", governance("edinburgh"))
    publish(client, auth, "edinburgh", [address(9301, "EH1 1YJ", street="=HYPERLINK(\"http://evil/\")"),
                                        address(9302, "EH2 2BB")])
    services.open_data.project()

    download = client.get("/open/gazetteer-address.csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text)))
    assert {row["uprn"] for row in rows} == {"9301", "9302"}
    assert next(row for row in rows if row["uprn"] == "9301")["street"].startswith("'=")  # not a formula
    assert {row["publisher"] for row in rows} == {"edinburgh"}
    assert len(list(csv.DictReader(io.StringIO(client.get("/open/gazetteer-address.csv?district=EH2")
                                                .text)))) == 1

    metadata = client.get("/open/gazetteer-address.jsonld")
    assert metadata.headers["content-type"].startswith("application/ld+json")
    node = json.loads(metadata.content)
    assert node["@type"] == "dcat:Dataset" and node["dct:title"] == "Gazetteer address"
    assert node["dct:license"]["@id"].endswith("/open-government-licence/version/3/")
    assert node["dct:accrualPeriodicity"]["@id"].endswith("/frequency/DAILY")
    assert node["dct:spatial"]["dct:title"] == "Scotland"
    assert node["dct:temporal"]["dcat:startDate"]["@value"] == "2026-01-01"
    assert node["dcat:contactPoint"]["vcard:hasEmail"]["@id"].startswith("mailto:")
    assert "dct:modified" in node
    assert {d["dcat:mediaType"] for d in node["dcat:distribution"]} == {"text/csv", "application/json"}
    catalogue = json.loads(client.get("/open/catalog.jsonld").content)
    assert [d["dct:identifier"] for d in catalogue["dcat:dataset"]] == ["gazetteer-address"]

    page = client.get("/open/gazetteer-address?district=EH1")
    assert page.status_code == 200 and b"9301" in page.content and b"9302" not in page.content
    assert b'rel="alternate" type="application/ld+json"' in page.content
    assert client.get("/open/gazetteer-address?district=nonsense").status_code == 400


def test_usage_is_counted_and_shown_to_the_owner_and_the_admin(services, client, auth):
    agreement_id = open_agreement(services)
    services.policy.agreements.transition(agreement_id, "approved", governance(OPERATOR))
    services.policy.agreements.transition(agreement_id, "active", governance("edinburgh"))
    publish(client, auth, "edinburgh", [address(9401, "EH1 1YJ")])
    services.open_data.project()
    client.get("/open/gazetteer-address")
    assert client.get("/open/gazetteer-address.csv").status_code == 200
    for _ in range(3):
        client.get("/open/gazetteer-address.json")
    assert services.open_data.usage()["gazetteer-address"] == {"page": 1, "download": 1, "api": 3}
    services.orgs.add_org("improvement-service", "Improvement Service", "agency", actor="test")
    for username, org, role in (("owner.ops", "improvement-service", "ops"), ("gov.edinburgh", "edinburgh", "governance"),
                                ("admin.sg", "fife", "admin")):
        add_staff(services, username, org, role)
    shown = {}
    for username in ("owner.ops", "gov.edinburgh", "admin.sg"):
        with create_app(services=services).test_client() as staff_client:
            assert sign_in(staff_client, username).status_code == 302
            page = staff_client.get("/console/open-data")
            assert page.status_code == 200
            shown[username] = "Gazetteer address</a>" in page.text and "<td>3</td>" in page.text
    assert shown == {"owner.ops": True, "gov.edinburgh": False, "admin.sg": True}


REFERRAL_COUNTS = agreement_yaml(
    "referral-counts", ["edinburgh"], ["public"], title="Referrals by reason and quarter",
    datasets={"referral": {"aggregate": {"rows": "reason_for_referral", "columns": "quarter"}}})


def referrals(reason, quarter_month, how_many, start):
    made = []
    for n in range(how_many):
        record = referral_record(f"EDN-REF-2026-{start + n:06d}", subject=f"subj-{start + n}",
                                 occurred_at=f"2026-{quarter_month}-02T09:30:00Z")
        record["payload"]["reason_for_referral"] = reason
        made.append(record)
    return made


def test_counts_of_personal_data_are_published_with_small_counts_and_their_giveaways_hidden(services, client, auth):
    registry = services.policy.agreements
    registry.apply(REFERRAL_COUNTS, governance("edinburgh"), mode="create")
    for org in ("edinburgh", OPERATOR):
        registry.transition("referral-counts", "approved", governance(org))
    registry.transition("referral-counts", "active", governance("edinburgh"))
    batch = (referrals("housing", "08", 6, 100) + referrals("housing", "11", 7, 200) +
             referrals("skills", "08", 2, 300) + referrals("skills", "11", 9, 400) +
             referrals("health", "08", 8, 500) + referrals("health", "11", 5, 600))
    publish(client, auth, "edinburgh", batch)
    services.open_data.project()
    assert services.open_aggregates.compute() == 1

    table = client.get("/open/tables/referral-counts/referral.json").json()
    assert table["columns"] == ["2026-Q3", "2026-Q4"]
    shown = {(row["row"], column): cell["value"] for row in table["rows"]
             for column, cell in zip(table["columns"], row["cells"])}
    # skills in Q3 (2) is under 5; the totals would give it away unless three more are hidden,
    # the smallest that close the gap: skills Q4, housing Q3 and housing Q4.
    assert shown == {("health", "2026-Q3"): 8, ("health", "2026-Q4"): 5,
                     ("housing", "2026-Q3"): None, ("housing", "2026-Q4"): None,
                     ("skills", "2026-Q3"): None, ("skills", "2026-Q4"): None}
    assert [row["total"]["value"] for row in table["rows"]] == [13, 13, 11]
    assert table["grand_total"]["value"] == 37

    download = client.get("/open/tables/referral-counts/referral.csv").text.splitlines()
    assert download[0] == "reason_for_referral,2026-Q3,2026-Q4,total"
    assert download[3] == "skills,[c],[c],11"
    page = client.get("/open/tables/referral-counts/referral")
    assert page.status_code == 200 and "[c]" in page.text
    assert "Referrals by reason and quarter" in client.get("/open/").text
    assert client.get("/open/referral.json").status_code == 404  # counts only: no record is public
    assert "EDN-REF" not in client.get("/open/tables/referral-counts/referral").text


def test_an_aggregate_names_no_fields_and_counts_by_what_the_dataset_has(services):
    source = agreement_yaml("bad-counts", ["edinburgh"], ["public"], datasets={"referral": {
        "fields": ["referral_id"], "aggregate": {"rows": "shoe_size", "columns": "shoe_size"}}})
    with pytest.raises(InvalidContent) as refused:
        services.policy.agreements.apply(source, governance("edinburgh"), mode="create")
    messages = " ".join(p["message"] for p in refused.value.details["problems"])
    assert "an aggregate publishes counts only: leave out fields" in messages
    assert "'shoe_size' is neither a field of the dataset nor one of publisher, quarter" in messages
    assert "rows and columns must count by two different things" in messages


def dated(record, occurred_at):
    return {**record, "occurred_at": occurred_at}


def test_records_by_month_follow_moves_and_deletions_and_are_charted_with_a_table(services, client, auth):
    """Each dataset page charts its records by the month they occurred, per publisher, with the numbers
    as a table; the projector keeps the counts as it writes, so a moved or deleted record moves its count."""
    agreement_id = open_agreement(services)
    services.policy.agreements.transition(agreement_id, "approved", governance(OPERATOR))
    services.policy.agreements.transition(agreement_id, "active", governance("edinburgh"))
    october, november = "2026-10-05T09:00:00Z", "2026-11-03T09:00:00Z"
    publish(client, auth, "edinburgh", [dated(address(9300 + n, "EH1 1AA"), october) for n in range(3)]
            + [dated(address(9310, "EH1 1AA"), november)])
    publish(client, auth, "glasgow", [dated(address(9400, "G1 1AA", custodian="glasgow"), november)])
    services.open_data.project()
    labels, counts = services.open_data.records_by_month("gazetteer-address")
    assert len(labels) == 12 and labels[-1] == services.clock().strftime("%Y-%m")  # up to this month
    at = [labels.index("2026-10"), labels.index("2026-11")]
    assert ([counts["edinburgh"][i] for i in at], [counts["glasgow"][i] for i in at]) == ([3, 1], [0, 1])

    moved = dated(address(9300, "EH1 1AA"), november)
    gone = dated(address(9301, "EH1 1AA"), october)
    gone.update(op="delete", payload=None)
    publish(client, auth, "edinburgh", [moved, gone])
    services.open_data.project()
    assert [services.open_data.records_by_month("gazetteer-address")[1]["edinburgh"][i] for i in at] == [1, 2]

    page = client.get("/open/gazetteer-address").text
    assert 'aria-labelledby="records-by-month-title"' in page
    assert f"Records by the month they occurred, {labels[0]} to {labels[-1]}" in page
    rows = dict(re.findall(r'<tr><th scope="row">([^<]+)</th>((?:<td>[^<]*</td>)+)</tr>', page))
    cells = {name: re.findall(r"<td>([^<]*)</td>", found) for name, found in rows.items()}
    assert [cells["The City of Edinburgh Council"][i] for i in at] == ["1", "2"]
    assert [cells["Glasgow City Council"][i] for i in at] == ["0", "1"]
