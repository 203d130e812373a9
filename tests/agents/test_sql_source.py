"""Must show: a SQL source shaped like a case-management database (Caselink),
changed between runs (inserts, updates, deletes, many rows sharing a
timestamp): the hub ends with exactly the right current set."""
import hashlib
import hmac
import sqlite3

import pytest

from support.agents import enrol, run_agent, write_config

pytestmark = pytest.mark.e2e

SUBJECT_KEY = "edinburgh-pseudonymisation-key-for-tests"
MAPPING = {
    "subject": {"from": "client_no", "hash_key_env": "CAUSEWAY_SUBJECT_KEY"},
    "fields": {
        "referral_id": {"from": "case_ref", "required": True},
        "personal_details_ref": {"subject": True},
        "referring_org": {"const": "edinburgh"},
        "receiving_org": {"const": "sds"},  # referrals name their addressee (schema version 3)
        "receiving_service": "service",
        "reason_for_referral": "reason",
        "referred_at": "referred_at",
        "postcode": {"from": "postcode", "convert": ["trim", "upper"]},
    },
}
SHARED_STAMP = "2026-11-01 09:00:00"


def create_caselink(path):
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE cl_referral (
            case_ref TEXT PRIMARY KEY, client_no TEXT NOT NULL, person_ref TEXT NOT NULL,
            service TEXT NOT NULL, reason TEXT NOT NULL, referred_at TEXT NOT NULL,
            postcode TEXT, last_modified TEXT NOT NULL);
    """)
    return db


def case(n, stamp, reason=None):
    return (f"EDI-EMP-2026-{n:05d}", f"C{n:06d}", f"psn-{n:08x}", "SDS careers guidance",
            reason or f"Ready for careers guidance (case {n})", "2026-10-20T10:00:00+00:00",
            f"eh{n % 17 + 1} {n % 9 + 1}ab", stamp)


def insert(db, rows):
    db.executemany("INSERT INTO cl_referral VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()


def expected(db) -> dict:
    return {ref: reason for ref, reason in db.execute("SELECT case_ref, reason FROM cl_referral")}


def test_the_hub_ends_with_exactly_the_current_set_of_a_changing_case_database(hub, tmp_path):
    db_path = tmp_path / "caselink.db"
    db = create_caselink(db_path)
    # 30 cases written by one batch job share a timestamp, the rest have their own.
    insert(db, [case(n, SHARED_STAMP) for n in range(30)])
    insert(db, [case(n, f"2026-11-0{1 + n % 2} 1{n % 10}:00:00") for n in range(30, 45)])
    state = tmp_path / "state"
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [{
        "name": "caselink-referrals", "direction": "publish", "dataset": "referral",
        "connector": {"kind": "sql", "options": {
            "url": f"sqlite:///{db_path}", "table": "cl_referral", "key": "case_ref", "cursor": "last_modified",
            "chunk_rows": 7, "deletes": {"method": "keyset", "interval_seconds": 0}}},
        "mapping": MAPPING, "schedule": {"cron": "*/10 * * * *"}}])
    env = {"CAUSEWAY_SUBJECT_KEY": SUBJECT_KEY}

    first = run_agent(config, "run", "--once", **env)
    assert first.returncode == 0, first.stdout + first.stderr
    current = hub.current("referral")
    assert {k: v["reason_for_referral"] for k, v in current.items()} == expected(db)
    # The subject is a keyed hash of the client number: the raw number never leaves the council.
    record = next(r for r in hub.records("referral") if r["key"] == "EDI-EMP-2026-00003")
    assert record["subject"] == hmac.new(SUBJECT_KEY.encode(), b"C000003", hashlib.sha256).hexdigest()
    assert "C000003" not in record["payload"]

    # Between runs: new cases (again sharing one timestamp), edits, and closed cases deleted.
    insert(db, [case(n, "2026-11-03 08:00:00") for n in range(45, 57)])
    db.execute("UPDATE cl_referral SET reason = 'Moved to in-work support', last_modified = '2026-11-03 08:30:00' "
               "WHERE case_ref IN ('EDI-EMP-2026-00002', 'EDI-EMP-2026-00017', 'EDI-EMP-2026-00040')")
    db.execute("DELETE FROM cl_referral WHERE case_ref IN "
               "('EDI-EMP-2026-00000', 'EDI-EMP-2026-00029', 'EDI-EMP-2026-00031', 'EDI-EMP-2026-00046')")
    db.commit()

    second = run_agent(config, "run", "--once", **env)
    assert second.returncode == 0, second.stdout + second.stderr
    current = hub.current("referral")
    assert {k: v["reason_for_referral"] for k, v in current.items()} == expected(db)
    assert current["EDI-EMP-2026-00017"]["reason_for_referral"] == "Moved to in-work support"
    assert len(current) == 45 + 12 - 4

    # A run with no changes adds nothing to the hub's log.
    before = len(hub.records("referral"))
    assert run_agent(config, "run", "--once", **env).returncode == 0
    assert len(hub.records("referral")) == before
    db.close()


def test_a_case_committed_late_reaches_the_hub_once_with_an_overlap_window(hub, tmp_path):
    db_path = tmp_path / "caselink.db"
    db = create_caselink(db_path)
    insert(db, [case(n, f"2026-11-01 09:0{n}:00") for n in range(5)])  # 09:00 .. 09:04
    state = tmp_path / "state"
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [{
        "name": "caselink-referrals", "direction": "publish", "dataset": "referral",
        "connector": {"kind": "sql", "options": {
            "url": f"sqlite:///{db_path}", "table": "cl_referral", "key": "case_ref", "cursor": "last_modified",
            "overlap_minutes": 15}},
        "mapping": MAPPING, "schedule": {"cron": "*/10 * * * *"}}])
    env = {"CAUSEWAY_SUBJECT_KEY": SUBJECT_KEY}
    assert run_agent(config, "run", "--once", **env).returncode == 0
    assert len(hub.records("referral")) == 5

    # Case 5 was stamped 09:02 by a transaction that committed after the 09:04 case was read.
    insert(db, [case(5, "2026-11-01 09:02:00")])
    result = run_agent(config, "run", "--once", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    again = run_agent(config, "run", "--once", **env)
    assert again.returncode == 0, again.stdout + again.stderr

    keys = [r["key"] for r in hub.records("referral")]
    assert sorted(keys) == sorted(expected(db)) and len(keys) == 6  # the late case arrived; nothing twice
