"""A real agent against a real hub process: a number JSON cannot keep exactly is
rejected at the agent, before its outbox, naming the row and field; a record the
hub refuses with its whole batch is quarantined with the hub's reason (never
retried forever), and the good records sent with it and queued after it arrive."""
import json
import uuid

import pytest

from agents.outbox import NewRecord, Outbox
from support.agents import enrol, outbox_figures, run_agent, write_config
from support.factories import example_payload

pytestmark = pytest.mark.e2e

HEADER = "VacancyId,Salary"
MAPPING = {"fields": {
    "vacancy_id": {"from": "VacancyId", "required": True},
    "employer": {"const": "NHS Highland"}, "sector": {"const": "health-and-social-care"},
    "job_title": {"const": "Healthcare Support Worker"}, "location": {"const": {"town": "Inverness"}},
    "hours_per_week": {"const": 37.5}, "contract": {"const": "permanent"},
    "closing_date": {"const": "2026-03-23"}, "apply_url": {"const": "https://jobs.example/214733"},
    "salary_min": {"from": "Salary", "convert": ["number"]},
}}


def jobs_task(folder):
    return {"name": "jobs", "direction": "publish", "dataset": "job-vacancy",
            "connector": {"kind": "spreadsheet", "options": {"folder": str(folder), "settle_seconds": 0,
                                                             "format": "csv", "delimiter": ",", "encoding": "utf-8"}},
            "mapping": MAPPING, "schedule": {"interval_seconds": 300}}


def agent_for(hub, tmp_path, rows):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "vacancies.csv").write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    state = tmp_path / "state"
    enrol(hub, state)
    return state, write_config(tmp_path / "agent.yaml", hub.url, state, [jobs_task(drop)])


def test_a_number_beyond_the_exact_range_is_rejected_before_the_outbox(hub, tmp_path):
    state, config = agent_for(hub, tmp_path, ["VAC-001,26674", "VAC-002,123456789012345678901234567890",
                                              "VAC-003,9007199254740991"])
    result = run_agent(config, "run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    assert {r["key"]: json.loads(r["payload"])["salary_min"] for r in hub.records("job-vacancy")} == {
        "VAC-001": 26674, "VAC-003": 9007199254740991}  # kept exactly
    outbox = Outbox(state / "outbox.sqlite")
    [reject] = outbox.rejects("jobs")
    assert reject["stage"] == "validation" and reject["location"]["row"] == 3
    assert [e["path"] for e in reject["errors"]] == ["/payload/salary_min"]
    assert "outside the range of numbers JSON keeps exactly" in reject["errors"][0]["message"]


def test_a_record_refused_with_its_whole_batch_is_quarantined_and_the_rest_arrive(hub, tmp_path):
    state, config = agent_for(hub, tmp_path, [f"VAC-1{n:02d},2{n:04d}" for n in range(20)])
    # A record an earlier agent queued in a form the hub cannot verify against the manifest
    # (not canonical JSON), ahead of the good ones: the hub refuses any batch holding it.
    payload = example_payload("job-vacancy")
    stale = {"payload": payload, "op": "upsert", "id": str(uuid.uuid4()), "dataset": "job-vacancy",
             "schema_version": 1, "key": payload["vacancy_id"], "occurred_at": "2026-11-02T09:30:00Z"}
    outbox = Outbox(state / "outbox.sqlite")
    outbox.commit_chunk("jobs", [NewRecord(stale["id"], json.dumps(stale), {"file": "old.csv", "line": 2})], [],
                        None, rows_read=1)
    outbox.close()

    result = run_agent(config, "run", "--once", timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(r["key"] for r in hub.records("job-vacancy")) == [f"VAC-1{n:02d}" for n in range(20)]
    assert outbox_figures(state)["depth"] == 0
    [reject] = Outbox(state / "outbox.sqlite").rejects("jobs")
    assert reject["stage"] == "hub" and reject["record_id"] == stale["id"]
    assert "differ from the signed manifest" in reject["errors"][0]["message"]
    assert reject["location"] == {"file": "old.csv", "line": 2}
