"""Adapters between Causeway agents and local systems.

Each connector is one module exposing a `Source` and/or a `Sink` class
(see connectors.base), each declaring its options as a JSON Schema
(`options_schema`, see connectors.options). They are found through the
entry-point group `causeway.connectors`, so others can add their own in a
separate package; `connectors.testing` is the suite every connector passes.

`__all__` is the plugin API: what a connector package and the agent may rely on.
"""
from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from .base import Chunk, ConnectorError, RowError, Sink, Source, SourceRow, event_sequence
from .options import (
    OptionProblem,
    Schema,
    content_version,
    env_secret,
    exactly_one_of,
    names,
    option_problems,
    options_schema,
    resolve_path,
    text_or_list,
)

__all__ = [
    "ENTRY_POINT_GROUP",
    "Chunk",
    "ConnectorError",
    "OptionProblem",
    "RowError",
    "Schema",
    "Sink",
    "Source",
    "SourceRow",
    "connector_class",
    "connector_module",
    "content_version",
    "env_secret",
    "event_sequence",
    "exactly_one_of",
    "load_sink",
    "load_source",
    "names",
    "option_problems",
    "options_schema",
    "resolve_path",
    "text_or_list",
]

ENTRY_POINT_GROUP = "causeway.connectors"


def connector_module(kind: str) -> ModuleType:
    """The module installed under `kind` in the entry-point group; ConnectorError listing those installed otherwise."""
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == kind:
            module: ModuleType = entry.load()
            return module
    known = sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP))
    raise ConnectorError(f"unknown connector {kind!r}; installed connectors: {', '.join(known) or 'none'}")


def connector_class(kind: str, role: str) -> type[Source] | type[Sink]:
    """The connector's Source (role "source") or Sink (role "sink") class; its
    `options_schema` says which options it takes."""
    module = connector_module(kind)
    found = getattr(module, role.capitalize(), None)
    if found is None:
        raise ConnectorError(f"connector {kind!r} cannot be a {role}")
    cls: type[Source] | type[Sink] = found
    return cls


def load_source(kind: str, options: Mapping[str, Any] | None, base_dir: Path | str | None = None) -> Source:
    """A source of that kind; its options are checked against its schema (ConnectorError naming each mistake)."""
    cls = connector_class(kind, "source")
    if not issubclass(cls, Source):
        raise ConnectorError(f"connector {kind!r}: its Source is not a connectors.Source")
    return cls(options, base_dir)


def load_sink(kind: str, options: Mapping[str, Any] | None, base_dir: Path | str | None = None) -> Sink:
    """A sink of that kind; its options are checked against its schema (ConnectorError naming each mistake)."""
    cls = connector_class(kind, "sink")
    if not issubclass(cls, Sink):
        raise ConnectorError(f"connector {kind!r}: its Sink is not a connectors.Sink")
    return cls(options, base_dir)
