"""The delivery worker: claims due subscriptions by lease, reads a page after
each cursor, decides policy per record at that moment, hands what is allowed to
the channel, and advances the cursor (with the disclosures) in one transaction
only after the channel said delivered.

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
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Engine

from hub import db
from hub.records.models import records

from . import disclose
from .channel import Message, Outcome, Target
from .models import dead_letters, subscriptions
from .service import DeliveryService

log = logging.getLogger("causeway.delivery")

PUSH = ("webhook", "mqtt")


def message_id(sub, first: int, last: int | None = None) -> str:
    base = f"msg_{sub.id.replace('-', '')[:20]}_{sub.epoch}_{first}"
    return base if last is None or last == first else f"{base}-{last}"


class Worker:
    def __init__(self, service: DeliveryService, channels: dict, metrics=None, worker_id: str | None = None):
        self.service = service
        self.engine: Engine = service.engine
        self.settings = service.delivery
        self.policy = service.policy
        self.channels = channels
        self.metrics = metrics
        self.id = worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self._stop = threading.Event()
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
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
        return db.utcnow() + timedelta(seconds=self.settings.lease_seconds)

    # -- the loop --------------------------------------------------------------
    def start(self) -> "Worker":
        self._thread = threading.Thread(target=self.run, name=f"delivery-{self.id}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 20.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)
        for channel in self.channels.values():
            channel.close()

    def run(self) -> None:
        log.info("delivery worker %s started", self.id)
        last_beat = 0.0
        while not self._stop.is_set():
            try:
                for sub_id in self.claim():
                    self._pool.submit(self._work, sub_id)
                if time.monotonic() - last_beat > self.settings.lease_seconds / 3:
                    self.heartbeat()
                    last_beat = time.monotonic()
            except Exception:  # the loop must outlive a database hiccup
                log.exception("delivery worker %s: claiming failed; trying again", self.id)
            self._stop.wait(self.settings.poll_interval_seconds)
        log.info("delivery worker %s stopped", self.id)

    def claim(self) -> list[str]:
        """Lease the subscriptions that have work and are free (or whose lease expired)."""
        now = db.utcnow()
        free = or_(subscriptions.c.lease_owner.is_(None), subscriptions.c.lease_expires_at < now,
                   subscriptions.c.lease_owner == self.id)
        with self.engine.connect() as conn:
            candidates = conn.execute(select(
                subscriptions.c.id, subscriptions.c.dataset, subscriptions.c.cursor).where(
                subscriptions.c.channel.in_(PUSH), subscriptions.c.status != "disabled", free,
                or_(subscriptions.c.next_attempt_at.is_(None), subscriptions.c.next_attempt_at <= now))).all()
            with self._busy_lock:
                candidates = [c for c in candidates if c.id not in self._busy]
            if not candidates:
                return []
            heads = {ds: conn.execute(select(func.max(records.c.seq)).where(records.c.dataset == ds)).scalar() or 0
                     for ds in {c.dataset for c in candidates}}
            retrying = set(conn.execute(select(dead_letters.c.subscription_id).where(
                dead_letters.c.state == "retrying").distinct()).scalars())
        due = [c.id for c in candidates if heads[c.dataset] > c.cursor or c.id in retrying]
        # Lease only what this worker can start now, so other workers get the rest.
        with self._busy_lock:
            slots = max(0, self.settings.concurrency - len(self._busy))
        random.shuffle(due)
        claimed = []
        for sub_id in due:
            if len(claimed) >= slots:
                break
            with self._txn() as conn:
                taken = conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id, free).values(
                    lease_owner=self.id, lease_expires_at=self._lease_until())).rowcount
            if taken:
                with self._busy_lock:
                    if sub_id in self._busy:
                        continue
                    self._busy.add(sub_id)
                claimed.append(sub_id)
        return claimed

    def heartbeat(self) -> None:
        with self._busy_lock:
            busy = list(self._busy)
        if busy:
            with self._txn() as conn:
                conn.execute(subscriptions.update().where(
                    subscriptions.c.id.in_(busy), subscriptions.c.lease_owner == self.id).values(
                    lease_expires_at=self._lease_until()))

    def _work(self, sub_id: str) -> None:
        try:
            while not self._stop.is_set():
                if self.step(sub_id) != "more":
                    break
        except Exception:
            log.exception("delivery worker %s: subscription %s failed unexpectedly", self.id, sub_id)
            self._fail(sub_id, None, Outcome("failed", error="the hub hit an unexpected error delivering; "
                                                            "operators can see it in the worker's log"))
        finally:
            with self._txn() as conn:
                conn.execute(subscriptions.update().where(
                    subscriptions.c.id == sub_id, subscriptions.c.lease_owner == self.id).values(
                    lease_owner=None, lease_expires_at=None))
            with self._busy_lock:
                self._busy.discard(sub_id)

    def run_until_idle(self, timeout: float = 30.0) -> None:
        """Deliver everything due now in this thread (for the CLI's --once and tests)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            claimed = self.claim()
            if not claimed:
                return
            for sub_id in claimed:
                self._work(sub_id)

    # -- one step of one subscription -------------------------------------------
    def _load(self, conn, sub_id):
        return conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).first()

    def step(self, sub_id: str) -> str:
        """Deliver one page; 'more' when there may be more to do now, else 'idle' or 'stop'."""
        now = db.utcnow()
        with self.engine.connect() as conn:
            sub = self._load(conn, sub_id)
            if sub is None or sub.lease_owner != self.id or sub.status == "disabled":
                return "stop"
            ok, reason = disclose.covered(self.policy, sub, now)
            if not ok:
                with self._txn() as wconn:
                    disclose.set_coverage(wconn, sub, False, reason)
                    wconn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(
                        next_attempt_at=now + timedelta(seconds=self.settings.agreement_recheck_seconds)))
                return "stop"
            if sub.status == "awaiting-agreement":
                with self._txn() as wconn:
                    disclose.set_coverage(wconn, sub, True, None)
            letters = conn.execute(select(dead_letters).where(
                dead_letters.c.subscription_id == sub_id, dead_letters.c.state == "retrying")
                .order_by(dead_letters.c.seq).limit(self.settings.page_size)).all()
            if letters:
                return self._retry_letters(conn, sub, letters, now)
            limit = min(self.settings.page_size, self.settings.batch_max_events) if sub.batch else self.settings.page_size
            rows = disclose.read_page(conn, sub, sub.cursor, limit, upto=sub.inflight_to)
        if not rows:
            if sub.inflight_to is not None:
                self._advance(sub, sub.inflight_to, rows, [], [], None, now)
            return "idle"
        decided = disclose.decide(self.policy, sub, rows, now)
        messages = self._messages(sub, decided)
        last = rows[-1].seq
        if messages and sub.inflight_to != last:
            with self._txn() as conn:
                marked = conn.execute(subscriptions.update().where(
                    subscriptions.c.id == sub_id, subscriptions.c.lease_owner == self.id,
                    subscriptions.c.epoch == sub.epoch).values(inflight_to=last)).rowcount
            if not marked:
                return "stop"
        delivered, refused, failure = self._deliver(sub, messages, now)
        if failure is None:
            new_cursor = last
        else:
            new_cursor = decided.seqs[len(delivered) + len(refused)] - 1
        if not self._advance(sub, new_cursor, rows, delivered, refused, failure, now, decided):
            return "stop"
        if self.metrics is not None:
            self.metrics.count_delivery(sub.id, sub.channel, len(delivered), len(refused),
                                        1 if failure else 0, decided.denied)
        if failure is not None:
            return "stop"
        return "more"

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

    def _advance(self, sub, new_cursor, rows, delivered, refused, failure, now, decided=None) -> bool:
        """Cursor, disclosures, dead letters and retry state in one transaction."""
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
        with db.write_transaction(self.engine) as conn:
            moved = conn.execute(subscriptions.update().where(
                subscriptions.c.id == sub.id, subscriptions.c.lease_owner == self.id,
                subscriptions.c.epoch == sub.epoch).values(**values)).rowcount
            handed = [seq for seq, _ in delivered] + [seq for seq, _, _ in refused]
            if decided is not None and handed:
                # Handed over (acknowledged, or read and refused by the recipient): disclosed either way.
                self.policy.record_disclosures(conn, [decided.disclosures[s] for s in handed if s in decided.disclosures],
                                               sub.channel)
            if moved and failure is None and decided is not None and decided.denials:
                self.policy.record_denials(conn, decided.denials, sub.org, sub.purpose, sub.channel)
            if moved and refused:
                ids = {row.seq: row.id for row in rows}
                conn.execute(dead_letters.insert(), [
                    {"subscription_id": sub.id, "seq": seq, "record_id": ids[seq], "webhook_id": webhook_id,
                     "state": "dead", "status_code": outcome.status, "error": outcome.error, "attempts": 1,
                     "created_at": now, "updated_at": now} for seq, webhook_id, outcome in refused])
        if failure is not None:
            log.warning("subscription %s: delivery failed (%s); attempt %d, next at %s", sub.id, failure.error,
                        values["attempts"], values["next_attempt_at"])
            if self.metrics is not None:
                self.metrics.count_retry(sub.id)
        return bool(moved)

    def _delay(self, attempts: int, failure: Outcome) -> float:
        if failure.retry_after is not None:
            return min(max(failure.retry_after, 0.0), self.settings.max_retry_after_seconds)
        schedule = self.settings.retry_schedule
        return schedule[min(attempts, len(schedule)) - 1]

    def _fail(self, sub_id: str, sub, failure: Outcome) -> None:
        now = db.utcnow()
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
        rows = conn.execute(select(records).where(records.c.seq.in_(seqs)).order_by(records.c.seq)).all()
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
