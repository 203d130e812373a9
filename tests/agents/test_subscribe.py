"""Subscribe tasks: pull feed → sink → cursor, into a SQL table and an XLSX folder.

The hub side of pull feeds is built elsewhere; here the agent talks through its
transport seam to a feed that follows that contract (GET .../feed?after&limit →
{events, next}; POST .../ack {seq}), and writes with the real sinks."""
import json
import sqlite3
from urllib.parse import parse_qs, urlsplit

import openpyxl

from agents.config import load_config
from agents.hub_client import Response, Transport
from agents.runner import Agent
from agents.state import Credential
from causeway_common.signing import generate_key
from support.agents import write_config


def event(seq, key, op="upsert", **data):
    return {"specversion": "1.0", "id": f"id-{seq}", "source": "/causeway/orgs/edinburgh",
            "type": f"uk.causeway.record.{op}", "subject": key, "time": "2026-11-02T09:30:00Z",
            "dataset": "planning-application", "schemaversion": 1, "sequence": str(seq),
            "data": None if op == "delete" else {"reference": key, **data}}


class FeedHub(Transport):
    """A pull feed and ack endpoint following the hub's contract, over a list of events."""

    def __init__(self, events):
        self.events = events
        self.acks = []
        self.down = False

    def request(self, method, url, *, headers, body, timeout):
        if self.down:
            raise ConnectionError("connection refused")
        parts = urlsplit(url)
        if parts.path.endswith("/feed"):
            query = parse_qs(parts.query)
            after, limit = int(query.get("after", ["0"])[0]), int(query["limit"][0])
            page = [e for e in self.events if int(e["sequence"]) > after][:limit]
            answer = {"events": page, "next": int(page[-1]["sequence"]) if page else after}
        elif parts.path.endswith("/ack"):
            self.acks.append(json.loads(body)["seq"])
            answer = {"acknowledged": self.acks[-1]}
        elif parts.path.endswith("/heartbeats"):
            answer = {}
        else:
            return Response(404, b'{"detail": "not here"}', {})
        return Response(200, json.dumps(answer).encode(), {})


def make_agent(tmp_path, task, transport):
    config = load_config(write_config(tmp_path / "agent.yaml", "http://hub.invalid", tmp_path / "state", [task]))
    credential = Credential("http://hub.invalid", "agent-1", "sds", "test", "cw_test", generate_key())
    return Agent(config, credential, transport=transport)


EVENTS = [event(1, "25/0001/FUL", status="received"), event(2, "25/0002/FUL", status="received"),
          event(3, "25/0001/FUL", status="validated"), event(4, "25/0003/LBC", status="received"),
          event(5, "25/0002/FUL", op="delete"), event(6, "25/0004/PPP", status="decided")]


def test_a_subscribe_task_keeps_a_sql_table_current_and_moves_its_cursor_after_the_sink(tmp_path):
    target = tmp_path / "planning.db"
    task = {"name": "planning-in", "direction": "subscribe", "subscription": "sub-1", "batch_size": 2,
            "connector": {"kind": "sql", "options": {"url": f"sqlite:///{target}", "table": "planning_applications"}},
            "schedule": {"interval_seconds": 60}}
    hub = FeedHub(list(EVENTS))
    agent = make_agent(tmp_path, task, hub)
    assert agent.run_task(agent.config.tasks[0])

    rows = dict(sqlite3.connect(target).execute("SELECT record_key, status FROM planning_applications"))
    assert rows == {"25/0001/FUL": "validated", "25/0003/LBC": "received", "25/0004/PPP": "decided"}
    assert agent.outbox.cursor("planning-in") == 6
    assert hub.acks[-1] == 6

    # New events later: only those are pulled and applied.
    hub.events.append(event(7, "25/0003/LBC", op="delete"))
    assert agent.run_task(agent.config.tasks[0])
    rows = dict(sqlite3.connect(target).execute("SELECT record_key, status FROM planning_applications"))
    assert set(rows) == {"25/0001/FUL", "25/0004/PPP"}
    assert agent.outbox.task_stats()["planning-in"]["delivered"] == 7
    agent.outbox.close()


def test_a_subscribe_task_writes_xlsx_files_into_a_folder_once(tmp_path):
    folder = tmp_path / "inbox"
    task = {"name": "planning-xlsx", "direction": "subscribe", "subscription": "sub-2",
            "connector": {"kind": "spreadsheet", "options": {"folder": str(folder), "format": "xlsx"}},
            "schedule": {"cron": "0 7 * * *"}}
    hub = FeedHub(list(EVENTS))
    agent = make_agent(tmp_path, task, hub)
    assert agent.run_task(agent.config.tasks[0])
    assert agent.run_task(agent.config.tasks[0])  # nothing new: no second file
    files = sorted(p.name for p in folder.glob("*.xlsx"))
    assert files == ["planning-application-1-6.xlsx"]
    sheet = openpyxl.load_workbook(folder / files[0], read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("op", "key", "sequence")
    assert [(r[0], r[1]) for r in rows[1:]][4] == ("delete", "25/0002/FUL")
    agent.outbox.close()


def test_when_the_sink_fails_the_cursor_stays_and_the_events_come_again(tmp_path):
    blocked = tmp_path / "planning.db"
    blocked.mkdir()  # a folder where the database file should be: the sink cannot open it
    task = {"name": "planning-in", "direction": "subscribe", "subscription": "sub-1",
            "connector": {"kind": "sql", "options": {"url": f"sqlite:///{blocked}", "table": "planning"}},
            "schedule": {"interval_seconds": 60}}
    hub = FeedHub(list(EVENTS))
    agent = make_agent(tmp_path, task, hub)
    assert not agent.run_task(agent.config.tasks[0])
    stats = agent.outbox.task_stats()["planning-in"]
    assert stats["status"] == "error" and "planning.db" in stats["last_error"]
    assert agent.outbox.cursor("planning-in") is None and hub.acks == []

    blocked.rmdir()
    assert agent.run_task(agent.config.tasks[0])
    assert len(sqlite3.connect(blocked).execute("SELECT * FROM planning").fetchall()) == 3
    assert agent.outbox.cursor("planning-in") == 6
    agent.outbox.close()


def test_events_delivered_again_after_a_crash_change_nothing(tmp_path):
    target = tmp_path / "planning.db"
    task = {"name": "planning-in", "direction": "subscribe", "subscription": "sub-1",
            "connector": {"kind": "sql", "options": {"url": f"sqlite:///{target}", "table": "planning"}},
            "schedule": {"interval_seconds": 60}}
    agent = make_agent(tmp_path, task, FeedHub(list(EVENTS)))
    assert agent.run_task(agent.config.tasks[0])
    before = sorted(sqlite3.connect(target).execute("SELECT * FROM planning").fetchall())
    # As if the agent died after the sink wrote but before the cursor was committed.
    agent.outbox.advance_cursor("planning-in", 0, delivered=0)
    assert agent.run_task(agent.config.tasks[0])
    assert sorted(sqlite3.connect(target).execute("SELECT * FROM planning").fetchall()) == before
    agent.outbox.close()


def test_an_unreachable_hub_fails_the_run_and_keeps_the_cursor(tmp_path):
    task = {"name": "planning-in", "direction": "subscribe", "subscription": "sub-1",
            "connector": {"kind": "sql", "options": {"url": f"sqlite:///{tmp_path / 'p.db'}", "table": "planning"}},
            "schedule": {"interval_seconds": 60}}
    hub = FeedHub(list(EVENTS))
    hub.down = True
    agent = make_agent(tmp_path, task, hub)
    assert not agent.run_task(agent.config.tasks[0])
    assert "cannot reach the hub" in agent.outbox.task_stats()["planning-in"]["last_error"]
    assert agent.outbox.cursor("planning-in") is None
    agent.outbox.close()
