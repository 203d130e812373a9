"""Leases: how several delivery workers share subscriptions through the database.

A subscription is claimed by an atomic conditional UPDATE, renewed by a heartbeat
while it is worked on, released when caught up, and taken over by another worker
once a dead worker's lease expires.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.engine import Connection, Engine

from hub.config import DeliverySettings

from . import disclose
from .models import dead_letters, subscriptions

PUSH = ("webhook", "mqtt")


@contextmanager
def short_transaction(engine: Engine) -> Iterator[Connection]:
    """A short transaction that reads then writes delivery state (not the log or audit)."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            conn = conn.execution_options(causeway_write=True)  # BEGIN IMMEDIATE
        with conn.begin():
            yield conn


class Leases:
    """The subscriptions one worker holds."""

    def __init__(self, engine: Engine, settings: DeliverySettings, owner: str, clock: Callable[[], datetime]):
        self.engine = engine
        self.settings = settings
        self.owner = owner
        self.clock = clock
        self.held: set[str] = set()  # touched by the worker's loop thread only
        self.waiting = 0  # due subscriptions there was no slot for at the last claim

    def until(self) -> datetime:
        return self.clock() + timedelta(seconds=self.settings.lease_seconds)

    def claim(self) -> list[str]:
        """Lease the subscriptions that have work and are free (or whose lease expired)."""
        slots = max(0, self.settings.concurrency - len(self.held))
        now = self.clock()
        free = or_(subscriptions.c.lease_owner.is_(None), subscriptions.c.lease_expires_at < now,
                   subscriptions.c.lease_owner == self.owner)
        with self.engine.connect() as conn:
            candidates = conn.execute(select(
                subscriptions.c.id, subscriptions.c.org, subscriptions.c.dataset, subscriptions.c.cursor).where(
                subscriptions.c.channel.in_(PUSH), subscriptions.c.status != "disabled",
                subscriptions.c.paused_at.is_(None), free,
                or_(subscriptions.c.next_attempt_at.is_(None), subscriptions.c.next_attempt_at <= now))).all()
            candidates = [c for c in candidates if c.id not in self.held]
            if not candidates:
                return []
            # Due: something in its stream (its dataset, and notices addressed to it) after its cursor.
            heads = disclose.stream_heads(conn, candidates)
            retrying = set(conn.execute(select(dead_letters.c.subscription_id).where(
                dead_letters.c.state == "retrying").distinct()).scalars())
        due = [c.id for c in candidates if heads[c.org, c.dataset] > c.cursor or c.id in retrying]
        # Those left waiting for a slot: held subscriptions make way for them after their page.
        self.waiting = max(0, len(due) - slots)
        if not due or not slots:
            return []
        # Lease only what this worker can start now, so other workers get the rest.
        random.shuffle(due)
        claimed = []
        with short_transaction(self.engine) as conn:
            until = self.until()
            for sub_id in due[:slots]:
                if conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id, free).values(
                        lease_owner=self.owner, lease_expires_at=until)).rowcount:
                    claimed.append(sub_id)
        self.held.update(claimed)
        return claimed

    def heartbeat(self) -> None:
        busy = list(self.held)
        if busy:
            with short_transaction(self.engine) as conn:
                conn.execute(subscriptions.update().where(
                    subscriptions.c.id.in_(busy), subscriptions.c.lease_owner == self.owner).values(
                    lease_expires_at=self.until()))

    def release(self, sub_ids: Iterable[str], conn: Connection | None = None) -> None:
        """Give the leases up (in the caller's transaction, if any); they stay held in memory
        until the caller forgets them."""
        sub_ids = list(sub_ids)
        if not sub_ids:
            return
        if conn is None:
            with short_transaction(self.engine) as own:
                self.release(sub_ids, own)
            return
        conn.execute(subscriptions.update().where(
            subscriptions.c.id.in_(sub_ids), subscriptions.c.lease_owner == self.owner).values(
            lease_owner=None, lease_expires_at=None))

    def take_turns(self) -> bool:
        """Another subscription waits for a slot: one held subscription makes way after its page."""
        if self.waiting > 0:
            self.waiting -= 1
            return True
        return False
