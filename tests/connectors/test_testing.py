"""The conformance suite catches the mistakes it is there for: run against connectors that
make them, its tests fail."""
import pytest

from connectors import Chunk, Sink, Source, SourceRow
from connectors.testing import SinkSuite, SourceSuite


class ForgetfulSource(Source):
    """Ignores the checkpoint: every run starts again from the first row."""

    def check(self):
        return "forgetful"

    def read(self, checkpoint):
        rows = [SourceRow({"n": n}, {"row": n}, f"row-{n}", "v1") for n in range(20)]
        yield Chunk(rows[:10], {"done": 10})
        yield Chunk(rows[10:], {"done": 20})


class RestlessSource(ForgetfulSource):
    """Resumes properly but gives rows a new version on every read (a timestamp, say)."""

    reads = 0

    def read(self, checkpoint):
        RestlessSource.reads += 1
        start = (checkpoint or {}).get("done", 0)
        for first in range(start, 20, 10):
            yield Chunk([SourceRow({"n": n}, {"row": n}, f"row-{n}", f"read-{self.reads}")
                         for n in range(first, first + 10)], {"done": first + 10})


class AppendingSink(Sink):
    """Appends every event it is given: a redelivery doubles the rows."""

    def check(self):
        return "appending"

    def write(self, events):
        self.store.extend(events)


class TestTheSuite:
    def test_a_source_that_ignores_its_checkpoint_fails(self):
        suite = SourceSuite()
        suite.source = lambda system: ForgetfulSource({})
        with pytest.raises(AssertionError, match="exactly the rows after the checkpoint"):
            suite.test_reading_resumes_from_a_checkpoint(None)

    def test_a_source_whose_versions_change_on_every_read_fails(self):
        suite = SourceSuite()
        suite.source = lambda system: RestlessSource({})
        with pytest.raises(AssertionError):
            suite.test_rereading_is_harmless(None)

    def test_a_sink_that_appends_fails(self):
        store = []
        suite = SinkSuite()

        def sink(system):
            made = AppendingSink({})
            made.store = store
            return made

        suite.sink = sink
        suite.written = lambda system: list(store)
        with pytest.raises(AssertionError, match="writing the same events again"):
            suite.test_writing_again_changes_nothing(None)

    def test_a_check_that_passes_a_broken_configuration_fails(self):
        suite = SourceSuite()
        suite.broken_source = lambda system: ForgetfulSource({})
        with pytest.raises(AssertionError, match="check\\(\\) passed on a broken configuration"):
            suite.test_check_names_what_is_wrong(None)

    def test_options_a_connector_accepts_fail_as_bad_options(self, tmp_path):
        class Suite(SourceSuite):
            kind = "spreadsheet"
            bad_options = [{"path": "a.csv", "chunk_rows": 5}]

        with pytest.raises(AssertionError, match="accepted the bad options"):
            Suite().test_bad_options_are_refused(tmp_path)
