"""The worker plans a subscription's next page while the last one is being sent. Such a page
goes out only if it is still what would be planned now: a policy change in between (consent
withdrawn, an agreement suspended, while the page before it is in flight) means it is decided
again."""
from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from hub.delivery.channel import Outcome
from support.delivery_fakes import FakeChannel
from support.factories import example_payload, gazetteer_record, referral_record
from support.waiting import wait_until


@pytest.fixture
def settings(settings):
    return replace(settings, delivery=replace(settings.delivery, batch_max_events=2, bulk_page_size=2))


class HeldChannel(FakeChannel):
    """Answers ok, but holds the first message until `release` is set."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()
        super().__init__(self._answer)

    def _answer(self, message) -> Outcome:
        if not self.holding.is_set():
            self.holding.set()
            assert self.release.wait(30), "the test never released the first page"
        return Outcome("ok", 200)

    def sequences(self) -> list[int]:
        return [seq for message in list(self.sent) for seq in message.seqs]


def test_a_page_planned_while_the_last_was_sent_is_not_sent_once_its_agreement_is_suspended(
        services, grant, subscribe, publish):
    agreement = grant("sds", "gazetteer-address")
    sub = subscribe(dataset="gazetteer-address", channel="webhook", url="http://127.0.0.1:9/hook", batch=True,
                    start="beginning")
    seqs = publish([gazetteer_record(7000 + i) for i in range(6)])
    channel = HeldChannel()
    worker = services.worker(worker_id="ahead-test", channels={"webhook": channel}).start()
    subscriber = services.orgs.authenticate(services.orgs.issue_key("sds", "subscriber", actor="test"))
    try:
        assert channel.holding.wait(30), "the first page was never sent"
        # While the first page is in flight the second is read and decided ahead of time.
        wait_until(lambda: sub["id"] in worker._ahead, timeout=10, message="the next page planned ahead")
        assert [int(e["sequence"]) for e in worker._ahead[sub["id"]].messages[0].events] == seqs[2:4]
        grant.suspend(agreement)
        channel.release.set()
        # The pause is written before the cursor of the page in flight: wait for both.
        status = wait_until(lambda: (s := services.delivery.status(sub["id"], subscriber))["status"] == "paused"
                            and s["cursor"] == seqs[1] and s,
                            timeout=15, message="the subscription paused after the page delivered")
        assert status["cursor"] == seqs[1]  # held after the page delivered, nothing skipped
        assert channel.sequences() == seqs[:2]  # the page planned ahead was not sent
    finally:
        channel.release.set()
        worker.stop()


def test_a_record_whose_consent_is_withdrawn_while_the_page_before_it_is_sent_is_not_delivered(
        services, grant, subscribe, publish, key_for):
    grant("sds", "referral", purpose="ServiceProvision", lawful_basis="consent")
    governance = services.orgs.authenticate(key_for("edinburgh", "governance"))
    consents = {subject: services.policy.consents.give({
        "subject": subject, "purpose": "ServiceProvision", "recipients": ["sds"], "method": "signed form",
        "evidence_ref": f"EV-{subject}", "given_at": "2026-01-05T10:00:00Z"}, governance)["id"]
        for subject in ("subj-a", "subj-b", "subj-c", "subj-d")}
    sub = subscribe(dataset="referral", purpose="ServiceProvision", channel="webhook", url="http://127.0.0.1:9/hook",
                    batch=True, start="beginning")
    payload = dict(example_payload("referral", 3), referring_org="edinburgh", receiving_org="sds")
    seqs = publish([referral_record(f"REF-{subject}", subject=subject, schema_version=3,
                                    payload=dict(payload, referral_id=f"REF-{subject}"))
                    for subject in consents])
    channel = HeldChannel()
    worker = services.worker(worker_id="ahead-test", channels={"webhook": channel}).start()
    try:
        assert channel.holding.wait(30), "the first page was never sent"
        wait_until(lambda: sub["id"] in worker._ahead, timeout=10, message="the next page planned ahead")
        assert [int(e["sequence"]) for e in worker._ahead[sub["id"]].messages[0].events] == seqs[2:4]
        services.policy.consents.withdraw(consents["subj-c"], governance)
        channel.release.set()
        subscriber = services.orgs.authenticate(key_for("sds", "subscriber"))
        wait_until(lambda: services.delivery.status(sub["id"], subscriber)["cursor"] == seqs[-1], timeout=15,
                   message="the subscription caught up")
        # subj-c's referral, allowed when its page was planned ahead, was decided again and withheld.
        assert channel.sequences() == [seqs[0], seqs[1], seqs[3]]
    finally:
        channel.release.set()
        worker.stop()
