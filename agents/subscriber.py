"""A subscribe task's run: pull the subscription's feed after the local cursor,
write the events into the sink, and only then move the cursor (locally first,
then tell the hub). A crash between sink write and cursor commit re-delivers
those events; sinks apply them by key, so the second write changes nothing."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from connectors import Sink, load_sink

from .config import AgentConfig, TaskConfig
from .hub_client import HubClient, HubError
from .outbox import Outbox

log = logging.getLogger("causeway.agent.subscribe")


@dataclass
class PullResult:
    pages: int = 0
    delivered: int = 0
    cursor: int = 0


def _sequence(event: dict) -> int:
    return int(event.get("sequence") or event.get("seq"))


class Subscriber:
    def __init__(self, config: AgentConfig, outbox: Outbox, hub: HubClient,
                 sink_factory: Callable[[TaskConfig], Sink] | None = None, page_size: int = 500):
        self.config = config
        self.outbox = outbox
        self.hub = hub
        self.page_size = page_size
        self._sink_factory = sink_factory or (lambda task: load_sink(task.connector, task.options, config.base_dir))

    def sink(self, task: TaskConfig) -> Sink:
        return self._sink_factory(task)

    def run(self, task: TaskConfig, should_stop: Callable[[], bool] = lambda: False) -> PullResult:
        sink = self.sink(task)
        cursor = self.outbox.cursor(task.name)  # None: first run, start where the subscription says
        result = PullResult(cursor=cursor or 0)
        limit = min(self.page_size, task.batch_size)
        while not should_stop():
            page = self.hub.feed(task.subscription, cursor, limit)
            events = page.get("events") or []
            if events:
                sink.write(events)
            # `next` may pass records the policy withheld, so it can move without events.
            after = max([int(page.get("next") or 0)] + [_sequence(e) for e in events])
            if cursor is not None and after <= cursor and not events:
                if page.get("status"):
                    log.info("task %s: subscription %s is %s: %s", task.name, task.subscription, page["status"],
                             page.get("status_reason"))
                break
            self.outbox.advance_cursor(task.name, after, len(events))
            cursor = result.cursor = after
            result.pages += 1
            result.delivered += len(events)
            try:
                self.hub.ack(task.subscription, after)
            except HubError as exc:  # the local cursor already holds the truth; the hub learns at the next ack
                log.info("task %s: could not acknowledge up to %d: %s", task.name, after, exc)
        return result
