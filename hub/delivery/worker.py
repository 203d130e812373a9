"""The delivery worker: claims due subscriptions by lease, reads a page after
each cursor, decides policy per record at that moment, hands what is allowed to
the channel, and advances the cursor (with the disclosures) in one transaction
only after the channel said delivered.

It works in rounds over the subscriptions it holds. Subscriptions whose cursors
stand at the same place share the round's work: the page is read once, policy is
decided once per recipient and purpose (at that moment, for all of them), and each
event is made and encoded once. Sending runs on a small thread pool (one
subscription per thread, so a slow endpoint holds back only its own
subscription); what came back is written for all finished subscriptions in one
transaction. A publish in the same process wakes the worker at once; the poll is
the fallback for publishes made elsewhere.

Several workers (processes) share subscriptions through leases in the database:
a subscription is claimed by an atomic conditional UPDATE, renewed by a heartbeat
while it is worked on, released when caught up, and taken over by another worker
once a dead worker's lease expires.

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
import random
import threading
import time
import uuid
from bisect import bisect_right
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from hub import db
from hub.records.models import records
from hub.records.service import envelope_of, live_records

from . import disclose
from .channel import Message, Outcome, Target, encode
from .models import dead_letters, subscriptions
from .service import DeliveryService

log = logging.getLogger("causeway.delivery")

PUSH = ("webhook", "mqtt")


# Subscriptions sent together wait this long for each other after the first of them is
# done, so that they stay together and keep sharing the work of a page.
GATHER_SECONDS = 0.05
UNEXPECTED = "the hub hit an unexpected error delivering; operators can see it in the worker's log"


@dataclass
class Page:
    """One subscription's page: prepared in a round, sent on the pool, written in a later round."""
    sub: object
    rows: list
    decided: disclose.Decided
    messages: list[Message]
    now: datetime
    delivered: list = field(default_factory=list)
    refused: list = field(default_factory=list)
    failure: Outcome | None = None


@dataclass
class Cohort:
    """Subscriptions whose pages were sent together."""
    members: frozenset
    first_done: float | None = None


@dataclass
class Retried:
    """The outcome of retrying a subscription's dead letters ('more' or 'stop')."""
    sub_id: str
    result: str


def message_id(sub, first: int, last: int | None = None) -> str:
    base = f"msg_{sub.id.replace('-', '')[:20]}_{sub.epoch}_{first}"
    return base if last is None or last == first else f"{base}-{last}"


class Worker:
    def __init__(self, service: DeliveryService, channels: dict, metrics=None, worker_id: str | None = None):
        self.service = service
        self.engine: Engine = service.engine
        self.clock = service.clock  # the hub's clock, as the delivery service has it
        self.settings = service.delivery
        self.policy = service.policy
        self.channels = channels
        self.metrics = metrics
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._published = False  # a publish in this process asked for a claim before the next poll
        self._held: set[str] = set()  # leased by this worker (touched by the loop thread only)
        self._sending: set[str] = set()  # on the pool, or finished and not yet written
        self._done: list = []  # finished pages and dead-letter retries, to be written
        self._cohorts: dict[str, Cohort] = {}
        self._waiting = 0  # due subscriptions this worker had no slot for at the last claim
        self._gather_until: float | None = None
        self._followed: tuple = (None, 0.0)  # policy revision and moment subscriptions last followed their agreements
        self._done_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, self.settings.concurrency), thread_name_prefix="deliver")
        self._thread: threading.Thread | None = None

    # -- transactions --------------------------------------------------------
    @contextmanager
    def _txn(self):
        """A short transaction that reads then writes delivery state (not the log or audit)."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn = conn.execution_options(causeway_write=True)  # BEGIN IMMEDIATE
            with conn.begin():
                yield conn

    def _lease_until(self):
        return self.clock() + timedelta(seconds=self.settings.lease_seconds)

    # -- the loop --------------------------------------------------------------
    def start(self) -> "Worker":
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
            self._write_done()  # what was handed over while stopping is written, not sent again
        except Exception:
            log.exception("delivery worker %s: writing the last results failed", self.id)
        try:
            self._release(list(self._held))
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
        slots = max(0, self.settings.concurrency - len(self._held))
        now = self.clock()
        free = or_(subscriptions.c.lease_owner.is_(None), subscriptions.c.lease_expires_at < now,
                   subscriptions.c.lease_owner == self.id)
        with self.engine.connect() as conn:
            candidates = conn.execute(select(
                subscriptions.c.id, subscriptions.c.org, subscriptions.c.dataset, subscriptions.c.cursor).where(
                subscriptions.c.channel.in_(PUSH), subscriptions.c.status != "disabled", free,
                or_(subscriptions.c.next_attempt_at.is_(None), subscriptions.c.next_attempt_at <= now))).all()
            candidates = [c for c in candidates if c.id not in self._held]
            if not candidates:
                return []
            # Due: something in its stream (its dataset, and notices addressed to it) after its cursor.
            heads = disclose.stream_heads(conn, candidates)
            retrying = set(conn.execute(select(dead_letters.c.subscription_id).where(
                dead_letters.c.state == "retrying").distinct()).scalars())
        due = [c.id for c in candidates if heads[c.org, c.dataset] > c.cursor or c.id in retrying]
        # Those left waiting for a slot: held subscriptions make way for them after their page.
        self._waiting = max(0, len(due) - slots)
        if not due or not slots:
            return []
        # Lease only what this worker can start now, so other workers get the rest.
        random.shuffle(due)
        claimed = []
        with self._txn() as conn:
            until = self._lease_until()
            for sub_id in due[:slots]:
                if conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id, free).values(
                        lease_owner=self.id, lease_expires_at=until)).rowcount:
                    claimed.append(sub_id)
        self._held.update(claimed)
        return claimed

    def heartbeat(self) -> None:
        busy = list(self._held)
        if busy:
            with self._txn() as conn:
                conn.execute(subscriptions.update().where(
                    subscriptions.c.id.in_(busy), subscriptions.c.lease_owner == self.id).values(
                    lease_expires_at=self._lease_until()))

    def _release(self, sub_ids, conn=None) -> None:
        if not sub_ids:
            return
        if conn is None:
            with self._txn() as conn:
                return self._release(sub_ids, conn)
        conn.execute(subscriptions.update().where(
            subscriptions.c.id.in_(list(sub_ids)), subscriptions.c.lease_owner == self.id).values(
            lease_owner=None, lease_expires_at=None))

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
        self._write_done()
        due, moment, self._gather_until = [], time.monotonic(), None
        for sub_id in self._held:
            if sub_id in self._sending:
                continue
            cohort = self._cohorts.get(sub_id)
            if cohort is not None and cohort.first_done is not None and moment < cohort.first_done + GATHER_SECONDS \
                    and any(member in self._sending for member in cohort.members):
                until = cohort.first_done + GATHER_SECONDS
                self._gather_until = until if self._gather_until is None else min(self._gather_until, until)
                continue  # wait a moment for the others sent with it
            due.append(sub_id)
        if due and not self._stop.is_set():
            self._prepare_and_send(due)

    def _write_done(self) -> None:
        with self._done_lock:
            done, self._done = self._done, []
        if not done:
            return
        try:
            with db.write_transaction(self.engine) as conn:
                disclosed: list = []
                settled = [self._settle(conn, item, disclosed) for item in done]
                self.policy.record_disclosure_batches(conn, disclosed)
        except Exception:
            log.exception("delivery worker %s: writing %d results together failed; writing them one by one",
                          self.id, len(done))
            settled = []
            for item in done:
                try:
                    with db.write_transaction(self.engine) as conn:
                        settled.append(self._settle(conn, item, None))
                except Exception:
                    log.exception("delivery worker %s: writing a result failed", self.id)
                    sub_id = item.sub_id if isinstance(item, Retried) else item.sub.id
                    self._fail(sub_id, None, Outcome("failed", error=UNEXPECTED))
                    settled.append((sub_id, "stop"))
        moment = time.monotonic()
        for (sub_id, result), item in zip(settled, done):
            self._sending.discard(sub_id)
            cohort = self._cohorts.get(sub_id)
            if cohort is not None and cohort.first_done is None:
                cohort.first_done = moment
            if result != "more":
                self._held.discard(sub_id)
                self._cohorts.pop(sub_id, None)
            if isinstance(item, Page):
                self._after(item)

    def _settle(self, conn, item, disclosed: list | None) -> tuple[str, str]:
        """Write one finished page (or dead-letter retry) in the round's transaction: (id, 'more'|'stop')."""
        if isinstance(item, Retried):
            if item.result != "more":
                self._release([item.sub_id], conn)
            return item.sub_id, item.result
        sub, decided, failure = item.sub, item.decided, item.failure
        if failure is None:
            new_cursor = item.rows[-1].seq
        else:
            new_cursor = decided.seqs[len(item.delivered) + len(item.refused)] - 1
        moved = self._advance(conn, sub, new_cursor, item.rows, item.delivered, item.refused, failure, item.now,
                              decided, release=failure is not None, disclosed=disclosed)
        if not moved or failure is not None:
            self._release([sub.id], conn)
            return sub.id, "stop"
        if self._waiting > 0:  # others are waiting for a slot: take turns
            self._waiting -= 1
            self._published = True  # claim again at once
            self._release([sub.id], conn)
            return sub.id, "stop"
        return sub.id, "more"

    def _after(self, page: Page) -> None:
        sub, failure = page.sub, page.failure
        if self.metrics is not None:
            self.metrics.count_delivery(sub.id, sub.channel, len(page.delivered), len(page.refused),
                                        1 if failure else 0, page.decided.denied)
        if failure is not None:
            log.warning("subscription %s: delivery failed (%s); attempt %d", sub.id, failure.error, sub.attempts + 1)
            if self.metrics is not None:
                self.metrics.count_retry(sub.id)

    def _prepare_and_send(self, due: list[str]) -> None:
        now = self.clock()
        pages: list[Page] = []
        with self.engine.connect() as conn:
            subs = conn.execute(select(subscriptions).where(subscriptions.c.id.in_(due))).all()
            retrying = set(conn.execute(select(dead_letters.c.subscription_id).where(
                dead_letters.c.subscription_id.in_(due), dead_letters.c.state == "retrying").distinct()).scalars())
        found = {sub.id for sub in subs}
        self._held.difference_update(set(due) - found)  # deleted meanwhile
        release, uncovered, covered_again, ready = [], [], [], []
        coverage: dict[tuple, tuple] = {}
        for sub in subs:
            if sub.lease_owner != self.id or sub.status == "disabled":
                release.append(sub.id)
                continue
            scope = (sub.org, sub.dataset, sub.purpose)
            if scope not in coverage:
                coverage[scope] = disclose.coverage(self.policy, sub, now)
            status, reason = coverage[scope]
            if status != "active":
                uncovered.append((sub, status, reason))
                release.append(sub.id)
                continue
            if sub.status != "active":
                covered_again.append(sub)
            if sub.id in retrying:
                self._sending.add(sub.id)
                self._pool.submit(self._retry_job, sub.id)
                continue
            ready.append(sub)

        # Subscriptions of the same dataset share one read of the log, the decisions (once per
        # recipient and purpose) and, where their pages coincide, the encoding.
        families: dict[str, list] = {}
        for sub in ready:
            families.setdefault(sub.dataset, []).append(sub)
        idle, quiet = [], []  # nothing after the cursor; everything on the page passed over (denied or filtered)
        for members in families.values():
            try:
                with self.engine.connect() as conn:
                    slices = self._read_pages(conn, members)
                idle.extend(sub for sub, rows in slices if not rows)
                rechecked: dict[tuple, tuple] = {}
                for page in self._pages([(sub, rows) for sub, rows in slices if rows], now):
                    # Checked again once decided: an agreement suspended in between holds the page
                    # (it is not passed over as denied), so nothing is skipped.
                    scope = (page.sub.org, page.sub.dataset, page.sub.purpose)
                    if scope not in rechecked:
                        rechecked[scope] = disclose.coverage(self.policy, page.sub, now)
                    status, reason = rechecked[scope]
                    if status != "active":
                        uncovered.append((page.sub, status, reason))
                        release.append(page.sub.id)
                        continue
                    (pages if page.messages else quiet).append(page)
            except Exception:
                log.exception("delivery worker %s: preparing a page failed unexpectedly", self.id)
                for sub in members:
                    self._fail(sub.id, sub, Outcome("failed", error=UNEXPECTED))
                    release.append(sub.id)

        sending: list[Page] = []
        with db.write_transaction(self.engine) as conn:
            for sub, status, reason in uncovered:
                disclose.set_coverage(conn, sub, status, reason)
                conn.execute(subscriptions.update().where(subscriptions.c.id == sub.id).values(
                    next_attempt_at=now + timedelta(seconds=self.settings.agreement_recheck_seconds)))
            held_back = {sub.id for sub, _, _ in uncovered}  # found uncovered again once decided
            for sub in covered_again:
                if sub.id not in held_back:
                    disclose.set_coverage(conn, sub, "active", None)
            for sub in idle:
                if sub.inflight_to is not None:
                    self._advance(conn, sub, sub.inflight_to, [], [], [], None, now)
                release.append(sub.id)
            for page in quiet:
                if not self._advance(conn, page.sub, page.rows[-1].seq, page.rows, [], [], None, now, page.decided):
                    release.append(page.sub.id)
            for page in pages:
                sub, last = page.sub, page.rows[-1].seq
                if sub.inflight_to != last and not conn.execute(subscriptions.update().where(
                        subscriptions.c.id == sub.id, subscriptions.c.lease_owner == self.id,
                        subscriptions.c.epoch == sub.epoch).values(inflight_to=last)).rowcount:
                    release.append(sub.id)
                    continue
                sending.append(page)
            self._release(release, conn)
        self._held.difference_update(release)
        for page in quiet:
            if self.metrics is not None and page.sub.id not in release:
                self._after(page)
        if any(page.sub.id not in release for page in quiet):
            self._wake.set()  # their next page is due now
        for sub_id in due:
            self._cohorts.pop(sub_id, None)
        cohorts: dict[tuple, set] = {}
        for page in sending:
            sub = page.sub
            cohorts.setdefault((sub.dataset, sub.cursor, bool(sub.batch)), set()).add(sub.id)
        for members in cohorts.values():
            cohort = Cohort(frozenset(members))
            for sub_id in members:
                self._cohorts[sub_id] = cohort
        for page in sending:
            self._sending.add(page.sub.id)
            self._pool.submit(self._send, page)

    def _limit(self, sub) -> int:
        return min(self.settings.page_size, self.settings.batch_max_events) if sub.batch else self.settings.page_size

    def _read_pages(self, conn, members: list) -> list[tuple]:
        """(subscription, its page) for subscriptions of the same dataset, from one read where they
        stand close together. A page being sent again (inflight_to) is read exactly as it was."""
        slices, together = [], []
        for sub in members:
            if sub.inflight_to is not None:
                slices.append((sub, disclose.read_page(conn, sub, sub.cursor, self._limit(sub), upto=sub.inflight_to)))
            else:
                together.append(sub)
        if not together:
            return slices
        low = min(sub.cursor for sub in together)
        widest = max(self._limit(sub) for sub in together)
        window = widest if all(sub.cursor == low for sub in together) else 2 * widest
        rows = disclose.read_page(conn, together[0], low, window, orgs={sub.org for sub in together})
        seqs = [row.seq for row in rows]
        for sub in together:
            limit = self._limit(sub)
            first = bisect_right(seqs, sub.cursor)
            page = rows[first:first + limit]
            if len(page) < limit and len(rows) == window:  # cut short by the window, not the end of the log
                page = disclose.read_page(conn, sub, sub.cursor, limit)
            slices.append((sub, page))
        return slices

    def _pages(self, slices: list[tuple], now: datetime) -> list[Page]:
        """Each subscription's page, decided once per recipient and purpose for all of them."""
        envelopes: dict[int, dict] = {}
        by_scope: dict[tuple, list] = {}
        for sub, rows in slices:
            for row in rows:
                if row.seq not in envelopes:
                    envelopes[row.seq] = envelope_of(row)
            by_scope.setdefault((sub.org, sub.purpose), []).append((sub, rows))
        pages, bodies = [], {}
        for (org, purpose), scoped in by_scope.items():
            seqs = sorted({row.seq for _, rows in scoped for row in rows})
            decided_by_seq = dict(zip(seqs, self.policy.decide_many([envelopes[seq] for seq in seqs], org, purpose, now)))
            shared: dict = {}
            for sub, rows in scoped:
                decided = disclose.select_for(self.policy, sub, rows, [envelopes[row.seq] for row in rows],
                                              [decided_by_seq[row.seq] for row in rows], now, shared)
                messages = self._messages(sub, decided)
                for message in messages:
                    key = (org, purpose, message.batch, tuple(message.seqs))
                    if key not in bodies:
                        bodies[key] = encode(message.events, message.batch)
                    message.body = bodies[key]
                pages.append(Page(sub, rows, decided, messages, now))
        return pages

    def _send(self, page: Page) -> None:
        try:
            page.delivered, page.refused, page.failure = self._deliver(page.sub, page.messages, page.now)
        except Exception:
            log.exception("delivery worker %s: subscription %s failed unexpectedly", self.id, page.sub.id)
            page.delivered, page.refused, page.failure = [], [], Outcome("failed", error=UNEXPECTED)
        with self._done_lock:
            self._done.append(page)
        self._wake.set()

    def _retry_job(self, sub_id: str) -> None:
        result = "stop"
        try:
            now = self.clock()
            with self.engine.connect() as conn:
                sub = self._load(conn, sub_id)
                if sub is not None and sub.lease_owner == self.id:
                    letters = conn.execute(select(dead_letters).where(
                        dead_letters.c.subscription_id == sub_id, dead_letters.c.state == "retrying")
                        .order_by(dead_letters.c.seq).limit(self.settings.page_size)).all()
                    result = self._retry_letters(conn, sub, letters, now) if letters else "more"
        except Exception:
            log.exception("delivery worker %s: subscription %s failed unexpectedly", self.id, sub_id)
            self._fail(sub_id, None, Outcome("failed", error=UNEXPECTED))
        with self._done_lock:
            self._done.append(Retried(sub_id, result))
        self._wake.set()

    def _load(self, conn, sub_id):
        return conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).first()

    def _messages(self, sub, decided) -> list[Message]:
        if not decided.events:
            return []
        if sub.batch:
            return [Message(message_id(sub, decided.seqs[0], decided.seqs[-1]), decided.events, decided.seqs, batch=True)]
        return [Message(message_id(sub, seq), [event], [seq]) for event, seq in zip(decided.events, decided.seqs)]

    def _target(self, sub, now) -> Target:
        return Target(sub.id, sub.org, sub.url, self.service.signing_secrets(sub, now) if sub.channel == "webhook" else [])

    def _deliver(self, sub, messages: list[Message], now):
        """Per event: delivered [(seq, webhook_id)], refused [(seq, webhook_id, outcome)], and the failure."""
        delivered, refused, failure = [], [], None
        if not messages:
            return delivered, refused, failure
        channel = self.channels.get(sub.channel)
        if channel is None:
            return delivered, refused, Outcome("failed", error=f"this worker has no {sub.channel} channel configured",
                                               retry_after=self.settings.agreement_recheck_seconds)
        target = self._target(sub, now)
        outcomes = channel.deliver(target, messages)
        for message, outcome in zip(messages, outcomes):
            if outcome.kind == "refused" and len(message.events) > 1:
                # One bad event in a batch: send them one by one so only it goes to dead letters.
                singles = [Message(message_id(sub, seq), [event], [seq], batch=True)
                           for event, seq in zip(message.events, message.seqs)]
                for single, single_outcome in zip(singles, channel.deliver(target, singles)):
                    if single_outcome.kind == "ok":
                        delivered.append((single.seqs[0], single.webhook_id))
                    elif single_outcome.kind == "refused":
                        refused.append((single.seqs[0], single.webhook_id, single_outcome))
                    else:
                        failure = single_outcome
                        break
                if failure is not None:
                    break
            elif outcome.kind == "ok":
                delivered.extend((seq, message.webhook_id) for seq in message.seqs)
            elif outcome.kind == "refused":
                refused.extend((seq, message.webhook_id, outcome) for seq in message.seqs)
            else:
                failure = outcome
                break
        if failure is None and len(outcomes) < len(messages):
            failure = Outcome("failed", error="the channel stopped before every message was handed over")
        return delivered, refused, failure

    def _advance(self, conn, sub, new_cursor, rows, delivered, refused, failure, now, decided=None,
                 release: bool = False, disclosed: list | None = None) -> bool:
        """Cursor, disclosures, dead letters and retry state, in the caller's write transaction.
        With `disclosed`, the disclosures are added to it for the caller to record with others."""
        values = {"cursor": new_cursor, "lease_expires_at": self._lease_until()}
        if rows and new_cursor >= rows[-1].seq or not rows:
            values["inflight_to"] = None
        if delivered or refused:
            values["last_success_at"] = now
        if failure is None:
            values.update(attempts=0, next_attempt_at=None)
        else:
            attempts = sub.attempts + 1
            values.update(attempts=attempts, last_error=failure.error, last_error_at=now,
                          next_attempt_at=now + timedelta(seconds=self._delay(attempts, failure)))
            if failure.kind == "gone":
                values.update(status="disabled", status_reason=f"disabled: {failure.error}")
        if release:
            values.update(lease_owner=None, lease_expires_at=None)
        moved = conn.execute(subscriptions.update().where(
            subscriptions.c.id == sub.id, subscriptions.c.lease_owner == self.id,
            subscriptions.c.epoch == sub.epoch).values(**values)).rowcount
        handed = [seq for seq, _ in delivered] + [seq for seq, _, _ in refused]
        if decided is not None and handed:
            # Handed over (acknowledged, or read and refused by the recipient): disclosed either way.
            found = [decided.disclosures[s] for s in handed if s in decided.disclosures]
            if disclosed is not None:
                disclosed.append((found, sub.channel))
            else:
                self.policy.record_disclosures(conn, found, sub.channel)
        if moved and failure is None and decided is not None and decided.denials:
            self.policy.record_denials(conn, decided.denials, sub.org, sub.purpose, sub.channel)
        if moved and refused:
            ids = {row.seq: row.id for row in rows}
            conn.execute(dead_letters.insert(), [
                {"subscription_id": sub.id, "seq": seq, "record_id": ids[seq], "webhook_id": webhook_id,
                 "state": "dead", "status_code": outcome.status, "error": outcome.error, "attempts": 1,
                 "created_at": now, "updated_at": now} for seq, webhook_id, outcome in refused])
        return bool(moved)

    def _delay(self, attempts: int, failure: Outcome) -> float:
        if failure.retry_after is not None:
            return min(max(failure.retry_after, 0.0), self.settings.max_retry_after_seconds)
        schedule = self.settings.retry_schedule
        return schedule[min(attempts, len(schedule)) - 1]

    def _fail(self, sub_id: str, sub, failure: Outcome) -> None:
        now = self.clock()
        with self._txn() as conn:
            row = sub or self._load(conn, sub_id)
            if row is None:
                return
            attempts = row.attempts + 1
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(
                attempts=attempts, last_error=failure.error, last_error_at=now,
                next_attempt_at=now + timedelta(seconds=self._delay(attempts, failure))))

    # -- dead letters asked to be tried again -------------------------------------
    def _retry_letters(self, conn, sub, letters, now) -> str:
        seqs = [letter.seq for letter in letters]
        rows = conn.execute(select(records).where(records.c.seq.in_(seqs), live_records).order_by(records.c.seq)).all()
        decided = disclose.decide(self.policy, sub, rows, now)
        by_seq = {letter.seq: letter for letter in letters}
        allowed = dict(zip(decided.seqs, decided.events))
        channel = self.channels.get(sub.channel)
        target = self._target(sub, now)
        results: dict[int, Outcome] = {}
        failure = None
        for seq in seqs:
            if seq not in allowed:
                results[seq] = Outcome("denied", error="no longer allowed under the sharing agreement or consent")
                continue
            message = Message(by_seq[seq].webhook_id, [allowed[seq]], [seq], batch=bool(sub.batch))
            (outcome,) = channel.deliver(target, [message])[:1] or [Outcome("failed", error="not handed over")]
            if not outcome.done:
                failure = outcome
                break
            results[seq] = outcome
        with db.write_transaction(self.engine) as wconn:
            for seq, outcome in results.items():
                state = "delivered" if outcome.kind == "ok" else "dead"
                wconn.execute(dead_letters.update().where(dead_letters.c.id == by_seq[seq].id).values(
                    state=state, status_code=outcome.status, error=outcome.error if state == "dead" else None,
                    attempts=dead_letters.c.attempts + 1, updated_at=now))
            handed = [decided.disclosures[s] for s, o in results.items() if o.done and s in decided.disclosures]
            self.policy.record_disclosures(wconn, handed, sub.channel)
            if failure is not None:
                attempts = sub.attempts + 1
                wconn.execute(subscriptions.update().where(subscriptions.c.id == sub.id).values(
                    attempts=attempts, last_error=failure.error, last_error_at=now,
                    next_attempt_at=now + timedelta(seconds=self._delay(attempts, failure))))
        return "stop" if failure is not None else "more"
