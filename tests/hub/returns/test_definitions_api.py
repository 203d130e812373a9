"""Returns as data, against one real hub process per database: a requesting org's governance
drafts a return through the API, the hub's admin approves it into force with no restart,
councils submit row sets (a resubmission replaces the whole set), the hub computes totals and
rates and checks the declared rules; bad drafts and bad rows get a clear answer and store nothing."""
from __future__ import annotations

import copy
import io
import shutil

import openpyxl
import pytest
import requests

from hub.app import build_services
from hub.config import Settings
from support.hubprocess import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

ORGS = [("edinburgh", "The City of Edinburgh Council", "council"), ("glasgow", "Glasgow City Council", "council"),
        ("fife", "Fife Council", "council"), ("scottish-government", "Scottish Government", "agency"),
        ("sds", "Skills Development Scotland", "agency")]
AGENCY, NAME = "scottish-government", "data-return.school-free-meals"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ENDED, CURRENT, FUTURE = "2026-Q3", "2026-Q4", "2027-Q1"  # the hub keeps real time: 2026-12 or later

SPEC = {
    "name": NAME, "title": "School free meals by school", "frequency": "quarterly",
    "due_days_after_period_end": 30, "expected_publishers": ["edinburgh", "glasgow"], "introduced": "2026-01-01",
    "guidance": "One row per school: its roll and the pupils registered for free meals.",
    "fields": {"type": "object", "additionalProperties": False,
               "required": ["school", "pupils_on_roll", "free_meals_registered", "fm_p1_p5", "fm_p6_s6"],
               "properties": {"school": {"type": "string", "title": "School"},
                              "pupils_on_roll": {"type": "integer", "minimum": 0, "title": "Pupils on roll"},
                              "free_meals_registered": {"type": "integer", "minimum": 0},
                              "fm_p1_p5": {"type": "integer", "minimum": 0, "title": "Free meals P1-P5"},
                              "fm_p6_s6": {"type": "integer", "minimum": 0, "title": "Free meals P6-S6"},
                              "breakfast_club": {"type": "integer", "minimum": 0},
                              "sector": {"enum": ["primary", "secondary", "special"], "title": "Sector"}}},
    "rules": [{"name": "Free meals within roll", "left": "fm_p1_p5 + fm_p6_s6", "operator": "<=",
               "right": "pupils_on_roll", "importance": "high"},
              {"name": "Council registers someone", "left": "free_meals_registered", "operator": ">", "right": "0",
               "scope": "totals", "importance": "low"}],
    "rates": [{"name": "registered_percent", "numerator": "free_meals_registered", "denominator": "pupils_on_roll",
               "per": 100}],
}


def school(name, roll, registered, p1_p5, p6_s6, **more):
    return {"key": name, "values": {"school": name, "pupils_on_roll": roll, "free_meals_registered": registered,
                                    "fm_p1_p5": p1_p5, "fm_p6_s6": p6_s6, **more}}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("definitions")
        shutil.copy(request.getfixturevalue("sqlite_template"), folder / "causeway.db")
        db_url = f"sqlite:///{folder / 'causeway.db'}"
    else:
        server = request.getfixturevalue("postgres_server")
        db_url = server.create_database("causeway_definitions",
                                        template=request.getfixturevalue("postgres_template"))
    services = build_services(Settings(db_url=db_url))
    for slug, name, kind in ORGS:
        services.orgs.add_org(slug, name, kind, actor="test")
    keys = {}

    def call(method, org, role, path, headers_extra=None, **kwargs):
        if (org, role) not in keys:
            keys[org, role] = services.orgs.issue_key(org, role, actor="test")
        return requests.request(method, f"{hub.url}/api/v1{path}", timeout=60,
                                headers={"Authorization": f"Bearer {keys[org, role]}", **(headers_extra or {})},
                                **kwargs)

    call.services = services
    with HubProcess(db_url, log_path=tmp_path_factory.mktemp("hub") / "hub.log") as hub:
        yield call
    services.engine.dispose()
    if request.param == "postgresql":
        request.getfixturevalue("postgres_server").drop_database("causeway_definitions")


@pytest.fixture(scope="module")
def in_force(world):
    """The return drafted by the agency and approved by the admin (the first test checks each step)."""
    drafted = world("POST", AGENCY, "governance", "/return-definitions", json=SPEC)
    assert drafted.status_code == 201, drafted.text
    approved = world("POST", "scottish-government", "admin", f"/return-definitions/{NAME}/versions/1/approve")
    assert approved.status_code == 200, approved.text
    return drafted.json(), approved.json()


@pytest.fixture(scope="module")
def signing(world):
    """A second return in force, for the sign-off tests."""
    spec = {**SPEC, "name": "data-return.signed-off", "title": "Signed-off lunches"}
    assert world("POST", AGENCY, "governance", "/return-definitions", json=spec).status_code == 201
    assert world("POST", AGENCY, "admin", f"/return-definitions/{spec['name']}/versions/1/approve").status_code == 200
    return spec["name"]


def step(world, org, role, name, council, action, comment=None):
    body = {"action": action, **({"comment": comment} if comment else {})}
    return world("POST", org, role, f"/returns/{name}/{ENDED}/{council}/sign-off", json=body)


def put_rows(world, org, period, rows, role="publisher", name=NAME):
    return world("PUT", org, role, f"/returns/{name}/{period}/{org}/rows", json={"rows": rows})


def test_a_drafted_return_asks_nothing_until_the_admin_approves_it_and_then_at_once(world):
    spec = {**SPEC, "name": "data-return.breakfast-clubs", "title": "Breakfast clubs"}
    drafted = world("POST", AGENCY, "governance", "/return-definitions", json=spec)
    assert drafted.status_code == 201, drafted.text
    assert [(v["version"], v["status"], v["applies_from"]) for v in drafted.json()["versions"]] == [(1, "draft", "2026-Q1")]
    listed = [r["dataset"] for r in world("GET", "edinburgh", "publisher", "/returns").json()["returns"]]
    assert spec["name"] not in listed
    assert put_rows(world, "edinburgh", ENDED, [school("Leith", 10, 1, 1, 1)], name=spec["name"]).status_code == 404
    # a draft is seen by its owner and admin only
    assert world("GET", "sds", "governance", f"/return-definitions/{spec['name']}").status_code == 404
    assert world("GET", AGENCY, "ops", f"/return-definitions/{spec['name']}").status_code == 200

    approved = world("POST", "sds", "admin", f"/return-definitions/{spec['name']}/versions/1/approve")
    assert approved.status_code == 200, approved.text
    assert approved.json()["versions"][0]["status"] == "approved"
    declared = {r["dataset"]: r for r in world("GET", "edinburgh", "publisher", "/returns").json()["returns"]}
    assert declared[spec["name"]]["source"] == "rows" and declared[spec["name"]]["requesting_org"] == AGENCY
    assert declared["data-return.school-meals"]["version"] == 1  # the file-declared return keeps working
    assert put_rows(world, "edinburgh", ENDED, [school("Leith", 10, 1, 1, 1)], name=spec["name"]).status_code == 200
    assert world("POST", "sds", "admin", f"/return-definitions/{spec['name']}/versions/1/approve").status_code == 409


def test_drafting_shows_the_datasets_and_returns_that_already_collect_such_fields(world, in_force):
    drafted, _ = in_force
    similar = {s["name"]: s for s in drafted["similar"]}
    meals = similar["data-return.school-meals"]
    assert meals["kind"] == "return"
    assert {"pupils_on_roll", "free_meals_registered"} <= set(meals["shared_fields"])
    assert "meals" in meals["title_words"]


@pytest.mark.parametrize("change, status, words", [
    ({"fields": {"type": "object", "properties": {"roll": {"type": "nonsense"}}}}, 400, "/fields"),
    ({"fields": {"type": "array"}}, 400, "JSON Schema object"),
    ({"rules": [{"name": "Broken", "left": "fm_p1_p5 + * 2", "operator": "<=", "right": "pupils_on_roll"}]},
     400, "Broken"),
    ({"rules": [{"name": "Python", "left": "__import__('os')", "operator": "<=", "right": "1"}]}, 400, "unexpected"),
    ({"rules": [{"name": "Unknown", "left": "dinners", "operator": "<=", "right": "pupils_on_roll"}]},
     400, "dinners is not a number field"),
    ({"rules": [{"name": "Bad op", "left": "fm_p1_p5", "operator": "=<", "right": "1"}]}, 400, "operator"),
    ({"rates": [{"name": "r", "numerator": "school", "denominator": "pupils_on_roll"}]}, 400, "/rates/0/numerator"),
    ({"name": "School Meals!"}, 400, "/name"),
    ({"name": "data-return.school-meals"}, 409, "catalogue"),
    ({"frequency": "fortnightly"}, 400, "frequency"),
    ({"introduced": "2026-02-30"}, 400, "introduced"),
    ({"applies_from": "2026-03"}, 400, "applies_from"),
    ({"requesting_org": "sds"}, 403, "drafts returns requested by scottish-government"),
    ({"checks": {"outlier": {"fields": ["school"]}}}, 400, "must be a number field"),
])
def test_a_bad_draft_is_refused_naming_the_mistake_and_nothing_is_stored(world, change, status, words):
    spec = {**copy.deepcopy(SPEC), "name": "data-return.refused", **change}
    answer = world("POST", AGENCY, "governance", "/return-definitions", json=spec)
    assert answer.status_code == status, answer.text
    assert words in answer.text
    assert world("GET", AGENCY, "governance", "/return-definitions/data-return.refused").status_code == 404


@pytest.mark.parametrize("org, role, path, status", [
    (AGENCY, "publisher", "/return-definitions", 403),
    (AGENCY, "ops", "/return-definitions", 403),
    (AGENCY, "governance", f"/return-definitions/{NAME}/versions/1/approve", 403),
])
def test_only_governance_drafts_and_only_the_admin_approves(world, in_force, org, role, path, status):
    assert world("POST", org, role, path, json={**SPEC, "name": "data-return.not-mine"}).status_code == status


def test_another_orgs_governance_cannot_draft_a_version_of_its_return(world, in_force):
    answer = world("POST", "sds", "governance", "/return-definitions", json={**SPEC, "applies_from": "2027-Q1"})
    assert answer.status_code == 403 and "only its governance" in answer.text


def test_a_council_s_rows_give_its_totals_and_rates_and_the_failing_rules_per_row_and_per_return(world, in_force):
    rows = [school("Abbey", 200, 20, 15, 5), school("Braes", 100, 50, 90, 40, breakfast_club=12),
            school("Craig", 700, 70, 40, 30)]
    answer = put_rows(world, "edinburgh", ENDED, rows)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["record_count"] == 3 and got["versions"] == 1 and got["resubmitted"] is False
    assert got["figures"]["totals"]["pupils_on_roll"] == 1000
    assert got["figures"]["totals"]["free_meals_registered"] == 140
    # the rate of the totals (14%), never the average of the schools' rates (23.3%)
    assert got["figures"]["rates"]["registered_percent"] == 14.0
    by_key = {r["key"]: r for r in got["records"]}
    assert [r["key"] for r in got["records"]] == ["Abbey", "Braes", "Craig"]  # in the order sent
    (failed,) = by_key["Braes"]["flags"]
    assert failed["check"] == "rule" and failed["importance"] == "high"
    assert failed["message"] == "Free meals within roll: fm_p1_p5 + fm_p6_s6 ≤ pupils_on_roll does not hold (130 is not ≤ 100)"
    assert by_key["Abbey"]["flags"] == [] and by_key["Craig"]["flags"] == []
    # only one school runs a breakfast club: the total is said to leave the others out
    incomplete = [f for f in got["flags"] if f["check"] == "incomplete_total"]
    assert [f["field"] for f in incomplete] == ["breakfast_club"] and "2 of 3 rows" in incomplete[0]["message"]

    zero = put_rows(world, "glasgow", ENDED, [school("Govan", 300, 0, 0, 0)]).json()
    assert [f["rule"] for f in zero["flags"] if f["check"] == "rule"] == ["Council registers someone"]
    assert [f.get("key") for f in zero["flags"] if f["check"] == "rule"] == [None]  # about the return as a whole


def test_a_resubmission_replaces_the_whole_set_and_a_bad_one_stores_nothing(world, in_force):
    first = [school("Dean", 100, 10, 5, 5), school("Echo", 100, 10, 5, 5), school("Firth", 100, 10, 5, 5)]
    assert put_rows(world, "edinburgh", CURRENT, first).status_code == 200
    second = put_rows(world, "edinburgh", CURRENT, [school("Dean", 120, 12, 6, 6), school("Firth", 80, 8, 4, 4)])
    assert second.status_code == 200, second.text
    got = second.json()
    assert [r["key"] for r in got["records"]] == ["Dean", "Firth"]  # Echo, left out, is gone
    assert got["figures"]["totals"]["pupils_on_roll"] == 200
    assert got["resubmitted"] is True and got["versions"] == 2

    bad = put_rows(world, "edinburgh", CURRENT, [
        school("Dean", 1, 1, 1, 1), school("Dean", 2, 2, 2, 2), {"key": "Gala", "values": {"school": "Gala"}},
        school("Hume", -5, 1, 1, 1, colour="blue")])
    assert bad.status_code == 422, bad.text
    problems = bad.json()["errors"]
    where = {(p["row"], p["path"]) for p in problems}
    assert (2, "/key") in where  # Dean again
    assert {(3, "/values/pupils_on_roll"), (3, "/values/fm_p1_p5")} <= where  # Gala's missing fields
    assert (4, "/values/pupils_on_roll") in where  # a negative roll
    assert any(p["row"] == 4 and "colour" in p["message"] for p in problems)
    kept = world("GET", "edinburgh", "publisher", f"/returns/{NAME}/{CURRENT}/edinburgh").json()
    assert [r["key"] for r in kept["records"]] == ["Dean", "Firth"] and kept["versions"] == 2


@pytest.mark.parametrize("org, role, period, status, words", [
    ("edinburgh", "publisher", FUTURE, 400, "has not begun"),
    ("edinburgh", "publisher", "2026-03", 404, "no period"),
    ("edinburgh", "publisher", "2025-Q4", 404, "introduced"),
    ("edinburgh", "subscriber", ENDED, 403, "publisher"),
    ("edinburgh", "governance", ENDED, 403, "publisher"),
    ("fife", "publisher", ENDED, 403, "not asked of fife"),
])
def test_rows_for_a_wrong_period_or_from_the_wrong_caller_are_refused(world, in_force, org, role, period, status, words):
    answer = put_rows(world, org, period, [school("Kirk", 10, 1, 1, 1)], role=role)
    assert answer.status_code == status, answer.text
    assert words in answer.text


def test_a_council_cannot_send_another_councils_rows(world, in_force):
    answer = world("PUT", "glasgow", "publisher", f"/returns/{NAME}/{ENDED}/edinburgh/rows",
                   json={"rows": [school("Kirk", 10, 1, 1, 1)]})
    assert answer.status_code == 403


def test_the_file_declared_return_is_still_made_of_records(world, in_force):
    answer = put_rows(world, "edinburgh", ENDED, [school("Kirk", 10, 1, 1, 1)], name="data-return.school-meals")
    assert answer.status_code == 409 and "POST /records" in answer.text


def test_who_sees_the_figures_of_a_return_drafted_as_data(world, in_force):
    put_rows(world, "edinburgh", ENDED, [school("Abbey", 200, 20, 15, 5)])
    agency = world("GET", AGENCY, "governance", f"/returns/{NAME}", params={"period": ENDED}).json()
    assert {p["org"] for p in agency["publishers"]} == {"edinburgh", "glasgow"}
    own = world("GET", "edinburgh", "publisher", f"/returns/{NAME}", params={"period": ENDED}).json()
    assert [p["org"] for p in own["publishers"]] == ["edinburgh"]
    assert world("GET", "sds", "governance", f"/returns/{NAME}", params={"period": ENDED}).status_code == 404
    assert world("GET", "glasgow", "publisher", f"/returns/{NAME}/{ENDED}/edinburgh").status_code == 404


def test_a_new_version_applies_from_its_named_period_and_earlier_periods_keep_theirs(world, in_force):
    no_period = world("POST", AGENCY, "governance", "/return-definitions", json={**SPEC, "title": "v2"})
    assert no_period.status_code == 400 and "applies_from" in no_period.text
    stricter = {**copy.deepcopy(SPEC), "applies_from": CURRENT}
    stricter["rules"].append({"name": "Roll at least 150", "left": "pupils_on_roll", "operator": ">=", "right": "150"})
    drafted = world("POST", AGENCY, "governance", "/return-definitions", json=stricter)
    assert drafted.status_code == 201, drafted.text
    version = drafted.json()["versions"][-1]["version"]
    approved = world("POST", AGENCY, "admin", f"/return-definitions/{NAME}/versions/{version}/approve")
    assert approved.status_code == 200, approved.text
    row = [school("Small", 100, 10, 5, 5)]
    older = put_rows(world, "glasgow", ENDED, row).json()
    newer = put_rows(world, "glasgow", CURRENT, row).json()
    assert "Roll at least 150" not in str(older["flags"])
    assert "Roll at least 150" in str(newer["flags"])
    # an earlier draft cannot be approved over the version in force after it
    earlier = world("POST", AGENCY, "governance", "/return-definitions", json={**SPEC, "applies_from": ENDED})
    late = earlier.json()["versions"][-1]["version"]
    assert world("POST", AGENCY, "admin", f"/return-definitions/{NAME}/versions/{late}/approve").status_code == 409


def test_a_return_past_its_review_date_is_due_for_review_to_its_owner_and_admin(world, in_force):
    spec = {**SPEC, "name": "data-return.old-return", "title": "Old return", "introduced": "2024-01-01",
            "reviewed": "2024-06-01"}
    assert world("POST", AGENCY, "governance", "/return-definitions", json=spec).status_code == 201
    world("POST", AGENCY, "admin", "/return-definitions/data-return.old-return/versions/1/approve")
    path = "/return-definitions/data-return.old-return"
    assert world("GET", AGENCY, "governance", path).json()["due_for_review"] is True
    assert world("GET", "sds", "admin", path).json()["due_for_review"] is True
    assert world("GET", "edinburgh", "publisher", path).json()["due_for_review"] is False
    reviewed = world("POST", AGENCY, "governance", f"{path}/lifecycle", json={"reviewed": "2026-11-30"})
    assert reviewed.status_code == 200 and reviewed.json()["due_for_review"] is False
    assert world("POST", "sds", "governance", f"{path}/lifecycle", json={"reviewed": "2026-11-30"}).status_code == 404
    assert world("POST", AGENCY, "governance", f"{path}/lifecycle", json={"retired": "2023-01-01"}).status_code == 400


def test_a_retired_return_stops_asking(world, in_force):
    spec = {**SPEC, "name": "data-return.retiring", "title": "Retiring return"}
    world("POST", AGENCY, "governance", "/return-definitions", json=spec)
    world("POST", AGENCY, "admin", "/return-definitions/data-return.retiring/versions/1/approve")
    retired = world("POST", AGENCY, "governance", "/return-definitions/data-return.retiring/lifecycle",
                    json={"retired": "2026-10-01"})
    assert retired.status_code == 200, retired.text
    answer = put_rows(world, "edinburgh", CURRENT, [school("Kirk", 10, 1, 1, 1)], name="data-return.retiring")
    assert answer.status_code == 404 and "retired" in answer.text
    grid = world("GET", AGENCY, "governance", "/returns/data-return.retiring/grid").json()
    assert grid["to"] == ENDED  # the last period it asks for
    assert world("POST", AGENCY, "governance", "/return-definitions/data-return.school-meals/lifecycle",
                 json={"retired": "2026-10-01"}).status_code == 409


def test_the_agency_sees_a_councils_figures_only_from_its_approval_on(world, signing):
    rows = [school("Abbey", 200, 20, 15, 5), school("Braes", 100, 10, 5, 5)]
    drafted = put_rows(world, "edinburgh", ENDED, rows, name=signing).json()
    assert drafted["sign_off"]["state"] == "draft" and drafted["record_count"] == 2  # the council sees its draft

    def agency_view():
        period = world("GET", AGENCY, "governance", f"/returns/{signing}", params={"period": ENDED}).json()
        row = next(p for p in period["publishers"] if p["org"] == "edinburgh")
        one = world("GET", AGENCY, "governance", f"/returns/{signing}/{ENDED}/edinburgh").json()
        return row, one

    for state in ("draft", "submitted"):
        row, one = agency_view()
        assert (row["status"], row["record_count"], row["figures"]["totals"], row["sign_off"]) == ("missing", 0, {}, None)
        assert one["records"] == [], f"the agency saw rows while they were {state}"
        assert step(world, AGENCY, "governance", signing, "edinburgh", "accept").status_code == 404
        if state == "draft":
            assert step(world, "edinburgh", "publisher", signing, "edinburgh", "submit").status_code == 200

    assert step(world, "edinburgh", "publisher", signing, "edinburgh", "approve").status_code == 403
    assert step(world, "glasgow", "governance", signing, "edinburgh", "approve").status_code == 403
    approved = step(world, "edinburgh", "governance", signing, "edinburgh", "approve")
    assert approved.status_code == 200 and approved.json()["sign_off"]["state"] == "approved"
    row, one = agency_view()
    assert row["status"] == "late" and row["record_count"] == 2 and row["figures"]["totals"]["pupils_on_roll"] == 300
    assert [r["key"] for r in one["records"]] == ["Abbey", "Braes"]
    assert put_rows(world, "edinburgh", ENDED, rows[:1], name=signing).status_code == 409  # approved: locked

    assert step(world, AGENCY, "governance", signing, "edinburgh", "send_back").status_code == 400  # no reason
    assert step(world, "sds", "governance", signing, "edinburgh", "send_back", "no").status_code == 403
    assert step(world, "edinburgh", "governance", signing, "edinburgh", "accept").status_code == 403
    sent_back = step(world, AGENCY, "governance", signing, "edinburgh", "send_back", "Braes roll looks low")
    assert sent_back.status_code == 200
    own = world("GET", "edinburgh", "governance", f"/returns/{signing}/{ENDED}/edinburgh").json()
    assert own["sign_off"]["state"] == "sent_back" and own["sign_off"]["comment"] == "Braes roll looks low"

    assert put_rows(world, "edinburgh", ENDED, [school("Abbey", 200, 20, 15, 5)], name=signing).status_code == 200
    assert agency_view()[1]["records"] == []  # a corrected set is a draft again
    for org, role, action in [("edinburgh", "publisher", "submit"), ("edinburgh", "governance", "approve"),
                              (AGENCY, "governance", "accept")]:
        assert step(world, org, role, signing, "edinburgh", action).status_code == 200, action
    row, _ = agency_view()
    assert row["sign_off"]["state"] == "accepted" and row["record_count"] == 1
    assert step(world, AGENCY, "governance", signing, "edinburgh", "accept").status_code == 409

    from hub.audit.service import list_entries
    steps = [e["action"] for e in list_entries(world.services.engine, limit=1000)
             if e["target"] == f"{signing}/{ENDED}/edinburgh"]
    assert steps == ["return.rows.submitted", "return.submitted", "return.approved", "return.sent_back",
                     "return.rows.submitted", "return.submitted", "return.approved", "return.accepted"]


def test_a_council_may_approve_a_returns_sets_as_they_arrive(world, signing):
    path = f"/returns/{signing}/auto-approve/glasgow"
    assert world("PUT", "edinburgh", "governance", path, json={"enabled": True}).status_code == 403
    assert world("PUT", "glasgow", "publisher", path, json={"enabled": True}).status_code == 403
    assert world("PUT", "glasgow", "governance", path, json={"enabled": True}).status_code == 200
    sent = put_rows(world, "glasgow", ENDED, [school("Govan", 300, 30, 10, 10)], name=signing).json()
    assert sent["sign_off"]["state"] == "approved" and sent["sign_off"]["state_by"] == "auto-approve"
    agency = world("GET", AGENCY, "governance", f"/returns/{signing}/{ENDED}/glasgow").json()
    assert [r["key"] for r in agency["records"]] == ["Govan"]
    assert world("PUT", "glasgow", "governance", path, json={"enabled": False}).status_code == 200


@pytest.fixture(scope="module")
def uploads(world):
    spec = {**SPEC, "name": "data-return.uploaded", "title": "Uploaded lunches"}
    assert world("POST", AGENCY, "governance", "/return-definitions", json=spec).status_code == 201
    assert world("POST", AGENCY, "admin", f"/return-definitions/{spec['name']}/versions/1/approve").status_code == 200
    return spec["name"]


def template_of(world, name):
    answer = world("GET", "edinburgh", "publisher", f"/returns/{name}/template")
    assert answer.status_code == 200, answer.text
    return openpyxl.load_workbook(io.BytesIO(answer.content))


def upload(world, name, data, content_type=XLSX, org="edinburgh"):
    return world("POST", org, "publisher", f"/returns/{name}/{ENDED}/{org}/upload", data=data,
                 headers_extra={"Content-Type": content_type})


def saved(book) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_template_has_the_returns_columns_guidance_and_lists(world, uploads):
    book = template_of(world, uploads)
    rows = book["Rows"]
    assert [c.value for c in rows[1]] == ["key", "school", "pupils_on_roll", "free_meals_registered", "fm_p1_p5",
                                         "fm_p6_s6", "breakfast_club", "sector"]
    lists = [v for v in rows.data_validations.dataValidation if v.type == "list"]
    assert len(lists) == 1 and str(lists[0].sqref).startswith("H2")
    assert lists[0].formula1 == "Lists!$A$1:$A$3"
    assert [row[0].value for row in book["Lists"]["A1":"A3"]] == ["primary", "secondary", "special"]
    assert any(v.type == "whole" for v in rows.data_validations.dataValidation)
    guidance = [[c.value for c in r] for r in book["Guidance"].iter_rows()]
    assert ["One row per school: its roll and the pupils registered for free meals."] == guidance[2][:1]
    assert ["pupils_on_roll", "Pupils on roll", "whole number", "yes"] in guidance


def test_an_uploaded_workbook_with_mistakes_keeps_its_good_rows_and_names_every_mistake(world, uploads):
    book = template_of(world, uploads)
    sheet = book["Rows"]
    sheet.append(["Abbey", "Abbey", 200, 20, 15, 5, None, "primary"])
    sheet.append(["Braes", "Braes", "lots", 20, 15, 5, None, "primary"])       # row 3: not a number
    sheet.append([None, "Craig", 100, 10, 5, 5, None, "primary"])               # row 4: no key
    sheet.append(["Dean", "Dean", 100, 10, 5, 5, None, "nursery"])              # row 5: not one of the list
    sheet.append(["Echo", "Echo", 100, 10, 90, 40, None, "secondary"])          # a failing rule is a flag
    answer = upload(world, uploads, saved(book))
    assert answer.status_code == 200, answer.text
    got = answer.json()
    located = {(p["sheet"], p["row"], p["column"]) for p in got["problems"]}
    assert {("Rows", 3, "C"), ("Rows", 4, "A"), ("Rows", 5, "H")} <= located, got["problems"]
    assert got["stored_rows"] == 2 and got["rows_read"] == 5
    draft = got["submission"]
    assert [r["key"] for r in draft["records"]] == ["Abbey", "Echo"] and draft["sign_off"]["state"] == "draft"
    assert draft["figures"]["totals"]["pupils_on_roll"] == 300

    sheet["C3"], sheet["A4"], sheet["H5"] = 120, "Craig", "special"
    fixed = upload(world, uploads, saved(book)).json()
    assert fixed["problems"] == [] and fixed["stored_rows"] == 5
    assert fixed["submission"]["figures"]["totals"]["pupils_on_roll"] == 620


def _workbook(rows, merge=None):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Rows"
    for row in rows:
        sheet.append(row)
    if merge:
        sheet.merge_cells(merge)
    return saved(book)


HEADERS = ["key", "school", "pupils_on_roll", "free_meals_registered", "fm_p1_p5", "fm_p6_s6"]


@pytest.mark.parametrize("data, content_type, words", [
    (lambda w: saved(template_of(w, NAME)), XLSX, f"template of {NAME}"),
    (lambda w: _workbook([HEADERS, ["A", "A", "=1+1", 1, 1, 1]]), XLSX, "cell C2 holds a formula"),
    (lambda w: _workbook([HEADERS, ["A", "A", 10, 1, 1, 1], ["B", None, 10, 1, 1, 1]], merge="A2:B3"), XLSX,
     "are merged"),
    (lambda w: _workbook([]), XLSX, "the sheet is empty"),
    (lambda w: b"PK\x03\x04 not really a workbook", XLSX, "not an Excel workbook"),
    (lambda w: b"key,school,dinners\nA,A,3\n", "text/csv", "column 'dinners' is not a field"),
    (lambda w: ("key,school,pupils_on_roll,free_meals_registered,fm_p1_p5,fm_p6_s6\n"
                + "".join(f"s{n},S,10,1,1,1\n" for n in range(100000))).encode(), "text/csv",
     "at most 20,000 rows"),
])
def test_a_bad_upload_gets_a_clear_message_and_stores_nothing(world, in_force, uploads, data, content_type, words):
    answer = upload(world, uploads, data(world), content_type, org="glasgow")
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["stored_rows"] == 0 and any(words in p["message"] for p in got["problems"]), got["problems"][:3]
    assert got["submission"]["records"] == []
