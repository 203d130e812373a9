"""What sources remember between runs: the keys the hub has been told about,
with the content version last sent (the sql source's key-set comparison and
overlap window, the file sources' snapshots), and values from a source encoded
as JSON for checkpoints and keys.
"""
from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from datetime import date, datetime
from datetime import time as clock_time
from decimal import Decimal
from pathlib import Path
from typing import Any

QUERY_BATCH = 500  # keys per ... IN (...) query

# Cursor values go back to the database exactly as its driver returned them
# (e.g. SQLite text timestamps stay text), so `=` and `>` compare exactly.

def encode_value(value: object) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    if isinstance(value, clock_time):
        return {"time": value.isoformat()}
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"bytes": bytes(value).hex()}
    return {"text": str(value)}


_DECODERS: dict[str, Callable[[str], object]] = {
    "datetime": datetime.fromisoformat,
    "date": date.fromisoformat,
    "time": clock_time.fromisoformat,
    "decimal": Decimal,
    "uuid": uuid.UUID,
    "bytes": bytes.fromhex,
    "text": str,
}


def decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        (kind, text_value), = value.items()
        return _DECODERS[kind](text_value)
    return value


def key_text(values: Iterable[object]) -> str:
    return json.dumps([encode_value(v) for v in values], separators=(",", ":"), ensure_ascii=False)




class KeyState:
    """Keys the hub has been told about, with the version last sent, in a small SQLite file.

    Upserts are recorded after the agent commits them; a comparison adds any key
    it finds but does not know (so a commit that missed its record heals), and
    every known key absent from the source is a delete."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        with closing(self._connect()) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS known (key TEXT PRIMARY KEY, version TEXT)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def versions(self, keys: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        with closing(self._connect()) as db:
            for start in range(0, len(keys), QUERY_BATCH):
                part = keys[start:start + QUERY_BATCH]
                marks = ",".join("?" * len(part))
                found.update(db.execute(f"SELECT key, version FROM known WHERE key IN ({marks})", part).fetchall())
        return found

    def record(self, upserts: list[tuple[str, str]], deletes: list[str]) -> None:
        with closing(self._connect()) as db, db:
            db.executemany("INSERT OR REPLACE INTO known (key, version) VALUES (?, ?)", upserts)
            db.executemany("DELETE FROM known WHERE key = ?", [(k,) for k in deletes])

    def missing(self, current_keys: Iterator[list[str]]) -> list[tuple[str, str | None]]:
        """Known keys not in the source (streamed in pages); also learns keys it did not know."""
        with closing(self._connect()) as db, db:
            db.execute("CREATE TEMP TABLE current (key TEXT PRIMARY KEY)")
            for page in current_keys:
                db.executemany("INSERT OR IGNORE INTO current (key) VALUES (?)", [(k,) for k in page])
            db.execute("INSERT OR IGNORE INTO known (key, version) SELECT key, NULL FROM current")
            gone: list[tuple[str, str | None]] = db.execute(
                "SELECT key, version FROM known WHERE key NOT IN (SELECT key FROM current) ORDER BY key"
            ).fetchall()
            return gone


class SnapshotState(KeyState):
    """A KeyState that also notes, for each key, the last snapshot (a file's SHA-256) it was seen in.

    A key is marked seen before the rows that hold it are committed (a mark only ever keeps a
    key from being deleted, so marking early is the safe side); its version is recorded after."""

    def __init__(self, path: Path):
        super().__init__(path)
        with closing(self._connect()) as db, db:
            db.execute("CREATE TABLE IF NOT EXISTS seen (key TEXT PRIMARY KEY, snapshot TEXT NOT NULL, "
                       "known_before INTEGER NOT NULL)")

    def mark_seen(self, keys: list[str], snapshot: str) -> None:
        with closing(self._connect()) as db, db:
            for start in range(0, len(keys), QUERY_BATCH):
                part = keys[start:start + QUERY_BATCH]
                marks = ",".join("?" * len(part))
                known = {k for (k,) in db.execute(f"SELECT key FROM known WHERE key IN ({marks})", part)}
                db.executemany("INSERT INTO seen (key, snapshot, known_before) VALUES (?, ?, ?) "
                               "ON CONFLICT (key) DO UPDATE SET known_before = CASE WHEN seen.snapshot = "
                               "excluded.snapshot THEN seen.known_before ELSE excluded.known_before END, "
                               "snapshot = excluded.snapshot",
                               [(k, snapshot, k in known) for k in part])

    def unseen(self, snapshot: str) -> tuple[list[tuple[str, str | None]], int]:
        """(keys known but not in this snapshot, with their versions; how many keys were known before it)."""
        with closing(self._connect()) as db:
            gone: list[tuple[str, str | None]] = db.execute("SELECT key, version FROM known WHERE key NOT IN "
                              "(SELECT key FROM seen WHERE snapshot = ?) ORDER BY key", (snapshot,)).fetchall()
            kept: int = db.execute("SELECT COUNT(*) FROM seen WHERE snapshot = ? AND known_before = 1",
                              (snapshot,)).fetchone()[0]
        return gone, len(gone) + kept
