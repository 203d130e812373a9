"""A publish task's run: read the source from its checkpoint, map each row,
validate it against the hub's schema, and commit each chunk's good records,
rejects and new checkpoint to the outbox in one transaction.

Sending is the sender's job; this never talks to the hub except to fetch schemas.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from causeway_common.canonical import canonical_json
from causeway_common.envelope import record_id_deriver
from connectors import Chunk, ConnectorError, Source, SourceRow, load_source

from .config import AgentConfig, TaskConfig
from .mapping_adapter import RowMapper, RowMappingError, row_mapper
from .outbox import NewRecord, Outbox, Reject
from .schemas import DatasetSchema, SchemaCache

log = logging.getLogger("causeway.agent.publish")


# Built-in sources that keep state of their own: the sql key-set and overlap window, file snapshots.
STATEFUL_SOURCES = ("sql", "spreadsheet", "files")


def connector_options(config: AgentConfig, task: TaskConfig, state_root=None, accept_deletes: bool = False) -> dict:
    """The task's connector options, with a private folder in the state directory for
    connectors that keep state of their own. accept_deletes: an operator said, for this
    run, that a snapshot's deletes are real however many there are."""
    options = dict(task.options)
    if accept_deletes and options.get("snapshot"):
        options["max_delete_percent"] = 100
    if task.connector in STATEFUL_SOURCES and task.direction == "publish" and "state_dir" not in options:
        root = Path(state_root) if state_root is not None else config.state_dir / "connectors"
        options["state_dir"] = str(root / task.name)
    return options


@dataclass
class RunResult:
    rows_read: int = 0
    queued: int = 0
    rejected: int = 0
    chunks: int = 0


@dataclass(slots=True)
class Prepared:
    """One row's outcome: a record ready for the outbox, or a reject."""
    location: dict
    record: dict | None = None
    reject: Reject | None = None


_last_second: list = [None, ""]  # the second _now last formatted, and its text


def _now() -> str:
    """Now in UTC to the second; formatted once a second, as every row of a chunk asks."""
    second = int(time.time())
    if _last_second[0] != second:
        _last_second[:] = [second, datetime.fromtimestamp(second, timezone.utc).isoformat().replace("+00:00", "Z")]
    return _last_second[1]


@dataclass
class RecordBuilder:
    """Turns a source row into a validated envelope (or a reject naming the row)."""
    task: TaskConfig
    schema: DatasetSchema
    mapper: RowMapper
    clock: Callable[[], str] = field(default=_now)
    remembered_subject: Callable[[str], str | None] = lambda key: None
    record_id: Callable[[object, object], str] = field(init=False)

    def __post_init__(self) -> None:
        self.record_id = record_id_deriver(self.task.name)

    def prepare(self, row: SourceRow) -> Prepared:
        record_id = self.record_id(row.identity, row.version)
        try:
            mapped = self.mapper.map(row)
        except RowMappingError as exc:
            return Prepared(row.location, reject=Reject("mapping", row.location, exc.errors, row.data, record_id))
        envelope = {"id": record_id, "dataset": self.schema.dataset, "schema_version": self.schema.version,
                    "op": row.op, "occurred_at": mapped.occurred_at or self.clock()}
        subject = mapped.subject
        if subject is None and row.op == "delete" and self.schema.personal and mapped.key is not None:
            subject = self.remembered_subject(str(mapped.key))
        if subject is not None:
            envelope["subject"] = subject
        errors = []
        if row.op == "delete":
            key = mapped.key
            if key is None:
                errors.append({"path": "/key", "message": f"a deleted row needs its {self.schema.key_field} to delete by"})
            envelope["payload"] = None
        else:
            payload = mapped.payload
            errors = self.schema.errors(payload)
            key = mapped.key if mapped.key is not None else payload.get(self.schema.key_field)
            envelope["payload"] = payload
        if key is not None:
            envelope["key"] = str(key)
        if self.schema.personal and subject is None:
            errors.append({"path": "/subject", "message": f"{self.schema.dataset} is personal data: the mapping must give "
                                                          "each record a pseudonymous subject reference"})
        if errors:
            return Prepared(row.location, reject=Reject("validation", row.location, errors, row.data, record_id))
        return Prepared(row.location, record=envelope)


class Publisher:
    def __init__(self, config: AgentConfig, outbox: Outbox, schemas: SchemaCache,
                 on_queued: Callable[[], None] | None = None,
                 source_factory: Callable[[TaskConfig], Source] | None = None, connector_state=None,
                 accept_deletes_for: frozenset[str] = frozenset(),
                 wait_for_room: Callable[[Callable[[], bool]], None] | None = None):
        self.config = config
        self.outbox = outbox
        self.schemas = schemas
        self.on_queued = on_queued or (lambda: None)
        # Called after each chunk: holds the run while the outbox is far enough ahead of the hub.
        self.wait_for_room = wait_for_room or (lambda should_stop: None)
        self._source_factory = source_factory or (
            lambda task: load_source(task.connector, connector_options(
                config, task, connector_state, accept_deletes=task.name in accept_deletes_for), config.base_dir))

    def source(self, task: TaskConfig) -> Source:
        return self._source_factory(task)

    def builder(self, task: TaskConfig) -> RecordBuilder:
        schema = self.schemas.get(task.dataset, task.schema_version)
        return RecordBuilder(task, schema, row_mapper(task, schema),
                             remembered_subject=lambda key: self.outbox.subject(task.name, key))

    def run(self, task: TaskConfig, should_stop: Callable[[], bool] = lambda: False) -> RunResult:
        """Read everything new since the checkpoint into the outbox."""
        builder = self.builder(task)
        source = self.source(task)
        result = RunResult()
        for chunk in source.read(self.outbox.checkpoint(task.name)):
            self.commit(task, builder, chunk, result)
            self.on_queued()
            self.wait_for_room(should_stop)
            if should_stop():
                break
        return result

    def commit(self, task: TaskConfig, builder: RecordBuilder, chunk: Chunk, result: RunResult) -> None:
        records, rejects, subjects = [], [], []
        for error in chunk.errors:
            rejects.append(Reject("source", error.location, [{"path": "", "message": error.message}], error.data))
        for row in chunk.rows:
            prepared = builder.prepare(row)
            if prepared.reject is not None:
                rejects.append(prepared.reject)
            else:
                record = prepared.record
                records.append(NewRecord(record["id"], canonical_json(record).decode("utf-8"), prepared.location,
                                         record.get("key")))
                if builder.schema.personal and record["op"] == "upsert":
                    subjects.append((record["key"], record["subject"]))
        rows_read = len(chunk.rows) + len(chunk.errors)
        queued = self.outbox.commit_chunk(task.name, records, rejects, chunk.checkpoint, rows_read, subjects)
        # Only now, with the chunk durable, may the source act on it (e.g. move a file aside).
        if chunk.on_commit is not None:
            try:
                chunk.on_commit()
            except (OSError, ConnectorError) as exc:
                log.warning("task %s: could not finish with the source after committing: %s", task.name, exc)
        result.rows_read += rows_read
        result.queued += queued
        result.rejected += len(rejects)
        result.chunks += 1
        for reject in rejects:
            log.warning("task %s: rejected %s: %s", task.name, describe_location(reject.location),
                        "; ".join(f"{e['path'] or 'row'}: {e['message']}" for e in reject.errors))


def dry_run(publisher: Publisher, task: TaskConfig, rows: int = 5) -> list[Prepared]:
    """Map and validate the first rows of a source, without writing anything."""
    builder = publisher.builder(task)
    outcomes: list[Prepared] = []
    for chunk in publisher.source(task).read(None):
        for error in chunk.errors:
            outcomes.append(Prepared(error.location, reject=Reject("source", error.location,
                                                                   [{"path": "", "message": error.message}], error.data)))
        for row in chunk.rows:
            outcomes.append(builder.prepare(row))
            if len(outcomes) >= rows:
                return outcomes
        if len(outcomes) >= rows:
            break
    return outcomes


def describe_location(location: dict) -> str:
    """'planning.xlsx, sheet Applications, row 7' / 'addresses.csv, line 12' / 'cases, key 1042'."""
    parts = []
    for name in ("file", "table"):
        if location.get(name) is not None:
            parts.append(str(location[name]))
    if location.get("sheet") is not None:
        parts.append(f"sheet {location['sheet']}")
    for name, label in (("row", "row"), ("line", "line"), ("primary_key", "key")):
        if location.get(name) is not None:
            parts.append(f"{label} {location[name]}")
    shown = {"file", "table", "sheet", "row", "line", "primary_key"}
    parts += [f"{k} {v}" for k, v in location.items() if k not in shown]
    return ", ".join(parts) or "unknown place"
