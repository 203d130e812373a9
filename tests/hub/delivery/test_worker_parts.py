"""The delivery worker's parts, without a database or network: the page planner (shared
decisions and bodies, cohorts, a suspended agreement holding the page), the hand-over
to a channel (a refused batch split to isolate the bad event), and what the result
writer would write (backoff, dead letters, a gone endpoint)."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from hub.config import DeliverySettings
from hub.delivery import disclose
from hub.delivery.channel import Message, Outcome, Target
from hub.delivery.handover import hand_over
from hub.delivery.planner import Page, Subscription, cohorts_of, page_limit, plan, read_window, slice_window
from hub.delivery.policy import DecisionPoint, PolicyPort
from hub.delivery.writer import cursor_values, dead_letter_rows, retry_delay
from hub.records.events import CloudEvents
from support.delivery_fakes import FakeChannel, FakePolicy, log_row

pytestmark = pytest.mark.timeout(10)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
PURPOSE = "PublicSafety"
DATASET = "gazetteer-address"
SETTINGS = DeliverySettings(retry_schedule=(1.0, 5.0, 30.0), max_retry_after_seconds=600.0)


def sub(sub_id: str = "11111111-aaaa-4000-8000-000000000001", org: str = "sds", cursor: int = 0,
        batch: bool = False, attempts: int = 0) -> Subscription:
    return Subscription(id=sub_id, org=org, dataset=DATASET, purpose=PURPOSE, channel="webhook", status="active",
                        cursor=cursor, attempts=attempts, batch=batch, url="https://receiver.example/hook")


@pytest.fixture
def policy() -> FakePolicy:
    fake = FakePolicy()
    fake.allow("sds", DATASET, PURPOSE)
    fake.allow("police", DATASET, PURPOSE)
    return fake


@pytest.fixture
def port(policy: FakePolicy) -> PolicyPort:
    point: DecisionPoint = policy  # the fake is a decision point as far as delivery can tell
    return PolicyPort(point, CloudEvents("https://hub.example"))


def one_page(port: PolicyPort, subscription: Subscription, rows: list) -> Page:
    planned = plan(port, [(subscription, rows)], NOW)
    assert len(planned.sending) == 1, planned
    return planned.sending[0]


def refusing(*bad_seqs: int):
    """A receiver that refuses (422) any message carrying one of these events."""
    def answer(message: Message) -> Outcome:
        if set(message.seqs) & set(bad_seqs):
            return Outcome("refused", status=422, error="unprocessable")
        return Outcome("ok", status=200)
    return answer


TARGET = Target("sub", "sds", "https://receiver.example/hook", ["whsec_test"])


# -- retries -------------------------------------------------------------------------------
def test_backoff_follows_the_schedule_and_then_repeats_its_last_step():
    failed = Outcome("failed", status=503, error="HTTP 503")
    assert [retry_delay(SETTINGS, attempts, failed) for attempts in range(1, 6)] == [1.0, 5.0, 30.0, 30.0, 30.0]


def test_a_receivers_retry_after_wins_over_the_schedule_but_is_capped():
    assert retry_delay(SETTINGS, 1, Outcome("failed", status=429, retry_after=120.0)) == 120.0
    assert retry_delay(SETTINGS, 1, Outcome("failed", status=429, retry_after=10 ** 9)) == 600.0
    assert retry_delay(SETTINGS, 1, Outcome("failed", status=429, retry_after=-5.0)) == 0.0


def test_a_failure_mid_page_keeps_the_cursor_before_the_first_event_not_handed_over(port):
    subscription = sub(attempts=1)
    rows = [log_row(seq) for seq in range(1, 6)]
    page = one_page(port, subscription, rows)

    def answer(message: Message) -> Outcome:
        return Outcome("failed", status=503, error="HTTP 503") if 3 in message.seqs else Outcome("ok", status=200)
    channel = FakeChannel(answer)
    page.result = hand_over(channel, TARGET, subscription, page.messages)

    assert [m.seqs for m in channel.sent] == [[1], [2], [3]]  # nothing after the failure is tried
    assert [seq for seq, _ in page.result.delivered] == [1, 2]
    assert page.settled_cursor() == 2
    values = cursor_values(SETTINGS, subscription, page.settled_cursor(), rows, page.result, NOW)
    assert values["cursor"] == 2 and values["attempts"] == 2 and values["last_error"] == "HTTP 503"
    assert values["next_attempt_at"] == NOW + timedelta(seconds=5.0)  # the second attempt's step
    assert "inflight_to" not in values  # the rest of the page is sent again identically


def test_a_page_delivered_in_full_clears_the_retry_state_and_moves_past_it(port):
    subscription = sub(attempts=3)
    rows = [log_row(seq) for seq in range(1, 4)]
    page = one_page(port, subscription, rows)
    page.result = hand_over(FakeChannel(refusing()), TARGET, subscription, page.messages)

    values = cursor_values(SETTINGS, subscription, page.settled_cursor(), rows, page.result, NOW)
    assert values == {"cursor": 3, "inflight_to": None, "last_success_at": NOW, "attempts": 0, "next_attempt_at": None}


def test_gone_disables_the_subscription_and_says_why(port):
    subscription = sub()
    rows = [log_row(1)]
    page = one_page(port, subscription, rows)
    page.result = hand_over(FakeChannel(lambda m: Outcome("gone", status=410, error="HTTP 410 Gone")), TARGET,
                            subscription, page.messages)

    values = cursor_values(SETTINGS, subscription, page.settled_cursor(), rows, page.result, NOW)
    assert values["status"] == "disabled" and values["status_reason"] == "disabled: HTTP 410 Gone"
    assert values["cursor"] == 0


def test_a_channel_that_stops_early_is_a_failure_not_a_success(port):
    subscription = sub()
    page = one_page(port, subscription, [log_row(1), log_row(2)])

    class Stopping(FakeChannel):
        def deliver(self, target, messages):
            return super().deliver(target, messages)[:1]

    page.result = hand_over(Stopping(refusing()), TARGET, subscription, page.messages)
    assert [seq for seq, _ in page.result.delivered] == [1]
    assert page.result.failure is not None and page.settled_cursor() == 1


# -- dead letters ----------------------------------------------------------------------------
def test_a_refused_batch_is_split_so_only_the_bad_event_becomes_a_dead_letter(port, policy):
    subscription = sub(batch=True)
    rows = [log_row(seq) for seq in range(1, 6)]
    page = one_page(port, subscription, rows)
    channel = FakeChannel(refusing(3))
    page.result = hand_over(channel, TARGET, subscription, page.messages)

    assert [m.seqs for m in channel.sent] == [[1, 2, 3, 4, 5], [1], [2], [3], [4], [5]]
    assert [seq for seq, _ in page.result.delivered] == [1, 2, 4, 5]
    assert [(seq, outcome.status) for seq, _, outcome in page.result.refused] == [(3, 422)]
    assert page.result.failure is None and page.settled_cursor() == 5
    (letter,) = dead_letter_rows(subscription, rows, page.result, NOW)
    assert letter["seq"] == 3 and letter["record_id"] == rows[2].id and letter["state"] == "dead"
    assert letter["webhook_id"] == channel.sent[3].webhook_id != channel.sent[0].webhook_id
    # The refused event was read by the recipient: it counts as disclosed like the others.
    assert page.result.handed == [1, 2, 4, 5, 3]
    assert {page.decided.disclosures[seq].record_id for seq in page.result.handed} == {row.id for row in rows}


def test_a_refused_single_event_goes_to_dead_letters_and_the_rest_flow(port):
    subscription = sub()
    rows = [log_row(seq) for seq in range(1, 4)]
    page = one_page(port, subscription, rows)
    page.result = hand_over(FakeChannel(refusing(2)), TARGET, subscription, page.messages)

    assert [seq for seq, _ in page.result.delivered] == [1, 3]
    assert [row["seq"] for row in dead_letter_rows(subscription, rows, page.result, NOW)] == [2]
    values = cursor_values(SETTINGS, subscription, page.settled_cursor(), rows, page.result, NOW)
    assert values["cursor"] == 3 and values["attempts"] == 0


def test_a_failure_while_isolating_the_bad_event_stops_the_page_there(port):
    subscription = sub(batch=True)
    page = one_page(port, subscription, [log_row(seq) for seq in range(1, 5)])

    def answer(message: Message) -> Outcome:
        if len(message.seqs) > 1:
            return Outcome("refused", status=400, error="bad batch")
        return Outcome("failed", status=503, error="HTTP 503") if message.seqs == [3] else Outcome("ok")
    page.result = hand_over(FakeChannel(answer), TARGET, subscription, page.messages)

    assert [seq for seq, _ in page.result.delivered] == [1, 2] and page.result.refused == []
    assert page.settled_cursor() == 2


def test_a_batch_page_goes_as_consecutive_batches_and_a_failure_keeps_those_acknowledged(port):
    subscription = sub(batch=True)
    rows = [log_row(seq) for seq in range(1, 8)]
    page = plan(port, [(subscription, rows)], NOW, batch_events=3).sending[0]

    assert [m.seqs for m in page.messages] == [[1, 2, 3], [4, 5, 6], [7]]
    assert len({m.webhook_id for m in page.messages}) == 3
    again = plan(port, [(subscription, rows)], NOW, batch_events=3).sending[0]  # the page sent again after a crash
    assert [m.webhook_id for m in again.messages] == [m.webhook_id for m in page.messages]

    def answer(message: Message) -> Outcome:
        return Outcome("failed", status=503, error="HTTP 503") if 4 in message.seqs else Outcome("ok", status=200)
    channel = FakeChannel(answer)
    page.result = hand_over(channel, TARGET, subscription, page.messages)
    assert [m.seqs for m in channel.sent] == [[1, 2, 3], [4, 5, 6]]  # nothing after the failed batch
    assert page.result.handed == [1, 2, 3] and page.settled_cursor() == 3


def test_events_that_go_out_together_are_read_in_bulk_pages_batches_whole():
    assert page_limit(sub(batch=True), page_size=200, bulk_page_size=1000, batch_max_events=100) == 1000
    assert page_limit(sub(batch=True), page_size=200, bulk_page_size=1000, batch_max_events=300) == 900
    assert page_limit(sub(batch=True), page_size=200, bulk_page_size=1000, batch_max_events=5000) == 5000
    assert page_limit(sub(), page_size=200, bulk_page_size=1000, batch_max_events=100) == 200
    mqtt = replace(sub(), channel="mqtt", url=None)
    assert page_limit(mqtt, page_size=200, bulk_page_size=1000, batch_max_events=100) == 1000


# -- cohorts and shared rounds --------------------------------------------------------------------
def test_subscriptions_of_one_recipient_share_one_decision_and_one_encoded_body(port, policy):
    first, second = sub("11111111-aaaa-4000-8000-000000000001", batch=True), \
        sub("22222222-aaaa-4000-8000-000000000002", batch=True)
    other = sub("33333333-aaaa-4000-8000-000000000003", org="police", batch=True)
    rows = [log_row(seq) for seq in range(1, 4)]
    planned = plan(port, [(first, rows), (second, rows), (other, rows)], NOW)

    assert sorted(policy.decide_calls) == [("police", PURPOSE, 3), ("sds", PURPOSE, 3)]  # once per recipient
    pages = {page.sub.id: page for page in planned.sending}
    body = pages[first.id].messages[0].body
    assert body is not None and pages[second.id].messages[0].body is body  # encoded once for both
    assert pages[first.id].messages[0].webhook_id != pages[second.id].messages[0].webhook_id
    assert pages[other.id].messages[0].body is not body  # another recipient's events are its own


def test_pages_sent_together_form_one_cohort_and_a_subscription_elsewhere_its_own(port):
    rows = [log_row(seq) for seq in range(1, 6)]
    together = [sub(f"{n}1111111-aaaa-4000-8000-00000000000{n}") for n in (1, 2)]
    behind = sub("91111111-aaaa-4000-8000-000000000009", cursor=2)
    planned = plan(port, [(together[0], rows), (together[1], rows), (behind, rows[2:])], NOW)

    cohorts = cohorts_of(planned.sending)
    assert cohorts[together[0].id] is cohorts[together[1].id]
    assert cohorts[together[0].id].members == frozenset(s.id for s in together)
    assert cohorts[behind.id].members == frozenset({behind.id})


def test_pages_over_the_same_records_form_one_cohort_whatever_their_channel(port):
    rows = [log_row(seq) for seq in range(1, 6)]
    batches = sub("a1111111-aaaa-4000-8000-000000000001", batch=True)
    mqtt = replace(sub("b1111111-aaaa-4000-8000-000000000002"), channel="mqtt", url=None)
    shorter = sub("c1111111-aaaa-4000-8000-000000000003")  # same cursor, a shorter page: it ends elsewhere
    planned = plan(port, [(batches, rows), (mqtt, rows), (shorter, rows[:3])], NOW)

    cohorts = cohorts_of(planned.sending)
    assert cohorts[batches.id] is cohorts[mqtt.id] and cohorts[batches.id].members == {batches.id, mqtt.id}
    assert cohorts[shorter.id].members == {shorter.id}


def test_one_shared_read_is_sliced_per_cursor_and_a_slice_cut_short_is_read_again():
    level = [sub("a1111111-aaaa-4000-8000-000000000001"), sub("b1111111-aaaa-4000-8000-000000000002")]
    assert read_window(level, lambda s: 3) == (0, 3)  # side by side: exactly one page
    apart = [sub("a1111111-aaaa-4000-8000-000000000001"), sub("b1111111-aaaa-4000-8000-000000000002", cursor=2)]
    low, window = read_window(apart, lambda s: 3)
    assert (low, window) == (0, 6)
    rows = [log_row(seq) for seq in range(1, 7)]
    ahead = sub("c1111111-aaaa-4000-8000-000000000003", cursor=4)
    sliced = slice_window(rows, window, [*apart, ahead], lambda s: 3)
    assert [[row.seq for row in page] if page is not None else None for _, page in sliced] == \
        [[1, 2, 3], [3, 4, 5], None]  # only 2 left for the last in a full window: read on its own
    ((_, end),) = slice_window(rows[:5], window, [ahead], lambda s: 3)
    assert [row.seq for row in end] == [5]  # the end of the log, not the window


# -- pause on a suspended agreement -----------------------------------------------------------------
def test_a_suspended_agreement_pauses_the_subscription_and_holds_its_page(port, policy):
    subscription = sub()
    policy.suspend("sds", DATASET, PURPOSE, "gazetteer-sharing")
    assert disclose.coverage(port, subscription, NOW) == ("paused", "paused: agreement gazetteer-sharing suspended")

    planned = plan(port, [(subscription, [log_row(1), log_row(2)])], NOW)
    assert planned.sending == [] and planned.quiet == []  # not passed over as denied: the cursor waits
    assert planned.held == [(subscription, "paused", "paused: agreement gazetteer-sharing suspended")]


def test_without_any_agreement_a_subscription_waits_for_one(port):
    subscription = sub(org="nobody")
    status, reason = disclose.coverage(port, subscription, NOW)
    assert status == "awaiting-agreement" and "no active sharing agreement lets nobody receive" in reason


def test_records_the_recipient_may_not_have_are_passed_over_and_counted(port, policy):
    subscription = sub()
    rows = [log_row(1, publisher="glasgow"), log_row(2, publisher="glasgow")]  # not a provider in the grant
    planned = plan(port, [(subscription, rows)], NOW)

    (page,) = planned.quiet
    assert planned.sending == [] and page.messages == []
    assert page.decided.denials == {"no-agreement": 2} and page.last_seq == 2


def test_without_a_decision_point_nothing_is_covered_or_allowed():
    nothing = PolicyPort(None, CloudEvents("https://hub.example"))
    assert disclose.coverage(nothing, sub(), NOW)[0] == "awaiting-agreement"
    (decision,) = nothing.decide_many([{"id": "x"}], "sds", PURPOSE, NOW)
    assert decision.allowed is False
