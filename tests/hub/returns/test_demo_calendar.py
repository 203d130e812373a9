"""`make run`'s demo data: a quarterly, a monthly and a weekly return, each with councils in every
state of the calendar (not started, draft, submitted, approved, accepted, sent back, late), and
running the demo again (a restart) changes nothing. SQLite only: it is the demo's database."""
from __future__ import annotations

import shutil
from datetime import datetime, timezone

import pytest

from hub.app import build_services
from hub.config import Settings
from hub.returns.calendar import ReturnCalendar, Window
from hub.returns.demo import EXAMPLES, SIGN_OFF, publish_example_returns
from support.clock import FakeClock
from support.returns import load_orgs, load_population

pytestmark = pytest.mark.timeout(120)
EVERY_STATE = {"not_started", "draft", "submitted", "approved", "accepted", "sent_back"}


def test_the_demo_shows_three_frequencies_with_councils_in_every_state(sqlite_template, tmp_path):
    shutil.copy(sqlite_template, tmp_path / "causeway.db")
    clock = FakeClock(datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc))
    services = build_services(Settings(db_url=f"sqlite:///{tmp_path / 'causeway.db'}"), clock=clock)
    load_orgs(services)
    load_population(services)
    publish_example_returns(services)
    publish_example_returns(services)  # a restart of the demo: nothing sent twice, nothing refused

    calendar = ReturnCalendar(services.returns)
    window = Window.around(clock().date(), back=120, ahead=120)
    seen: dict[str, set[str]] = {}
    for org in SIGN_OFF:
        for entry in calendar.of(org, window)["submits"]:
            seen.setdefault(entry["frequency"], set()).update({entry["state"], entry["status"]})
    assert {spec["frequency"] for spec in EXAMPLES} == {"quarterly", "monthly", "weekly"}
    for frequency in ("quarterly", "monthly", "weekly"):
        assert EVERY_STATE | {"late"} <= seen[frequency], frequency
    asked = calendar.of("scottish-government", window)
    assert {c["org"] for c in asked["overdue_by_council"]} >= {"dundee", "fife", "stirling"}
    services.engine.dispose()
