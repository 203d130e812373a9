"""Several subscriptions of one recipient sent the same page together: the record was handed over
once per subscription, and the subject-access report and the audit say so (the rows may be stored
as one disclosure with `copies`)."""
from __future__ import annotations

from sqlalchemy import select

from hub.delivery.channel import Outcome
from hub.policy.models import disclosures
from support.delivery_fakes import FakeChannel
from support.factories import example_payload, referral_record
from support.waiting import wait_until


def test_one_page_sent_by_three_subscriptions_is_disclosed_three_times(services, grant, subscribe, publish,
                                                                       client, auth, key_for):
    grant("sds", "referral", purpose="ServiceProvision", lawful_basis="consent")
    governance = services.orgs.authenticate(key_for("edinburgh", "governance"))
    services.policy.consents.give({"subject": "subj-a", "purpose": "ServiceProvision", "recipients": ["sds"],
                                   "method": "signed form", "evidence_ref": "EV-a",
                                   "given_at": "2026-01-05T10:00:00Z"}, governance)
    subs = [subscribe(dataset="referral", purpose="ServiceProvision", channel="webhook",
                      url=f"http://127.0.0.1:9/hook/{n}", batch=True, start="beginning") for n in range(3)]
    payload = dict(example_payload("referral", 3), referring_org="edinburgh", receiving_org="sds")
    # subj-b gave no consent: withheld from every subscription, and disclosed to none.
    (allowed, withheld) = publish([referral_record(f"REF-{s}", subject=s, schema_version=3,
                                                   payload=dict(payload, referral_id=f"REF-{s}"))
                                   for s in ("subj-a", "subj-b")])
    channel = FakeChannel(lambda message: Outcome("ok", 200))
    worker = services.worker(worker_id="copies-test", channels={"webhook": channel}).start()
    subscriber = services.orgs.authenticate(key_for("sds", "subscriber"))
    try:
        wait_until(lambda: all(services.delivery.status(s["id"], subscriber)["cursor"] == withheld for s in subs),
                   timeout=15, message="every subscription caught up")
    finally:
        worker.stop()
    assert sorted(seq for message in channel.sent for seq in message.seqs) == [allowed] * 3

    # The subject-access report lists the record once per subscription that handed it over.
    report = client.get("/api/v1/subjects/subj-a/disclosures", headers=auth("edinburgh", "governance")).json()
    assert [(d["recipient"], d["channel"]) for d in report["disclosures"]] == [("sds", "webhook")] * 3
    assert client.get("/api/v1/subjects/subj-b/disclosures",
                      headers=auth("edinburgh", "governance")).json()["disclosures"] == []
    # Each subscription's page has its audit entry.
    entries = client.get("/api/v1/audit", headers=auth("sds", "governance")).json()["entries"]
    assert sum(e["detail"]["count"] for e in entries if e["action"] == "records.disclose") == 3
    with services.engine.connect() as conn:
        stored = conn.execute(select(disclosures.c.seq, disclosures.c.copies)).all()
    assert sum(copies for seq, copies in stored if seq == allowed) == 3 and {seq for seq, _ in stored} == {allowed}
