"""The coverage view against a real hub process: councils in each state, totals, CSV, and
who sees which rows.

The hub process serves the test's database; what happened in the past (a council that
last published two days ago, an agent that stopped reporting) is written beforehand by the
in-process services with their clock set back, exactly as the hub would have written it then.
"""
from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest
import requests

from causeway_common.signing import build_manifest, generate_key, public_key_b64, sign_manifest
from hub import db
from hub.auth import Principal
from support.agreements import activate_agreement, agreement_yaml
from support.factories import gazetteer_record

OPERATOR = "sfrs"


@pytest.fixture(autouse=True)
def hub_operator(monkeypatch):
    """The hub process (and the in-process services) name sfrs as the hub operator."""
    monkeypatch.setenv("CAUSEWAY_HUB_OPERATOR", OPERATOR)
    monkeypatch.setenv("CAUSEWAY_MIN_AGENT_VERSION", "1.5")  # fife's agent (1.4.0) is older


def at(services, moment):
    """Set the in-process services' clock (records and heartbeats) to `moment`."""
    services.records.clock = services.health.clock = lambda: moment


def enrol(services, org):
    key = generate_key()
    token, _ = services.orgs.create_enrolment(org, 3600, actor="test")
    answer = services.orgs.enrol_agent(token, public_key_b64(key), f"{org}-agent", "0.1.0")
    return answer["agent_id"], key


def publish_as_agent(services, org, agent_id, key, records, moment):
    at(services, moment)
    batch_id = str(uuid.uuid4())
    manifest = build_manifest(records, batch_id, agent_id, created_at=moment)
    body = {"records": records, "manifest": manifest, "signature": sign_manifest(manifest, key)}
    return services.records.publish(body, Principal(org=org, role="publisher", credential_id="t", agent_id=agent_id))


def publish_with_key(services, org, records, moment):
    at(services, moment)
    return services.records.publish({"records": records}, Principal(org=org, role="publisher", credential_id="t"))


def heartbeat(services, org, agent_id, moment, version):
    at(services, moment)
    services.health.record_heartbeat(Principal(org=org, role="publisher", credential_id="t", agent_id=agent_id),
                                     agent_id, {"version": version, "interval_seconds": 30})


@pytest.fixture
def councils(services):
    """edinburgh live (its agent up, one reject), glasgow quiet (last published two days ago),
    fife with a stale agent (published an hour ago, no heartbeat since), aberdeen never published."""
    services.orgs.add_org("aberdeen", "Aberdeen City Council", "council", actor="test")
    now = db.utcnow()
    edinburgh_agent, edinburgh_key = enrol(services, "edinburgh")
    heartbeat(services, "edinburgh", edinburgh_agent, now, "=HYPERLINK(\"http://evil/\")")
    bad = gazetteer_record(3, custodian="edinburgh")
    bad["payload"]["uprn"] = 12  # not a string: rejected, the rest goes through
    outcome = publish_as_agent(services, "edinburgh", edinburgh_agent, edinburgh_key,
                               [gazetteer_record(1), gazetteer_record(2), bad], now - timedelta(minutes=5))
    assert (outcome.accepted, outcome.rejected) == (2, 1)

    publish_with_key(services, "glasgow", [gazetteer_record(n, custodian="glasgow") for n in (10, 11, 12)],
                     now - timedelta(days=10))
    publish_with_key(services, "glasgow", [gazetteer_record(13, custodian="glasgow")], now - timedelta(days=2))

    fife_agent, fife_key = enrol(services, "fife")
    heartbeat(services, "fife", fife_agent, now - timedelta(hours=2), "1.4.0")
    publish_as_agent(services, "fife", fife_agent, fife_key, [gazetteer_record(20, custodian="fife")],
                     now - timedelta(hours=1))
    return {"now": now, "edinburgh_agent": edinburgh_agent, "fife_agent": fife_agent}


def get(hub, key, query="", **headers):
    return requests.get(f"{hub.url}/api/v1/coverage{query}", timeout=10,
                        headers={"Authorization": f"Bearer {key}", **headers})


def cells_of(view, dataset="gazetteer-address"):
    return {c["org"]: c for c in view["cells"] if c["dataset"] == dataset}


def test_the_operator_sees_every_council_in_its_state_with_figures_and_totals(councils, hub, key_for):
    answer = get(hub, key_for(OPERATOR, "ops"))
    assert answer.status_code == 200, answer.text
    view = answer.json()
    assert [c["org"] for c in view["councils"]] == ["aberdeen", "edinburgh", "fife", "glasgow"]  # no agencies
    assert {d["name"]: d["cadence"] for d in view["datasets"]}["gazetteer-address"] == {
        "every_hours": 24.0, "grace_hours": 6.0}
    cells = cells_of(view)
    assert {org: c["state"] for org, c in cells.items()} == {
        "edinburgh": "live", "glasgow": "quiet", "fife": "stale_agent", "aberdeen": "never_published"}

    edinburgh = cells["edinburgh"]
    assert (edinburgh["records_7d"], edinburgh["rejected_7d"], edinburgh["reject_rate"]) == (2, 1, 0.3333)
    assert edinburgh["agent_id"] == councils["edinburgh_agent"]
    assert (edinburgh["agent_status"], edinburgh["agent_version"]) == ("up", "=HYPERLINK(\"http://evil/\")")

    glasgow = cells["glasgow"]
    assert (glasgow["records_7d"], glasgow["rejected_7d"], glasgow["reject_rate"]) == (1, 0, 0.0)  # 3 are older
    assert glasgow["agent_id"] is None
    assert glasgow["last_published_at"] < glasgow["quiet_after"] < view["generated_at"]

    fife = cells["fife"]
    assert (fife["agent_status"], fife["agent_version"], fife["records_7d"]) == ("stale", "1.4.0", 1)
    assert fife["quiet_after"] > view["generated_at"]  # within its cadence: the agent is what is wrong
    assert view["min_agent_version"] == "1.5" and fife["agent_outdated"] is True
    assert edinburgh["agent_outdated"] is None  # a version that is not a version number is not judged
    assert glasgow["agent_outdated"] is None  # published with a plain key: no agent

    assert edinburgh["cadence"] == {"every_hours": 24.0, "grace_hours": 6.0, "declared_by": "catalogue"}

    aberdeen = cells["aberdeen"]
    assert (aberdeen["last_published_at"], aberdeen["records_7d"], aberdeen["reject_rate"]) == (None, 0, None)

    totals = {t["dataset"]: t for t in view["totals"]}
    assert totals["gazetteer-address"] == {"dataset": "gazetteer-address", "councils": 4, "live": 1, "quiet": 1,
                                           "stale_agent": 1, "never_published": 1,
                                           "summary": "gazetteer-address: 1 of 4 live"}
    assert totals["planning-application"]["never_published"] == 4


def test_a_council_that_publishes_again_is_live_again(councils, hub, key_for, services):
    publish_with_key(services, "glasgow", [gazetteer_record(14, custodian="glasgow")], db.utcnow())
    view = get(hub, key_for("glasgow", "publisher")).json()
    assert cells_of(view)["glasgow"]["state"] == "live"
    assert cells_of(view)["glasgow"]["records_7d"] == 2


def test_csv_has_a_line_per_cell_and_neutralises_formulas(councils, hub, key_for):
    answer = get(hub, key_for("edinburgh", "admin"), "?format=csv&dataset=gazetteer-address")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    by_org = {r["org"]: r for r in rows}
    assert sorted(by_org) == ["aberdeen", "edinburgh", "fife", "glasgow"]
    assert by_org["edinburgh"]["agent_version"] == "'=HYPERLINK(\"http://evil/\")"  # text, never a formula
    assert (by_org["edinburgh"]["state"], by_org["edinburgh"]["rejected_7d"]) == ("live", "1")
    assert by_org["aberdeen"]["last_published_at"] == ""
    by_accept = get(hub, key_for("edinburgh", "admin"), "?dataset=gazetteer-address", Accept="text/csv")
    assert by_accept.text == answer.text


def test_a_council_sees_its_own_row_only(councils, hub, key_for):
    for role in ("publisher", "ops", "governance"):
        view = get(hub, key_for("glasgow", role)).json()
        assert [c["org"] for c in view["councils"]] == ["glasgow"]
        assert {c["org"] for c in view["cells"]} == {"glasgow"}
        assert view["totals"][0]["councils"] == 1
    refused = get(hub, key_for("glasgow", "ops"), "?org=edinburgh")
    assert refused.status_code == 403
    assert "its own coverage row" in refused.json()["detail"]


@pytest.mark.parametrize("org, role", [("glasgow", "subscriber"), (OPERATOR, "governance"), (OPERATOR, "publisher")])
def test_other_roles_and_the_operators_other_credentials_see_nothing(councils, hub, key_for, org, role):
    answer = get(hub, key_for(org, role))
    assert answer.status_code in (403, 404)
    assert "cells" not in answer.json()


def test_unknown_council_dataset_and_no_key_are_refused_clearly(councils, hub, key_for):
    admin = key_for("edinburgh", "admin")
    assert get(hub, admin, "?org=nowhere").status_code == 404
    assert get(hub, admin, "?org=sds").status_code == 404  # an agency has no coverage row
    no_cadence = get(hub, admin, "?dataset=referral")
    assert no_cadence.status_code == 404 and "cadence" in no_cadence.json()["detail"]
    assert get(hub, admin, "?format=xlsx").status_code == 400
    assert requests.get(f"{hub.url}/api/v1/coverage", timeout=10).status_code == 401


def test_an_agreement_in_force_holds_its_providers_to_a_stricter_cadence(councils, hub, key_for, services):
    activate_agreement(services, agreement_yaml(
        "coverage-promise", ["edinburgh", "glasgow"], ["sfrs"], purposes=["EmergencyResponse"], datasets={
            "gazetteer-address": {"fields": ["uprn"], "cadence": {"every_hours": 0.01}},  # 36 s: edinburgh is late
            "job-vacancy": {"fields": ["vacancy_id"], "cadence": {"every_hours": 12, "grace_hours": 2}}}),
        ["edinburgh", "glasgow", "sfrs"])
    view = get(hub, key_for("edinburgh", "admin")).json()
    gazetteer = cells_of(view)
    assert gazetteer["edinburgh"]["state"] == "quiet"  # published five minutes ago: within a day, not 36 s
    assert gazetteer["edinburgh"]["cadence"] == {"every_hours": 0.01, "grace_hours": 0.0,
                                                 "declared_by": "agreement coverage-promise"}
    assert gazetteer["fife"]["cadence"]["declared_by"] == "catalogue"  # not a party

    # a dataset without a catalogue cadence joins the view for the providers that promised one
    vacancies = cells_of(view, "job-vacancy")
    assert vacancies["glasgow"]["cadence"]["every_hours"] == 12.0
    assert vacancies["glasgow"]["state"] == "never_published"
    assert vacancies["aberdeen"]["cadence"] is None

    # the hub operator sees that an agreement sets the cadence, not which one
    seen = cells_of(get(hub, key_for(OPERATOR, "ops")).json())
    assert seen["edinburgh"]["cadence"]["declared_by"] == "agreement"
    own = cells_of(get(hub, key_for("edinburgh", "ops")).json())
    assert own["edinburgh"]["cadence"]["declared_by"] == "agreement coverage-promise"


def test_a_cadence_in_an_agreement_says_how_often_or_is_refused(services):
    from hub.errors import HubError

    source = agreement_yaml("coverage-bad", ["edinburgh"], ["sfrs"], purposes=["EmergencyResponse"], datasets={
        "gazetteer-address": {"fields": ["uprn"], "cadence": {"grace_hours": 2}}})
    with pytest.raises(HubError) as refused:
        services.policy.agreements.apply(source, Principal(org="edinburgh", role="governance", credential_id="t"),
                                         mode="create")
    assert "every_hours" in str(refused.value.details or refused.value)
