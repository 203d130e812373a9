"""Snapshot mode for file sources: each file is the whole data set (a gazetteer
re-exported in full), so keys the hub was sent before that are not in the file
were deleted at source.

Rows are keyed by the `identity` fields alone (not the file name, which changes
from export to export). While a file is read each key is marked as seen in it
(by the file's SHA-256); rows whose content was sent before are skipped, so an
unchanged export sends nothing. Once the whole file is committed, every key
sent before and not seen in it becomes a delete, through the outbox like any
other record, unless that would remove more than `max_delete_percent` (default
10) of the keys: then the file is refused and nothing is deleted, because a
truncated or half-written export looks exactly like that.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from .base import Chunk, ConnectorError, RowError, SourceRow
from .keystate import SnapshotState, decode_value, key_text
from .options import Schema, optional_path

# Options every file-based source takes (in connectors.filesets.FILESET_OPTIONS).
SNAPSHOT_OPTIONS: dict[str, Schema] = {
    "snapshot": {"type": "boolean", "default": False,
                 "description": "each file is the whole data set: keys sent before and missing from it are deleted "
                                "(needs identity)"},
    "max_delete_percent": {"type": "number", "minimum": 0, "maximum": 100,
                           "description": "with snapshot: refuse a file that would delete more than this share of "
                                          "the keys sent before (default 10)"},
    "state_dir": {"type": "string", "minLength": 1,
                  "description": "where a snapshot keeps the keys it has sent (the agent gives each task one)"},
}
DEFAULT_MAX_DELETE_PERCENT = 10


class SnapshotRefused(ConnectorError):
    """A file that would delete more keys than allowed; nothing was deleted."""


def _field(data: dict[str, Any], name: str) -> Any:
    """A column, or a dotted path into a nested record ("site.uprn")."""
    if name in data:
        return data[name]
    value: Any = data
    for part in name.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


class Snapshot:
    def __init__(self, what: str, options: Mapping[str, Any], base_dir: Path, identity: list[str] | None):
        self.what = what
        self.max_delete_percent: float = options.get("max_delete_percent", DEFAULT_MAX_DELETE_PERCENT)
        state_dir = optional_path(base_dir, options.get("state_dir"))
        if not identity:
            raise ConnectorError(f"{what}: option 'snapshot' needs 'identity': the column(s) that key a row "
                                 "from one export to the next")
        if state_dir is None:
            raise ConnectorError(f"{what}: option 'snapshot' needs 'state_dir' for the keys it has sent "
                                 "(the agent gives each task one)")
        self.fields = identity
        self.state = SnapshotState(state_dir / "snapshot-keys.sqlite")

    def keyed(self, chunk: Chunk, snapshot: str) -> Chunk:
        """The chunk with rows keyed by identity, their keys marked seen, and unchanged rows left out;
        once it is committed, the versions sent are recorded."""
        rows: list[SourceRow] = []
        errors = list(chunk.errors)
        for row in chunk.rows:
            if row.op == "delete":
                rows.append(row)
                continue
            values = [_field(row.data, f) for f in self.fields]
            if any(v is None or (isinstance(v, str) and not v.strip()) for v in values):
                errors.append(RowError(row.location, f"identity {', '.join(self.fields)} is empty: a snapshot row "
                                                     "needs its key", row.data))
                continue
            row.identity = key_text(values)
            rows.append(row)
        self.state.mark_seen([r.identity for r in rows if r.op != "delete"], snapshot)
        versions = self.state.versions([r.identity for r in rows if r.op != "delete"])
        changed = [r for r in rows if r.op == "delete" or versions.get(r.identity) != r.version]
        return Chunk(changed, chunk.checkpoint, errors, _then(self._recorder(changed), chunk.on_commit))

    def _recorder(self, rows: list[SourceRow]) -> Callable[[], None] | None:
        if not rows:
            return None

        def record() -> None:
            self.state.record([(r.identity, r.version) for r in rows if r.op != "delete"],
                              [r.identity for r in rows if r.op == "delete"])
        return record

    def deletes(self, file_name: str, snapshot: str, checkpoint: dict[str, Any], chunk_rows: int,
                advice: str) -> Iterator[Chunk]:
        """Deletes for the keys sent before and not in this snapshot; SnapshotRefused when too many."""
        gone, before = self.state.unseen(snapshot)
        if not gone:
            return
        percent = 100 * len(gone) / before
        if percent > self.max_delete_percent:
            raise SnapshotRefused(
                f"{file_name}: refused as a snapshot: it would delete {len(gone)} of the {before} keys sent before "
                f"({percent:.1f}%), more than max_delete_percent ({self.max_delete_percent:g}%), so nothing was "
                f"deleted; if the export is complete and the removals are real, {advice}")
        for start in range(0, len(gone), chunk_rows):
            deletes = []
            for identity, version in gone[start:start + chunk_rows]:
                values = [decode_value(v) for v in json.loads(identity)]
                key = dict(zip(self.fields, values))
                deletes.append(SourceRow(data=key, location={"file": file_name, "deleted key": key},
                                         identity=identity, version=f"deleted:{version or 'unknown'}", op="delete"))
            yield Chunk(deletes, dict(checkpoint))  # recorded once committed, as every chunk, by keyed()


OnCommit = Callable[[], None] | None


def _then(first: OnCommit, second: OnCommit) -> OnCommit:
    if first is None or second is None:
        return first or second

    def both() -> None:
        assert first is not None and second is not None
        first()
        second()
    return both
