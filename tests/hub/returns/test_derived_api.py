"""Returns derived from records a council already publishes, against one real hub process per
database: figures right against records counted by hand, another council's records never
counted, the agency seeing nothing before approval, the records behind every figure, recompute
when records change without overwriting the council's edits silently, and bad derivations
refused naming the field."""
from __future__ import annotations

import copy
import json
import shutil
import uuid

import pytest
import requests
from sqlalchemy import select

from hub.app import build_services
from hub.audit.models import audit_log
from hub.config import Settings
from hub.returns.derived_demo import SPEC as DEMO_SPEC
from support.hubprocess import HubProcess
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ORGS = [("edinburgh", "The City of Edinburgh Council", "council"), ("fife", "Fife Council", "council"),
        ("scottish-government", "Scottish Government", "agency")]
AGENCY, PERIOD = "scottish-government", "2026-Q3"  # ended: the hub keeps real time (2026-12 or later)
SPEC = {**copy.deepcopy(DEMO_SPEC), "name": "data-return.planning-derived", "expected_publishers": ["edinburgh", "fife"]}


def application(reference, kind, received, status="under-consideration", council="edinburgh", **more):
    return {"reference": reference, "council": council, "site_address": "1 High Street", "description": "A proposal",
            "application_type": kind, "received_date": received, "status": status, **more}


def decided(reference, kind, received, validated, decision_date, decision="granted", **more):
    return application(reference, kind, received, "decided", validated_date=validated, decision_date=decision_date,
                       decision=decision, **more)


EDINBURGH = [  # counted by hand below
    decided("26/0001/HH", "householder", "2026-07-01", "2026-07-03", "2026-07-13"),   # 10 days
    decided("26/0002/HH", "householder", "2026-07-02", "2026-07-04", "2026-08-03"),   # 30 days
    decided("26/0003/HH", "householder", "2026-07-05", "2026-07-05", "2026-09-08", decision="refused"),  # 65
    application("26/0004/HH", "householder", "2026-08-10"),
    application("26/0005/FUL", "full", "2026-08-11", status="withdrawn"),
    application("26/0006/FUL", "full", "2026-08-12", status="returned"),              # no figure counts it
    decided("26/0007/FUL", "full", "2026-04-20", "2026-04-22", "2026-07-21"),         # received in Q2, decided in Q3: 90
    application("26/0008/FUL", "full", "2026-09-01"),                                 # deleted below
]
FIFE = [  # Fife's records, one of them claiming to be Edinburgh's: never counted for Edinburgh
    application("26/9001/HH", "householder", "2026-07-01", council="edinburgh"),
    decided("26/9002/HH", "householder", "2026-07-01", "2026-07-02", "2026-07-05", council="fife"),
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("derived")
        shutil.copy(request.getfixturevalue("sqlite_template"), folder / "causeway.db")
        db_url = f"sqlite:///{folder / 'causeway.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        db_url = server.create_database("causeway_derived", template=request.getfixturevalue("postgres_template"))
    services = build_services(Settings(db_url=db_url))
    for slug, name, kind in ORGS:
        services.orgs.add_org(slug, name, kind, actor="test")
    keys = {}

    def call(method, org, role, path, **kwargs):
        if (org, role) not in keys:
            keys[org, role] = services.orgs.issue_key(org, role, actor="test")
        return requests.request(method, f"{hub.url}/api/v1{path}", timeout=60,
                                headers={"Authorization": f"Bearer {keys[org, role]}"}, **kwargs)

    call.services = services
    env = {"CAUSEWAY_DERIVED_RETURNS_INTERVAL_SECONDS": "0.5"}
    with HubProcess(db_url, env=env, log_path=tmp_path_factory.mktemp("hub") / "hub.log") as hub:
        yield call
    services.engine.dispose()
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server").drop_database("causeway_derived")


def publish(world, org, payloads, op="upsert"):
    records = [{"id": str(uuid.uuid4()), "dataset": "planning-application", "schema_version": 1, "op": op,
                "occurred_at": "2026-09-30T12:00:00Z", **({"payload": p} if op == "upsert" else {"key": p["reference"]})}
               for p in payloads]
    answer = world("POST", org, "publisher", "/records", json={"records": records})
    assert answer.status_code == 200 and answer.json()["accepted"] == len(records), answer.text
    return answer.json()


def in_force(world, spec):
    drafted = world("POST", AGENCY, "governance", "/return-definitions", json=spec)
    assert drafted.status_code == 201, drafted.text
    assert world("POST", AGENCY, "admin", f"/return-definitions/{spec['name']}/versions/1/approve").status_code == 200
    return spec["name"]


def lineage(world, name, org="edinburgh", role="publisher"):
    return world("GET", org, role, f"/returns/{name}/{PERIOD}/{org}/lineage")


def rows_of(answer):
    return {row["key"]: {f["field"]: f["value"] for f in row["figures"]} for row in answer["rows"]}


@pytest.fixture(scope="module")
def planning(world):
    """The return in force, with Edinburgh's and Fife's records published and one of Edinburgh's deleted."""
    name = in_force(world, SPEC)
    publish(world, "edinburgh", EDINBURGH)
    publish(world, "edinburgh", [EDINBURGH[-1]], op="delete")
    publish(world, "fife", FIFE)
    wait_until(lambda: lineage(world, name).status_code == 200, timeout=30, message="edinburgh's draft derived")
    wait_until(lambda: lineage(world, name, "fife").status_code == 200, timeout=30, message="fife's draft derived")
    return name


def test_figures_are_those_counted_by_hand_from_the_councils_own_records(world, planning):
    found = lineage(world, planning).json()
    assert found["state"] == "draft" and not found["edited"] and found["source_dataset"] == "planning-application"
    assert rows_of(found) == {
        # received in Q3: 4 householder; decided in Q3: 3 (2 granted, 1 refused), days 10, 30, 65
        "householder": {"application_type": "householder", "received": 4, "decided": 3, "granted": 2,
                        "withdrawn": 0, "median_days_to_decision": 30.0},
        # received in Q3 and not returned: 0005 (withdrawn); 0008 was deleted; 0007 decided in Q3 (90 days)
        "full": {"application_type": "full", "received": 1, "decided": 1, "granted": 1, "withdrawn": 1,
                 "median_days_to_decision": 90.0}}
    submission = world("GET", "edinburgh", "publisher", f"/returns/{planning}/{PERIOD}/edinburgh").json()
    assert submission["figures"]["totals"] == {"received": 5, "decided": 4, "granted": 3, "withdrawn": 1}
    # a median per row is no total: none is shown, and no flag says a total is incomplete
    assert "median_days_to_decision" not in submission["figures"]["totals"]
    assert submission["figures"]["rates"] == {"granted_percent": 75.0}


def test_another_councils_records_are_never_counted(world, planning):
    found = lineage(world, planning).json()
    keys = {r["key"] for row in found["rows"] for f in row["figures"] for r in f.get("records", [])}
    keys |= {r["key"] for r in found["not_counted"]}
    assert not keys & {"26/9001/HH", "26/9002/HH"}  # Fife's, though one says council: edinburgh
    fife = rows_of(lineage(world, planning, "fife").json())
    assert fife == {"householder": {"application_type": "householder", "received": 2, "decided": 1, "granted": 1,
                                    "withdrawn": 0, "median_days_to_decision": 3.0}}


def test_every_figure_names_the_records_it_came_from(world, planning):
    found = lineage(world, planning).json()
    figures = {(row["key"], f["field"]): f for row in found["rows"] for f in row["figures"]}
    assert [r["key"] for r in figures["householder", "received"]["records"]] == [
        "26/0001/HH", "26/0002/HH", "26/0003/HH", "26/0004/HH"]
    assert [(r["key"], r["days"]) for r in figures["householder", "median_days_to_decision"]["records"]] == [
        ("26/0001/HH", 10), ("26/0002/HH", 30), ("26/0003/HH", 65)]
    assert [r["key"] for r in figures["full", "decided"]["records"]] == ["26/0007/FUL"]
    assert all(r["id"] and r["seq"] for f in figures.values() for r in f.get("records", []))
    assert not any(f.get("by_hand") for f in figures.values())
    # the returned application is listed with why no figure counts it; the deleted one is gone
    assert [(r["key"], r["reason"]) for r in found["not_counted"]] == [
        ("26/0006/FUL", "left out: status is one of returned")]
    every = {r["key"] for f in figures.values() for r in f.get("records", [])}
    assert "26/0008/FUL" not in every
    # each computation that changed something is audited, naming the source and the records read
    with world.services.engine.connect() as conn:
        # newest first: the job may have computed once between the publish and the delete
        entries = [r for r in conn.execute(select(audit_log).where(audit_log.c.action == "return.derived")
                                           .order_by(audit_log.c.seq.desc()))
                   if r.target == f"{planning}/{PERIOD}/edinburgh"]
    assert entries and json.loads(entries[0].detail)["source_dataset"] == "planning-application"
    assert json.loads(entries[0].detail)["records_read"] == 7  # the council's current records: one was deleted


def test_the_agency_sees_nothing_before_the_council_approves_and_never_the_records(world, planning):
    def agency_view():
        answer = world("GET", AGENCY, "governance", f"/returns/{planning}/{PERIOD}/fife")
        assert answer.status_code == 200, answer.text
        return answer.json()

    assert agency_view()["records"] == [] and agency_view()["status"] == "missing"
    assert lineage(world, planning, "fife", "publisher").status_code == 200
    assert world("GET", AGENCY, "governance", f"/returns/{planning}/{PERIOD}/fife/lineage").status_code == 404
    assert world("GET", "edinburgh", "governance", f"/returns/{planning}/{PERIOD}/fife/lineage").status_code == 404
    step = world("POST", "fife", "publisher", f"/returns/{planning}/{PERIOD}/fife/sign-off", json={"action": "submit"})
    assert step.status_code == 200, step.text
    assert agency_view()["records"] == []
    step = world("POST", "fife", "governance", f"/returns/{planning}/{PERIOD}/fife/sign-off", json={"action": "approve"})
    assert step.status_code == 200, step.text
    seen = agency_view()
    assert [r["payload"]["received"] for r in seen["records"]] == [2]
    assert world("GET", AGENCY, "governance", f"/returns/{planning}/{PERIOD}/fife/lineage").status_code == 404
    # a record arriving after approval changes nothing the agency sees; the council is told
    publish(world, "fife", [application("26/9003/HH", "householder", "2026-07-09", council="fife")])
    newer = wait_until(lambda: lineage(world, planning, "fife").json()["newer"], timeout=30, message="newer figures")
    assert newer["why"] == "approved"
    assert {"key": "householder", "field": "received", "in_set": 2, "from_records": 3} in newer["differences"]
    assert [r["payload"]["received"] for r in agency_view()["records"]] == [2]
    refused = world("POST", "fife", "publisher", f"/returns/{planning}/{PERIOD}/fife/derive",
                    json={"replace_edits": True})
    assert refused.status_code == 409, refused.text
    # sent back: the council asks, and its set is computed again into a draft
    back = world("POST", AGENCY, "governance", f"/returns/{planning}/{PERIOD}/fife/sign-off",
                 json={"action": "send_back", "comment": "The July householder application is missing"})
    assert back.status_code == 200, back.text
    redone = world("POST", "fife", "governance", f"/returns/{planning}/{PERIOD}/fife/derive", json={})
    assert redone.status_code == 200, redone.text
    assert (redone.json()["outcome"], redone.json()["state"], redone.json()["newer"]) == ("draft computed", "draft", None)
    assert rows_of(redone.json())["householder"]["received"] == 3
    assert agency_view()["records"] == []  # a draft again: the agency waits for the next approval


def test_new_records_recompute_a_draft_but_a_councils_edit_is_kept_until_it_takes_the_new_figures(world, planning):
    publish(world, "edinburgh", [application("26/0010/FUL", "full", "2026-09-10")])
    wait_until(lambda: rows_of(lineage(world, planning).json())["full"]["received"] == 2, timeout=30,
               message="edinburgh's draft recomputed")
    current = world("GET", "edinburgh", "publisher", f"/returns/{planning}/{PERIOD}/edinburgh").json()
    rows = [{"key": r["key"], "values": dict(r["payload"])} for r in current["records"]]
    for row in rows:
        if row["key"] == "householder":
            row["values"]["received"] = 5  # the council counts one the planning system missed
    put = world("PUT", "edinburgh", "publisher", f"/returns/{planning}/{PERIOD}/edinburgh/rows", json={"rows": rows})
    assert put.status_code == 200, put.text
    edited = lineage(world, planning).json()
    assert edited["edited"]
    (received,) = [f for row in edited["rows"] if row["key"] == "householder" for f in row["figures"]
                   if f["field"] == "received"]
    assert received["by_hand"] and received["value"] == 5 and received["from_records"] == 4

    publish(world, "edinburgh", [application("26/0011/FUL", "full", "2026-09-11")])
    newer = wait_until(lambda: lineage(world, planning).json()["newer"], timeout=30, message="newer figures kept")
    assert newer["why"] == "edited by hand"
    assert {"key": "full", "field": "received", "in_set": 2, "from_records": 3} in newer["differences"]
    assert {"key": "householder", "field": "received", "in_set": 5, "from_records": 4} in newer["differences"]
    assert rows_of(lineage(world, planning).json())["householder"]["received"] == 5  # not overwritten

    asked = world("POST", "edinburgh", "publisher", f"/returns/{planning}/{PERIOD}/edinburgh/derive", json={})
    assert asked.status_code == 200 and asked.json()["outcome"] == "kept beside the set (edited by hand)", asked.text
    taken = world("POST", "edinburgh", "governance", f"/returns/{planning}/{PERIOD}/edinburgh/derive",
                  json={"replace_edits": True})
    assert taken.status_code == 200, taken.text
    assert taken.json()["outcome"] == "replaced the council's edits" and not taken.json()["edited"]
    assert rows_of(taken.json())["householder"]["received"] == 4 and rows_of(taken.json())["full"]["received"] == 3
    assert taken.json()["newer"] is None


def test_only_the_council_computes_its_own_set(world, planning):
    path = f"/returns/{planning}/{PERIOD}/edinburgh/derive"
    assert world("POST", "fife", "publisher", path, json={}).status_code == 403
    assert world("POST", AGENCY, "governance", path, json={}).status_code == 403
    assert world("POST", "edinburgh", "subscriber", path, json={}).status_code == 403
    assert world("POST", "edinburgh", "publisher", f"/returns/{planning}/2027-Q1/edinburgh/derive",
                 json={}).status_code == 409  # not begun
    nothing = world("POST", "edinburgh", "publisher", f"/returns/{planning}/2026-Q1/edinburgh/derive", json={})
    assert nothing.status_code == 404 and "nothing to derive" in nothing.json()["detail"]
    assert world("GET", "edinburgh", "publisher", f"/returns/{planning}/2026-W05/edinburgh/lineage").status_code == 404
    assert world("GET", "edinburgh", "publisher", f"/returns/{planning}/{PERIOD}/nobody/lineage").status_code == 404
    filled_in = {key: value for key, value in SPEC.items() if key != "derived_from"}
    name = in_force(world, {**filled_in, "name": "data-return.planning-filled-in"})
    assert world("POST", "edinburgh", "publisher", f"/returns/{name}/{PERIOD}/edinburgh/derive",
                 json={}).status_code == 409
    assert world("GET", "edinburgh", "publisher", f"/returns/{name}/{PERIOD}/edinburgh/lineage").status_code == 404
    assert world("POST", "edinburgh", "publisher", path, json={"replace_edits": "yes"}).status_code == 400


def _bad(change):
    spec = copy.deepcopy(SPEC)
    spec["name"] = f"data-return.bad-{uuid.uuid4().hex[:8]}"
    change(spec)
    return spec


def _measure(index, **values):
    def change(spec):
        spec["derived_from"]["measures"][index].update(values)
    return change


def _set(path, value):
    def change(spec):
        target = spec
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


BAD = [
    ("an unknown dataset", _set(["derived_from", "dataset"], "planning-applications"), "/derived_from/dataset"),
    ("a personal dataset", _set(["derived_from", "dataset"], "referral"), "/derived_from/dataset"),
    ("a period field that is no date", _set(["derived_from", "period_field"], "status"), "/derived_from/period_field"),
    ("a filter on an unknown field", _set(["derived_from", "where"], [{"field": "stage", "in": ["x"]}]),
     "/derived_from/where/0/field"),
    ("a filter value the field never has",
     _set(["derived_from", "where"], [{"field": "status", "not_in": ["returned", "refused"]}]),
     "/derived_from/where/0/not_in/1"),
    ("a filter as code", _set(["derived_from", "where"], "status != 'returned'"), "/derived_from/where"),
    ("a measure into no field of the return", _measure(0, **{"as": "applications"}), "/derived_from/measures/0/as"),
    ("a sum of text", lambda s: s["derived_from"]["measures"].__setitem__(0, {"as": "received", "sum": "status"}),
     "/derived_from/measures/0/sum"),
    ("two kinds in one measure", _measure(0, sum="easting"), "/derived_from/measures/0"),
    ("a median from no date", _measure(4, median_days={"from": "status", "to": "decision_date"}),
     "/derived_from/measures/4/median_days/from"),
    ("an unknown setting", _measure(1, mean=True), "/derived_from/measures/1"),
    ("a required field nothing fills",
     lambda s: s["derived_from"]["measures"].pop(3), "/derived_from"),
    ("one field filled twice", _measure(1, **{"as": "received"}), "/derived_from/measures/1/as"),
    ("a group by an unknown field", _set(["derived_from", "group_by"], [{"field": "kind", "as": "application_type"}]),
     "/derived_from/group_by/0/field"),
]


@pytest.mark.parametrize("what, change, path", BAD, ids=[b[0] for b in BAD])
def test_bad_derivations_are_refused_naming_the_field(world, what, change, path):
    answer = world("POST", AGENCY, "governance", "/return-definitions", json=_bad(change))
    assert answer.status_code == 400, answer.text
    problem = answer.json()
    assert problem["errors"][0]["path"] == path, problem
    assert world("GET", AGENCY, "governance", "/return-definitions").json()["definitions"] == [] or all(
        not d["name"].startswith("data-return.bad-") for d in
        world("GET", AGENCY, "governance", "/return-definitions").json()["definitions"])
