"""A serving hub on SQLite copies its WAL back into the database from a thread of its own, so no
commit has to (a commit that did held the write lock while it copied up to 64 MB)."""
from sqlalchemy import text

from hub import db
from support.waiting import wait_until


def fill(engine, rows: int) -> None:
    with db.write_transaction(engine) as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS filler (n INTEGER PRIMARY KEY, body TEXT)"))
        conn.execute(text("INSERT INTO filler (body) VALUES (:body)"), [{"body": "x" * 500} for _ in range(rows)])


def test_the_checkpointer_copies_the_wal_into_the_database_file(tmp_path):
    path = tmp_path / "hub.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        fill(engine, 4000)  # some 2 MB: far below the autocheckpoint, so no commit copies it back
        written = path.stat().st_size
        assert (tmp_path / "hub.db-wal").stat().st_size > 1_000_000 > written
        checkpointer = db.WalCheckpointer(engine, interval=0.05).start()
        try:
            wait_until(lambda: path.stat().st_size > 1_000_000, timeout=10, interval=0.05,
                       message="the checkpointer to copy the WAL back")
        finally:
            checkpointer.stop()
        assert path.stat().st_size > 1_000_000, "the checkpointer copied nothing back"
        assert not checkpointer._thread.is_alive()
        with engine.connect() as conn:  # and the rows are all there
            assert conn.execute(text("SELECT count(*) FROM filler")).scalar() == 4000
    finally:
        engine.dispose()


def test_a_failing_checkpoint_is_logged_once_and_the_thread_goes_on(tmp_path, caplog, monkeypatch):
    path = tmp_path / "hub.db"
    engine = db.make_engine(f"sqlite:///{path}")
    fill(engine, 10)
    checkpointer = db.WalCheckpointer(engine, interval=0.02)
    real = db.checkpoint
    calls = []

    def failing(engine):
        calls.append(1)
        if len(calls) <= 5:
            raise OSError("disk I/O error")
        real(engine)

    monkeypatch.setattr(db, "checkpoint", failing)
    try:
        checkpointer.start()
        wait_until(lambda: len(calls) >= 8, timeout=10, interval=0.02, message="eight checkpoint attempts")
    finally:
        checkpointer.stop()
        engine.dispose()
    assert len(calls) >= 8
    failures = [r for r in caplog.records if "checkpointing the database failed" in r.getMessage()]
    assert len(failures) == 1
    assert any("works again" in r.getMessage() for r in caplog.records)
