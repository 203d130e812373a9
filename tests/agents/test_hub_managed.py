"""Must show, against a real hub and a real agent process: a hub-managed agent receives a new
task and runs it, refuses a broken configuration (keeps running the old one, reports the error,
the hub shows the failure), rolls forward again, and takes a hub operator's proposal once its
org approves it; all over the agent's own outbound connection (it listens on no socket).
Secrets never leave the council: a configuration holding one is refused with a clear error."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import requests
import yaml

from support.agents import (
    AgentHub,
    enrol,
    gazetteer_task,
    hub_get,
    run_agent,
    start_agent,
    write_gazetteer_csv,
)
from support.waiting import wait_until

pytestmark = pytest.mark.e2e
OPERATOR = "improvement-service"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    process = AgentHub(tmp_path_factory.mktemp("managed-hub"), env={"CAUSEWAY_HUB_OPERATOR": OPERATOR})
    process.orgs.ensure_org(OPERATOR, "Improvement Service", "agency", actor="test")
    process.start()
    yield process
    process.close()


@pytest.fixture(scope="module")
def keys(hub):
    return {"it": hub.key("edinburgh", "agent-admin"), "ops": hub.key("edinburgh", "ops"),
            "governance": hub.key("edinburgh", "governance"), "other-ops": hub.key("sds", "ops"),
            "other-it": hub.key("sds", "agent-admin"), "operator": hub.key(OPERATOR, "ops")}


def call(hub, method: str, path: str, key: str, **body) -> requests.Response:
    return requests.request(method, f"{hub.url}/api/v1{path}", headers={"Authorization": f"Bearer {key}"},
                            json=body or None, timeout=10)


def tasks_yaml(*tasks: dict) -> str:
    plain = json.loads(json.dumps(list(tasks)))  # no shared parts, so no YAML anchors
    return yaml.safe_dump({"tasks": plain}, sort_keys=False)


def managed_config(path: Path, hub_url: str, state_dir: Path) -> Path:
    path.write_text(yaml.safe_dump({"hub": {"url": hub_url, "timeout_seconds": 10}, "state_dir": str(state_dir),
                                    "managed_by": "hub", "heartbeat_seconds": 5,
                                    "sender": {"max_backoff_seconds": 2}}), encoding="utf-8")
    return path


def listening_sockets(pid: int) -> list[str]:
    """The TCP/UDP sockets this process listens on (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    found.append(f"{table} {fields[1]}")
    for table in ("udp", "udp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            found += [f"{table} {f[1]}" for f in (line.split() for line in list(lines)[1:]) if f[9] in inodes]
    return found


def overview(hub, agent_id: str, key: str) -> dict:
    return hub_get(hub, f"/agents/{agent_id}/configuration", key)


def test_a_hub_managed_agent_takes_refuses_and_rolls_forward_its_configuration(hub, keys, tmp_path):
    state, first, second = tmp_path / "state", tmp_path / "gazetteer", tmp_path / "gazetteer-north"
    first.mkdir()
    second.mkdir()
    enrol(hub, state, name="managed-agent")
    agent_id = json.loads((state / "credential.json").read_text())["agent_id"]
    config = managed_config(tmp_path / "agent.yaml", hub.url, state)
    write_gazetteer_csv(first / "monday.csv", 3)
    write_gazetteer_csv(second / "north.csv", 2, start=500)
    agent = start_agent(config, log_path=tmp_path / "agent.log")
    try:
        # version 1 from the council's own IT: one task, in force at once, run by the agent
        made = call(hub, "POST", f"/agents/{agent_id}/configuration/versions", keys["it"],
                    source=tasks_yaml(gazetteer_task(first)), note="the nightly gazetteer export")
        assert made.status_code == 201, made.text
        assert made.json()["status"] == "approved"
        wait_until(lambda: len(hub.records("gazetteer-address")) == 3, timeout=60,
                   message="the agent runs the task the hub gave it")
        wait_until(lambda: overview(hub, agent_id, keys["it"])["applied_version"] == 1, timeout=30)
        assert listening_sockets(agent.pid) == [], "the agent opens no listening socket"

        # version 2 is broken (a folder that is not there): refused, reported, version 1 keeps running
        broken = gazetteer_task(tmp_path / "no-such-folder", name="broken")
        assert call(hub, "POST", f"/agents/{agent_id}/configuration/versions", keys["ops"],
                    source=tasks_yaml(gazetteer_task(first), broken)).status_code == 201
        failed = wait_until(lambda: (overview(hub, agent_id, keys["it"])["last_failure"] or None), timeout=60,
                            message="the agent reports the broken version")
        assert failed["version"] == 2 and "broken" in failed["error"] and "no-such-folder" in failed["error"]
        as_operator = overview(hub, agent_id, keys["operator"])["last_failure"]
        assert as_operator["version"] == 2 and as_operator["error"] is None, "the hub operator sees that, not why"
        shown = overview(hub, agent_id, keys["it"])
        assert (shown["current_version"], shown["applied_version"]) == (2, 1)
        write_gazetteer_csv(first / "tuesday.csv", 2, start=100)
        wait_until(lambda: len(hub.records("gazetteer-address")) == 5, timeout=60,
                   message="version 1 keeps running after version 2 was refused")

        # version 3 rolls forward: the first task and a new one
        assert call(hub, "POST", f"/agents/{agent_id}/configuration/versions", keys["it"],
                    source=tasks_yaml(gazetteer_task(first), gazetteer_task(second, name="north"))).status_code == 201
        wait_until(lambda: len(hub.records("gazetteer-address")) == 7, timeout=60, message="the new task runs")
        shown = wait_until(lambda: (s := overview(hub, agent_id, keys["it"]))["applied_version"] == 3 and s,
                           timeout=30)
        assert shown["last_failure"] is None and shown["management"] == "hub"
        beat = wait_until(lambda: (r := hub_get(hub, f"/agents/{agent_id}", keys["ops"])["report"])
                          and r.get("config_version") == 3 and r, timeout=30)
        assert beat["management"] == "hub" and {t["name"] for t in beat["tasks"]} == {"gazetteer", "north"}

        # the hub operator proposes; nothing changes until edinburgh approves
        proposal = call(hub, "POST", f"/agents/{agent_id}/configuration/versions", keys["operator"],
                        source=tasks_yaml(gazetteer_task(first, interval=2)), note="fewer tasks")
        assert proposal.status_code == 201 and proposal.json()["status"] == "proposed", proposal.text
        assert overview(hub, agent_id, keys["it"])["current_version"] == 3
        assert call(hub, "POST", f"/agents/{agent_id}/configuration/versions/4/decision", keys["operator"],
                    decision="approve").status_code == 403, "only the agent's org approves"
        assert call(hub, "POST", f"/agents/{agent_id}/configuration/versions/4/decision", keys["it"],
                    decision="approve").json()["status"] == "approved"
        wait_until(lambda: overview(hub, agent_id, keys["it"])["applied_version"] == 4, timeout=60)

        version = hub_get(hub, f"/agents/{agent_id}/configuration/versions/4?against=3", keys["it"])
        removed = [line for line in version["diff"].splitlines() if line.startswith("-") and "name: north" in line]
        assert removed and version["diff_against"] == 3
        assert listening_sockets(agent.pid) == []
    finally:
        agent.terminate()
        agent.wait(timeout=30)
    status = run_agent(config, "status")
    assert status.returncode == 0, status.stderr
    assert "hub-managed: configuration version 4 from the hub" in status.stdout
    assert "gazetteer" in status.stdout and "north" not in status.stdout


def test_a_configuration_holding_a_secret_is_refused_and_names_where(hub, keys, tmp_path):
    state = tmp_path / "state"
    enrol(hub, state, name="secret-agent")
    agent_id = json.loads((state / "credential.json").read_text())["agent_id"]
    sql = {"name": "cases", "direction": "publish", "dataset": "referral", "mapping": {"fields": {"referral_id": "id"}},
           "schedule": {"interval_seconds": 60},
           "connector": {"kind": "sql", "options": {"url": "postgresql+psycopg://reader:hunter2@db/cases",
                                                    "table": "cases", "key": "id"}}}
    refused = call(hub, "POST", f"/agents/{agent_id}/configuration/versions", keys["it"], source=tasks_yaml(sql))
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"].endswith("/literal-secret") and "hunter2" not in refused.text
    assert problem["errors"][0]["field"] == "tasks[0].connector.options.url"
    assert "password_env" in problem["errors"][0]["message"]

    sql["connector"]["options"] = {"url": "postgresql+psycopg://reader@db/cases", "password": "hunter2",
                                   "table": "cases", "key": "id"}
    refused = call(hub, "POST", f"/agents/{agent_id}/configuration/versions", keys["it"], source=tasks_yaml(sql))
    assert refused.status_code == 422 and "hunter2" not in refused.text
    assert "tasks[0].connector.options.password" in refused.json()["detail"]
    assert "password_env" in refused.json()["detail"]

    sql["connector"]["options"] = {"url": "postgresql+psycopg://reader@db/cases", "password_env": "CASES_PASSWORD",
                                   "table": "cases", "key": "id"}
    accepted = call(hub, "POST", f"/agents/{agent_id}/configuration/versions", keys["it"], source=tasks_yaml(sql))
    assert accepted.status_code == 201, accepted.text

    wrong = call(hub, "POST", f"/agents/{agent_id}/configuration/versions", keys["it"],
                 source="tasks:\n  - name: x\n    direction: sideways\n")
    assert wrong.status_code == 422 and "tasks[0]" in wrong.json()["detail"]


def test_only_the_agents_org_and_the_hub_operator_read_its_configuration(hub, keys, tmp_path):
    state = tmp_path / "state"
    enrol(hub, state, name="private-agent")
    agent_id = json.loads((state / "credential.json").read_text())["agent_id"]
    path = f"/agents/{agent_id}/configuration"
    assert call(hub, "POST", f"{path}/versions", keys["it"], source=tasks_yaml(gazetteer_task(tmp_path))).status_code == 201
    assert call(hub, "GET", path, keys["other-ops"]).status_code == 404
    assert call(hub, "GET", path, keys["other-it"]).status_code == 404
    assert call(hub, "GET", f"{path}/versions/1", keys["other-it"]).status_code == 404
    assert call(hub, "POST", f"{path}/versions", keys["other-it"],
                source=tasks_yaml(gazetteer_task(tmp_path))).status_code == 404
    assert call(hub, "GET", path, keys["governance"]).status_code == 403
    assert call(hub, "GET", path, keys["operator"]).status_code == 200
    # the agent's own current version is for the agent itself, never for staff
    assert call(hub, "GET", f"{path}/current", keys["it"]).status_code == 403
