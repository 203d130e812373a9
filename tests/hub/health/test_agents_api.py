"""Agent heartbeats through the HTTP API: agents report, ops and governance watch."""
from datetime import timedelta

import pytest

from causeway_common.signing import generate_key, public_key_b64
from hub import db


def enrol(services, org="edinburgh", name="caselink-agent"):
    token, _ = services.orgs.create_enrolment(org, 3600, actor="test")
    answer = services.orgs.enrol_agent(token, public_key_b64(generate_key()), name, "0.1.0")
    return answer["agent_id"], {"Authorization": f"Bearer {answer['api_key']}"}


def report(**overrides):
    body = {"version": "0.1.0", "uptime_seconds": 12.5, "interval_seconds": 30, "outbox_depth": 3, "rejects": 1,
            "tasks": [{"name": "planning", "direction": "publish", "status": "ok", "rows_read": 10, "published": 6,
                       "rejected": 1, "outbox_depth": 3, "last_error": None}]}
    body.update(overrides)
    return body


def test_an_agent_reports_and_ops_sees_it_up_with_its_task_figures(client, services, auth):
    agent_id, agent_headers = enrol(services)
    answer = client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=report(), headers=agent_headers)
    assert answer.status_code == 202

    listed = client.get("/api/v1/agents", headers=auth("edinburgh", "ops")).json()["agents"]
    assert [(a["id"], a["status"]) for a in listed] == [(agent_id, "up")]
    task = listed[0]["report"]["tasks"][0]
    assert (task["rows_read"], task["published"], task["rejected"]) == (10, 6, 1)
    assert listed[0]["report"]["outbox_depth"] == 3


def test_an_agent_that_never_reported_is_stale(client, services, auth):
    agent_id, _ = enrol(services)
    listed = client.get("/api/v1/agents", headers=auth("edinburgh", "governance")).json()["agents"]
    assert [(a["id"], a["status"], a["last_heartbeat_at"]) for a in listed] == [(agent_id, "stale", None)]


def test_three_missed_heartbeats_make_an_agent_stale(client, services, auth):
    agent_id, agent_headers = enrol(services)
    client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=report(interval_seconds=30), headers=agent_headers)
    real_now = db.utcnow()
    services.health.clock = lambda: real_now + timedelta(seconds=85)
    assert client.get(f"/api/v1/agents/{agent_id}", headers=auth("edinburgh", "ops")).json()["status"] == "up"
    services.health.clock = lambda: real_now + timedelta(seconds=95)
    assert client.get(f"/api/v1/agents/{agent_id}", headers=auth("edinburgh", "ops")).json()["status"] == "stale"
    stale = client.get("/api/v1/agents?status=stale", headers=auth("edinburgh", "ops")).json()["agents"]
    assert [a["id"] for a in stale] == [agent_id]


def test_history_keeps_recent_heartbeats_newest_first_and_drops_old_ones(client, services, auth):
    agent_id, agent_headers = enrol(services)
    start = db.utcnow()
    services.health.clock = lambda: start - timedelta(days=8)
    client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=report(uptime_seconds=1), headers=agent_headers)
    for uptime in (2, 3, 4):
        services.health.clock = lambda u=uptime: start + timedelta(seconds=u)
        client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=report(uptime_seconds=uptime), headers=agent_headers)
    detail = client.get(f"/api/v1/agents/{agent_id}?history=10", headers=auth("edinburgh", "ops")).json()
    assert [h["report"]["uptime_seconds"] for h in detail["history"]] == [4, 3, 2]
    assert detail["history_kept"] == 3
    assert detail["heartbeats"] == 4


def test_an_agent_reports_only_for_itself(client, services):
    agent_id, _ = enrol(services, name="one")
    _, other_headers = enrol(services, name="two")
    answer = client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=report(), headers=other_headers)
    assert answer.status_code == 403
    assert "reports for agent" in answer.json()["detail"]


def test_a_person_credential_cannot_send_heartbeats(client, services, auth):
    agent_id, _ = enrol(services)
    answer = client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=report(), headers=auth("edinburgh", "publisher"))
    assert answer.status_code == 403


def test_orgs_see_only_their_own_agents_and_admin_sees_all(client, services, auth):
    edinburgh_agent, _ = enrol(services, "edinburgh")
    glasgow_agent, _ = enrol(services, "glasgow")
    mine = client.get("/api/v1/agents", headers=auth("glasgow", "ops")).json()["agents"]
    assert [a["id"] for a in mine] == [glasgow_agent]
    assert client.get(f"/api/v1/agents/{edinburgh_agent}", headers=auth("glasgow", "ops")).status_code == 404
    everyone = client.get("/api/v1/agents", headers=auth("edinburgh", "admin")).json()["agents"]
    assert {a["id"] for a in everyone} == {edinburgh_agent, glasgow_agent}
    assert client.get("/api/v1/agents?org=edinburgh", headers=auth("glasgow", "ops")).status_code == 403


@pytest.mark.parametrize("role", ["publisher", "subscriber"])
def test_publishers_and_subscribers_cannot_watch_agents(client, auth, role):
    assert client.get("/api/v1/agents", headers=auth("edinburgh", role)).status_code == 403


def test_a_malformed_heartbeat_is_refused_by_the_contract(client, services):
    agent_id, agent_headers = enrol(services)
    answer = client.post(f"/api/v1/agents/{agent_id}/heartbeats", json={"uptime_seconds": -1}, headers=agent_headers)
    assert answer.status_code == 400
