"""Addressed referrals and their status updates, against a real hub process: a referral reaches
only the org it is addressed to (one of a version naming no addressee is refused), status updates come back to the referrer only, a declined
referral carries its reason, an unacknowledged referral becomes overdue (bank holidays left out), an agreement passing
special-category data without an Article 9 condition is neither approved nor activated, and
partnership figures come with small counts suppressed."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from support import ROOT
from support.agreements import agreement_yaml
from support.browser import ConsoleHub
from support.factories import example_payload
from support.referrals import PERSON, put_in_force, referral, status

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

AGREEMENT = "referrals-edinburgh-partners"
PURPOSE = {"purpose": "ServiceProvision"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("referrals-hub"))
    server.prepare()
    server.start()
    put_in_force(server, (ROOT / "policies" / f"{AGREEMENT}.yaml").read_text(encoding="utf-8"), AGREEMENT,
                 ["edinburgh", "sds", "fife"])
    # glasgow may receive Edinburgh's referrals too, under another agreement: the address still decides.
    put_in_force(server, agreement_yaml("referrals-edinburgh-glasgow", ["edinburgh"], ["glasgow"], {
        "referral": {"fields": ["referral_id", "receiving_org", "referred_at"]},
        "referral-status": {"fields": ["status_id", "referral_id", "referring_org", "receiving_org", "status"],
                            "direction": "recipients-to-providers"}}), "referrals-edinburgh-glasgow",
                 ["edinburgh", "glasgow"])
    yield server
    server.stop()


def publish(hub: ConsoleHub, org: str, *records: dict) -> list[dict]:
    results = hub.publish(org, list(records))["results"]
    assert [r["status"] for r in results] == ["accepted"] * len(records), results
    return results


def feed_keys(hub: ConsoleHub, org: str, dataset: str) -> set[str]:
    """The keys of the records of `dataset` in `org`'s feed."""
    answer = hub.api("GET", f"/feeds/{dataset}", org, "subscriber", params={**PURPOSE, "limit": 1000})
    assert answer.status_code == 200, answer.text
    key_field = {"referral": "referral_id", "referral-status": "status_id"}[dataset]
    return {event["data"][key_field] for event in answer.json()["events"]
            if isinstance(event.get("data"), dict) and key_field in event["data"]}


def timeline(hub: ConsoleHub, org: str, referral_id: str, role: str = "subscriber"):
    return hub.api("GET", f"/referrals/edinburgh/{referral_id}", org, role)


def test_a_referral_reaches_only_its_addressee(hub):
    publish(hub, "edinburgh", referral("EDI-ADDR-001", "sds"), referral("EDI-ADDR-002", "fife"),
            referral("EDI-ADDR-003", "glasgow"))
    sds, fife, glasgow = (feed_keys(hub, org, "referral") for org in ("sds", "fife", "glasgow"))
    assert {"EDI-ADDR-001", "EDI-ADDR-002", "EDI-ADDR-003"} & sds == {"EDI-ADDR-001"}
    assert {"EDI-ADDR-001", "EDI-ADDR-002", "EDI-ADDR-003"} & fife == {"EDI-ADDR-002"}
    # glasgow's agreement covers every Edinburgh referral, yet only the one addressed to it arrives
    assert {"EDI-ADDR-001", "EDI-ADDR-002", "EDI-ADDR-003"} & glasgow == {"EDI-ADDR-003"}
    # the dry run says why, in words
    tried = hub.api("POST", "/policy/decisions", "edinburgh", "governance", json={
        "record": {k: v for k, v in referral("EDI-ADDR-001", "sds").items() if k not in ("id", "occurred_at")},
        "recipient": "fife", "purpose": "ServiceProvision"})
    assert tried.status_code == 200, tried.text
    assert tried.json()["allowed"] is False
    assert "addressed to sds, not to fife" in " ".join(tried.json()["reasons"])
    # the addressee reads it through the referrals API; another org gets 404
    assert timeline(hub, "sds", "EDI-ADDR-001").json()["side"] == "received"
    assert timeline(hub, "fife", "EDI-ADDR-001").status_code == 404
    assert timeline(hub, "glasgow", "EDI-ADDR-001").status_code == 404


def test_the_addressee_receives_a_referral_only_under_an_agreement_and_while_consent_stands(hub):
    # no agreement lets edinburgh refer people to west-lothian: addressed to it, a referral goes nowhere
    publish(hub, "edinburgh", referral("EDI-NOAG-001", "west-lothian"))
    assert "EDI-NOAG-001" not in feed_keys(hub, "west-lothian", "referral")
    put_in_force(hub, agreement_yaml("referrals-edinburgh-midlothian", ["edinburgh"], ["midlothian"], {
        "referral": {"fields": ["referral_id", "receiving_org"]}}, lawful_basis="consent"),
        "referrals-edinburgh-midlothian", ["edinburgh", "midlothian"])
    publish(hub, "edinburgh", referral("EDI-CONS-001", "midlothian"))
    assert "EDI-CONS-001" not in feed_keys(hub, "midlothian", "referral")  # the person has not consented
    given = hub.api("POST", "/consents", "edinburgh", "governance", json={
        "subject": PERSON, "purpose": "ServiceProvision", "recipients": ["midlothian"], "method": "signed form",
        "evidence_ref": "EV-EDI-CONS-001", "given_at": "2026-01-05T10:00:00Z"})
    assert given.status_code == 201, given.text
    assert "EDI-CONS-001" in feed_keys(hub, "midlothian", "referral")
    withdrawn = hub.api("POST", f"/consents/{given.json()['id']}/withdraw", "edinburgh", "governance")
    assert withdrawn.status_code == 200, withdrawn.text
    assert "EDI-CONS-001" not in feed_keys(hub, "midlothian", "referral")


@pytest.mark.parametrize("version", [1, 2])
def test_a_referral_naming_no_addressee_is_refused_with_the_field_and_reaches_nobody(hub, version):
    unaddressed = {**referral(f"EDI-OLD-{version}", "sds"), "schema_version": version, "payload": {
        **example_payload("referral", version), "referral_id": f"EDI-OLD-{version}", "referring_org": "edinburgh"}}
    answer = hub.publish("edinburgh", [unaddressed, referral(f"EDI-NEW-{version}", "sds")])
    refused, accepted = answer["results"]
    assert accepted["status"] == "accepted"  # the rest of the batch goes through
    assert refused["status"] == "rejected" and refused["errors"] == [{"path": "/schema_version", "message": (
        f"referral schema version {version} names no addressee, so the hub cannot tell which organisation "
        "the record is for: publish schema version 3, whose receiving_org names it")}]
    for org in ("sds", "fife", "glasgow"):
        assert f"EDI-OLD-{version}" not in feed_keys(hub, org, "referral")
    # the catalogue says so before anyone tries
    described = hub.api("GET", "/datasets/referral", "edinburgh", "publisher").json()
    assert described["unaddressed_versions"] == [1, 2] and described["latest_version"] == 3


def test_status_updates_come_back_to_the_referrer_only(hub):
    publish(hub, "edinburgh", referral("EDI-BACK-001", "sds"))
    accepted = status("EDI-BACK-001", "sds", "accepted")
    # sds also claims to speak for a referral of glasgow's, and for one not addressed to it
    forged = status("EDI-BACK-001", "sds", "accepted", referring_org="glasgow")
    publish(hub, "sds", accepted, forged)
    key = accepted["payload"]["status_id"]
    assert key in feed_keys(hub, "edinburgh", "referral-status")
    for org in ("fife", "glasgow", "sds"):
        assert key not in feed_keys(hub, org, "referral-status"), org
    assert forged["payload"]["status_id"] not in feed_keys(hub, "glasgow", "referral-status")
    # fife cannot speak for sds's referral: its update is no part of the timeline
    publish(hub, "fife", status("EDI-BACK-001", "fife", "declined", decline_reason="no-capacity"))
    seen = timeline(hub, "edinburgh", "EDI-BACK-001").json()
    assert [step["step"] for step in seen["timeline"]] == ["referred", "accepted"]
    assert seen["state"] == "accepted" and seen["side"] == "sent"


def test_a_declined_referral_carries_its_reason_to_both_sides(hub):
    publish(hub, "edinburgh", referral("EDI-DECL-001", "fife"))
    # a decline without a reason is refused, with the place
    missing = hub.publish("fife", [status("EDI-DECL-001", "fife", "declined")])["results"][0]
    assert missing["status"] == "rejected" and missing["errors"][0]["path"] == "/payload/decline_reason"
    unlisted = hub.publish("fife", [status("EDI-DECL-001", "fife", "declined", decline_reason="busy")])["results"][0]
    assert unlisted["status"] == "rejected" and unlisted["errors"][0]["path"] == "/payload/decline_reason"
    publish(hub, "fife", status("EDI-DECL-001", "fife", "received"),
            status("EDI-DECL-001", "fife", "declined", decline_reason="not-eligible", note="Over the age limit"))
    for org in ("edinburgh", "fife"):
        seen = timeline(hub, org, "EDI-DECL-001").json()
        assert seen["state"] == "declined", org
        assert seen["timeline"][-1] == {**seen["timeline"][-1], "step": "declined", "decline_reason": "not-eligible",
                                        "by": "fife"}


def test_an_unacknowledged_referral_becomes_overdue_to_both_sides(hub):
    # made on the Thursday before Easter 2026: Good Friday is a Scottish bank holiday, Easter Monday is not
    thursday = datetime(2026, 4, 2, 10, 0, tzinfo=timezone.utc)
    publish(hub, "edinburgh", referral("EDI-LATE-001", "sds", thursday), referral("EDI-LATE-002", "sds", thursday),
            referral("EDI-LATE-003", "sds"))
    publish(hub, "sds", status("EDI-LATE-002", "sds", "received"))
    for org, side in (("edinburgh", "sent"), ("sds", "received")):
        overdue = hub.api("GET", "/referrals", org, "subscriber", params={"overdue": "true", "side": side})
        assert overdue.status_code == 200, overdue.text
        ids = {r["referral_id"] for r in overdue.json()["referrals"]}
        assert "EDI-LATE-001" in ids and not ids & {"EDI-LATE-002", "EDI-LATE-003"}, (org, ids)
        late = timeline(hub, org, "EDI-LATE-001").json()
        assert late["overdue"] is True and late["state"] == "awaiting"
        # five working days: Monday 6 to Friday 10 April (the Friday before them a bank holiday)
        assert datetime.fromisoformat(late["due_by"]) == datetime(2026, 4, 10, 10, 0, tzinfo=timezone.utc)
    assert timeline(hub, "sds", "EDI-LATE-003").json()["overdue"] is False


SPECIAL = agreement_yaml("referrals-special", ["edinburgh"], ["sds"], {
    "referral": {"fields": ["referral_id", "receiving_org", "disability"]}})


def test_an_agreement_passing_special_category_data_without_a_condition_cannot_be_approved_or_activated(hub):
    assert hub.api("POST", "/agreements", "edinburgh", "governance", json={"source": SPECIAL}).status_code == 201
    for org, to in (("edinburgh", "approved"), ("sds", "approved"), ("edinburgh", "active")):
        refused = hub.api("POST", "/agreements/referrals-special/transitions", org, "governance", json={"to": to})
        assert refused.status_code == 409, refused.text
        problem = refused.json()
        assert "referral.disability" in problem["detail"] and "Article 9 condition" in problem["detail"]
        assert problem["type"].endswith("article9-condition-missing")
    # stating the condition in a new version lets it through
    fixed = SPECIAL.replace("    - disability\n", "    - disability\n    article9_condition: 9(2)(g)\n")
    assert hub.api("PUT", "/agreements/referrals-special", "edinburgh", "governance",
                   json={"source": fixed}).status_code in (200, 201)
    for org in ("edinburgh", "sds"):
        assert hub.api("POST", "/agreements/referrals-special/transitions", org, "governance",
                       json={"to": "approved"}).status_code == 200
    assert hub.api("POST", "/agreements/referrals-special/transitions", "edinburgh", "governance",
                   json={"to": "active"}).json()["status"] == "active"


def _cells(table: dict) -> dict[tuple[str, str], dict]:
    return {(row["row"], column): cell for row in table["rows"] for column, cell in zip(table["columns"], row["cells"])}


FIGURES = agreement_yaml("referrals-glasgow-sds", ["glasgow"], ["sds"], {
    "referral": {"fields": ["referral_id", "receiving_org", "referred_at", "age_band"]},
    "referral-status": {"fields": ["status_id", "referral_id", "referring_org", "receiving_org", "status"],
                        "direction": "recipients-to-providers"}})


def test_partnership_figures_suppress_small_counts_and_go_to_parties_only(hub):
    # an agreement of its own, so that no other test's referrals are in its figures
    put_in_force(hub, FIGURES, "referrals-glasgow-sds", ["glasgow", "sds"])
    quarter = "2025-Q2"
    referred = datetime(2025, 5, 6, 10, 0, tzinfo=timezone.utc)
    records = [referral(f"GLA-FIG-{n:03d}", "sds", referred, referring_org="glasgow",
                        age_band="20-24" if n < 6 else "50-64") for n in range(8)]
    publish(hub, "glasgow", *records)
    publish(hub, "sds", *[status(f"GLA-FIG-{n:03d}", "sds", "accepted", referring_org="glasgow") for n in range(6)],
            status("GLA-FIG-006", "sds", "declined", referring_org="glasgow", decline_reason="no-capacity"))
    answer = hub.api("GET", "/referral-reports/referrals-glasgow-sds", "glasgow", "governance")
    assert answer.status_code == 200, answer.text
    tables = {table["title"]: table for table in answer.json()["tables"]}
    states = _cells(tables["Referrals by quarter, provider and state"])
    assert states[f"{quarter} sds", "accepted"] == {"value": 6, "suppressed": False}
    assert states[f"{quarter} sds", "declined"] == {"value": None, "suppressed": True}  # 1 referral
    assert states[f"{quarter} sds", "awaiting"] == {"value": None, "suppressed": True}  # 1 referral
    by_age = _cells(tables["Referrals by age band and state"])
    assert by_age["50-64", "declined"]["suppressed"] and by_age["50-64", "awaiting"]["suppressed"]
    # no small count is shown, in any cell or total of any table
    for table in tables.values():
        shown = [entry["value"] for row in table["rows"] for entry in (*row["cells"], row["total"])
                 if not entry["suppressed"]]
        shown += [entry["value"] for entry in (*table["column_totals"], table["grand_total"]) if not entry["suppressed"]]
        assert not {1, 2, 3, 4} & set(shown), table["title"]
    # a group the agreement does not pass is no part of the figures
    assert not any("veteran" in title for title in tables)
    # parties only: fife (no party to it) gets 404, a party's subscriber 403
    assert hub.api("GET", "/referral-reports/referrals-glasgow-sds", "fife", "governance").status_code == 404
    assert hub.api("GET", "/referral-reports/referrals-glasgow-sds", "sds", "subscriber").status_code == 403


def test_an_overdue_referral_raises_an_alert_to_the_receiving_org(hub):
    from hub.app import build_services
    from hub.auth import Principal
    from hub.config import Settings

    two_weeks = datetime.now(timezone.utc) - timedelta(days=14)
    monday = (two_weeks - timedelta(days=two_weeks.weekday())).replace(hour=10, minute=0, second=0, microsecond=0)
    publish(hub, "edinburgh", referral("EDI-ALERT-001", "sds", monday))
    services = build_services(Settings(db_url=hub.db_url))
    try:
        services.alerts.evaluate()
        seen = {org: [a for a in services.alerts.list_alerts(Principal(org=org, role="ops", credential_id="t"))
                      if a["rule"] == "referral-overdue"] for org in ("sds", "fife")}
    finally:
        services.engine.dispose()
    keys = {alert["key"] for alert in seen["sds"]}
    assert "edinburgh/EDI-ALERT-001" in keys
    assert seen["fife"] == []  # not the addressee: not told
