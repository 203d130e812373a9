"""The sql connector against real SQLite files and a real PostgreSQL server."""
import json
import os
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

import connectors
from connectors import ConnectorError

BASE_TIME = datetime(2024, 3, 1, 9, 0, 0)


def create_cases(admin, count=0, when=BASE_TIME):
    with admin.begin() as conn:
        conn.execute(sa.text(
            "CREATE TABLE cases (case_id INTEGER PRIMARY KEY, client_ref VARCHAR(20), status VARCHAR(20), "
            "officer VARCHAR(50), updated_at TIMESTAMP NOT NULL)"
        ))
        if count:
            insert_cases(conn, range(1, count + 1), when)


def insert_cases(conn, ids, when):
    conn.execute(
        sa.text("INSERT INTO cases VALUES (:id, :ref, 'open', 'A. Officer', :at)"),
        [{"id": i, "ref": f"CL{i:05d}", "at": when} for i in ids],
    )


def run(source, checkpoint=None, stop_after=None):
    """Read like the agent: commit each chunk (keep its checkpoint), then on_commit.
    stop_after=n simulates a crash after n committed chunks."""
    rows = []
    for number, chunk in enumerate(source.read(checkpoint), start=1):
        rows.extend(chunk.rows)
        checkpoint = chunk.checkpoint
        json.dumps(checkpoint)  # the agent stores it as JSON
        if chunk.on_commit:
            chunk.on_commit()
        if stop_after and number >= stop_after:
            break
    return rows, checkpoint


def source_for(url, base_dir, **options):
    return connectors.load_source("sql", {"url": url, "table": "cases", "key": "case_id", **options}, base_dir)


def test_check_describes_the_table(case_db):
    admin, url, base = case_db
    create_cases(admin, 3)
    description = source_for(url, base, cursor="updated_at").check()
    assert "cases" in description and "5 columns" in description and "read-only" in description


def test_many_rows_sharing_one_timestamp_are_neither_lost_nor_repeated(case_db):
    admin, url, base = case_db
    create_cases(admin, 250, when=BASE_TIME)  # one bulk update stamps them all alike
    with admin.begin() as conn:
        insert_cases(conn, range(251, 261), BASE_TIME - timedelta(days=1))
    source = source_for(url, base, cursor="updated_at", chunk_rows=7)  # pages end inside the tied rows
    seen, checkpoint = [], None
    # the agent is stopped after every three chunks and started again from its last commit
    while True:
        rows, new_checkpoint = run(source, checkpoint, stop_after=3)
        if not rows:
            break
        seen.extend(r.data["case_id"] for r in rows)
        checkpoint = new_checkpoint
    assert len(seen) == 260 and sorted(seen) == list(range(1, 261))
    # more rows with that same timestamp (and higher keys) arrive later: only they come
    with admin.begin() as conn:
        insert_cases(conn, range(261, 271), BASE_TIME)
    rows, _ = run(source, checkpoint)
    assert [r.data["case_id"] for r in rows] == list(range(261, 271))


def test_inserts_updates_and_deletes_between_runs_by_key_set_comparison(case_db):
    admin, url, base = case_db
    create_cases(admin, 5)
    options = {"cursor": "updated_at", "deletes": {"method": "keyset", "interval_seconds": 0}, "state_dir": "state"}
    source = source_for(url, base, **options)
    first, checkpoint = run(source)
    assert [r.data["case_id"] for r in first] == [1, 2, 3, 4, 5] and {r.op for r in first} == {"upsert"}
    assert first[0].location == {"table": "cases", "primary_key": {"case_id": 1}}

    later = BASE_TIME + timedelta(hours=1)
    with admin.begin() as conn:
        insert_cases(conn, [6, 7], later)
        conn.execute(sa.text("UPDATE cases SET status = 'closed', updated_at = :at WHERE case_id = 2"), {"at": later})
        conn.execute(sa.text("DELETE FROM cases WHERE case_id = 4"))
    second, checkpoint = run(source_for(url, base, **options), checkpoint)
    assert [(r.op, r.data["case_id"]) for r in second] == [("upsert", 2), ("upsert", 6), ("upsert", 7), ("delete", 4)]
    changed = second[0]
    assert changed.data["status"] == "closed"
    assert changed.identity == first[1].identity and changed.version != first[1].version
    assert second[3].identity == first[3].identity  # the delete is for the same record key

    third, _ = run(source_for(url, base, **options), checkpoint)
    assert third == []  # nothing changed: nothing sent, the delete is not repeated


def test_deletes_from_a_tombstone_table(case_db):
    admin, url, base = case_db
    create_cases(admin, 4)
    with admin.begin() as conn:
        conn.execute(sa.text("CREATE TABLE case_deletions (deleted_case INTEGER, deleted_at TIMESTAMP)"))
    options = {"cursor": "updated_at",
               "deletes": {"method": "tombstone", "table": "case_deletions", "key": "deleted_case", "cursor": "deleted_at"}}
    source = source_for(url, base, **options)
    assert "cases" in source.check()
    _, checkpoint = run(source)
    with admin.begin() as conn:
        conn.execute(sa.text("DELETE FROM cases WHERE case_id IN (1, 3)"))
        conn.execute(sa.text("INSERT INTO case_deletions VALUES (1, :at), (3, :at)"), {"at": BASE_TIME + timedelta(hours=2)})
    rows, checkpoint = run(source, checkpoint)
    assert [(r.op, r.data) for r in rows] == [("delete", {"case_id": 1}), ("delete", {"case_id": 3})]
    assert run(source, checkpoint)[0] == []


def test_full_scan_without_cursor_sends_only_changed_rows(case_db):
    admin, url, base = case_db
    create_cases(admin, 5)
    options = {"deletes": {"method": "keyset", "interval_seconds": 0}, "state_dir": "state", "chunk_rows": 2}
    first, checkpoint = run(source_for(url, base, **options))
    assert len(first) == 5
    with admin.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET officer = 'B. Officer' WHERE case_id = 3"))
        conn.execute(sa.text("DELETE FROM cases WHERE case_id = 5"))
    second, _ = run(source_for(url, base, **options), checkpoint)
    assert [(r.op, r.data["case_id"]) for r in second] == [("upsert", 3), ("delete", 5)]


def test_a_row_committed_late_with_an_older_cursor_value_is_picked_up_once(case_db):
    admin, url, base = case_db
    create_cases(admin, 3)  # stamped 09:00
    options = {"cursor": "updated_at", "state_dir": "state", "overlap_minutes": 10}
    sent, checkpoint = run(source_for(url, base, **options))
    assert [r.data["case_id"] for r in sent] == [1, 2, 3]

    # A long transaction stamps case 4 at 09:01 but commits only after case 5 (09:03) was
    # committed and read. On PostgreSQL it really is open meanwhile; SQLite allows one
    # writer at a time, so there the late row is written after the read, as the reader sees it.
    concurrent = admin.dialect.name == "postgresql"
    with admin.connect() as late:
        transaction = late.begin()
        if concurrent:
            insert_cases(late, [4], BASE_TIME + timedelta(minutes=1))
        with admin.begin() as conn:
            insert_cases(conn, [5], BASE_TIME + timedelta(minutes=3))
        second, checkpoint = run(source_for(url, base, **options), checkpoint)
        assert [r.data["case_id"] for r in second] == [5]
        if not concurrent:
            insert_cases(late, [4], BASE_TIME + timedelta(minutes=1))
        transaction.commit()
    without_overlap = source_for(url, base, cursor="updated_at")
    assert run(without_overlap, checkpoint)[0] == []  # what the cursor alone misses

    third, checkpoint = run(source_for(url, base, **options), checkpoint)
    assert [r.data["case_id"] for r in third] == [4]  # the window re-read 1-5; only 4 was new
    with admin.begin() as conn:  # a row changed in the window without its stamp moving is sent again
        conn.execute(sa.text("UPDATE cases SET status = 'closed' WHERE case_id = 5"))
    fourth, checkpoint = run(source_for(url, base, **options), checkpoint)
    assert [(r.data["case_id"], r.data["status"]) for r in fourth] == [(5, "closed")]
    assert run(source_for(url, base, **options), checkpoint)[0] == []
    versions = [(r.identity, r.version) for r in sent + second + third + fourth]
    assert len(versions) == len(set(versions))  # nothing sent twice


def test_overlap_needs_a_timestamp_cursor_and_state(case_db):
    admin, url, base = case_db
    create_cases(admin, 2)
    with pytest.raises(ConnectorError, match="overlap_minutes.*needs 'cursor'"):
        source_for(url, base, overlap_minutes=5, state_dir="state")
    with pytest.raises(ConnectorError, match="overlap_minutes.*'state_dir'"):
        source_for(url, base, overlap_minutes=5, cursor="updated_at")
    by_id = source_for(url, base, overlap_minutes=5, cursor="case_id", state_dir="state")
    _, checkpoint = run(by_id)
    with pytest.raises(ConnectorError, match="needs a date or timestamp cursor, but 'case_id' of 'cases' holds 2"):
        run(by_id, checkpoint)


def test_a_query_as_source(case_db):
    admin, url, base = case_db
    create_cases(admin, 4)
    with admin.begin() as conn:
        conn.execute(sa.text("UPDATE cases SET status = 'closed' WHERE case_id = 2"))
    source = connectors.load_source("sql", {
        "url": url, "key": "case_id", "cursor": "updated_at",
        "query": "SELECT case_id, client_ref, updated_at FROM cases WHERE status = 'open'",
    }, base)
    assert source.columns() == ["case_id", "client_ref", "updated_at"]
    rows, _ = run(source)
    assert [r.data["case_id"] for r in rows] == [1, 3, 4]


def test_the_source_cannot_write(case_db):
    admin, url, base = case_db
    create_cases(admin, 1)
    source = source_for(url, base)
    with source.connect() as conn, pytest.raises(sa.exc.DBAPIError, match="(?i)read.?only"):
        conn.execute(sa.text("DELETE FROM cases"))
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cases")).scalar() == 1


def test_missing_table_and_missing_column_are_named(case_db):
    admin, url, base = case_db
    create_cases(admin, 1)
    with pytest.raises(ConnectorError, match=r"table 'case' not found .*\(tables: cases\)"):
        connectors.load_source("sql", {"url": url, "table": "case", "key": "case_id"}, base).check()
    with pytest.raises(ConnectorError, match=r"column 'modified' not found in 'cases' .*columns: case_id, client_ref"):
        source_for(url, base, cursor="modified").check()


def test_missing_sqlite_file_is_named(tmp_path):
    with pytest.raises(ConnectorError, match="cannot reach the database"):
        connectors.load_source("sql", {"url": "sqlite:///absent.db", "table": "t", "key": "id"}, tmp_path).check()


@pytest.mark.postgres
def test_wrong_password_is_named_and_the_password_never_shown(postgres_server, monkeypatch, tmp_path):
    enable_password_login(postgres_server, "caselink_reader", "right-password")
    monkeypatch.setenv("CASELINK_PASSWORD", "wrong-password")
    url = f"postgresql+psycopg://caselink_reader@127.0.0.1:{postgres_server.port}/postgres"
    source = connectors.load_source("sql", {"url": url, "password_env": "CASELINK_PASSWORD", "table": "t", "key": "id"}, tmp_path)
    with pytest.raises(ConnectorError) as caught:
        source.check()
    message = str(caught.value)
    assert "cannot log in" in message and "password is wrong" in message
    assert "wrong-password" not in message and "right-password" not in message
    # the right password gets further: to a missing table
    monkeypatch.setenv("CASELINK_PASSWORD", "right-password")
    source = connectors.load_source("sql", {"url": url, "password_env": "CASELINK_PASSWORD", "table": "t", "key": "id"}, tmp_path)
    with pytest.raises(ConnectorError, match="table 't' not found"):
        source.check()


def test_unreachable_server_is_named(tmp_path):
    from support.servers import free_port

    url = f"postgresql+psycopg://reader@127.0.0.1:{free_port()}/cases"
    with pytest.raises(ConnectorError, match=r"cannot reach the database at postgresql\+psycopg://reader@127.0.0.1"):
        connectors.load_source("sql", {"url": url, "table": "cases", "key": "id", "connect_timeout": 2}, tmp_path).check()


def test_password_environment_variable_must_be_set(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(ConnectorError, match="'NOT_SET_ANYWHERE', which is not set"):
        connectors.load_source("sql", {"url": "sqlite:///x.db", "table": "t", "key": "id", "password_env": "NOT_SET_ANYWHERE"}, tmp_path)


def enable_password_login(server, user, password):
    """The test cluster trusts everyone; make one user log in with a password, as production would."""
    hba = os.path.join(server.datadir, "pg_hba.conf")
    with open(hba) as handle:
        rules = handle.read()
    rule = f"host all {user} 127.0.0.1/32 scram-sha-256\n"
    if rule not in rules:
        with open(hba, "w") as handle:
            handle.write(rule + rules)  # the first matching line wins
    with server.connect(autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (user,)).fetchone()
        if not exists:
            conn.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        conn.execute("SELECT pg_reload_conf()")


# ---------------------------------------------------------------- sink


def event(sequence, key, data=None, delete=False):
    return {
        "specversion": "1.0", "id": f"e{sequence}", "source": "https://hub.example/api/v1",
        "type": "uk.causeway.record.delete" if delete else "uk.causeway.record.upsert",
        "subject": key, "time": "2024-03-01T10:00:00Z", "dataset": "referral", "schemaversion": 3,
        "sequence": f"{sequence:020d}", "data": None if delete else data,  # sequence as the hub sends it
    }


def table_rows(admin, name):
    with admin.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(f"SELECT * FROM {name} ORDER BY record_key"))]


def test_sink_upserts_and_deletes_by_key_creating_the_table(case_db):
    admin, url, base = case_db
    sink = connectors.load_sink("sql", {"url": url, "table": "referrals_in"}, base)
    assert "will be created" in sink.check()
    batch = [
        event(1, "R1", {"name": "Ann", "age": 34, "urgent": True}),
        event(2, "R2", {"name": "Bob", "age": 51, "urgent": False}),
        event(3, "R1", {"name": "Ann B", "age": 34, "urgent": True}),  # a later change to R1 in the same batch
    ]
    sink.write(batch)
    sink.write(batch)  # re-delivered: nothing changes
    rows = table_rows(admin, "referrals_in")
    assert [(r["record_key"], r["name"], r["age"], r["urgent"], r["causeway_sequence"]) for r in rows] == [
        ("R1", "Ann B", "34", "true", 3), ("R2", "Bob", "51", "false", 2)]
    # a new field adds a column; a delete removes the row
    sink.write([event(4, "R3", {"name": "Cat", "age": 20, "urgent": False, "area": {"code": "S12"}}), event(5, "R2", delete=True)])
    rows = table_rows(admin, "referrals_in")
    assert [(r["record_key"], r["area"]) for r in rows] == [("R1", None), ("R3", '{"code": "S12"}')]
    assert "exists" in sink.check()
