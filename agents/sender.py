"""Drains the outbox to the hub in signed batches.

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
from dataclasses import dataclass, field

from .hub_client import HubClient, HubRefused, HubUnavailable
from .outbox import Outbox

log = logging.getLogger("causeway.agent.sender")

MAX_BATCH_BYTES = 4 * 1024 * 1024  # under the hub's 5 MB body limit

# Refusals of a batch's content; any other 4xx (401, 403, 404, 409, ...) is about
# the agent, its credential or its configuration, and sending again may succeed.
CONTENT_REFUSALS = (400, 413, 422)
AGENT_PROBLEMS = ("manifest-stale", "manifest-signature", "manifest-missing")


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


class Sender:
    def __init__(self, outbox: Outbox, hub: HubClient, agent_id: str, signing_key, batch_size: int = 500,
                 max_backoff: float = 300.0, warn_depth: int = 100_000):
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
        self._lock = threading.Lock()  # one batch in flight per agent

    def send_batch(self) -> SendTotals:
        """Send the oldest waiting records once; raises HubUnavailable or HubRefused."""
        totals = SendTotals()
        with self._lock:
            limit = self.batch_size
            while True:
                pending = self.outbox.take(limit, MAX_BATCH_BYTES)
                if not pending:
                    return totals
                try:
                    answer = self.hub.publish([p.body for p in pending], self.agent_id, self.signing_key)
                    break
                except HubRefused as exc:
                    if exc.status == 413 and len(pending) > 1:
                        self.batch_size = limit = max(1, len(pending) // 2)
                        log.warning("the hub found a batch too large; sending %d records at a time from now on",
                                    self.batch_size)
                        continue
                    if not refuses_content(exc):
                        raise
                    if len(pending) > 1:  # halve until the record(s) at fault are alone; the rest go through
                        limit = max(1, len(pending) // 2)
                        continue
                    answer, refusal = None, str(exc)
                    break
            delivered, rejected = [], []
            if answer is None:  # a lone record refused: quarantined with the hub's reason
                reason = [{"path": "", "message": f"refused with its whole batch: {refusal}"}]
                rejected = [(record, reason) for record in pending]
            else:
                for record, result in zip(pending, answer.results):
                    if result.get("status") in ("accepted", "duplicate"):
                        delivered.append(record)
                    elif result.get("status") == "rejected":
                        rejected.append((record, result.get("errors") or [{"path": "", "message": "rejected by the hub"}]))
                    # anything else: leave it in the outbox and try again later
            self.outbox.settle(delivered, rejected)
            totals.batches, totals.delivered, totals.rejected = 1, len(delivered), len(rejected)
            self.last_sent_at = time.time()
            for record, errors in rejected:
                log.warning("the hub rejected record %s from %s: %s", record.record_id, record.location,
                            "; ".join(f"{e.get('path') or 'record'}: {e.get('message')}" for e in errors))
        return totals

    def drain(self, should_stop=lambda: False) -> SendTotals:
        """Send until the outbox is empty; hub errors propagate to the caller."""
        totals = SendTotals()
        while not should_stop():
            sent = self.send_batch()
            if sent.batches == 0:
                break
            totals.batches += sent.batches
            totals.delivered += sent.delivered
            totals.rejected += sent.rejected
        return totals

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
