"""The demo's agent: `causeway-hub demo` enrols one for Edinburgh and runs it
beside the hub, publishing the sample council files in agents/samples/, and
drops a small gazetteer update every minute so records keep arriving.

The agent runs as its own process (`python -m agents.cli`), exactly as a council
would run it; the hub never imports agent code.
"""
from __future__ import annotations

import atexit
import logging
import os
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

SAMPLES = Path(__file__).resolve().parent.parent / "agents" / "samples"
UPDATE_ROWS = [  # (uprn, usrn, paon, street, locality, postcode, easting, northing)
    (906423101, 8401327, "10", "High Street", "Old Town", "EH1 1AA", 325835, 673630),
    (906423102, 8402210, "12", "Leith Walk", "Leith", "EH6 8BJ", 326657, 675425),
    (906423103, 8403115, "14", "Dalry Road", "Dalry", "EH11 2DE", 323514, 672710),
]

log = logging.getLogger("causeway.hub.demo")


def _wait_for_port(host: str, port: int, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


def prepare(folder: Path, hub_url: str) -> Path:
    """Copy the sample agent.yaml and files into `folder`; returns the config path."""
    (folder / "drop" / "gazetteer").mkdir(parents=True, exist_ok=True)
    (folder / "drop" / "planning").mkdir(parents=True, exist_ok=True)
    config = folder / "agent.yaml"
    config.write_text((SAMPLES / "agent.yaml").read_text(encoding="utf-8").replace("http://127.0.0.1:8080", hub_url),
                      encoding="utf-8")
    shutil.copy(SAMPLES / "edinburgh-gazetteer.csv", folder / "drop" / "gazetteer")
    shutil.copy(SAMPLES / "planning-applications.xlsx", folder / "drop" / "planning")
    return config


def _write_update(folder: Path, tick: int) -> None:
    """A few addresses changed 'today', as the nightly export would carry them."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    today = date.today().strftime("%d/%m/%Y")
    lines = ["UPRN,USRN,SAON,PAON,STREET,LOCALITY,TOWN,POSTCODE,EASTING,NORTHING,STATUS,UPDATED"]
    for uprn, usrn, paon, street, locality, postcode, easting, northing in UPDATE_ROWS:
        lines.append(f"{uprn},{usrn},,{paon},{street},{locality},Edinburgh,{postcode},{easting + tick},{northing},A,{today}")
    temporary = folder / "drop" / "gazetteer" / f".update-{stamp}.tmp"
    temporary.write_text("\r\n".join(lines) + "\r\n", encoding="cp1252")
    temporary.rename(temporary.with_name(f"update-{stamp}.csv"))


def passphrase_env(folder: Path, enrolment_token: str) -> dict:
    """The agent's environment: a passphrase file of its own (made once) and its enrolment token."""
    passphrase = folder / "passphrase"
    if not passphrase.exists():
        fd = os.open(passphrase, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, secrets.token_urlsafe(24).encode())
        os.close(fd)
    return {**os.environ, "CAUSEWAY_AGENT_PASSPHRASE_FILE": str(passphrase), "CAUSEWAY_ENROLMENT_TOKEN": enrolment_token}


def enrol_and_run(folder: Path, config: Path, env: dict, name: str, host: str, port: int):
    """Once the hub answers: enrol the agent (as a council would, `causeway-agent enrol`) and
    start `causeway-agent run` as its own process; (agent id, process), or None if it could not."""
    repository = SAMPLES.parent.parent
    if not _wait_for_port(host, port):
        log.error("demo agent %s: the hub did not start listening on %s:%s", name, host, port)
        return None
    enrolled = subprocess.run([sys.executable, "-m", "agents.cli", "enrol", "-c", str(config), "--name", name,
                               "--force"], env=env, cwd=repository, capture_output=True, text=True, timeout=120)
    if enrolled.returncode != 0:
        log.error("demo agent %s could not enrol: %s", name, enrolled.stderr.strip())
        return None
    agent_id = enrolled.stdout.split()[2]  # "enrolled agent <id> (<name>) for <org> at <url>"
    agent_log = open(folder / "agent.log", "ab")
    agent = subprocess.Popen([sys.executable, "-m", "agents.cli", "run", "-c", str(config)], env=env,
                             cwd=repository, stdout=agent_log, stderr=subprocess.STDOUT)
    atexit.register(lambda: agent.poll() is None and agent.terminate())
    return agent_id, agent, enrolled.stdout.splitlines()[0]


def start(folder: Path, host: str, port: int, enrolment_token: str) -> threading.Thread:
    """Once the hub answers: enrol the demo agent, run it, and feed it an update every minute."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    env = passphrase_env(folder, enrolment_token)
    config = prepare(folder, f"http://{host}:{port}")

    def run():
        started = enrol_and_run(folder, config, env, "edinburgh-demo-agent", host, port)
        if started is None:
            return
        _, agent, said = started
        print(f"demo agent: {said}; publishing the sample files in {folder / 'drop'}", flush=True)
        tick = 0
        while agent.poll() is None:
            time.sleep(60)
            tick += 1
            _write_update(folder, tick)

    thread = threading.Thread(target=run, name="demo-agent", daemon=True)
    thread.start()
    return thread
