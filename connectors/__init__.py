"""Adapters between Causeway agents and local systems.

Each connector is one module exposing a `Source` and/or a `Sink` class
(see connectors.base). They are found through the entry-point group
`causeway.connectors`, so others can add their own in a separate package.
"""
from importlib.metadata import entry_points

from .base import Chunk, ConnectorError, RowError, Sink, Source, SourceRow

__all__ = ["Chunk", "ConnectorError", "RowError", "Sink", "Source", "SourceRow", "connector_module", "load_sink", "load_source"]

ENTRY_POINT_GROUP = "causeway.connectors"


def connector_module(kind: str):
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == kind:
            return entry.load()
    known = sorted(e.name for e in entry_points(group=ENTRY_POINT_GROUP))
    raise ConnectorError(f"unknown connector {kind!r}; installed connectors: {', '.join(known) or 'none'}")


def load_source(kind: str, options: dict, base_dir=None) -> Source:
    module = connector_module(kind)
    if not hasattr(module, "Source"):
        raise ConnectorError(f"connector {kind!r} cannot be a source")
    return module.Source(options, base_dir)


def load_sink(kind: str, options: dict, base_dir=None) -> Sink:
    module = connector_module(kind)
    if not hasattr(module, "Sink"):
        raise ConnectorError(f"connector {kind!r} cannot be a sink")
    return module.Sink(options, base_dir)
