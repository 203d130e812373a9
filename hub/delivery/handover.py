"""Handing a page's messages to its channel and reading what came back, per event.

A batch the receiver refuses is sent again one event at a time, so that only the bad
event goes to dead letters and the good ones behind it flow.
"""
from __future__ import annotations

from .channel import Channel, Message, Outcome, Target
from .planner import PageResult, Subscription, message_id

STOPPED = "the channel stopped before every message was handed over"


def hand_over(channel: Channel, target: Target, sub: Subscription, messages: list[Message]) -> PageResult:
    """Deliver in order; stop at the first failure (the rest is sent again later)."""
    result = PageResult()
    if not messages:
        return result
    outcomes = channel.deliver(target, messages)
    for message, outcome in zip(messages, outcomes):
        if outcome.kind == "refused" and len(message.events) > 1:
            singles = [Message(message_id(sub, seq), [event], [seq], batch=True)
                       for event, seq in zip(message.events, message.seqs)]
            _take(result, singles, channel.deliver(target, singles))
        else:
            _take(result, [message], [outcome])
        if result.failure is not None:
            return result
    if len(outcomes) < len(messages):
        result.failure = Outcome("failed", error=STOPPED)
    return result


def _take(result: PageResult, messages: list[Message], outcomes: list[Outcome]) -> None:
    for message, outcome in zip(messages, outcomes):
        result.last = outcome
        if outcome.kind == "ok":
            result.delivered.extend((seq, message.webhook_id) for seq in message.seqs)
        elif outcome.kind == "refused":
            result.refused.extend((seq, message.webhook_id, outcome) for seq in message.seqs)
        else:
            result.failure = outcome
            return
