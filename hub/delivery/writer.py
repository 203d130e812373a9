"""Writing what came back from the channels: cursors, retry state (backoff), dead letters
and disclosures, in one transaction for every page finished since the last round.

The pure parts (`retry_delay`, `cursor_values`, `dead_letter_rows`) say what is written;
`ResultWriter` writes it, only where this worker still holds the subscription's lease
at the same replay epoch.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.config import DeliverySettings

from . import statements
from .channel import Outcome
from .leases import Leases, short_transaction
from .models import dead_letters, delivery_attempts, subscriptions
from .planner import Page, PageResult, Subscription
from .policy import PolicyPort
from .reply import Reply

log = logging.getLogger("causeway.delivery")

UNEXPECTED = "the hub hit an unexpected error delivering; operators can see it in the worker's log"

# After its result is written a subscription goes on to its next page (`more`), gives up its
# lease (`stop`), or gives it up so that a subscription waiting for a slot gets a turn (`turn`).
Next = Literal["more", "stop", "turn"]


@dataclass
class Retried:
    """A subscription's dead letters were tried again; `more` if it carries on."""
    sub_id: str
    result: Next


def retry_delay(settings: DeliverySettings, attempts: int, failure: Outcome) -> float:
    """Seconds until the next attempt: the receiver's Retry-After (capped), else the schedule
    (its last step repeating)."""
    if failure.retry_after is not None:
        return min(max(failure.retry_after, 0.0), settings.max_retry_after_seconds)
    schedule = settings.retry_schedule
    return schedule[min(attempts, len(schedule)) - 1]


def failure_values(settings: DeliverySettings, attempts_before: int, failure: Outcome, now: datetime) -> dict[str, Any]:
    attempts = attempts_before + 1
    return {"attempts": attempts, "last_error": failure.error, "last_error_at": now,
            "next_attempt_at": now + timedelta(seconds=retry_delay(settings, attempts, failure))}


def cursor_values(settings: DeliverySettings, sub: Subscription, to: int, rows: Sequence[Any],
                  result: PageResult, now: datetime) -> dict[str, Any]:
    """The subscription's new state once its cursor moves to `to` after `result`."""
    values: dict[str, Any] = {"cursor": to}
    if not rows or to >= rows[-1].seq:
        values["inflight_to"] = None
    if result.delivered or result.refused:
        values["last_success_at"] = now
    failure = result.failure
    if failure is None:
        values.update(attempts=0, next_attempt_at=None)
    else:
        values.update(failure_values(settings, sub.attempts, failure, now))
        if failure.kind == "gone":
            values.update(status="disabled", status_reason=f"disabled: {failure.error}")
    return values


def reply_values(reply: Reply | None) -> dict[str, Any]:
    """A receiver's answer as stored on a dead letter or an attempt."""
    if reply is None:
        return {"reply_headers": None, "reply_excerpt": None}
    return {"reply_headers": orjson.dumps(reply.headers).decode() if reply.headers else None,
            "reply_excerpt": reply.excerpt + (" …" if reply.truncated else "") if reply.excerpt else None}


def dead_letter_rows(sub: Subscription, rows: Sequence[Any], result: PageResult, now: datetime) -> list[dict[str, Any]]:
    """One dead letter per event the receiver refused for good, with what it answered."""
    ids = {row.seq: row.id for row in rows}
    return [{"subscription_id": sub.id, "seq": seq, "record_id": ids[seq], "webhook_id": webhook_id,
             "state": "dead", "status_code": outcome.status, "error": outcome.error, "attempts": 1,
             "created_at": now, "updated_at": now, **reply_values(outcome.reply)}
            for seq, webhook_id, outcome in result.refused]


def attempt_row(sub_id: str, outcome: Outcome, events: int, now: datetime) -> dict[str, Any]:
    """One entry of a subscription's attempt history: the last answer of a page (or retry)."""
    latency = outcome.reply.latency_ms if outcome.reply is not None else None
    return {"subscription_id": sub_id, "at": now, "outcome": outcome.kind, "status_code": outcome.status,
            "latency_ms": latency, "events": events, "error": None if outcome.kind == "ok" else outcome.error,
            **reply_values(outcome.reply)}


def page_attempt(page: Page) -> dict[str, Any] | None:
    result = page.result
    outcome = result.failure or result.last
    return None if outcome is None else attempt_row(page.sub.id, outcome, len(result.handed), page.now)


class ResultWriter:
    def __init__(self, engine: Engine, settings: DeliverySettings, policy: PolicyPort, leases: Leases,
                 clock: Callable[[], datetime]):
        self.engine = engine
        self.settings = settings
        self.policy = policy
        self.leases = leases
        self.clock = clock
        self._pruned_at = 0.0  # monotonic: when old attempts were last deleted

    def write(self, done: Sequence[Page | Retried]) -> list[tuple[str, Next]]:
        """Every finished page and retry in one transaction (one by one if that fails)."""
        try:
            with db.write_transaction(self.engine) as conn:
                disclosed: list[tuple[list[Any], str]] = []
                settled = [self.settle(conn, item, disclosed) for item in done]
                self.policy.record_disclosure_batches(conn, disclosed)
                attempts = [row for item in done if isinstance(item, Page) and (row := page_attempt(item))]
                if attempts:
                    conn.execute(delivery_attempts.insert(), attempts)
                self.prune(conn)
            return settled
        except Exception:
            log.exception("delivery worker %s: writing %d results together failed; writing them one by one",
                          self.leases.owner, len(done))
        settled = []
        for item in done:
            try:
                with db.write_transaction(self.engine) as conn:
                    settled.append(self.settle(conn, item, None))
                    if isinstance(item, Page) and (row := page_attempt(item)):
                        conn.execute(delivery_attempts.insert(), [row])
            except Exception:
                log.exception("delivery worker %s: writing a result failed", self.leases.owner)
                sub_id = item.sub_id if isinstance(item, Retried) else item.sub.id
                self.fail(sub_id, None, Outcome("failed", error=UNEXPECTED))
                settled.append((sub_id, "stop"))
        return settled

    def prune(self, conn: Connection) -> None:
        """Attempts older than attempts_keep_seconds go, at most once a minute (an indexed delete)."""
        if time.monotonic() - self._pruned_at < 60:
            return
        self._pruned_at = time.monotonic()
        until = self.clock() - timedelta(seconds=self.settings.attempts_keep_seconds)
        conn.execute(delivery_attempts.delete().where(delivery_attempts.c.at < until))

    def settle(self, conn: Connection, item: Page | Retried,
               disclosed: list[tuple[list[Any], str]] | None) -> tuple[str, Next]:
        """Write one finished page (or dead-letter retry) in the round's transaction."""
        if isinstance(item, Retried):
            if item.result != "more":
                self.leases.release([item.sub_id], conn)
            return item.sub_id, item.result
        sub, failure = item.sub, item.result.failure
        moved = self.advance(conn, sub, item.settled_cursor(), item.now, item,
                             release=failure is not None, disclosed=disclosed)
        if not moved or failure is not None:
            self.leases.release([sub.id], conn)
            return sub.id, "stop"
        if self.leases.take_turns():
            self.leases.release([sub.id], conn)
            return sub.id, "turn"
        return sub.id, "more"

    def advance(self, conn: Connection, sub: Subscription, to: int, now: datetime, page: Page | None = None,
                release: bool = False, disclosed: list[tuple[list[Any], str]] | None = None) -> bool:
        """Cursor, disclosures, dead letters and retry state of one subscription, in the caller's
        write transaction; False if this worker no longer holds it. With `disclosed`, the
        disclosures are added to it for the caller to record with others'."""
        rows = page.rows if page is not None else []
        result = page.result if page is not None else PageResult()
        values = cursor_values(self.settings, sub, to, rows, result, now)
        if release:
            values.update(lease_owner=None, lease_expires_at=None)
        else:
            values["lease_expires_at"] = self.leases.until()
        moved = conn.execute(statements.held_update(frozenset(values)),
                             statements.held_params(sub.id, self.leases.owner, sub.epoch, values)).rowcount
        if page is None:
            return bool(moved)
        decided, handed = page.decided, result.handed
        if handed:
            # Handed over (acknowledged, or read and refused by the recipient): disclosed either way.
            found = [decided.disclosures[seq] for seq in handed if seq in decided.disclosures]
            if disclosed is not None:
                disclosed.append((found, sub.channel))
            else:
                self.policy.record_disclosures(conn, found, sub.channel)
        if moved and result.failure is None and decided.denials:
            self.policy.record_denials(conn, decided.denials, sub.org, sub.purpose, sub.channel)
        if moved and result.refused:
            conn.execute(dead_letters.insert(), dead_letter_rows(sub, rows, result, now))
        return bool(moved)

    def fail(self, sub_id: str, sub: Subscription | None, failure: Outcome) -> None:
        """Count a failed attempt where no page could be written (the subscription waits, then tries again)."""
        now = self.clock()
        with short_transaction(self.engine) as conn:
            attempts = sub.attempts if sub is not None else conn.execute(
                subscriptions.select().with_only_columns(subscriptions.c.attempts).where(
                    subscriptions.c.id == sub_id)).scalar()
            if attempts is None:
                return
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(
                failure_values(self.settings, attempts, failure, now)))
            conn.execute(delivery_attempts.insert(), [attempt_row(sub_id, failure, 0, now)])

    def letters_retried(self, sub: Subscription, by_seq: dict[int, Any], results: dict[int, Outcome],
                        disclosures: list[Any], failure: Outcome | None, now: datetime) -> None:
        """Dead letters tried again: each delivered or dead again, what was handed over disclosed,
        and a failure counted as an attempt of the subscription."""
        with db.write_transaction(self.engine) as conn:
            for seq, outcome in results.items():
                state = "delivered" if outcome.kind == "ok" else "dead"
                conn.execute(dead_letters.update().where(dead_letters.c.id == by_seq[seq].id).values(
                    state=state, status_code=outcome.status, error=outcome.error if state == "dead" else None,
                    attempts=dead_letters.c.attempts + 1, updated_at=now,
                    **(reply_values(outcome.reply) if state == "dead" else {})))
            tried = [attempt_row(sub.id, outcome, 1 if outcome.done else 0, now) for outcome in results.values()]
            if failure is not None:
                tried.append(attempt_row(sub.id, failure, 0, now))
            if tried:
                conn.execute(delivery_attempts.insert(), tried)
            self.policy.record_disclosures(conn, disclosures, sub.channel)
            if failure is not None:
                conn.execute(subscriptions.update().where(subscriptions.c.id == sub.id).values(
                    failure_values(self.settings, sub.attempts, failure, now)))
