"""Operators' controls of a subscription (pause, resume, try now, the event as sent) and the
provider's view of how far recipients are behind on its data, through the delivery service
on a real database, with the rules of who may do what."""
from __future__ import annotations

import pytest

from hub.auth import Principal
from hub.errors import Conflict, Forbidden, NotFound
from support.factories import gazetteer_record

from .conftest import PURPOSE

pytestmark = pytest.mark.timeout(60)


def who(org: str, role: str) -> Principal:
    return Principal(org=org, role=role, credential_id=f"{org}-{role}")


def test_pause_holds_resume_lets_go_and_only_the_own_org_may(services, grant, subscribe, client, auth):
    grant("sds", "gazetteer-address")
    sub = subscribe(channel="webhook", url="http://127.0.0.1:9/hook", dataset="gazetteer-address")
    delivery = services.delivery
    with pytest.raises(NotFound):  # another org is not told it exists
        delivery.pause(sub["id"], who("edinburgh", "ops"))
    with pytest.raises(Forbidden):
        delivery.pause(sub["id"], who("sds", "governance"))  # looks, does not act
    paused = delivery.pause(sub["id"], who("sds", "ops"))
    assert paused["status"] == "paused" and paused["paused_by"] == "sds/ops/key:sds-ops"
    assert delivery.status(sub["id"], who("sds", "subscriber"))["status"] == "paused"
    with pytest.raises(Conflict):
        delivery.try_now(sub["id"], who("sds", "ops"))  # resume first
    resumed = delivery.resume(sub["id"], who("sds", "subscriber"))
    assert resumed["status"] == "active" and "paused_by" not in resumed
    entries = client.get("/api/v1/audit", headers=auth("sds", "governance")).json()["entries"]
    assert {(e["action"], e["actor"]) for e in entries if e["target"] == sub["id"]} >= {
        ("subscription.pause", "sds/ops/key:sds-ops"), ("subscription.resume", "sds/subscriber/key:sds-subscriber")}


def test_a_pull_feed_has_nothing_to_pause(services, grant, subscribe):
    sub = subscribe(channel="pull", dataset="gazetteer-address")
    with pytest.raises(Conflict):
        services.delivery.pause(sub["id"], who("sds", "ops"))


def test_the_provider_sees_how_far_each_entitled_recipient_is_behind_on_its_own_records(
        services, grant, subscribe, publish):
    grant("sds", "gazetteer-address")
    entitled = subscribe(channel="pull", dataset="gazetteer-address", start="beginning")
    publish([gazetteer_record(7000 + i) for i in range(3)])
    seen = services.delivery.provider_deliveries(who("edinburgh", "ops"))
    assert [(d["id"], d["org"], d["behind"]) for d in seen] == [(entitled["id"], "sds", 3)]
    assert set(seen[0]) == {"id", "org", "dataset", "purpose", "channel", "status", "behind", "seconds",
                            "last_success_at"}  # health metadata: no URL, filter or error text
    # An org that shares nothing with sds sees nothing of its subscription (deny by default).
    assert services.delivery.provider_deliveries(who("fife", "ops")) == []
    with pytest.raises(Forbidden):
        services.delivery.provider_deliveries(who("edinburgh", "publisher"))
    assert PURPOSE == seen[0]["purpose"]
