"""The conformance suite every connector passes (built-in or third-party).

Like singer-sdk's `get_tap_test_class`, it turns a few lines of set-up into the
tests that hold a connector to the rules the agent relies on:

* `check` works: it describes a good configuration in one line, and names what
  is wrong (ConnectorError) with a broken one; bad options are refused when the
  connector is built, with a message naming the connector;
* reading resumes from a checkpoint: a new source given the checkpoint of a
  committed chunk yields exactly the rows after it, and every checkpoint
  survives a JSON round trip (the agent stores it as JSON);
* re-reading is harmless: reading again, before or after committing, yields no
  row twice and no row with a new identity or version, so the record ids derived
  from them are the same and the hub answers `duplicate`;
* sink writes are idempotent: writing the same events again leaves the
  destination as it was.

Use it from pytest: subclass `SourceSuite` or `SinkSuite` in a class named
`Test...`, give it a fixture named `system` (whatever your hooks need: a
folder, a database URL, a server), and fill in the hooks::

    import pytest
    from connectors.testing import SourceSuite

    class TestCivicaSource(SourceSuite):
        kind = "civica"
        bad_options = [{"export": 3}, {"export": "a.csv", "chunk_rows": 0}]

        @pytest.fixture
        def system(self, tmp_path):
            write_civica_export(tmp_path / "export.csv", records=25)
            return tmp_path

        def source(self, system):
            return connectors.load_source("civica", {"export": "export.csv", "chunk_rows": 10}, system)

The hooks' system must hold enough rows for at least two chunks, and no row errors.
"""
from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import jsonschema_rs

from . import connector_class
from .base import Chunk, ConnectorError, Sink, Source, SourceRow
from .options import Schema

__all__ = ["SinkSuite", "SourceSuite", "sample_events"]


def _refused(cls: type[Source] | type[Sink], options: Mapping[str, Any], base_dir: Path) -> str:
    try:
        cls(options, base_dir)
    except ConnectorError as exc:
        return str(exc)
    raise AssertionError(f"{cls.what()} accepted the bad options {dict(options)!r}")


def _check_schema(schema: Schema) -> None:
    """The options schema is a valid JSON Schema, and every default it gives is a value it accepts."""
    assert jsonschema_rs.meta.is_valid(schema), "options_schema is not a valid JSON Schema"
    assert schema.get("type") == "object", "options_schema must describe a mapping (type: object)"
    for name, spec in schema.get("properties", {}).items():
        if isinstance(spec, dict) and "default" in spec:
            assert jsonschema_rs.is_valid(spec, spec["default"]), f"option {name!r}: its default is not valid"


def _json_round_trip(checkpoint: dict[str, Any]) -> dict[str, Any]:
    restored: dict[str, Any] = json.loads(json.dumps(checkpoint))
    assert restored == checkpoint, f"the checkpoint does not survive JSON: {checkpoint!r}"
    return restored


def _pairs(rows: Sequence[SourceRow]) -> list[tuple[str, str]]:
    return [(row.identity, row.version) for row in rows]


def _rows(chunks: Sequence[Chunk]) -> list[SourceRow]:
    return [row for chunk in chunks for row in chunk.rows]


def _commit_all(chunks: Iterator[Chunk]) -> tuple[list[Chunk], dict[str, Any] | None]:
    """Read like the agent: keep each chunk's checkpoint, then run its on_commit."""
    done, checkpoint = [], None
    for chunk in chunks:
        checkpoint = _json_round_trip(chunk.checkpoint)
        if chunk.on_commit:
            chunk.on_commit()
        done.append(chunk)
    return done, checkpoint


class _ConnectorSuite:
    """The tests sources and sinks share: a sound options schema, check, bad options."""

    kind: ClassVar[str]
    role: ClassVar[str]
    # Options the connector must refuse when it is built (ConnectorError naming it).
    bad_options: ClassVar[Sequence[Mapping[str, Any]]] = ()

    def _good(self, system: Any) -> Source | Sink:
        raise NotImplementedError

    def _broken(self, system: Any) -> Source | Sink | None:
        raise NotImplementedError

    def test_options_schema_is_sound(self) -> None:
        _check_schema(connector_class(self.kind, self.role).options_schema)

    def test_check_describes_a_good_configuration(self, system: Any) -> None:
        description = self._good(system).check()
        assert description.strip(), "check() must return a description"
        assert "\n" not in description.strip(), "check() must return one line"

    def test_check_names_what_is_wrong(self, system: Any) -> None:
        broken = self._broken(system)
        if broken is None:
            return
        try:
            broken.check()
        except ConnectorError as exc:
            assert str(exc).strip(), "a ConnectorError must say what is wrong"
            return
        raise AssertionError("check() passed on a broken configuration")

    def test_bad_options_are_refused(self, tmp_path: Path) -> None:
        cls = connector_class(self.kind, self.role)
        for options in self.bad_options:
            message = _refused(cls, options, tmp_path)
            assert message.startswith(f"{cls.what()}:"), f"the message should name the connector: {message!r}"


class SourceSuite(_ConnectorSuite):
    """Conformance tests for a Source; see the module docstring."""

    role = "source"

    def source(self, system: Any) -> Source:
        """A new source over `system`, reading at least two chunks of good rows."""
        raise NotImplementedError

    def broken_source(self, system: Any) -> Source | None:
        """A source with valid options whose check() must fail (a missing file, a wrong table);
        None when the connector has no such case."""
        return None

    def _good(self, system: Any) -> Source:
        return self.source(system)

    def _broken(self, system: Any) -> Source | None:
        return self.broken_source(system)

    def test_reading_resumes_from_a_checkpoint(self, system: Any) -> None:
        chunks = list(self.source(system).read(None))
        assert len(chunks) >= 2, "the system must hold rows for at least two chunks"
        assert not [e for c in chunks for e in c.errors], "the system must hold good rows only"
        first = chunks[0]
        expected = _pairs(_rows(chunks))[len(first.rows):]
        resumed = list(self.source(system).read(_json_round_trip(first.checkpoint)))
        assert _pairs(_rows(resumed)) == expected, "resuming must yield exactly the rows after the checkpoint"

    def test_rereading_is_harmless(self, system: Any) -> None:
        # A crash before the commit: the next run reads the same rows, with the same identities and versions.
        read = _pairs(_rows(list(self.source(system).read(None))))
        assert len({identity for identity, _ in read}) == len(read), "a row must not come twice in one read"
        assert _pairs(_rows(list(self.source(system).read(None)))) == read
        # After the commit, a new run may read rows again (a full scan does) but only as they were.
        _, checkpoint = _commit_all(self.source(system).read(None))
        again = _pairs(_rows(list(self.source(system).read(checkpoint))))
        assert set(again) <= set(read), "re-reading an unchanged system must not yield new identities or versions"
        assert len({identity for identity, _ in again}) == len(again), "a row must not come twice in one read"


def sample_events() -> list[dict[str, Any]]:
    """Delivered CloudEvents as the hub sends them: upserts, a later upsert of the same
    key, and a delete."""
    def event(sequence: int, key: str, data: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "specversion": "1.0", "id": f"event-{sequence}", "source": "https://hub.example/api/v1",
            "type": "uk.causeway.record.delete" if data is None else "uk.causeway.record.upsert",
            "dataset": "gazetteer-address", "subject": key, "time": f"2024-03-01T10:00:{sequence:02d}Z",
            "sequence": f"{sequence:020d}", "data": data,
        }

    return [
        event(1, "906000001", {"uprn": "906000001", "street": "High Street", "town": "Edinburgh"}),
        event(2, "906000002", {"uprn": "906000002", "street": "Low Street", "town": "Leith"}),
        event(3, "906000003", {"uprn": "906000003", "street": "Mid Street", "town": "Perth"}),
        event(4, "906000001", {"uprn": "906000001", "street": "High Street", "town": "Edinburgh", "flat": "1F2"}),
        event(5, "906000002", None),
    ]


class SinkSuite(_ConnectorSuite):
    """Conformance tests for a Sink; see the module docstring."""

    role = "sink"

    def sink(self, system: Any) -> Sink:
        """A new sink writing into `system`."""
        raise NotImplementedError

    def written(self, system: Any) -> Any:
        """What the destination holds now, as a value compared with == (rows, files' contents)."""
        raise NotImplementedError

    def broken_sink(self, system: Any) -> Sink | None:
        """A sink with valid options whose check() must fail; None when there is no such case."""
        return None

    def events(self) -> list[dict[str, Any]]:
        return sample_events()

    def _good(self, system: Any) -> Sink:
        return self.sink(system)

    def _broken(self, system: Any) -> Sink | None:
        return self.broken_sink(system)

    def test_writing_again_changes_nothing(self, system: Any) -> None:
        events = self.events()
        self.sink(system).write(events)
        once = self.written(system)
        assert once, "the first write must leave something in the destination"
        self.sink(system).write(events)  # a redelivery, by a new sink as after a restart
        assert self.written(system) == once, "writing the same events again must leave the destination as it was"

    def test_writing_nothing_changes_nothing(self, system: Any) -> None:
        sink = self.sink(system)
        sink.write(self.events())
        before = self.written(system)
        sink.write([])
        assert self.written(system) == before
