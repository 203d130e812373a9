"""Heartbeats are bounded by the contract in every part, and an agent's history comes in pages
of at most 120: 20 heartbeats of 4.9 MB were once accepted and answered as one 99 MB page."""
from __future__ import annotations

import pytest

from causeway_common.signing import generate_key, public_key_b64

MB = 1000 * 1000


@pytest.fixture
def agent(services):
    token, _ = services.orgs.create_enrolment("edinburgh", 3600, actor="test")
    answer = services.orgs.enrol_agent(token, public_key_b64(generate_key()), "caselink-agent", "0.1.0")
    return answer["agent_id"], {"Authorization": f"Bearer {answer['api_key']}"}


def agent_report(**overrides):
    """Every field a real agent sends (agents/heartbeat.py)."""
    body = {"version": "0.1.0", "host": "ed-app-01", "uptime_seconds": 12.5, "interval_seconds": 30,
            "outbox_depth": 3, "rejects": 1,
            "sender": {"status": "idle", "last_error": None, "last_sent_at": "2026-11-02T09:30:00Z"},
            "tasks": [{"name": "planning", "direction": "publish", "dataset": "planning-application",
                       "subscription": None, "last_run_at": "2026-11-02T09:29:00Z",
                       "last_run_finished_at": "2026-11-02T09:29:01Z", "status": "ok", "rows_read": 10,
                       "published": 6, "rejected": 1, "delivered": 0, "outbox_depth": 3, "last_error": None}]}
    body.update(overrides)
    return body


def test_a_real_agents_full_report_is_accepted(client, agent):
    agent_id, headers = agent
    assert client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=agent_report(), headers=headers).status_code == 202


@pytest.mark.parametrize("overrides, named", [
    ({"host": "h" * (49 * MB // 10)}, "host"),
    ({"padding": "x" * (4 * MB)}, "padding"),
    ({"sender": {"status": "idle", "detail": {"nested": "x" * MB}}}, "detail"),
    ({"sender": {"status": "idle", "last_error": "e" * 1001}}, "last_error"),
    ({"tasks": [{"name": f"task-{i}"} for i in range(101)]}, "tasks"),
    ({"tasks": [{"name": "planning", "last_error": "e" * 1001}]}, "last_error"),
    ({"tasks": [{"name": "planning", "extra": ["x"] * 10000}]}, "extra"),
    ({"outbox_depth": 2 ** 64}, "outbox_depth"),
])
def test_oversized_or_unknown_heartbeat_parts_are_refused_naming_the_field(client, agent, overrides, named):
    agent_id, headers = agent
    answer = client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=agent_report(**overrides), headers=headers)
    assert answer.status_code == 400, answer.text[:300]
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert named in answer.json()["detail"]


def test_history_pages_hold_at_most_120_heartbeats(client, agent, auth):
    agent_id, headers = agent
    for _ in range(3):
        client.post(f"/api/v1/agents/{agent_id}/heartbeats", json=agent_report(), headers=headers)
    ops = auth("edinburgh", "ops")
    refused = client.get(f"/api/v1/agents/{agent_id}?history=121", headers=ops)
    assert refused.status_code == 400 and "history" in refused.json()["detail"]
    page = client.get(f"/api/v1/agents/{agent_id}?history=120", headers=ops).json()
    assert len(page["history"]) == 3 and page["history_kept"] == 3
