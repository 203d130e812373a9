"""The one small interface every push channel implements, and what it answers.

A channel gets a subscription and an ordered list of messages (one event, or a
batch of events) and hands them over in order. It answers one Outcome per message
it tried, stopping at the first message that must be tried again later
(`failed`) or that ends the subscription (`gone`). `refused` is a permanent
refusal of that one message: it goes to the subscription's dead letters and the
rest flow.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from .reply import Reply


@dataclass
class Message:
    webhook_id: str  # stable for the same events in the same replay epoch
    events: list[dict[str, Any]]  # CloudEvents
    seqs: list[int]  # record log sequence of each event
    batch: bool = False  # send as one application/cloudevents-batch+json array
    body: bytes | None = None  # the encoded events, when made once for several subscriptions

    def encoded(self) -> bytes:
        return self.body if self.body is not None else encode(self.events, self.batch)


def encode(events: list[dict[str, Any]], batch: bool) -> bytes:
    """Compact JSON: one event, or (batch) an array of them."""
    return orjson.dumps(events if batch else events[0])


@dataclass
class Outcome:
    kind: str  # ok | refused | failed | gone
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None  # seconds, from the receiver or the channel
    reply: Reply | None = None  # what the receiver answered (webhooks), bounded and sanitised

    @property
    def done(self) -> bool:
        return self.kind in ("ok", "refused")


@dataclass
class Target:
    """What a channel needs to know of a subscription."""
    id: str
    org: str
    url: str | None = None
    secrets: list[str] = field(default_factory=list)  # current first


class Channel(Protocol):
    name: str

    def deliver(self, target: Target, messages: list[Message]) -> list[Outcome]: ...

    def close(self) -> None: ...
