"""Real parts for agent tests: a hub process on SQLite, an enrolled agent's
state directory, agent processes, and the hub's view of what was published."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import requests
import yaml

from support import ROOT
from support.hubprocess import HubProcess, prepared_database

PASSPHRASE = "correct horse battery staple"
ORGS = [("edinburgh", "The City of Edinburgh Council", "council"), ("sds", "Skills Development Scotland", "agency"),
        ("sfrs", "Scottish Fire and Rescue Service", "agency")]


def agent_env(**extra) -> dict:
    env = {**os.environ, "CAUSEWAY_AGENT_PASSPHRASE": PASSPHRASE, "PYTHONUNBUFFERED": "1"}
    env.pop("HTTPS_PROXY", None)
    env.pop("HTTP_PROXY", None)
    env.update(extra)
    return env


class AgentHub(HubProcess):
    """A hub process on a SQLite file of its own with the agent tests' orgs; it can be stopped
    and started again, and reads its own database to show what agents published."""

    def __init__(self, folder: Path, **options):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.db_path = self.folder / "hub.db"
        super().__init__(f"sqlite:///{self.db_path}", log_path=self.folder / "hub.log",
                         extra_args=["--log-level", "warning", *options.pop("extra_args", ())], **options)
        shutil.copy(prepared_database(("init",)), self.db_path)
        from hub.db import make_engine
        from hub.orgs.service import OrgService

        self.engine = make_engine(self.db_url)
        self.orgs = OrgService(self.engine)
        for slug, name, kind in ORGS:
            self.orgs.ensure_org(slug, name, kind, actor="test")

    def close(self) -> None:
        self.stop()
        self.engine.dispose()

    def enrolment_token(self, org: str = "edinburgh") -> str:
        return self.orgs.create_enrolment(org, 3600, actor="test")[0]

    def key(self, org: str, role: str) -> str:
        return self.orgs.issue_key(org, role, actor="test")

    # -- the hub's view -------------------------------------------------------
    def records(self, dataset: str, publisher: str = "edinburgh") -> list[dict]:
        """Every record of a dataset in the hub's log, in order."""
        from sqlalchemy import select

        from hub.records.models import records

        with self.engine.connect() as conn:
            rows = conn.execute(select(records).where(records.c.dataset == dataset, records.c.publisher == publisher)
                                .order_by(records.c.seq)).all()
        return [dict(r._mapping) for r in rows]

    def count(self, dataset: str) -> int:
        from sqlalchemy import func, select

        from hub.records.models import records

        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(records).where(records.c.dataset == dataset)).scalar()

    def current(self, dataset: str, publisher: str = "edinburgh") -> dict[str, dict]:
        """The current set: upserts and deletes folded by key, as a subscriber would see it."""
        state: dict[str, dict] = {}
        for row in self.records(dataset, publisher):
            if row["op"] == "delete":
                state.pop(row["key"], None)
            else:
                state[row["key"]] = json.loads(row["payload"])
        return state


def enrol(hub: AgentHub, state_dir: Path, org: str = "edinburgh", name: str = "test-agent") -> None:
    result = subprocess.run(
        [sys.executable, "-m", "agents.cli", "enrol", "--hub", hub.url, "--token", hub.enrolment_token(org),
         "--state", str(state_dir), "--name", name],
        cwd=ROOT, env=agent_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def write_config(path: Path, hub_url: str, state_dir: Path, tasks: list[dict], **top) -> Path:
    document = {"hub": {"url": hub_url, "timeout_seconds": 10}, "state_dir": str(state_dir),
                "heartbeat_seconds": 5, "sender": {"max_backoff_seconds": 2}, "tasks": tasks, **top}
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def run_agent(config: Path, command: str, *args, timeout: float = 120, **env) -> subprocess.CompletedProcess:
    """`causeway-agent COMMAND -c CONFIG ARGS...` to completion."""
    return subprocess.run([sys.executable, "-m", "agents.cli", command, "-c", str(config), *args],
                          cwd=ROOT, env=agent_env(**env), capture_output=True, text=True, timeout=timeout)


def start_agent(config: Path, *extra, log_path: Path | None = None, **env) -> subprocess.Popen:
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    proc = subprocess.Popen([sys.executable, "-m", "agents.cli", "run", "-c", str(config), *extra], cwd=ROOT,
                            env=agent_env(**env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    if log_path:
        out.close()
    return proc


def hub_get(hub: AgentHub, path: str, key: str) -> dict:
    answer = requests.get(f"{hub.url}/api/v1{path}", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()


# -- a gazetteer export, as a council's address system writes it ---------------------
GAZETTEER_HEADER = "UPRN,USRN,PAON,STREET,TOWN,POSTCODE,X,Y,STATUS,UPDATED"
GAZETTEER_MAPPING = {
    "fields": {
        "uprn": {"from": "UPRN", "required": True},
        "usrn": "USRN",
        "paon": "PAON",
        "street": "STREET",
        "town": "TOWN",
        "postcode": "POSTCODE",
        "easting": {"from": "X", "convert": ["number"]},
        "northing": {"from": "Y", "convert": ["number"]},
        "status": {"from": "STATUS", "convert": [{"lookup": {"A": "approved", "P": "provisional", "H": "historic"}}]},
        "custodian": {"const": "edinburgh"},
        "last_updated": {"from": "UPDATED", "convert": [{"date": "%Y-%m-%d"}]},
    }
}
STREETS = ["High Street", "Leith Walk", "Dalry Road", "Easter Road", "Morningside Road", "Gorgie Road"]


def gazetteer_line(n: int) -> str:
    return (f"{906000000 + n},{8400000 + n % 5000},{n % 300 + 1},{STREETS[n % len(STREETS)]},Edinburgh,"
            f"EH{n % 17 + 1} {n % 9 + 1}AB,{320000 + n % 10000},{670000 + n % 9000},{'AP'[n % 2]},2026-0{n % 9 + 1}-1{n % 9}")


def write_gazetteer_csv(path: Path, rows: int, start: int = 0) -> Path:
    """Written under a name the drop folder ignores, then renamed, as an export should be: a
    running agent never reads it half-written."""
    partial = path.with_name(path.name + ".part")
    with open(partial, "w", encoding="utf-8", newline="") as out:
        out.write(GAZETTEER_HEADER + "\n")
        for n in range(start, start + rows):
            out.write(gazetteer_line(n) + "\n")
    os.replace(partial, path)
    return path


def gazetteer_task(folder: Path, name: str = "gazetteer", interval: float = 1, **options) -> dict:
    return {"name": name, "direction": "publish", "dataset": "gazetteer-address",
            "connector": {"kind": "spreadsheet", "options": {"folder": str(folder), "settle_seconds": 0,
                                                             "format": "csv", "delimiter": ",", "encoding": "utf-8",
                                                             **options}},
            "mapping": GAZETTEER_MAPPING, "schedule": {"interval_seconds": interval}}


def outbox_figures(state_dir: Path) -> dict:
    """Read the outbox as an operator would (another process, read-only)."""
    import sqlite3

    if not (state_dir / "outbox.sqlite").exists():
        return {"depth": 0, "checkpoints": {}}
    conn = sqlite3.connect(f"file:{state_dir / 'outbox.sqlite'}?mode=ro", uri=True, timeout=10)
    try:
        depth = conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        checkpoints = {t: json.loads(c) for t, c in conn.execute("SELECT task, checkpoint FROM checkpoints")}
    except sqlite3.OperationalError:
        depth, checkpoints = 0, {}
    finally:
        conn.close()
    return {"depth": depth, "checkpoints": checkpoints}
