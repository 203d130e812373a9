"""The local outbox: a SQLite database (WAL) in the state directory.

It holds records waiting for the hub, rejected rows with where they came from,
each publish task's source checkpoint, each subscribe task's cursor, and task
counters. A bad row is kept once per task, source row and content: reading it
again (a re-read file, a rescanned table) adds one to its count and moves its
last-seen time instead of keeping another copy. A chunk's good records, its rejects and its new checkpoint are
written in ONE transaction, so after a crash the agent re-reads exactly the
rows whose records are not in the outbox. Records leave the outbox only when
the hub has answered for them.
"""
from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

import orjson

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL,
    record_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,            -- the record envelope, canonical JSON
    key TEXT,                      -- the envelope's key: batches in flight at once never share one
    location TEXT NOT NULL,        -- where the row came from, JSON
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS rejects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL,
    stage TEXT NOT NULL,           -- 'source', 'mapping', 'validation' (on the agent) or 'hub'
    location TEXT NOT NULL,        -- JSON: file/sheet/row, file/line, table/primary_key
    errors TEXT NOT NULL,          -- JSON list of {path, message}
    data TEXT,                     -- the row as read, JSON, to help a person fix it
    record_id TEXT,
    created_at REAL NOT NULL,      -- first seen
    fingerprint TEXT,              -- digest of where the row came from and what it held
    count INTEGER NOT NULL DEFAULT 1,
    last_seen_at REAL
);
CREATE INDEX IF NOT EXISTS ix_rejects_task ON rejects (task, id);
CREATE TABLE IF NOT EXISTS checkpoints (
    task TEXT PRIMARY KEY,
    checkpoint TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
    task TEXT PRIMARY KEY,
    after INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
-- The pseudonymous subject last published under each key of a personal dataset, so a
-- delete found by key comparison (which sees only the key) can still name its subject.
CREATE TABLE IF NOT EXISTS subjects (
    task TEXT NOT NULL,
    key TEXT NOT NULL,
    subject TEXT NOT NULL,
    PRIMARY KEY (task, key)
);
CREATE TABLE IF NOT EXISTS task_stats (
    task TEXT PRIMARY KEY,
    last_run_started REAL,
    last_run_finished REAL,
    status TEXT,
    last_error TEXT,
    rows_read INTEGER NOT NULL DEFAULT 0,
    published INTEGER NOT NULL DEFAULT 0,
    rejected INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0
);
"""


# WAL pages written before a commit copies them back (SQLite's default is 1,000: 4 MB). Each
# chunk and each settled batch dirties pages all over the random-order record_id index, so at
# the default most commits also ran a checkpoint; at 64 MB one in many does.
WAL_AUTOCHECKPOINT_PAGES = 16_000


class PendingRecord(NamedTuple):
    """A record waiting in the outbox (a tuple: made a thousand at a time for each batch taken)."""
    seq: int
    task: str
    record_id: str
    body: str
    location_json: str  # parsed only when needed (a reject), to keep sending cheap
    stored_key: str | None = None

    @property
    def location(self) -> dict:
        return json.loads(self.location_json)

    @property
    def key(self) -> str | None:
        """The record's key (read from the body for rows queued before keys were stored)."""
        if self.stored_key is not None:
            return self.stored_key
        key = json.loads(self.body).get("key")
        return None if key is None else str(key)


class NewRecord(NamedTuple):
    """A record for the outbox (a tuple: made once per row read)."""
    record_id: str
    body: str  # canonical JSON of the envelope
    location: dict
    key: str | None = None


@dataclass(frozen=True)
class Reject:
    stage: str
    location: dict
    errors: list  # [{path, message}]
    data: dict | None = None
    record_id: str | None = None


def _json(value) -> str:
    try:  # once per record queued (its location): orjson, several times faster
        return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")
    except (orjson.JSONEncodeError, TypeError):  # e.g. an integer beyond 64 bits
        return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def _runs(numbers: list[int]) -> list[tuple[int, int]]:
    """Sorted distinct integers as (first, last) runs of consecutive ones: a settled batch is
    usually one run, deleted in one statement. Only the numbers given lie inside the runs."""
    runs: list[tuple[int, int]] = []
    for number in numbers:
        if runs and number == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], number)
        else:
            runs.append((number, number))
    return runs


class Outbox:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._local = threading.local()
        # Writers in this process queue here rather than in SQLite's busy handler, which
        # sleeps in steps of up to 100 ms while the reader and the senders' settles contend.
        self._write_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn().executescript(SCHEMA)  # each statement is idempotent; executescript manages its own commit
        self._upgrade()

    def _upgrade(self) -> None:
        """An outbox made before rejects were kept once: add the columns; old rows stay as they are."""
        conn = self._conn()
        columns = {row[1] for row in conn.execute("PRAGMA table_info(rejects)")}
        with self._write():
            for name, kind in (("fingerprint", "TEXT"), ("count", "INTEGER NOT NULL DEFAULT 1"), ("last_seen_at", "REAL")):
                if name not in columns:
                    conn.execute(f"ALTER TABLE rejects ADD COLUMN {name} {kind}")
            if "key" not in {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}:
                conn.execute("ALTER TABLE outbox ADD COLUMN key TEXT")  # older rows: read from the body
            conn.execute("UPDATE rejects SET fingerprint = 'kept-before-fingerprints:' || id, "
                         "last_seen_at = created_at WHERE fingerprint IS NULL")
            conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS uq_rejects_row ON rejects (task, fingerprint)")

    # -- connections: one per thread ----------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit the agent has acted on (moved a file, told the hub) survives power loss.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            self._local.conn = conn
        return conn

    class _Transaction:
        def __init__(self, conn, lock, durable: bool):
            self.conn = conn
            self.lock = lock
            self.durable = durable

        def __enter__(self):
            self.lock.acquire()
            try:
                if not self.durable:
                    self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.lock.release()
                raise
            return self.conn

        def __exit__(self, exc_type, *_):
            try:
                self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
                if not self.durable:
                    self.conn.execute("PRAGMA synchronous=FULL")
            finally:
                self.lock.release()
            return False

    def _write(self, durable: bool = True):
        """A write transaction. durable=False: the commit is not synced to disk by itself (the
        next durable commit syncs it too), for writes that are harmless to lose."""
        return self._Transaction(self._conn(), self._write_lock, durable)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- publish side -------------------------------------------------------
    def commit_chunk(self, task: str, records: Iterable[NewRecord], rejects: Iterable[Reject],
                     checkpoint: dict | None, rows_read: int, subjects: Iterable[tuple[str, str]] = ()) -> int:
        """Records, rejects and the new checkpoint in one transaction; returns records added.

        A record already in the outbox (same id: a re-read after a crash) is not added twice."""
        now = time.time()
        rejects = list(rejects)
        with self._write() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO outbox (task, record_id, body, key, location, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                ((task, r.record_id, r.body, r.key, _json(r.location), now) for r in records))
            added = conn.total_changes - before
            self._insert_rejects(conn, task, rejects, now)
            conn.executemany("INSERT OR REPLACE INTO subjects (task, key, subject) VALUES (?, ?, ?)",
                             ((task, key, subject) for key, subject in subjects))
            if checkpoint is not None:
                conn.execute("INSERT INTO checkpoints (task, checkpoint, updated_at) VALUES (?, ?, ?) "
                             "ON CONFLICT (task) DO UPDATE SET checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
                             (task, _json(checkpoint), now))
            self._bump(conn, task, rows_read=rows_read, rejected=len(rejects))
        return added

    @staticmethod
    def _insert_rejects(conn, task: str, rejects: list[Reject], now: float) -> None:
        """Keep each bad row once: the same row with the same content seen again is counted, and
        its latest stage and errors replace the old ones (a changed mapping may say it better)."""
        rows = []
        for r in rejects:
            location, data = _json(r.location), _json(r.data) if r.data is not None else None
            fingerprint = hashlib.sha256(f"{location}\n{data}".encode("utf-8")).hexdigest()
            rows.append((task, r.stage, location, _json(r.errors), data, r.record_id, now, fingerprint, now))
        conn.executemany(
            "INSERT INTO rejects (task, stage, location, errors, data, record_id, created_at, fingerprint, last_seen_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task, fingerprint) DO UPDATE SET count = count + 1, "
            "last_seen_at = excluded.last_seen_at, stage = excluded.stage, errors = excluded.errors, "
            "record_id = COALESCE(excluded.record_id, record_id)", rows)

    @staticmethod
    def _bump(conn, task: str, **increments) -> None:
        conn.execute("INSERT OR IGNORE INTO task_stats (task) VALUES (?)", (task,))
        sets = ", ".join(f"{name} = {name} + ?" for name in increments)
        conn.execute(f"UPDATE task_stats SET {sets} WHERE task = ?", (*increments.values(), task))

    def checkpoint(self, task: str) -> dict | None:
        row = self._conn().execute("SELECT checkpoint FROM checkpoints WHERE task = ?", (task,)).fetchone()
        return json.loads(row[0]) if row else None

    def subject(self, task: str, key: str) -> str | None:
        row = self._conn().execute("SELECT subject FROM subjects WHERE task = ? AND key = ?", (task, key)).fetchone()
        return row[0] if row else None

    def reset_checkpoint(self, task: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM checkpoints WHERE task = ?", (task,))

    # -- sender side --------------------------------------------------------
    def take(self, limit: int, max_bytes: int | None = None, after: int = 0) -> list[PendingRecord]:
        """The oldest records waiting after queue position `after` (past the batches already
        in flight), up to `limit` records and about `max_bytes` of bodies."""
        rows = self._conn().execute(
            "SELECT seq, task, record_id, body, location, key FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, limit)).fetchall()
        taken, size = list(map(PendingRecord._make, rows)), 0
        if max_bytes:
            for count, record in enumerate(taken):
                size += len(record.body) + 1
                if count and size > max_bytes:
                    return taken[:count]
        return taken

    def settle(self, delivered: list[PendingRecord], rejected: list[tuple[PendingRecord, list]]) -> None:
        """After the hub's answer: remove what it holds; move what it refused to rejects.

        Not synced by itself: lost in a power cut, the records are sent again and the hub
        answers `duplicate` (or rejects them again), so nothing is lost or held twice."""
        now = time.time()
        with self._write(durable=False) as conn:
            conn.executemany("DELETE FROM outbox WHERE seq BETWEEN ? AND ?",
                             _runs(sorted([r.seq for r in delivered] + [r.seq for r, _ in rejected])))
            published = Counter(map(attrgetter("task"), delivered))  # counted at C speed: a batch is 1,000
            refused: Counter[str] = Counter()
            for record, errors in rejected:
                refused[record.task] += 1
                self._insert_rejects(conn, record.task, [Reject(
                    "hub", record.location, errors, data=json.loads(record.body).get("payload"),
                    record_id=record.record_id)], now)
            for task in published.keys() | refused.keys():
                self._bump(conn, task, published=published[task], rejected=refused[task])

    def span(self) -> int:
        """At least the number of records waiting (queue positions from the oldest to the newest),
        read from the ends of the primary key instead of counting every row."""
        # Two subqueries: SQLite answers a lone MIN or MAX from the index, but scans for both at once.
        low, high = self._conn().execute("SELECT (SELECT MIN(seq) FROM outbox), (SELECT MAX(seq) FROM outbox)").fetchone()
        return 0 if low is None else high - low + 1

    def depth(self, task: str | None = None) -> int:
        if task is None:
            return self._conn().execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        return self._conn().execute("SELECT COUNT(*) FROM outbox WHERE task = ?", (task,)).fetchone()[0]

    def depths(self) -> dict[str, int]:
        return dict(self._conn().execute("SELECT task, COUNT(*) FROM outbox GROUP BY task").fetchall())

    # -- rejects ------------------------------------------------------------
    def rejects(self, task: str | None = None, limit: int | None = 100) -> list[dict]:
        """Rejects in the order first seen; `created_at` is when first seen, `count` how many times."""
        query = "SELECT id, task, stage, location, errors, data, record_id, created_at, count, last_seen_at FROM rejects"
        params: tuple = ()
        if task is not None:
            query += " WHERE task = ?"
            params = (task,)
        rows = self._conn().execute(query + " ORDER BY id LIMIT ?", (*params, -1 if limit is None else limit)).fetchall()
        return [{"id": r[0], "task": r[1], "stage": r[2], "location": json.loads(r[3]), "errors": json.loads(r[4]),
                 "data": json.loads(r[5]) if r[5] else None, "record_id": r[6], "created_at": r[7], "count": r[8],
                 "last_seen_at": r[9]} for r in rows]

    def clear_rejects(self, task: str | None = None, ids: list[int] | None = None) -> int:
        """Forget rejects (of one task, or these ids, or all); returns how many went."""
        query, params = "DELETE FROM rejects WHERE 1 = 1", []
        if task is not None:
            query += " AND task = ?"
            params.append(task)
        if ids:
            query += f" AND id IN ({', '.join('?' for _ in ids)})"
            params += ids
        with self._write() as conn:
            return conn.execute(query, params).rowcount

    def reject_count(self, task: str | None = None) -> int:
        if task is None:
            return self._conn().execute("SELECT COUNT(*) FROM rejects").fetchone()[0]
        return self._conn().execute("SELECT COUNT(*) FROM rejects WHERE task = ?", (task,)).fetchone()[0]

    # -- subscribe side -----------------------------------------------------
    def cursor(self, task: str) -> int | None:
        """A subscribe task's position in its feed; None before its first page."""
        row = self._conn().execute("SELECT after FROM cursors WHERE task = ?", (task,)).fetchone()
        return row[0] if row else None

    def advance_cursor(self, task: str, after: int, delivered: int) -> None:
        with self._write() as conn:
            conn.execute("INSERT INTO cursors (task, after, updated_at) VALUES (?, ?, ?) "
                         "ON CONFLICT (task) DO UPDATE SET after = excluded.after, updated_at = excluded.updated_at",
                         (task, after, time.time()))
            self._bump(conn, task, delivered=delivered)

    # -- task runs ------------------------------------------------------------
    def run_started(self, task: str) -> None:
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO task_stats (task) VALUES (?)", (task,))
            conn.execute("UPDATE task_stats SET last_run_started = ?, status = 'running' WHERE task = ?",
                         (time.time(), task))

    def run_finished(self, task: str, status: str, error: str | None = None) -> None:
        with self._write() as conn:
            conn.execute("INSERT OR IGNORE INTO task_stats (task) VALUES (?)", (task,))
            conn.execute("UPDATE task_stats SET last_run_finished = ?, status = ?, "
                         "last_error = COALESCE(?, CASE WHEN ? = 'ok' THEN NULL ELSE last_error END) WHERE task = ?",
                         (time.time(), status, error, status, task))

    def task_stats(self) -> dict[str, dict]:
        rows = self._conn().execute(
            "SELECT task, last_run_started, last_run_finished, status, last_error, rows_read, published, rejected, delivered "
            "FROM task_stats ORDER BY task").fetchall()
        depths = self.depths()
        return {r[0]: {"last_run_started": r[1], "last_run_finished": r[2], "status": r[3], "last_error": r[4],
                       "rows_read": r[5], "published": r[6], "rejected": r[7], "delivered": r[8],
                       "outbox_depth": depths.get(r[0], 0)} for r in rows}
