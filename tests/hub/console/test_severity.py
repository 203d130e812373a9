"""The console's ordering of subscriptions by how urgent they are, and counts in good English."""
from __future__ import annotations

import pytest

from hub.console.filters import plural
from hub.console.queries import LAG_WARNING_SECONDS, by_severity, needs_attention

pytestmark = pytest.mark.timeout(10)


def status(sub_id, state="active", seconds=0.0, records=0, dead=0):
    return {"id": sub_id, "org": "sds", "dataset": "gazetteer-address", "status": state,
            "lag": {"records": records, "seconds": seconds}, "dead_letters": dead}


def test_failing_then_disabled_lagging_dead_letters_held_and_healthy_last():
    listed = [status("healthy"), status("dead", dead=2), status("paused", "paused"),
              status("lagging", seconds=LAG_WARNING_SECONDS + 1, records=4), status("disabled", "disabled"),
              status("failing", "failing")]
    assert [s["id"] for s in by_severity(listed)] == ["failing", "disabled", "lagging", "dead", "paused", "healthy"]


def test_the_furthest_behind_comes_first_within_a_rank():
    listed = [status("a", seconds=LAG_WARNING_SECONDS + 10, records=1),
              status("b", seconds=LAG_WARNING_SECONDS + 900, records=1)]
    assert [s["id"] for s in by_severity(listed)] == ["b", "a"]


def test_counts_read_as_english():
    assert plural(1, "record") == "1 record" and plural(0, "record") == "0 records" and plural(2, "entry") == "2 entries"
    reasons = needs_attention(status("x", "failing", LAG_WARNING_SECONDS + 60, 1, 1))
    assert reasons == ["failing", "1 record behind, oldest 6 min", "1 dead letter"]
