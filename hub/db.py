"""Engine creation and the write transaction every appender uses.

The record log and the audit chain are append-only sequences: each append reads
the current tail (max seq, last hash) and writes after it. Two concurrent
appenders must therefore not interleave. On SQLite every transaction that
writes starts with BEGIN IMMEDIATE (the database write lock); on PostgreSQL a
transaction-scoped advisory lock serialises appenders, so a sequence number
is never committed after a larger one and a feed cursor never skips a record.

Within one process, SQLite writers also queue on a lock of their own before
BEGIN IMMEDIATE: a writer blocked inside SQLite waits in its busy handler,
which sleeps in steps of up to 100 ms and so leaves the database idle after the
lock is released; a thread waiting on a Python lock is woken at once.
"""
from __future__ import annotations

import logging
import threading
import weakref
from contextlib import contextmanager, nullcontext
from datetime import datetime, timezone

from sqlalchemy import BigInteger, Integer, MetaData, create_engine, event, text
from sqlalchemy.engine import Connection, Engine

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# 64-bit on PostgreSQL; SQLite's INTEGER is already 64-bit.
BigInt = BigInteger().with_variant(Integer(), "sqlite")

log = logging.getLogger("causeway.hub.db")

_APPEND_LOCK_ID = 0x43415553  # "CAUS"
_sqlite_writers: weakref.WeakKeyDictionary[Engine, threading.RLock] = weakref.WeakKeyDictionary()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


SQLITE_CACHE_KIB = 64 * 1024  # per connection, filled only as pages are read
# WAL pages written before a commit copies them back into the database (SQLite's default is
# 1,000: 4 MB). A batch of a thousand records dirties about a thousand pages of the log's
# random-order (id, publisher) index, so at the default nearly every commit also ran a
# checkpoint, with its writes and syncs; at 64 MB one in about sixteen does. A serving hub
# copies the WAL back from a thread of its own (WalCheckpointer) long before that.
SQLITE_WAL_AUTOCHECKPOINT_PAGES = 16_000


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_connection, _record):
            # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own
            # transaction handling cannot do BEGIN IMMEDIATE).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # The record log's unique (id, publisher) index takes records in random order, so a
            # batch touches pages all over it; at SQLite's 2 MB default the cache held too little
            # of it once the log passed a million records, and each batch re-read its pages.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT_PAGES}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection):
            immediate = conn.get_execution_options().get("causeway_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        _sqlite_writers[engine] = threading.RLock()
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


def checkpoint(engine: Engine) -> None:
    """Copy what a SQLite database's WAL holds back into the database file, as far as no reader
    still needs it (PASSIVE: it waits for no reader or writer, and none waits for it)."""
    raw = engine.raw_connection()
    try:
        raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    finally:
        raw.close()


class WalCheckpointer:
    """Checkpoints a SQLite database every `interval` seconds from a thread of its own. Otherwise
    the commit that crosses SQLITE_WAL_AUTOCHECKPOINT_PAGES copies the whole WAL back (64 MB:
    some 300 ms on two cores) while its writer holds the write lock, and every other writer and
    every delivery waits behind it. The autocheckpoint stays, for processes that run no
    checkpointer (the CLI's) and as a bound should this thread fall behind."""

    def __init__(self, engine: Engine, interval: float = 1.0):
        self.engine = engine
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> WalCheckpointer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self.interval):
            try:
                checkpoint(self.engine)
            except Exception:  # the thread must outlive a bad moment (disk full, file locked, ...)
                if not failing:  # once per spell of failures, not once a second
                    log.exception("checkpointing the database failed; commits will checkpoint it themselves")
                failing = True
            else:
                if failing:
                    log.warning("checkpointing the database works again")
                failing = False


@contextmanager
def write_transaction(engine: Engine):
    """A transaction that may append to the record log or the audit chain."""
    with _sqlite_writers.get(engine) or nullcontext(), engine.connect() as conn:
        conn = conn.execution_options(causeway_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _APPEND_LOCK_ID})
            yield conn


@contextmanager
def read_transaction(engine: Engine):
    with engine.connect() as conn:
        with conn.begin():
            yield conn
