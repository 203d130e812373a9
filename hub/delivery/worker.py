"""The delivery worker: claims due subscriptions by lease, reads a page after
each cursor, decides policy per record at that moment, hands what is allowed to
the channel, and advances the cursor (with the disclosures) in one transaction
only after the channel said delivered.

It works in rounds over the subscriptions it holds. Subscriptions whose cursors
stand at the same place share the round's work: the page is read once, policy is
decided once per recipient and purpose (at that moment, for all of them), and each
event is made and encoded once. Sending runs on a small thread pool (one
subscription per thread, so a slow endpoint holds back only its own
subscription); what came back is written for the subscriptions sent together in
one transaction (a result waits GATHER_SECONDS at most for the others). A publish
in the same process wakes the worker at once; the poll is the fallback for
publishes made elsewhere.

While a backlog's page is being sent, the page after it is read and decided
(`_plan_ahead`), so that it goes out as soon as the result is written. It goes out
only if it is still what would be planned then: the subscription as assumed, and
its decisions standing (`planner.Shared`: made under the policy revision still in
force, in any process, and less than `planner.DECISIONS_STAND` ago); otherwise it
is decided again. The same `Shared` lets a subscription a page behind the others
reuse their decisions, events and bodies. A round asks the database for the policy
revision once (`PolicyService.pinned`) and, if policy moved while it decided,
checks again what covers each page before sending it.

Several workers (processes) share subscriptions through leases in the database:
a subscription is claimed by an atomic conditional UPDATE, renewed by a heartbeat
while it is worked on, released when caught up, and taken over by another worker
once a dead worker's lease expires.

This module is the loop; its parts are small and each testable alone: `leases`
(claim, heartbeat, release), `planner` (subscriptions and rows in, pages out, no
database), `handover` (a page's messages to its channel, a `PageResult` back) and
`writer` (what came back, written). What it needs of policy is
`policy.DecisionPoint`.

The page being sent is remembered (`inflight_to`) before sending, so a worker
that dies mid-page is followed by an identical page with the same webhook-ids:
a receiver that de-duplicates by webhook-id sees each event once.

Order: a subscription's records go out in log order, one page after the other,
so records with the same key arrive in the order they were published. An event
refused for good (dead letter) does not hold back later events with its key; a
consumer that later receives the dead letter again (after a retry) can tell it
is stale by its `sequence`.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.records.models import records
from hub.records.service import live_records

from . import disclose, statements
from .channel import Channel, Message, Outcome, Target
from .handover import hand_over
from .leases import Leases
from .models import dead_letters, subscriptions
from .planner import (
    Cohort,
    Page,
    PageResult,
    Shared,
    Subscription,
    close_together,
    cohorts_of,
    page_limit,
    plan,
    read_window,
    slice_window,
)
from .service import DeliveryService
from .writer import UNEXPECTED, Next, ResultWriter, Retried

log = logging.getLogger("causeway.delivery")

# Subscriptions sent together wait this long for each other after the first of them is
# done, so that they stay together and keep sharing the work of a page.
GATHER_SECONDS = 0.05
# In a backlog (full pages) they wait longer: a cohort that splits no longer shares its work,
# and each part then costs what the whole did. Throughput is what counts there, not a moment's
# latency, and a subscription whose endpoint is slower than this still goes on alone.
BACKLOG_GATHER_SECONDS = 0.25


class Worker:
    def __init__(self, service: DeliveryService, channels: dict[str, Channel], metrics: Any = None,
                 worker_id: str | None = None, clock: Callable[[], datetime] = db.utcnow):
        self.service = service
        self.engine: Engine = service.engine
        self.settings = service.delivery
        self.policy = service.policy
        self.channels = channels
        self.metrics = metrics
        self.clock = clock
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.leases = Leases(self.engine, self.settings, self.id, clock)
        self.writer = ResultWriter(self.engine, self.settings, self.policy, self.leases, clock)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._published = False  # a publish in this process asked for a claim before the next poll
        self._sending: set[str] = set()  # on the pool, or finished and not yet written
        self._done: list[Page | Retried] = []  # finished pages and dead-letter retries, to be written
        self._cohorts: dict[str, Cohort] = {}
        self._ahead: dict[str, Page] = {}  # subscription -> its next page, planned while the last one was sent
        self._shared: Shared | None = None  # decisions and events pages planned a moment apart share
        self._gather_until: float | None = None
        self._followed: tuple[Any, float] = (None, 0.0)  # policy revision and moment subscriptions last followed
        self._done_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency), thread_name_prefix="deliver")
        self._thread: threading.Thread | None = None

    @property
    def _held(self) -> set[str]:
        return self.leases.held

    # -- the loop --------------------------------------------------------------
    def start(self) -> Worker:
        self._thread = threading.Thread(target=self.run, name=f"delivery-{self.id}", daemon=True)
        self._thread.start()
        return self

    def wake(self) -> None:
        """Records were appended (called after the commit): look for work now rather than at the next poll."""
        self._published = True
        self._wake.set()

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            self._write_done(gather=False)  # what was handed over while stopping is written, not sent again
        except Exception:
            log.exception("delivery worker %s: writing the last results failed", self.id)
        try:
            self.leases.release(list(self._held))
        except Exception:
            log.exception("delivery worker %s: releasing leases failed; they expire by themselves", self.id)
        self._held.clear()
        for channel in self.channels.values():
            channel.close()

    def run(self) -> None:
        log.info("delivery worker %s started", self.id)
        last_beat = last_claim = last_follow = 0.0
        poll = self.settings.poll_interval_seconds
        while not self._stop.is_set():
            self._wake.clear()  # anything that sets it from here on is seen by this round or the next
            try:
                if time.monotonic() - last_follow >= poll:
                    last_follow = time.monotonic()
                    self.follow_agreements()
                if self._published or time.monotonic() - last_claim >= poll:
                    self._published = False
                    last_claim = time.monotonic()
                    self.claim()
                if time.monotonic() - last_beat > self.settings.lease_seconds / 3:
                    self.heartbeat()
                    last_beat = time.monotonic()
                self.round()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("delivery worker %s: a round failed; trying again", self.id)
            until = last_claim + poll
            if self._gather_until is not None:
                until = min(until, self._gather_until)
            self._wake.wait(max(0.0, until - time.monotonic()))
        log.info("delivery worker %s stopped", self.id)

    def follow_agreements(self) -> None:
        """Subscriptions show what covers them (a suspended agreement pauses them) as soon as policy
        changes, in any process, and at least every agreement_recheck_seconds (validity windows)."""
        revision = self.policy.revision()
        if revision == self._followed[0] and time.monotonic() - self._followed[1] < self.settings.agreement_recheck_seconds:
            return
        self._followed = (revision, time.monotonic())
        self.service.follow_agreements()

    def claim(self) -> list[str]:
        """Lease the subscriptions that have work and are free (or whose lease expired)."""
        return self.leases.claim()

    def heartbeat(self) -> None:
        self.leases.heartbeat()

    def run_until_idle(self, timeout: float = 30.0) -> None:
        """Deliver everything due now from this thread (for the CLI's --once and tests)."""
        deadline = time.monotonic() + timeout
        self.follow_agreements()
        while time.monotonic() < deadline:
            self._wake.clear()
            claimed = self.claim()
            self.round()
            if not claimed and not self._held and not self._sending:
                return
            self._wake.wait(0.05)

    # -- a round -----------------------------------------------------------------
    def round(self) -> None:
        """Write what came back from sending; then prepare, mark and send the next page
        of every held subscription that is not sending."""
        self._gather_until = None
        self._write_done()
        due, moment = [], time.monotonic()
        for sub_id in self._held:
            if sub_id in self._sending:
                continue
            cohort = self._cohorts.get(sub_id)
            if cohort is not None and cohort.first_done is not None and moment < cohort.first_done + cohort.gather \
                    and any(member in self._sending for member in cohort.members):
                until = cohort.first_done + cohort.gather
                self._gather_until = until if self._gather_until is None else min(self._gather_until, until)
                continue  # wait a moment for the others sent with it
            due.append(sub_id)
        if due and not self._stop.is_set():
            self._prepare_and_send(due)

    def _write_done(self, gather: bool = True) -> None:
        with self._done_lock:
            done, self._done = self._done, []
        if gather:
            done = self._gathered(done)
        if not done:
            return
        settled = self.writer.write(done)
        moment = time.monotonic()
        for (sub_id, result), item in zip(settled, done):
            self._sending.discard(sub_id)
            cohort = self._cohorts.get(sub_id)
            if cohort is not None and cohort.first_done is None:
                cohort.first_done = item.finished_at if isinstance(item, Page) else moment
            if result == "turn":
                self._published = True  # others wait for a slot: claim again at once
            if result != "more":
                self._held.discard(sub_id)
                self._cohorts.pop(sub_id, None)
                self._ahead.pop(sub_id, None)
            if isinstance(item, Page):
                self._after(item)

    def _gathered(self, done: list[Page | Retried]) -> list[Page | Retried]:
        """What to write now: a page sent with others waits (GATHER_SECONDS at most from when it came
        back) for the rest of them, so that their results are written in one transaction."""
        moment = time.monotonic()
        finished = {item.sub.id if isinstance(item, Page) else item.sub_id for item in done}
        now: list[Page | Retried] = []
        later: list[Page | Retried] = []
        for item in done:
            cohort = self._cohorts.get(item.sub.id) if isinstance(item, Page) else None
            if isinstance(item, Page) and cohort is not None and moment < item.finished_at + cohort.gather \
                    and any(member in self._sending and member not in finished for member in cohort.members):
                later.append(item)
                until = item.finished_at + cohort.gather
                self._gather_until = until if self._gather_until is None else min(self._gather_until, until)
            else:
                now.append(item)
        if later:
            with self._done_lock:
                self._done[:0] = later
        return now

    def _after(self, page: Page) -> None:
        sub, result = page.sub, page.result
        if self.metrics is not None:
            self.metrics.count_delivery(sub.id, sub.channel, len(result.delivered), len(result.refused),
                                        1 if result.failure else 0, page.decided.denied)
        if result.failure is not None:
            log.warning("subscription %s: delivery failed (%s); attempt %d", sub.id, result.failure.error,
                        sub.attempts + 1)
            if self.metrics is not None:
                self.metrics.count_retry(sub.id)

    def _prepare_and_send(self, due: list[str]) -> None:
        now = self.clock()
        with self.engine.connect() as conn:
            found_rows = conn.execute(statements.SUBSCRIPTIONS_IN, {"ids": due}).all()
            subs = [Subscription.of(row) for row in found_rows]
            paused = {row.id for row in found_rows if row.paused_at is not None}  # by hand, since the claim
            retrying = set(conn.execute(statements.RETRYING_IN, {"ids": due}).scalars())
        found = {sub.id for sub in subs}
        self._held.difference_update(set(due) - found)  # deleted meanwhile
        ahead = {sub_id: self._ahead.pop(sub_id) for sub_id in due if sub_id in self._ahead}
        with self.policy.pinned() as revision:
            release, held, covered_again, ready = self._screen(subs, paused, retrying, now)
            pages, idle, quiet = self._plan_round(ahead, ready, held, release, now)
        if self.policy.revision() != revision:
            # Policy changed while this round was decided: what covers each page is checked again
            # (an agreement suspended in between holds the page, as plan() does within a round).
            pages, quiet = self._recheck(pages, held, release, now), self._recheck(quiet, held, release, now)

        sending: list[Page] = []
        with db.write_transaction(self.engine) as conn:
            for sub, status, reason in held:
                disclose.set_coverage(conn, sub, status, reason)
                conn.execute(subscriptions.update().where(subscriptions.c.id == sub.id).values(
                    next_attempt_at=now + timedelta(seconds=self.settings.agreement_recheck_seconds)))
            held_back = {sub.id for sub, _, _ in held}  # found uncovered again once decided
            for sub in covered_again:
                if sub.id not in held_back:
                    disclose.set_coverage(conn, sub, "active", None)
            for sub in idle:
                if sub.inflight_to is not None:
                    self.writer.advance(conn, sub, sub.inflight_to, now)
                release.append(sub.id)
            for page in quiet:
                if not self.writer.advance(conn, page.sub, page.last_seq, now, page):
                    release.append(page.sub.id)
            for page in pages:
                if not self._mark_inflight(conn, page):
                    release.append(page.sub.id)
                    continue
                sending.append(page)
            self.leases.release(release, conn)
        self._held.difference_update(release)
        for page in quiet:
            if self.metrics is not None and page.sub.id not in release:
                self._after(page)
        if any(page.sub.id not in release for page in quiet):
            self._wake.set()  # their next page is due now
        for sub_id in due:
            self._cohorts.pop(sub_id, None)
        cohorts = cohorts_of(sending)
        full = {page.sub.id for page in sending if self._full(page)}
        for cohort in cohorts.values():
            cohort.gather = BACKLOG_GATHER_SECONDS if cohort.members <= full else GATHER_SECONDS
        self._cohorts.update(cohorts)
        for page in sending:
            self._sending.add(page.sub.id)
            self._pool.submit(self._send, page)
        self._plan_ahead(sending)

    # -- the next page, planned while this one is sent -----------------------------
    def _plan_ahead(self, sending: list[Page]) -> None:
        """While pages are on the pool, read and decide the page after each (as if it were
        delivered), so that it can go out as soon as the result is written. Only in a backlog:
        after a page short of full (the end of the log) more may arrive while it is sent, and
        the next page is read when it is due."""
        sending = [page for page in sending if self._full(page)]
        if not sending or self._stop.is_set():
            return
        now = self.clock()
        try:
            after = [replace(page.sub, cursor=page.last_seq, inflight_to=None, attempts=0) for page in sending]
            with self.engine.connect() as conn:
                slices = [(sub, rows) for sub, rows in self._read_pages(conn, after) if rows]
            with self.policy.pinned():
                planned = plan(self.policy, slices, now, self._shared_at(now), self.settings.batch_max_events)
        except Exception:  # planned again in its round
            log.exception("delivery worker %s: planning ahead failed", self.id)
            return
        self._ahead.update((page.sub.id, page) for page in planned.sending if self._full(page))

    def _shared_at(self, now: datetime) -> Shared:
        """What pages planned now share with those planned a moment ago, while their decisions stand."""
        revision = self.policy.revision()
        if self._shared is None or not self._shared.stands(revision, now):
            self._shared = Shared(now, revision)
        return self._shared

    def _still_valid(self, ahead: dict[str, Page], ready: list[Subscription], now: datetime) -> list[Page]:
        """The pages planned ahead that stand as they would be planned now: the subscription is as it
        was assumed (delivered, nothing changed by hand) and their decisions still stand (policy
        unchanged since, made a moment ago: consent can expire by the clock)."""
        if not ahead:
            return []
        revision = self.policy.revision()
        return [page for sub in ready if (page := ahead.get(sub.id)) is not None and page.sub == sub
                and page.shared is not None and page.shared.stands(revision, now)]

    def _screen(self, subs: list[Subscription], paused: set[str], retrying: set[str], now: datetime) -> tuple[
            list[str], list[tuple[Subscription, str, str | None]], list[Subscription], list[Subscription]]:
        """Due subscriptions sorted by what happens to them: released, held (not covered now), shown
        covered again, and ready for a page (those with dead letters to try again go to the pool)."""
        release: list[str] = []
        held: list[tuple[Subscription, str, str | None]] = []
        covered_again: list[Subscription] = []
        ready: list[Subscription] = []
        coverage: dict[tuple[str, str, str], tuple[str, str | None]] = {}
        for sub in subs:
            if sub.lease_owner != self.id or sub.status == "disabled" or sub.id in paused:
                release.append(sub.id)
                continue
            if sub.scope not in coverage:
                coverage[sub.scope] = disclose.coverage(self.policy, sub, now)
            status, reason = coverage[sub.scope]
            if status != "active":
                held.append((sub, status, reason))
                release.append(sub.id)
                continue
            if sub.status != "active":
                covered_again.append(sub)
            if sub.id in retrying:
                self._sending.add(sub.id)
                self._pool.submit(self._retry_job, sub.id)
                continue
            ready.append(sub)
        return release, held, covered_again, ready

    def _plan_round(self, ahead: dict[str, Page], ready: list[Subscription],
                    held: list[tuple[Subscription, str, str | None]], release: list[str],
                    now: datetime) -> tuple[list[Page], list[Subscription], list[Page]]:
        """The pages to send (planned ahead where that still stands, else now), the subscriptions with
        nothing after their cursor, and the pages with nothing for them."""
        pages = self._still_valid(ahead, ready, now)  # planned while their last page was sent
        planned_ahead = {page.sub.id for page in pages}
        ready = [sub for sub in ready if sub.id not in planned_ahead]
        # Subscriptions of the same dataset share one read of the log, the decisions (once per
        # recipient and purpose) and, where their pages coincide, the encoding.
        families: dict[str, list[Subscription]] = {}
        for sub in ready:
            families.setdefault(sub.dataset, []).append(sub)
        idle: list[Subscription] = []  # nothing after the cursor
        quiet: list[Page] = []  # everything on the page passed over (denied or filtered)
        for members in families.values():
            try:
                with self.engine.connect() as conn:
                    slices = self._read_pages(conn, members)
                idle.extend(sub for sub, rows in slices if not rows)
                planned = plan(self.policy, [(sub, rows) for sub, rows in slices if rows], now, self._shared_at(now),
                               self.settings.batch_max_events)
                held.extend(planned.held)
                release.extend(sub.id for sub, _, _ in planned.held)
                pages.extend(planned.sending)
                quiet.extend(planned.quiet)
            except Exception:
                log.exception("delivery worker %s: preparing a page failed unexpectedly", self.id)
                for sub in members:
                    self.writer.fail(sub.id, sub, Outcome("failed", error=UNEXPECTED))
                    release.append(sub.id)

        return pages, idle, quiet

    def _recheck(self, pages: list[Page], held: list[tuple[Subscription, str, str | None]], release: list[str],
                 now: datetime) -> list[Page]:
        """Those of the pages whose subscription is still covered now; the others are held."""
        kept: list[Page] = []
        coverage: dict[tuple[str, str, str], tuple[str, str | None]] = {}
        for page in pages:
            sub = page.sub
            if sub.scope not in coverage:
                coverage[sub.scope] = disclose.coverage(self.policy, sub, now)
            status, reason = coverage[sub.scope]
            if status == "active":
                kept.append(page)
            else:
                held.append((sub, status, reason))
                release.append(sub.id)
        return kept

    def _mark_inflight(self, conn: Connection, page: Page) -> bool:
        """Remember the page before sending it, so a worker that dies mid-page is followed by the
        identical page; False if this worker no longer holds the subscription."""
        sub = page.sub
        values = {"inflight_to": page.last_seq}
        return sub.inflight_to == page.last_seq or bool(conn.execute(
            statements.held_update(frozenset(values)), statements.held_params(sub.id, self.id, sub.epoch, values)).rowcount)

    def _limit(self, sub: Subscription) -> int:
        return page_limit(sub, self.settings.page_size, self.settings.bulk_page_size, self.settings.batch_max_events)

    def _full(self, page: Page) -> bool:
        """A page as long as its subscription's limit: the log has more after it (a backlog)."""
        return len(page.rows) >= self._limit(page.sub)

    def _read_pages(self, conn: Connection, members: list[Subscription]) -> list[tuple[Subscription, list[Any]]]:
        """(subscription, its page) for subscriptions of the same dataset, from one read where they
        stand close together. A page being sent again (inflight_to) is read exactly as it was."""
        slices: list[tuple[Subscription, list[Any]]] = []
        together: list[Subscription] = []
        for sub in members:
            if sub.inflight_to is not None:
                slices.append((sub, disclose.read_page(conn, sub, sub.cursor, self._limit(sub), upto=sub.inflight_to)))
            else:
                together.append(sub)
        for close in close_together(together, self._limit):
            low, window = read_window(close, self._limit)
            rows = disclose.read_page(conn, close[0], low, window, orgs={sub.org for sub in close})
            for sub, page in slice_window(rows, window, close, self._limit):
                if page is None:  # cut short by the window, not the end of the log
                    page = disclose.read_page(conn, sub, sub.cursor, self._limit(sub))
                slices.append((sub, page))
        return slices

    # -- on the pool -------------------------------------------------------------
    def _send(self, page: Page) -> None:
        try:
            page.result = self._deliver(page.sub, page.messages, page.now)
        except Exception:
            log.exception("delivery worker %s: subscription %s failed unexpectedly", self.id, page.sub.id)
            page.result = PageResult(failure=Outcome("failed", error=UNEXPECTED))
        page.finished_at = time.monotonic()
        self._finished(page)

    def _finished(self, item: Page | Retried) -> None:
        with self._done_lock:
            self._done.append(item)
        self._wake.set()

    def _target(self, sub: Subscription, now: datetime) -> Target:
        return Target(sub.id, sub.org, sub.url, self.service.signing_secrets(sub, now) if sub.channel == "webhook" else [])

    def _deliver(self, sub: Subscription, messages: list[Message], now: datetime) -> PageResult:
        if not messages:
            return PageResult()
        channel = self.channels.get(sub.channel)
        if channel is None:
            return PageResult(failure=Outcome("failed", error=f"this worker has no {sub.channel} channel configured",
                                              retry_after=self.settings.agreement_recheck_seconds))
        return hand_over(channel, self._target(sub, now), sub, messages)

    # -- dead letters asked to be tried again -------------------------------------
    def _retry_job(self, sub_id: str) -> None:
        result: Retried = Retried(sub_id, "stop")
        try:
            now = self.clock()
            with self.engine.connect() as conn:
                row = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).first()
                if row is not None and row.lease_owner == self.id:
                    sub = Subscription.of(row)
                    letters = conn.execute(select(dead_letters).where(
                        dead_letters.c.subscription_id == sub_id, dead_letters.c.state == "retrying")
                        .order_by(dead_letters.c.seq).limit(self.settings.page_size)).all()
                    result = Retried(sub_id, self._retry_letters(conn, sub, letters, now) if letters else "more")
        except Exception:
            log.exception("delivery worker %s: subscription %s failed unexpectedly", self.id, sub_id)
            self.writer.fail(sub_id, None, Outcome("failed", error=UNEXPECTED))
        self._finished(result)

    def _retry_letters(self, conn: Connection, sub: Subscription, letters: Sequence[Any], now: datetime) -> Next:
        seqs = [letter.seq for letter in letters]
        rows = conn.execute(select(records).where(records.c.seq.in_(seqs), live_records).order_by(records.c.seq)).all()
        decided = disclose.decide(self.policy, sub, rows, now)
        by_seq = {letter.seq: letter for letter in letters}
        allowed = dict(zip(decided.seqs, decided.events))
        channel = self.channels.get(sub.channel)
        results: dict[int, Outcome] = {}
        failure = None
        if channel is None:
            failure = Outcome("failed", error=f"this worker has no {sub.channel} channel configured",
                              retry_after=self.settings.agreement_recheck_seconds)
        else:
            target = self._target(sub, now)
            for seq in seqs:
                if seq not in allowed:
                    results[seq] = Outcome("denied", error="no longer allowed under the sharing agreement or consent")
                    continue
                message = Message(by_seq[seq].webhook_id, [allowed[seq]], [seq], batch=sub.batch)
                (outcome,) = channel.deliver(target, [message])[:1] or [Outcome("failed", error="not handed over")]
                if not outcome.done:
                    failure = outcome
                    break
                results[seq] = outcome
        handed = [decided.disclosures[s] for s, o in results.items() if o.done and s in decided.disclosures]
        self.writer.letters_retried(sub, by_seq, results, handed, failure, now)
        return "stop" if failure is not None else "more"
