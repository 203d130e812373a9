"""Each built-in rule finds its condition from the hub's own data (and nothing before it is
true), and the daily quality report reaches a council that asked for it, once, through a real
SMTP server process."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from hub import db
from hub.alerts.registry import RULES
from hub.auth import Principal
from hub.delivery.models import dead_letters, subscriptions
from support.agreements import activate_agreement, agreement_yaml
from support.factories import gazetteer_record

from .conftest import only, ops

PUBLISHER = Principal(org="edinburgh", role="publisher", credential_id="test-publisher")


def found(services, name: str, moment: datetime | None = None) -> list:
    return RULES[name].check(services.alerts.sources, moment or services.clock(), services.settings.alerts)


def publish(services, good: int, bad: int, start: int = 1000) -> None:
    records = [gazetteer_record(start + i) for i in range(good)]
    records += [gazetteer_record(start + good + i, occurred_at="not a time") for i in range(bad)]
    services.records.publish({"records": records}, PUBLISHER)


def test_reject_rate_above_the_limit_over_the_last_hour(services, clock):
    publish(services, good=19, bad=0)
    assert found(services, "reject-rate") == []
    publish(services, good=0, bad=1, start=2000)  # 1 of 20: 5 %, not above it
    assert found(services, "reject-rate") == []
    publish(services, good=5, bad=3, start=3000)  # 4 of 28
    (condition,) = found(services, "reject-rate")
    assert condition.key == "edinburgh/gazetteer-address" and condition.orgs == ("edinburgh",)
    assert condition.detail == {"dataset": "gazetteer-address", "rejected": 4, "records": 28,
                                "reject_rate_percent": 14.3}
    clock.advance(minutes=61)  # the hour has moved on
    assert found(services, "reject-rate") == []


def test_a_council_quiet_beyond_its_cadence_as_the_coverage_view_says(services, clock):
    publish(services, good=1, bad=0)
    clock.advance(hours=29)
    assert found(services, "council-quiet") == []
    clock.advance(hours=2)  # 24 h cadence + 6 h grace passed
    (condition,) = found(services, "council-quiet")
    assert condition.key == "edinburgh/gazetteer-address"


def test_subscriptions_disabled_or_with_too_many_dead_letters(services, clock):
    subscriber = Principal(org="glasgow", role="subscriber", credential_id="test")
    sub = services.delivery.subscribe({"dataset": "gazetteer-address", "purpose": "PublicSafety", "channel": "pull",
                                       "start": "beginning"}, subscriber)["id"]
    now = clock()
    with db.write_transaction(services.engine) as conn:
        conn.execute(dead_letters.insert(), [
            {"subscription_id": sub, "seq": i, "record_id": f"r{i}", "webhook_id": f"w{i}", "state": "dead",
             "attempts": 1, "created_at": now, "updated_at": now} for i in range(1, 12)])
    (condition,) = found(services, "dead-letters")
    assert condition.orgs == ("glasgow",) and condition.detail["dead_letters"] == 11
    assert found(services, "subscription-disabled") == []
    with db.write_transaction(services.engine) as conn:
        conn.execute(subscriptions.update().where(subscriptions.c.id == sub).values(status="disabled"))
    assert [c.key for c in found(services, "subscription-disabled")] == [sub]


def test_an_agreement_near_its_review_date_or_end_concerns_every_party(services, clock):
    source = agreement_yaml("gazetteer-edinburgh-glasgow", ["edinburgh"], ["glasgow"],
                            {"gazetteer-address": {"fields": ["uprn", "town"]}}, valid_until="2027-06-30")
    source += "review_date: '2026-12-01'\n"
    activate_agreement(services, source, ["edinburgh", "glasgow"])
    assert found(services, "agreement-review", datetime(2026, 10, 31, tzinfo=timezone.utc)) == []
    (review,) = found(services, "agreement-review", datetime(2026, 11, 2, tzinfo=timezone.utc))
    assert review.key == "gazetteer-edinburgh-glasgow/review" and review.orgs == ("edinburgh", "glasgow")
    (end,) = found(services, "agreement-review", datetime(2027, 6, 15, tzinfo=timezone.utc))
    assert end.key == "gazetteer-edinburgh-glasgow/end" and end.detail["days_left"] == 15


def test_a_return_overdue_for_each_council_that_has_not_sent_it(services, clock):
    overdue = found(services, "return-overdue")
    assert overdue, "the catalogue's school-meals return is expected from every council"
    assert {c.orgs for c in overdue if c.detail["dataset"] == "data-return.school-meals"} == {("edinburgh",),
                                                                                              ("glasgow",)}


@pytest.fixture
def alert_settings():
    settings = only()  # no alert rules: this module's last test is about the quality report alone
    settings.quality_report_hour = 7
    return settings


def test_the_daily_quality_report_goes_once_to_a_council_that_asked_for_it(services, clock, smtp_server):
    services.alerts.set_contact(ops("edinburgh"), "edinburgh", "data@edinburgh.example", None, quality_report=True)
    services.alerts.set_contact(ops("glasgow"), "glasgow", "ops@glasgow.example", None)  # did not ask
    publish(services, good=3, bad=2)
    clock.set("2026-11-03T06:30:00Z")
    assert services.alerts.run()["sent"] == 0  # before the report's hour
    clock.set("2026-11-03T07:05:00Z")
    assert services.alerts.run()["sent"] == 1
    clock.advance(hours=3)
    assert services.alerts.run()["sent"] == 0  # once a day
    (mail,) = smtp_server.received()
    assert mail["to"] == "data@edinburgh.example"
    assert mail["subject"] == "[Causeway] Data quality for edinburgh on 2026-11-02: 2 rejected field errors"
    assert "gazetteer-address" in mail["body"] and "/occurred_at: 2" in mail["body"]
    assert "e.g. " in mail["body"] and "https://hub.causeway.example/console/quality" in mail["body"]
    assert json.dumps(mail)  # plain text, nothing else attached
