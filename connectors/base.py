"""The one small interface every connector implements.

A Source reads a local system from a checkpoint and yields Chunks. The agent
maps and validates each chunk's rows, then writes the good records, the row
errors and the chunk's new checkpoint to its outbox in ONE local transaction,
and only after that commit calls `chunk.on_commit()` (e.g. to move a processed
file aside). A crash anywhere therefore re-reads from the last committed
checkpoint, and derived record ids make the re-read harmless.

A Sink writes delivered events into a local system; writes are idempotent
(upsert or delete by key), so a re-delivered event changes nothing.

Both declare their options as a JSON Schema in `options_schema` (connectors.options);
the constructor checks the options against it and keeps them, defaults filled in,
in `self.options`. `connectors.testing` is the suite every connector passes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .errors import ConnectorError
from .options import Schema, validated_options

__all__ = ["Chunk", "ConnectorError", "RowError", "Sink", "Source", "SourceRow", "event_sequence"]

# A connector that declares no options takes none.
NO_OPTIONS: Schema = {"type": "object", "additionalProperties": False, "properties": {}}


@dataclass
class SourceRow:
    """One row as read, with where it came from and what makes its record id."""

    data: dict[str, Any]  # column or path -> value, as read
    location: dict[str, Any]  # where it came from: {"file", "sheet", "row"} or {"file", "line"} or {"table", "primary_key"}
    identity: str  # stable identity of the source row (file + row, primary key, ...)
    version: str  # changes when the row's content changes (hash of content, or updated-at)
    op: str = "upsert"  # or "delete" (found by key-set comparison or a tombstone table)


@dataclass
class RowError:
    """A row the source could not read: where, and why (the other rows still come)."""

    location: dict[str, Any]
    message: str
    data: dict[str, Any] | None = None


@dataclass
class Chunk:
    """Rows and row errors committed together with the checkpoint after them."""

    rows: list[SourceRow]
    checkpoint: dict[str, Any]  # JSON-serialisable position after these rows
    errors: list[RowError] = field(default_factory=list)
    on_commit: Callable[[], None] | None = None


class _Connector:
    """What sources and sinks share: options checked against the class's `options_schema`."""

    options_schema: ClassVar[Schema] = NO_OPTIONS
    role: ClassVar[str] = "connector"

    def __init__(self, options: Mapping[str, Any] | None, base_dir: Path | str | None = None):
        self.base_dir = Path(base_dir) if base_dir else Path.cwd()
        # Defaults from the schema are filled in, so an option the schema declares is always there.
        self.options: dict[str, Any] = validated_options(self.what(), self.options_schema, options)

    @classmethod
    def what(cls) -> str:
        """The connector's name in messages: "spreadsheet source" (its module's last name)."""
        return f"{cls.__module__.rsplit('.', 1)[-1]} {cls.role}"


class Source(_Connector, ABC):
    """Reads a local system from a checkpoint, in chunks; declares its options in `options_schema`."""

    role = "source"

    @abstractmethod
    def check(self) -> str:
        """Test the connection; return a one-line description, or raise ConnectorError."""

    @abstractmethod
    def read(self, checkpoint: dict[str, Any] | None) -> Iterator[Chunk]:
        """Rows after the checkpoint, in chunks small enough to commit one at a time."""

    def columns(self) -> list[str] | None:
        """The column names rows will carry, when known before reading (so a
        mapping can be checked at `check` time); None when not known."""
        return None


class Sink(_Connector, ABC):
    """Writes delivered events into a local system, idempotently; declares its options in `options_schema`."""

    role = "sink"

    @abstractmethod
    def check(self) -> str:
        """Test that the destination is writable; return a description, or raise ConnectorError."""

    @abstractmethod
    def write(self, events: list[dict[str, Any]]) -> None:
        """Apply delivered CloudEvents (upsert or delete by key); idempotent."""


def event_sequence(event: Mapping[str, Any]) -> int | None:
    """An event's log position as a number (the hub sends it zero-padded, as a string)."""
    value = event.get("sequence")
    return int(value) if value not in (None, "") else None
