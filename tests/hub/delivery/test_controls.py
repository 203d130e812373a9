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


def _letter(services, sub_id: str, seq: int, record_id: str) -> int:
    from hub import db
    from hub.delivery.models import dead_letters

    now = db.utcnow()
    with db.write_transaction(services.engine) as conn:
        return conn.execute(dead_letters.insert().values(
            subscription_id=sub_id, seq=seq, record_id=record_id, webhook_id=f"msg_{seq}", state="dead",
            status_code=422, error="refused", attempts=1, created_at=now, updated_at=now)).inserted_primary_key[0]


def test_the_event_as_sent_is_a_disclosure_and_personal_data_is_not_for_ops(
        services, grant, subscribe, publish, client, auth):
    from support.factories import referral_record

    grant("sds", "referral")
    sub = subscribe(channel="pull", dataset="referral", start="now")
    record = referral_record("ref-901")
    (seq,) = publish([record])
    letter = _letter(services, sub["id"], seq, record["id"])
    with pytest.raises(Forbidden):
        services.delivery.dead_letter_event(sub["id"], letter, who("sds", "ops"))
    with pytest.raises(NotFound):
        services.delivery.dead_letter_event(sub["id"], letter, who("edinburgh", "governance"))
    shown = services.delivery.dead_letter_event(sub["id"], letter, who("sds", "governance"))
    assert shown["event"]["data"]["referral_id"] == "ref-901"
    disclosures = client.get("/api/v1/subjects/subj-001/disclosures", headers=auth("edinburgh", "governance")).json()
    assert any(d.get("channel") == "console" and d.get("recipient") == "sds" for d in disclosures["disclosures"])
    entries = client.get("/api/v1/audit?action=subscription.dead-letter-event", headers=auth("sds", "governance"))
    assert [e["actor"] for e in entries.json()["entries"]] == ["sds/governance/key:sds-governance"]
