"""The outbox: records, rejects and checkpoint move together; records leave only when settled."""
import json
import sqlite3

import pytest

from agents.outbox import NewRecord, Outbox, Reject


def record(n, task="t"):
    return NewRecord(f"id-{n}", json.dumps({"id": f"id-{n}", "payload": {"n": n}}), {"file": "a.csv", "row": n + 1})


@pytest.fixture
def outbox(tmp_path):
    box = Outbox(tmp_path / "outbox.sqlite")
    yield box
    box.close()


def test_a_chunk_commits_records_rejects_and_checkpoint_together(outbox):
    reject = Reject("validation", {"file": "a.csv", "row": 3}, [{"path": "/payload/uprn", "message": "bad"}], {"UPRN": "x"})
    added = outbox.commit_chunk("t", [record(1), record(2)], [reject], {"offset": 3}, rows_read=3)
    assert added == 2
    assert outbox.depth() == 2
    assert outbox.checkpoint("t") == {"offset": 3}
    kept = outbox.rejects()
    assert [(r["location"], r["errors"][0]["path"], r["data"]) for r in kept] == [
        ({"file": "a.csv", "row": 3}, "/payload/uprn", {"UPRN": "x"})]
    assert outbox.task_stats()["t"]["rows_read"] == 3


def test_a_failed_chunk_leaves_nothing_behind(outbox, monkeypatch):
    outbox.commit_chunk("t", [record(1)], [], {"offset": 1}, rows_read=1)
    broken = Reject("validation", {"row": 2}, [{"path": "", "message": object()}])  # not JSON-serialisable... as text
    monkeypatch.setattr("agents.outbox._json", lambda value: (_ for _ in ()).throw(RuntimeError("disk full")))
    with pytest.raises(RuntimeError):
        outbox.commit_chunk("t", [record(2)], [broken], {"offset": 2}, rows_read=1)
    monkeypatch.undo()
    assert outbox.depth() == 1
    assert outbox.checkpoint("t") == {"offset": 1}


def test_a_reread_record_is_not_queued_twice(outbox):
    outbox.commit_chunk("t", [record(1), record(2)], [], {"offset": 2}, rows_read=2)
    assert outbox.commit_chunk("t", [record(2), record(3)], [], {"offset": 3}, rows_read=2) == 1
    assert [p.record_id for p in outbox.take(10)] == ["id-1", "id-2", "id-3"]


def test_settling_deletes_delivered_and_moves_hub_rejects_with_their_source(outbox):
    outbox.commit_chunk("t", [record(1), record(2), record(3)], [], None, rows_read=3)
    first, second, third = outbox.take(10)
    outbox.settle([first, third], [(second, [{"path": "/payload/n", "message": "too big"}])])
    assert outbox.depth() == 0
    (kept,) = outbox.rejects()
    assert (kept["stage"], kept["location"], kept["record_id"]) == ("hub", {"file": "a.csv", "row": 3}, "id-2")
    stats = outbox.task_stats()["t"]
    assert (stats["published"], stats["rejected"]) == (2, 1)


def test_take_respects_a_byte_budget_but_always_takes_one(outbox):
    outbox.commit_chunk("t", [record(n) for n in range(10)], [], None, rows_read=10)
    one_size = len(record(0).body) + 1
    assert len(outbox.take(10, max_bytes=one_size * 3)) == 3
    assert len(outbox.take(10, max_bytes=1)) == 1


def test_the_outbox_survives_reopening(tmp_path):
    box = Outbox(tmp_path / "o.sqlite")
    box.commit_chunk("t", [record(1)], [], {"offset": 1}, rows_read=1)
    box.close()
    again = Outbox(tmp_path / "o.sqlite")
    assert again.depth() == 1 and again.checkpoint("t") == {"offset": 1}
    assert sqlite3.connect(tmp_path / "o.sqlite").execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_subscribe_cursor_moves_forward(outbox):
    assert outbox.cursor("s") is None
    outbox.advance_cursor("s", 42, delivered=5)
    assert outbox.cursor("s") == 42
    assert outbox.task_stats()["s"]["delivered"] == 5


def bad_row(row=3, value="x", message="bad"):
    return Reject("validation", {"file": "a.csv", "row": row}, [{"path": "/payload/uprn", "message": message}],
                  {"UPRN": value})


def test_a_bad_row_read_again_is_counted_not_kept_twice(outbox):
    outbox.commit_chunk("t", [], [bad_row(), bad_row(row=4)], None, rows_read=2)
    outbox.commit_chunk("t", [], [bad_row(message="bad, said better")], None, rows_read=1)
    outbox.commit_chunk("other-task", [], [bad_row()], None, rows_read=1)  # another task's row is another reject
    kept = {(r["task"], r["location"]["row"]): r for r in outbox.rejects()}
    assert {k: r["count"] for k, r in kept.items()} == {("t", 3): 2, ("t", 4): 1, ("other-task", 3): 1}
    assert kept["t", 3]["errors"][0]["message"] == "bad, said better"  # the latest errors
    assert kept["t", 3]["last_seen_at"] >= kept["t", 3]["created_at"]
    assert outbox.reject_count("t") == 2
    assert outbox.task_stats()["t"]["rejected"] == 3  # every time a row was refused still counts


def test_the_same_row_with_other_content_is_another_reject(outbox):
    outbox.commit_chunk("t", [], [bad_row(value="x")], None, rows_read=1)
    outbox.commit_chunk("t", [], [bad_row(value="y")], None, rows_read=1)
    assert [(r["data"], r["count"]) for r in outbox.rejects()] == [({"UPRN": "x"}, 1), ({"UPRN": "y"}, 1)]


def test_a_record_the_hub_refuses_again_is_counted_once(outbox):
    for _ in range(2):
        outbox.commit_chunk("t", [record(1)], [], None, rows_read=1)
        (pending,) = outbox.take(10)
        outbox.settle([], [(pending, [{"path": "/payload/n", "message": "too big"}])])
    (kept,) = outbox.rejects()
    assert (kept["stage"], kept["count"], kept["record_id"]) == ("hub", 2, "id-1")


def test_clearing_rejects_by_task_and_by_id(outbox):
    outbox.commit_chunk("t", [], [bad_row(3), bad_row(4), bad_row(5)], None, rows_read=3)
    outbox.commit_chunk("u", [], [bad_row(3)], None, rows_read=1)
    first = outbox.rejects("t")[0]["id"]
    assert outbox.clear_rejects(ids=[first]) == 1
    assert outbox.clear_rejects(task="t") == 2
    assert [r["task"] for r in outbox.rejects()] == ["u"]
    assert outbox.clear_rejects() == 1


def test_an_outbox_from_before_rejects_were_kept_once_is_upgraded_in_place(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE rejects (id INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL, stage TEXT NOT NULL,
            location TEXT NOT NULL, errors TEXT NOT NULL, data TEXT, record_id TEXT, created_at REAL NOT NULL);
        INSERT INTO rejects (task, stage, location, errors, data, created_at) VALUES
            ('t', 'validation', '{"file":"a.csv","row":3}', '[{"path":"/payload/uprn","message":"bad"}]', '{"UPRN":"x"}', 1.0),
            ('t', 'validation', '{"file":"a.csv","row":3}', '[{"path":"/payload/uprn","message":"bad"}]', '{"UPRN":"x"}', 2.0);
    """)
    conn.close()
    box = Outbox(path)
    assert [(r["count"], r["last_seen_at"]) for r in box.rejects()] == [(1, 1.0), (1, 2.0)]  # old copies stay
    box.commit_chunk("t", [], [bad_row()], None, rows_read=1)
    box.commit_chunk("t", [], [bad_row()], None, rows_read=1)
    assert [r["count"] for r in box.rejects()] == [1, 1, 2]
    box.close()
    assert [r["count"] for r in Outbox(path).rejects()] == [1, 1, 2]  # and opening it again changes nothing


def test_records_queued_before_keys_were_stored_still_tell_the_sender_their_key(tmp_path):
    path = tmp_path / "old.sqlite"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, task TEXT NOT NULL, record_id TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL, location TEXT NOT NULL, created_at REAL NOT NULL);
        INSERT INTO outbox (task, record_id, body, location, created_at) VALUES
            ('t', 'r1', '{"id":"r1","key":"906000001","op":"upsert"}', '{"line":2}', 1.0);
    """)
    conn.close()
    box = Outbox(path)
    box.commit_chunk("t", [NewRecord("r2", '{"id":"r2","key":"906000002"}', {"line": 3}, "906000002")], [], None,
                     rows_read=1)
    assert [(r.record_id, r.key) for r in box.take(10)] == [("r1", "906000001"), ("r2", "906000002")]
    assert [r.record_id for r in box.take(10, after=box.take(1)[0].seq)] == ["r2"]
    box.close()
