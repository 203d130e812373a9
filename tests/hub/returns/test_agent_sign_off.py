"""Returns that a council's agent publishes go through the council's sign-off, against a real hub
process and a real agent run: the agent's submission is a draft the agency does not see until the
council approves it; a correction the agent sends after approval is a draft again; and once the
council sets auto-approve for the return, what the agent sends next is approved as it arrives.
A submission sent with an API key is read as before."""
from __future__ import annotations

import uuid

import pytest
import requests

from support.agents import AgentHub, enrol, run_agent, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

RETURN, AGENCY, PERIOD = "data-return.school-meals", "scottish-government", "2026-Q4"
HEADER = "Quarter,Roll,Registered,Primary,Secondary,Total"
MAPPING = {"fields": {
    "return_id": {"template": "{@council}-{@period}"}, "council": {"const": "edinburgh"},
    "period": {"from": "Quarter", "convert": [{"period": "quarterly"}]},
    "pupils_on_roll": {"from": "Roll", "convert": ["integer"]},
    "free_meals_registered": {"from": "Registered", "convert": ["integer"]},
    "free_meals_taken_primary": {"from": "Primary", "convert": ["integer"]},
    "free_meals_taken_secondary": {"from": "Secondary", "convert": ["integer"]},
    "total_free_meals_taken": {"from": "Total", "convert": ["integer"]},
    "submitted_by": {"const": "meals@edinburgh.gov.uk"}}}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    folder = tmp_path_factory.mktemp("agent-sign-off")
    process = AgentHub(folder / "hub")
    process.orgs.ensure_org(AGENCY, "Scottish Government", "agency", actor="test")
    process.start()
    keys: dict = {}

    def call(method, org, role, path, **kwargs):
        if (org, role) not in keys:
            keys[org, role] = process.key(org, role)
        return requests.request(method, f"{process.url}/api/v1{path}", timeout=30,
                                headers={"Authorization": f"Bearer {keys[org, role]}"}, **kwargs)

    source, state = folder / "school-meals.csv", folder / "state"
    enrol(process, state)
    config = write_config(folder / "agent.yaml", process.url, state, [{
        "name": "school-meals", "direction": "publish", "dataset": RETURN,
        "connector": {"kind": "spreadsheet", "options": {"path": str(source), "settle_seconds": 0, "format": "csv",
                                                          "delimiter": ",", "encoding": "utf-8"}},
        "mapping": MAPPING, "schedule": {"interval_seconds": 300}}])

    def agent_sends(*rows):
        source.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
        result = run_agent(config, "run", "--once")
        assert result.returncode == 0, result.stdout + result.stderr

    call.agent_sends = agent_sends
    yield call
    process.close()


def agency_sees(hub, period=PERIOD) -> tuple[dict, dict]:
    status = hub("GET", AGENCY, "governance", f"/returns/{RETURN}", params={"period": period}).json()
    row = next(p for p in status["publishers"] if p["org"] == "edinburgh")
    return row, hub("GET", AGENCY, "governance", f"/returns/{RETURN}/{period}/edinburgh").json()


def agency_calendar_state(hub, period=PERIOD) -> str:
    calendar = hub("GET", AGENCY, "governance", f"/return-calendar/{AGENCY}",
                   params={"from": "2027-01-01", "to": "2027-05-31"}).json()
    (entry,) = [e for e in calendar["asks"] if (e["dataset"], e["period"], e["org"]) == (RETURN, period, "edinburgh")]
    return entry["state"]


def step(hub, role, action, period=PERIOD, org="edinburgh", comment=None):
    body = {"action": action, **({"comment": comment} if comment else {})}
    return hub("POST", org, role, f"/returns/{RETURN}/{period}/edinburgh/sign-off", json=body)


def test_an_agents_submission_is_a_draft_until_the_council_approves_it(hub):
    hub.agent_sends("Quarter 3 (Oct–Dec 2026),51000,12000,300000,120000,420000")
    own = hub("GET", "edinburgh", "governance", f"/returns/{RETURN}/{PERIOD}/edinburgh").json()
    assert own["record_count"] == 1 and own["sign_off"]["state"] == "draft"
    assert own["sign_off"]["state_by"].startswith("agent:")
    row, one = agency_sees(hub)
    assert (row["record_count"], row["status"], row.get("sign_off"), one["records"]) == (0, "awaited", None, [])
    assert agency_calendar_state(hub) == "not_received"  # the calendar says no more than the grid
    assert step(hub, "governance", "accept", org=AGENCY).status_code == 404  # nothing to accept yet

    assert step(hub, "publisher", "approve").status_code == 403  # approving is the council's governance
    assert step(hub, "publisher", "submit").status_code == 200
    assert agency_sees(hub)[1]["records"] == []
    approved = step(hub, "governance", "approve")
    assert approved.status_code == 200 and approved.json()["sign_off"]["state"] == "approved"
    row, one = agency_sees(hub)
    assert row["record_count"] == 1 and row["sign_off"]["state"] == "approved"
    assert agency_calendar_state(hub) == "approved"
    assert one["records"][0]["payload"]["pupils_on_roll"] == 51000

    # A correction from the agent after approval is the council's draft again: the agency sees none of it.
    hub.agent_sends("Quarter 3 (Oct–Dec 2026),52000,12000,300000,120000,420000")
    row, one = agency_sees(hub)
    assert (row["record_count"], one["records"]) == (0, [])
    own = hub("GET", "edinburgh", "governance", f"/returns/{RETURN}/{PERIOD}/edinburgh").json()
    assert own["sign_off"]["state"] == "draft" and own["records"][0]["payload"]["pupils_on_roll"] == 52000
    for role, action in [("publisher", "submit"), ("governance", "approve")]:
        assert step(hub, role, action).status_code == 200
    assert step(hub, "governance", "accept", org=AGENCY).json()["sign_off"]["state"] == "accepted"
    assert agency_sees(hub)[1]["records"][0]["payload"]["pupils_on_roll"] == 52000


def test_with_auto_approve_the_agents_next_submission_is_approved_as_it_arrives(hub):
    period = "2027-Q1"  # financial Q4 of 2026-27
    hub.agent_sends("2026-27 Q4,51000,12100,290000,118000,408000")
    assert agency_sees(hub, period)[0]["record_count"] == 0
    path = f"/returns/{RETURN}/auto-approve/edinburgh"
    assert hub("PUT", "edinburgh", "publisher", path, json={"enabled": True}).status_code == 403
    assert hub("PUT", "edinburgh", "governance", path, json={"enabled": True}).status_code == 200
    assert agency_sees(hub, period)[0]["record_count"] == 0  # no retrospective approval of the draft
    hub.agent_sends("2026-27 Q4,51000,12200,290000,118000,408000")
    row, one = agency_sees(hub, period)
    assert row["sign_off"]["state"] == "approved" and row["sign_off"]["state_by"] == "auto-approve"
    assert one["records"][0]["payload"]["free_meals_registered"] == 12200


def test_a_submission_sent_with_an_api_key_needs_no_sign_off(hub):
    period = "2026-Q3"
    record = {"return_id": f"edinburgh-{period}", "council": "edinburgh", "period": period, "pupils_on_roll": 50000,
              "free_meals_registered": 11000, "free_meals_taken_primary": 1, "free_meals_taken_secondary": 1,
              "total_free_meals_taken": 2, "submitted_by": "meals@edinburgh.gov.uk"}
    sent = hub("POST", "edinburgh", "publisher", "/records", json={"records": [{
        "id": str(uuid.uuid4()), "dataset": RETURN, "schema_version": 1, "op": "upsert",
        "occurred_at": "2026-10-31T17:00:00Z", "payload": record}]})
    assert sent.status_code == 200 and sent.json()["results"][0]["status"] == "accepted", sent.text
    row, one = agency_sees(hub, period)
    assert row["record_count"] == 1 and "sign_off" not in row
    answer = step(hub, "publisher", "submit", period=period)
    assert answer.status_code == 409 and "API key" in answer.json()["detail"]
