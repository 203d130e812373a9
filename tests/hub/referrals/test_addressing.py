"""Addressing and direction in the decision point and the delivery planner, on the real policy
service over a real database: a referral is decided for its addressee only, on every path that
hands records over (the planner's pages included); a status update goes back to the referrer
only; a delete of an addressed record goes nowhere; a referral of a version naming no addressee
(1 or 2, from before addressing) goes nowhere either; working days count Monday to Friday, bank
holidays left out."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from hub.delivery.planner import Subscription, decide_pages
from hub.records.models import records
from hub.referrals.journey import add_working_days
from support import ROOT
from support.agreements import activate_agreement
from support.referrals import referral, status

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(services):
    from hub.auth import Principal

    activate_agreement(services, (ROOT / "policies" / "referrals-edinburgh-partners.yaml").read_text(encoding="utf-8"),
                       ["edinburgh", "sds", "fife"])
    publish = services.records.publish
    publish({"records": [referral("EDI-P-1", "sds"), referral("EDI-P-2", "fife"),
                         {**referral("EDI-P-1", "sds"), "op": "delete", "payload": None}]},
            Principal(org="edinburgh", role="publisher", credential_id="t"))
    publish({"records": [status("EDI-P-1", "sds", "accepted")]}, Principal(org="sds", role="publisher", credential_id="t"))
    with services.engine.connect() as conn:
        return conn.execute(select(records).order_by(records.c.seq)).all()


def pull(org: str, dataset: str) -> Subscription:
    return Subscription(id=f"{org}-{dataset}", org=org, dataset=dataset, purpose="ServiceProvision", channel="pull",
                        status="active", cursor=0)


def test_the_planner_pages_a_referral_for_its_addressee_only(services, world):
    referrals = [row for row in world if row.dataset == "referral"]
    subs = [pull(org, "referral") for org in ("sds", "fife", "glasgow")]
    pages = {page.sub.org: page for page in decide_pages(services.delivery.policy, [(sub, referrals) for sub in subs], NOW)}
    keys = {org: [event["subject"] for event in page.decided.events] for org, page in pages.items()}
    assert keys == {"sds": ["EDI-P-1"], "fife": ["EDI-P-2"], "glasgow": []}  # the delete goes to nobody
    assert pages["sds"].decided.denials == {"not-addressee": 2}


def test_a_status_update_is_decided_for_the_referrer_only(services, world):
    update = next(row for row in world if row.dataset == "referral-status")
    from hub.records.service import envelope_of

    decided = {org: services.policy.decide(envelope_of(update), org, "ServiceProvision", NOW)
               for org in ("edinburgh", "fife", "sds", "glasgow")}
    assert decided["edinburgh"].allowed and decided["edinburgh"].payload["status"] == "accepted"
    assert "returns to edinburgh" in " ".join(decided["edinburgh"].reasons)
    assert [org for org, decision in decided.items() if decision.allowed] == ["edinburgh"]


def test_a_stored_referral_of_a_version_naming_no_addressee_is_decided_for_nobody(services, world):
    from hub.records.service import envelope_of

    # as a referral published before addressing lies in the log: version 1, no receiving_org
    stored = envelope_of(next(row for row in world if row.dataset == "referral"))
    payload = {k: v for k, v in stored["payload"].items() if k not in ("receiving_org", "receiving_team")}
    old = {**stored, "schema_version": 1, "payload": payload}
    for org in ("sds", "fife"):  # each a recipient of the agreement covering edinburgh's referrals
        decision = services.policy.decide(old, org, "ServiceProvision", NOW)
        assert not decision.allowed and decision.denial == "not-addressee", org
        assert "addressed to no organisation" in " ".join(decision.reasons)


@pytest.mark.parametrize("start, days, due", [
    ("2026-06-01T10:00:00+00:00", 5, "2026-06-08T10:00:00+00:00"),  # Monday to Monday
    ("2026-06-05T16:00:00+00:00", 1, "2026-06-08T16:00:00+00:00"),  # Friday to Monday
    ("2026-06-06T09:00:00+00:00", 1, "2026-06-09T00:00:00+00:00"),  # Saturday: from Monday
    ("2026-06-03T10:00:00+00:00", 3, "2026-06-08T10:00:00+00:00"),  # across a weekend
])
def test_working_days_skip_weekends(start, days, due):
    assert add_working_days(datetime.fromisoformat(start), days) == datetime.fromisoformat(due)


@pytest.mark.parametrize("start, days, calendar, due", [
    # Easter 2026: Good Friday (3 April) is a bank holiday everywhere, Easter Monday not in Scotland
    ("2026-04-02T10:00:00+00:00", 1, "scotland", "2026-04-06T10:00:00+00:00"),
    ("2026-04-02T10:00:00+00:00", 1, "england-and-wales", "2026-04-07T10:00:00+00:00"),
    ("2026-04-03T09:00:00+00:00", 1, "scotland", "2026-04-07T00:00:00+00:00"),  # made on Good Friday
    # Christmas 2026 falls on a Friday: Boxing Day is kept on Monday 28 December
    ("2026-12-24T10:00:00+00:00", 1, "scotland", "2026-12-29T10:00:00+00:00"),
    ("2026-12-23T10:00:00+00:00", 5, "scotland", "2027-01-05T10:00:00+00:00"),
    # New Year 2027: Scotland keeps 2 January too (a Saturday, so Monday 4 January); England does not
    ("2026-12-31T10:00:00+00:00", 1, "scotland", "2027-01-05T10:00:00+00:00"),
    ("2026-12-31T10:00:00+00:00", 1, "england-and-wales", "2027-01-04T10:00:00+00:00"),
])
def test_working_days_leave_out_the_agreements_bank_holidays(start, days, calendar, due):
    assert add_working_days(datetime.fromisoformat(start), days, calendar) == datetime.fromisoformat(due)
