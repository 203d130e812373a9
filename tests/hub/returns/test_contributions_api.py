"""Several staff on one council's draft, against one real hub process per database: rows added,
changed and removed one at a time, the history of who changed what (and how), an edit over a
colleague's refused with a clear conflict instead of lost, hostile row edits answered with the
field at fault, submitters scoped to named returns, and the history hidden from the agency until
the council approves."""
from __future__ import annotations

import shutil

import pytest
import requests

from hub.app import build_services
from hub.auth import Principal
from hub.config import Settings
from hub.errors import NotFound
from support.hubprocess import HubProcess

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

AGENCY, NAME, OTHER_RETURN = "scottish-government", "data-return.school-rolls", "data-return.school-clubs"
PERIOD = "2026-Q3"  # ended: the hub keeps real time
FIELDS = {"type": "object", "additionalProperties": False, "required": ["pupils_on_roll", "sector"],
          "properties": {"pupils_on_roll": {"type": "integer", "minimum": 0, "maximum": 5000, "title": "Pupils on roll"},
                         "breakfast_club": {"type": "integer", "minimum": 0},
                         "sector": {"enum": ["primary", "secondary"], "title": "Sector"}}}


def spec(name: str) -> dict:
    return {"name": name, "title": name, "frequency": "quarterly", "due_days_after_period_end": 30,
            "expected_publishers": ["edinburgh", "glasgow"], "introduced": "2026-01-01",
            "guidance": "One row per school.", "fields": FIELDS}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory):
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("contributions")
        shutil.copy(request.getfixturevalue("sqlite_template"), folder / "causeway.db")
        db_url = f"sqlite:///{folder / 'causeway.db'}"
    else:
        db_url = request.getfixturevalue("postgres_server").create_database(
            "causeway_contributions", template=request.getfixturevalue("postgres_template"))
    services = build_services(Settings(db_url=db_url))
    for slug, name, kind in [("edinburgh", "Edinburgh", "council"), ("glasgow", "Glasgow", "council"),
                             (AGENCY, "Scottish Government", "agency")]:
        services.orgs.add_org(slug, name, kind, actor="test")
    keys: dict = {}

    def call(method, who, path, **kwargs):
        """`who` is (org, role) or (org, role, name): a second key of the same org and role is a colleague."""
        if who not in keys:
            keys[who] = services.orgs.issue_key(who[0], who[1], actor="test")
        return requests.request(method, f"{hub.url}/api/v1{path}", timeout=60,
                                headers={"Authorization": f"Bearer {keys[who]}"}, **kwargs)

    call.services = services
    with HubProcess(db_url, log_path=tmp_path_factory.mktemp("hub") / "hub.log") as hub:
        for name in (NAME, OTHER_RETURN):
            assert call("POST", (AGENCY, "governance"), "/return-definitions", json=spec(name)).status_code == 201
            assert call("POST", (AGENCY, "admin"), f"/return-definitions/{name}/versions/1/approve").status_code == 200
        yield call
    services.engine.dispose()


ALEX, BEA = ("edinburgh", "publisher", "alex"), ("edinburgh", "publisher", "bea")


def edit(world, who, body, name=NAME, org="edinburgh"):
    return world("POST", who, f"/returns/{name}/{PERIOD}/{org}/row-edits", json=body)


def rows_of(answer) -> dict:
    return {r["key"]: r for r in answer.json()["records"]}


def test_two_staff_edit_one_draft_and_neither_loses_the_others_change(world):
    added = edit(world, ALEX, {"key": "Abbey", "values": {"pupils_on_roll": 200, "sector": "primary"}})
    assert added.status_code == 200, added.text
    assert added.json()["sign_off"]["state"] == "draft"
    read_by_alex = rows_of(added)["Abbey"]["version"]
    assert edit(world, BEA, {"key": "Braes", "values": {"pupils_on_roll": 90, "sector": "secondary"}}).status_code == 200
    # Bea changes Abbey's roll; Alex, still looking at the row as he added it, changes its club.
    seen_by_bea = rows_of(world("GET", BEA, f"/returns/{NAME}/{PERIOD}/edinburgh"))["Abbey"]["version"]
    changed = edit(world, BEA, {"key": "Abbey", "base": seen_by_bea, "values": {"pupils_on_roll": 210, "sector": "primary"}})
    assert changed.status_code == 200, changed.text
    stale = edit(world, ALEX, {"key": "Abbey", "base": read_by_alex,
                               "values": {"pupils_on_roll": 200, "sector": "primary", "breakfast_club": 30}})
    assert stale.status_code == 409 and stale.json()["type"].endswith("row-changed"), stale.text
    assert "edinburgh/publisher/key:" in stale.json()["detail"] and "your change was not saved" in stale.json()["detail"]
    assert edit(world, ALEX, {"key": "Abbey", "values": {"pupils_on_roll": 1, "sector": "primary"}}).status_code == 409
    now = world("GET", ALEX, f"/returns/{NAME}/{PERIOD}/edinburgh").json()
    assert {r["key"]: r["payload"] for r in now["records"]} == {
        "Abbey": {"pupils_on_roll": 210, "sector": "primary"}, "Braes": {"pupils_on_roll": 90, "sector": "secondary"}}
    assert now["figures"]["totals"]["pupils_on_roll"] == 300
    # Alex makes his change again on top of Bea's, then removes Braes.
    again = edit(world, ALEX, {"key": "Abbey", "base": rows_of(world("GET", ALEX, f"/returns/{NAME}/{PERIOD}/edinburgh"))
                               ["Abbey"]["version"], "values": {"pupils_on_roll": 210, "sector": "primary", "breakfast_club": 30}})
    assert again.status_code == 200
    braes = rows_of(again)["Braes"]["version"]
    assert edit(world, ALEX, {"key": "Braes", "remove": True}).status_code == 400  # which version is being removed?
    assert edit(world, ALEX, {"key": "Braes", "base": braes, "remove": True}).status_code == 200

    history = world("GET", BEA, f"/returns/{NAME}/{PERIOD}/edinburgh/history")
    assert history.status_code == 200
    changes = [(c["key"], c["change"], c["fields"], c["via"]) for c in history.json()["changes"]]
    assert changes == [
        ("Braes", "removed", [], "api"), ("Abbey", "changed", ["breakfast_club"], "api"),
        ("Abbey", "changed", ["pupils_on_roll"], "api"), ("Braes", "added", ["pupils_on_roll", "sector"], "api"),
        ("Abbey", "added", ["pupils_on_roll", "sector"], "api")]
    by = [c["by"] for c in history.json()["changes"]]
    assert by[0] == by[1] == by[4] != by[2] == by[3]  # Alex, Alex, Bea, Bea, Alex: two people, told apart


def test_a_whole_set_sent_is_in_the_history_row_by_row(world):
    org = "glasgow"
    who = (org, "publisher")
    first = [{"key": "Govan", "values": {"pupils_on_roll": 300, "sector": "primary"}},
             {"key": "Partick", "values": {"pupils_on_roll": 100, "sector": "primary"}}]
    assert world("PUT", who, f"/returns/{NAME}/{PERIOD}/{org}/rows", json={"rows": first}).status_code == 200
    second = [{"key": "Govan", "values": {"pupils_on_roll": 310, "sector": "primary"}},
              {"key": "Shawlands", "values": {"pupils_on_roll": 50, "sector": "secondary"}}]
    answer = world("PUT", who, f"/returns/{NAME}/{PERIOD}/{org}/rows", json={"rows": second})
    assert answer.status_code == 200
    by_revision: dict = {}
    for c in answer.json()["history"]:
        by_revision.setdefault(c["revision"], set()).add((c["key"], c["change"], tuple(c["fields"])))
    assert by_revision == {
        1: {("Govan", "added", ("pupils_on_roll", "sector")), ("Partick", "added", ("pupils_on_roll", "sector"))},
        2: {("Govan", "changed", ("pupils_on_roll",)), ("Shawlands", "added", ("pupils_on_roll", "sector")),
            ("Partick", "removed", ())}}


@pytest.mark.parametrize("body, status, path, words", [
    ({"key": "X", "values": {"pupils_on_roll": "lots", "sector": "primary"}}, 422, "/values/pupils_on_roll", "integer"),
    ({"key": "X", "values": {"pupils_on_roll": 6000, "sector": "primary"}}, 422, "/values/pupils_on_roll", "5000"),
    ({"key": "X", "values": {"pupils_on_roll": 6, "sector": "nursery"}}, 422, "/values/sector", "primary"),
    ({"key": "X", "values": {"pupils_on_roll": 6}}, 422, "/values/sector", "sector"),
    ({"key": "X", "values": {"pupils_on_roll": 6, "sector": "primary", "smuggled": 1}}, 422, "/values", "smuggled"),
    ({"key": "X" * 201, "values": {}}, 400, None, "key"),
    ({"key": "X", "values": "200"}, 400, None, "values"),
    ({"key": "X", "values": {}, "surprise": True}, 400, None, "surprise"),
    ({"key": "X", "values": {"pupils_on_roll": 1e300, "sector": "primary"}}, 422, "/values/pupils_on_roll", ""),
])
def test_a_hostile_row_edit_names_the_field_and_stores_nothing(world, body, status, path, words):
    answer = edit(world, ALEX, body, name=OTHER_RETURN)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    if path:
        assert {e["path"] for e in problem["errors"]} == {path}, problem
        assert words in problem["errors"][0]["message"]
    else:
        assert words in problem["detail"]
    assert world("GET", ALEX, f"/returns/{OTHER_RETURN}/{PERIOD}/edinburgh").json()["records"] == []


def test_the_agency_sees_no_history_before_approval_and_an_approved_set_takes_no_edit(world):
    org, governance = "glasgow", ("glasgow", "governance")
    assert world("GET", (AGENCY, "governance"), f"/returns/{NAME}/{PERIOD}/{org}/history").json()["changes"] == []
    assert world("GET", ("edinburgh", "governance"), f"/returns/{NAME}/{PERIOD}/{org}/history").status_code == 404
    for who, action in [((org, "publisher"), "submit"), (governance, "approve")]:
        assert world("POST", who, f"/returns/{NAME}/{PERIOD}/{org}/sign-off", json={"action": action}).status_code == 200
    seen = world("GET", (AGENCY, "governance"), f"/returns/{NAME}/{PERIOD}/{org}/history").json()["changes"]
    assert {c["key"] for c in seen} == {"Govan", "Partick", "Shawlands"}
    locked = edit(world, (org, "publisher"), {"key": "Hillhead", "values": {"pupils_on_roll": 1, "sector": "primary"}},
                  org=org)
    assert locked.status_code == 409 and "approved" in locked.json()["detail"]


def test_a_submitter_scoped_to_one_return_cannot_see_or_send_another(world):
    services = world.services
    services.accounts.add_user("sue", "edinburgh", "submitter", "a long enough password")
    services.accounts.add_user("gus", "glasgow", "submitter", "a long enough password")
    sue = Principal(org="edinburgh", role="submitter", credential_id="console:sue")
    # Unassigned, Sue sends every return asked of Edinburgh.
    assert {r["dataset"] for r in services.returns.list_returns(sue)} >= {NAME, OTHER_RETURN}
    path = f"/returns/{OTHER_RETURN}/submitters/sue"
    assert world("PUT", ("glasgow", "governance"), path, json={"assigned": True}).status_code == 404  # not its staff
    assert world("PUT", ("edinburgh", "publisher"), path, json={"assigned": True}).status_code == 403
    assert world("PUT", ("edinburgh", "governance"), f"/returns/{OTHER_RETURN}/submitters/gus",
                 json={"assigned": True}).status_code == 404
    assigned = world("PUT", ("edinburgh", "governance"), path, json={"assigned": True})
    assert assigned.status_code == 200 and [s["username"] for s in assigned.json()["submitters"]] == ["sue"]
    assert world("GET", ("glasgow", "governance"), f"/returns/{OTHER_RETURN}/submitters").json()["submitters"] == []

    assert [r["dataset"] for r in services.returns.list_returns(sue)] == [OTHER_RETURN]
    for attempt in (lambda: services.returns.submission(NAME, PERIOD, "edinburgh", sue),
                    lambda: services.returns.grid(NAME, None, None, sue),
                    lambda: services.returns.history(NAME, PERIOD, "edinburgh", sue),
                    lambda: services.returns.template(NAME, sue),
                    lambda: services.returns.save_row(NAME, PERIOD, "edinburgh", "Sue's",
                                                      {"pupils_on_roll": 1, "sector": "primary"}, None, sue),
                    lambda: services.returns.submit_rows(NAME, PERIOD, "edinburgh", [], sue),
                    lambda: services.returns.sign_off(NAME, PERIOD, "edinburgh", "submit", None, sue)):
        with pytest.raises(NotFound, match="does not exist or is not visible"):
            attempt()
    saved = services.returns.save_row(OTHER_RETURN, PERIOD, "edinburgh", "Sue's",
                                      {"pupils_on_roll": 1, "sector": "primary"}, None, sue, via="form")
    assert saved["history"][0]["via"] == "form" and saved["history"][0]["by"].endswith("console:sue")
    assert world("PUT", ("edinburgh", "governance"), path, json={"assigned": False}).json()["submitters"] == []
    assert services.returns.submission(NAME, PERIOD, "edinburgh", sue)["org"] == "edinburgh"  # unscoped again
