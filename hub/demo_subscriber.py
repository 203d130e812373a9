"""The demo's subscribers, so `make run` shows the whole path (agent → hub → subscriber) and
the console's operations pages have something to show:

- SFRS receives Edinburgh's gazetteer by signed webhook: a receiver process
  (`hub.demo_receiver`) writes each event it accepts into `<folder>/webhook/`;
- Police Scotland runs an agent, hub-managed, whose subscribe task (its configuration
  version 1, written at the hub) keeps the table `addresses` in `<folder>/police-scotland.db`
  (SQLite) current from a pull subscription;
- the Scottish Ambulance Service's webhook points at an endpoint that is down: a failing
  subscription;
- Glasgow has an agent of an old version that stopped reporting two hours ago: a stale agent.

Everything here goes through the hub's services, as the API would; the agents and the
receiver are processes of their own.
"""
from __future__ import annotations

import atexit
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import yaml

from causeway_common.signing import generate_key, public_key_b64
from hub import demo_agent
from hub.auth import Principal
from hub.health.service import HealthService

PURPOSE = "EmergencyResponse"
STALE_AGENT_VERSION = "0.0.9"


def _free_port(host: str) -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _as(org: str, role: str) -> Principal:
    return Principal(org=org, role=role, credential_id="demo")


def _subscribe(hub, org: str, channel: str, url: str | None = None) -> dict:
    body = {"dataset": "gazetteer-address", "purpose": PURPOSE, "channel": channel, "start": "beginning",
            **({"url": url} if url else {})}
    return hub.delivery.subscribe(body, _as(org, "subscriber"))


def stale_agent(hub) -> str:
    """Glasgow's agent: enrolled, one heartbeat two hours ago, then silence."""
    token, _ = hub.orgs.create_enrolment("glasgow", 3600, actor="demo")
    agent_id = hub.orgs.enrol_agent(token, public_key_b64(generate_key()), "glasgow-uniform-agent",
                                    STALE_AGENT_VERSION)["agent_id"]
    then = hub.clock() - timedelta(hours=2)
    past = HealthService(hub.engine, hub.orgs.list_agents, clock=lambda: then)
    past.record_heartbeat(Principal(org="glasgow", role="publisher", credential_id="demo", agent_id=agent_id),
                          agent_id, {"version": STALE_AGENT_VERSION, "host": "glasgow-uniform-01",
                                     "uptime_seconds": 86400, "interval_seconds": 30, "management": "file",
                                     "outbox_depth": 0, "rejects": 0, "tasks": []})
    return agent_id


def _police_configuration(subscription: str, table: Path) -> str:
    return yaml.safe_dump({"tasks": [{
        "name": "addresses-in", "direction": "subscribe", "subscription": subscription,
        "connector": {"kind": "sql", "options": {"url": f"sqlite:///{table}", "table": "addresses",
                                                 "key_column": "uprn_key"}},
        "schedule": {"interval_seconds": 10}}]}, sort_keys=False)


def start(hub, folder: Path, host: str, port: int) -> threading.Thread:
    """Set up the subscriptions and the stale agent now; start the receiver, and (once the hub
    answers) the Police Scotland agent, in the background."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    receiver_port = _free_port(host)
    receiver_url = f"http://{host}:{receiver_port}"
    webhook = _subscribe(hub, "sfrs", "webhook", f"{receiver_url}/hook/sfrs")
    failing = _subscribe(hub, "scottish-ambulance", "webhook", f"{receiver_url}/failing")
    pull = _subscribe(hub, "police-scotland", "pull")
    secret_file = folder / "webhook-secrets"
    secret_file.write_text(webhook["secret"] + "\n", encoding="utf-8")
    secret_file.chmod(0o600)
    receiver_log = open(folder / "receiver.log", "ab")
    receiver = subprocess.Popen([sys.executable, "-m", "hub.demo_receiver", "--host", host, "--port",
                                 str(receiver_port), "--folder", str(folder / "webhook"), "--secret-file",
                                 str(secret_file)], stdout=receiver_log, stderr=subprocess.STDOUT)
    atexit.register(lambda: receiver.poll() is None and receiver.terminate())
    stale = stale_agent(hub)

    agent_folder = folder / "police-agent"
    agent_folder.mkdir(exist_ok=True)
    config = agent_folder / "agent.yaml"
    config.write_text(yaml.safe_dump({"hub": {"url": f"http://{host}:{port}"}, "state_dir": "state",
                                      "managed_by": "hub", "heartbeat_seconds": 10}), encoding="utf-8")
    token, _ = hub.orgs.create_enrolment("police-scotland", 3600, actor="demo")
    env = demo_agent.passphrase_env(agent_folder, token)
    table = folder / "police-scotland.db"

    def run():
        started = demo_agent.enrol_and_run(agent_folder, config, env, "police-scotland-demo-agent", host, port)
        if started is None:
            return
        agent_id, _, said = started
        hub.agent_config.create_version(_as("police-scotland", "agent-admin"), agent_id,
                                        _police_configuration(pull["id"], table), note="the demo's subscribe task")
        print(f"demo subscriber agent: {said}; hub-managed, it writes Edinburgh's gazetteer into the table "
              f"addresses of {table}", flush=True)

    print(f"Subscribers: SFRS's webhook receiver writes each event into {folder / 'webhook'} (log: "
          f"{folder / 'receiver.log'});\n  Police Scotland's hub-managed agent fills {table};\n"
          f"  the Scottish Ambulance Service's webhook subscription {failing['id']} fails (its endpoint is down);\n"
          f"  Glasgow's agent {stale} (version {STALE_AGENT_VERSION}) stopped reporting two hours ago.", flush=True)
    thread = threading.Thread(target=run, name="demo-subscriber", daemon=True)
    thread.start()
    return thread
