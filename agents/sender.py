"""Drains the outbox to the hub in signed batches, several in flight at once
(`sender.in_flight`), never two holding the same key, so each key's records reach
the hub in the order they were queued.

A record leaves the outbox only after the hub has answered for it: `accepted`
or `duplicate` (the hub holds it) → deleted; `rejected` → moved to rejects with
the hub's JSON pointers and the row's source. No answer, 5xx or 429 → the batch
stays and the sender backs off exponentially, with jitter so many agents do not
return at once. A batch the hub refuses as a whole for what it holds (400, 422, a
single record too large) is never retried forever: it is halved until the record
at fault travels alone, which moves to rejects with the hub's reason, so the good
records sent with it and queued after it still arrive. Refusals about
the agent itself (credentials, clock, signature) leave the batch waiting.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from .hub_client import HubClient, HubRefused, HubUnavailable
from .outbox import Outbox, PendingRecord

log = logging.getLogger("causeway.agent.sender")

MAX_BATCH_BYTES = 4 * 1024 * 1024  # under the hub's 5 MB body limit

# Refusals of a batch's content; any other 4xx (401, 403, 404, 409, ...) is about
# the agent, its credential or its configuration, and sending again may succeed.
CONTENT_REFUSALS = (400, 413, 422)
AGENT_PROBLEMS = ("manifest-stale", "manifest-signature", "manifest-missing")

# Batches' worth of records a publish run may queue ahead of the hub's answers (per batch in
# flight); past that it waits. A deep outbox makes every insert and delete dearer (its record-id
# index outgrows the cache: at 200,000 waiting each record costs several times what it does at
# 10,000), while rows left in the source cost nothing.
READ_AHEAD_BATCHES = 4
STALL_SECONDS = 10.0  # no answer from the hub for this long: the run reads on and the outbox holds it


def refuses_content(exc: HubRefused) -> bool:
    return exc.status in CONTENT_REFUSALS and not any(kind in exc.type for kind in AGENT_PROBLEMS)


@dataclass
class SendTotals:
    batches: int = 0
    delivered: int = 0
    rejected: int = 0


@dataclass
class Backoff:
    base: float = 1.0
    cap: float = 300.0
    failures: int = 0
    rng: random.Random = field(default_factory=random.Random)

    def next_delay(self) -> float:
        """Exponential with 'equal jitter': half fixed, half random."""
        ceiling = min(self.cap, self.base * 2 ** min(self.failures, 30))
        self.failures += 1
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class _Flight:
    """One batch out at the hub: its records, their keys, and the hub's answers so far (one
    per part sent: a batch halved after a refusal is sent in parts)."""
    pending: list[PendingRecord]
    keys: set[str | None]  # the records' keys (None among them when some have none)
    answers: list[tuple[list[PendingRecord], list[dict]]] = field(default_factory=list)
    unanswered: int = 0


class Sender:
    def __init__(self, outbox: Outbox, hub: HubClient, agent_id: str, signing_key, batch_size: int = 500,
                 max_backoff: float = 300.0, warn_depth: int = 100_000, in_flight: int = 3):
        self.outbox = outbox
        self.hub = hub
        self.agent_id = agent_id
        self.signing_key = signing_key
        self.batch_size = batch_size
        self.warn_depth = warn_depth
        self.backoff = Backoff(cap=max_backoff)
        self.wake = threading.Event()
        self.status = "idle"
        self.last_error: str | None = None
        self.last_sent_at: float | None = None
        self._warned_depth = False
        self.in_flight = in_flight
        self._lock = threading.Lock()  # one drain at a time
        self.read_ahead = READ_AHEAD_BATCHES * in_flight * batch_size
        self._settled = threading.Condition()
        self._settles = 0  # batches answered so far: a waiting publish run sees progress
        self._stalled_at: int | None = None
        # Kept for the sender's life, so each sending thread keeps its connection to the hub.
        self._pool = ThreadPoolExecutor(in_flight, thread_name_prefix="send")

    def drain(self, should_stop=lambda: False) -> SendTotals:
        """Send until the outbox is empty, with up to `in_flight` batches out at once; hub
        errors propagate to the caller once every batch in flight has been answered.

        Batches are taken in queue order, each past the last one taken. A batch never holds a
        key that a batch still in flight holds: it is cut short before that record, which
        waits until the earlier one is answered, so each key reaches the hub in order. Every
        batch is settled (removed, or moved to rejects) only after the hub answered for it,
        so a crash leaves in the outbox exactly what the hub may not hold; sent again, the
        hub answers `duplicate` for what it already has."""
        totals = SendTotals()
        with self._lock:
            pool = self._pool
            flights: dict[Future, _Flight] = {}
            after, failure, held = 0, None, False
            while True:
                while not held and failure is None and len(flights) < self.in_flight and not should_stop():
                    pending = self.outbox.take(self.batch_size, MAX_BATCH_BYTES, after=after)
                    if not pending:
                        break
                    keys = [r.key for r in pending]
                    busy = set().union(*(flight.keys for flight in flights.values()))
                    busy.discard(None)
                    cut = next((i for i, key in enumerate(keys) if key in busy), len(keys)) if busy else len(keys)
                    if cut == 0:
                        break  # its key is in flight: wait for that answer
                    flight = _Flight(pending[:cut], set(keys[:cut]))
                    after = flight.pending[-1].seq
                    flights[pool.submit(self._fly, flight)] = flight
                if not flights:
                    break
                done, _ = wait(flights, return_when=FIRST_COMPLETED)
                for future in done:
                    flight = flights.pop(future)
                    self._settle(flight, totals)
                    error = future.exception()
                    if error is not None:
                        failure = failure or error
                    elif flight.unanswered:
                        # Left for a later drain; nothing after it may overtake it now.
                        held = True
        if failure is not None:
            raise failure
        return totals

    def wait_for_room(self, should_stop=lambda: False) -> None:
        """Hold a publish run while the outbox is `read_ahead` records ahead and the hub is
        answering. With the hub away, failing or silent for STALL_SECONDS the run reads on (until
        the hub answers again), so the outbox holds a whole source as it always has."""
        while not should_stop() and self.outbox.span() > self.read_ahead:
            with self._settled:
                seen = self._settles
                if self.status not in ("sending", "idle") or self._stalled_at == seen:
                    return
                deadline = time.monotonic() + STALL_SECONDS
                while self._settles == seen and not should_stop():  # woken by each answer
                    left = deadline - time.monotonic()
                    if left <= 0:
                        self._stalled_at = seen
                        return
                    self._settled.wait(min(left, 0.5))  # and twice a second to see a stop

    def _fly(self, flight: _Flight) -> None:
        """Sign and send one batch (on a sending thread); a batch refused for its size or its
        content is halved, in order, until the record at fault travels alone."""
        parts = [flight.pending]
        while parts:
            part = parts.pop(0)
            try:
                flight.answers.append((part, self.hub.publish([p.body for p in part], self.agent_id,
                                                              self.signing_key).results))
            except HubRefused as exc:
                if exc.status == 413 and len(part) > 1:
                    self.batch_size = max(1, min(self.batch_size, len(part) // 2))
                    log.warning("the hub found a batch too large; sending %d records at a time from now on",
                                self.batch_size)
                elif not refuses_content(exc):
                    raise
                elif len(part) == 1:  # a lone record refused: quarantined with the hub's reason
                    flight.answers.append((part, [{"status": "rejected", "errors": [
                        {"path": "", "message": f"refused with its whole batch: {exc}"}]}]))
                    continue
                half = len(part) // 2
                parts[:0] = [part[:half], part[half:]]

    def _settle(self, flight: _Flight, totals: SendTotals) -> None:
        """Remove what the hub holds; move what it refused to rejects."""
        delivered, rejected = [], []
        for part, results in flight.answers:
            for record, result in zip(part, results):
                if result.get("status") in ("accepted", "duplicate"):
                    delivered.append(record)
                elif result.get("status") == "rejected":
                    rejected.append((record, result.get("errors") or [{"path": "", "message": "rejected by the hub"}]))
                # anything else: leave it in the outbox and try again later
        flight.unanswered = len(flight.pending) - len(delivered) - len(rejected)
        if not flight.answers:
            return
        self.outbox.settle(delivered, rejected)
        with self._settled:
            self._settles += 1
            self._settled.notify_all()
        totals.batches += len(flight.answers)
        totals.delivered += len(delivered)
        totals.rejected += len(rejected)
        self.last_sent_at = time.time()
        for record, errors in rejected:
            log.warning("the hub rejected record %s from %s: %s", record.record_id, record.location,
                        "; ".join(f"{e.get('path') or 'record'}: {e.get('message')}" for e in errors))

    def _check_depth(self) -> None:
        depth = self.outbox.depth()
        if depth >= self.warn_depth and not self._warned_depth:
            log.warning("outbox holds %d records waiting for the hub (warning threshold %d); "
                        "nothing is lost, but check the hub connection", depth, self.warn_depth)
            self._warned_depth = True
        elif depth < self.warn_depth // 2:
            self._warned_depth = False

    def run(self, stop: threading.Event, idle_seconds: float = 5.0) -> None:
        """Loop until stop is set: drain, wait for new records, back off on failure."""
        while not stop.is_set():
            delay = None  # None: healthy, wait for new records; a number: back off, whatever arrives
            try:
                self.status = "sending"
                totals = self.drain(should_stop=stop.is_set)
                if totals.batches:
                    log.info("sent %d records in %d batches (%d rejected by the hub)",
                             totals.delivered + totals.rejected, totals.batches, totals.rejected)
                self.backoff.reset()
                self.status, self.last_error = "idle", None
            except HubUnavailable as exc:
                delay = self._failed(str(exc), "waiting for the hub")
            except HubRefused as exc:
                if exc.status == 409:  # a batch id clash: the next attempt carries a fresh one
                    delay = 0
                elif "manifest-stale" in exc.type:
                    delay = self._failed(f"{exc} (is this machine's clock right? the hub allows a few minutes of difference)",
                                         "clock skew")
                else:
                    delay = self._failed(str(exc), "refused by the hub")
            except Exception as exc:  # never let the sender thread die silently
                log.exception("sender failed unexpectedly")
                delay = self._failed(f"{type(exc).__name__}: {exc}", "error")
            self._check_depth()
            if delay is None:
                self.wake.wait(idle_seconds)
                self.wake.clear()
            else:
                stop.wait(delay)

    def _failed(self, message: str, status: str) -> float:
        delay = self.backoff.next_delay()
        self.status, self.last_error = status, message
        log.warning("%s; %d records wait in the outbox; next try in %.1f s", message, self.outbox.depth(), delay)
        return delay
