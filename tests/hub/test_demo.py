"""`causeway-hub demo` (what `make run` starts) shows the whole path within a minute: the
Edinburgh agent's records reach SFRS's webhook receiver (a folder of events) and Police
Scotland's hub-managed agent (a SQLite table), and the operations pages have a failing
subscription and a stale agent to show. It does so from the checkout and from the project's
wheel installed on its own, as a council installs the agent and an operator the hub: nothing
either needs (schemas, migrations, pages, examples, samples) is left out of the wheel."""
from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from support import ROOT
from support.servers import free_port, wait_for_port
from support.waiting import wait_until

# Building and installing the wheel takes a minute or two of the first test's time.
pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


def _rows(table_file) -> int:
    try:
        conn = sqlite3.connect(f"file:{table_file}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0
    try:
        return conn.execute("SELECT COUNT(*) FROM addresses").fetchone()[0]
    except sqlite3.OperationalError:  # not made yet
        return 0
    finally:
        conn.close()


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory) -> Path:
    """The python of a new virtual environment holding the wheel built from this checkout."""
    folder = tmp_path_factory.mktemp("wheel")
    python = folder / "venv" / "bin" / "python"

    def run(*command: str, timeout: float) -> None:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout}\n{result.stderr}"

    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(folder / "dist"), str(ROOT),
        timeout=300)
    run(sys.executable, "-m", "venv", str(folder / "venv"), timeout=120)
    run(str(python), "-m", "pip", "install", "--quiet", "-c", str(ROOT / "constraints.txt"),
        *map(str, (folder / "dist").glob("causeway-*.whl")), timeout=600)
    return python


@pytest.mark.parametrize("installed", [False, True], ids=["checkout", "wheel"])
def test_the_demo_delivers_to_its_subscribers_and_shows_a_failing_subscription_and_a_stale_agent(
        request, tmp_path, installed):
    # From the wheel, run outside the checkout, so nothing can be imported or read from it.
    python, cwd = (request.getfixturevalue("installed_wheel"), tmp_path) if installed else (sys.executable, ROOT)
    port, log = free_port(), tmp_path / "demo.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAUSEWAY_") and k != "PYTHONPATH"}
    with open(log, "ab") as out:
        demo = subprocess.Popen([str(python), "-m", "hub.cli", "demo", "--db", f"sqlite:///{tmp_path / 'hub.db'}",
                                 "--port", str(port), "--log-level", "warning", "--no-access-log",
                                 "--agent-dir", str(tmp_path / "agent"), "--subscriber-dir", str(tmp_path / "subscriber")],
                                cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
    try:
        wait_for_port(port, timeout=90, proc=demo)
        webhook, table = tmp_path / "subscriber" / "webhook", tmp_path / "subscriber" / "police-scotland.db"
        wait_until(lambda: webhook.exists() and len(list(webhook.glob("*.json"))) >= 40, timeout=60, interval=0.5,
                   message="the sample gazetteer at the webhook receiver")
        event = json.loads(next(webhook.glob("*.json")).read_text())
        assert event["specversion"] == "1.0" and "gazetteer-address" in json.dumps(event), event
        wait_until(lambda: _rows(table) >= 40, timeout=60, interval=0.5,
                   message="the sample gazetteer in Police Scotland's table")

        admin = re.search(r"^\s+scottish-government\s+admin\s+(cw_\S+)$", log.read_text(), re.MULTILINE).group(1)
        headers = {"Authorization": f"Bearer {admin}"}
        base = f"http://127.0.0.1:{port}/api/v1"
        subscriptions = requests.get(f"{base}/subscriptions", headers=headers, timeout=10).json()["subscriptions"]
        assert {s["org"]: s["status"] for s in subscriptions}["scottish-ambulance"] == "failing"
        agents = {a["name"]: a for a in requests.get(f"{base}/agents", headers=headers, timeout=10).json()["agents"]}
        assert agents["glasgow-uniform-agent"]["status"] == "stale"
        assert agents["police-scotland-demo-agent"]["report"]["management"] == "hub"
        configuration = requests.get(f"{base}/agents/{agents['police-scotland-demo-agent']['id']}/configuration",
                                     headers=headers, timeout=10).json()
        assert configuration["applied_version"] == 1
        for page in ("/console/sign-in", "/open/", "/open/gazetteer-address"):
            assert requests.get(f"http://127.0.0.1:{port}{page}", timeout=10).status_code == 200, page
        assert "Warning" not in log.read_text(), log.read_text()  # an operator's terminal shows no library noise
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(demo.pid, signal.SIGKILL)
            demo.wait(timeout=10)
