"""Appending a batch to the record log: the hot path of publishing, written against the
driver with statements of a fixed text (no per-batch SQL compilation, one parameter for
the duplicate lookup) and, on PostgreSQL, COPY for the rows themselves.

Every function here runs inside `hub.db.write_transaction`, which serialises appenders:
the duplicate lookup, the tail read and the insert see no other appender in between, so
seqs are gap-free and committed in order (a feed cursor never skips a record).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import orjson
from sqlalchemy.engine import Connection

from .models import records

# The order of the values in a log row, as RecordService.publish builds them.
LOG_COLUMNS = ("seq", "id", "dataset", "schema_version", "key", "op", "subject", "publisher", "occurred_at",
               "received_at", "batch_id", "digest", "payload", "purged_at")
if LOG_COLUMNS != tuple(c.name for c in records.columns):  # a column added to the table must be added here
    raise RuntimeError("hub.records.log.LOG_COLUMNS differs from the records table's columns")
_COLUMN_LIST = ", ".join(LOG_COLUMNS)

# (publisher, id) -> seq of the logged records holding one of the ids. SQLite takes the ids
# as one JSON array (a statement of one text, whatever the batch); PostgreSQL as one array.
_LOGGED_IDS = {
    "sqlite": "SELECT publisher, id, seq FROM records WHERE id IN (SELECT value FROM json_each(?))",
    "postgresql": "SELECT publisher, id, seq FROM records WHERE id = ANY(%s::varchar[])",
}
_TAIL = "SELECT max(seq) FROM records"
_SQLITE_INSERT = f"INSERT INTO records ({_COLUMN_LIST}) VALUES ({', '.join('?' * len(LOG_COLUMNS))})"
_COPY = f"COPY records ({_COLUMN_LIST}) FROM STDIN"


def logged_ids(conn: Connection, ids: Sequence[str]) -> dict[tuple[str, str], int]:
    """(publisher, id) -> seq of the records in the log with one of these ids."""
    if not ids:
        return {}
    dialect = conn.dialect.name
    if dialect == "sqlite":
        found = conn.exec_driver_sql(_LOGGED_IDS["sqlite"], (orjson.dumps(list(ids)).decode("utf-8"),))
    elif dialect == "postgresql":
        found = conn.exec_driver_sql(_LOGGED_IDS["postgresql"], (list(ids),))
    else:  # pragma: no cover - the hub runs on SQLite and PostgreSQL only
        raise NotImplementedError(dialect)
    return {(publisher, record_id): seq for publisher, record_id, seq in found}


def next_seq(conn: Connection) -> int:
    """The seq the next appended record gets."""
    return (conn.exec_driver_sql(_TAIL).scalar() or 0) + 1


def received_value(conn: Connection, received_at: datetime):
    """`received_at` as the driver takes it for the log's column (SQLite keeps text)."""
    to_db = records.c.received_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
    return to_db(received_at) if to_db else received_at


def append_rows(conn: Connection, rows: list[tuple]) -> None:
    """Insert log rows, each a tuple in LOG_COLUMNS order with its values as the driver
    takes them (see `received_value`). PostgreSQL: one COPY (a single round trip for the
    batch, and no per-row statement on the server); SQLite: a bare executemany."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        with conn.connection.driver_connection.cursor() as cursor, cursor.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)
    else:
        conn.exec_driver_sql(_SQLITE_INSERT, rows)
