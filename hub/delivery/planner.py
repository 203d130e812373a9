"""Planning a round's pages, without a database: subscriptions and the rows read
after their cursors in, pages out.

The worker reads the log; this module decides what of it goes where. Subscriptions
of one recipient and purpose share one decision per record (made at the same
moment for all of them), and subscriptions whose pages coincide share each encoded
body. A subscription whose agreement was suspended while its page was read is held
(its cursor waits), never passed over as denied.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hub.records.service import envelope_of

from . import disclose
from .channel import Message, Outcome, encode
from .policy import PolicyPort

# Decisions made for one page stand for the pages planned after it (the next page of the same
# subscriptions, planned while this one is sent; a subscription a page behind the others) for at
# most this long, and only while policy (agreements, consent, objections: any change, in any
# process) stays at the revision they were made at.
DECISIONS_STAND = timedelta(seconds=1)
SHARED_MAX_RECORDS = 20_000  # what one Shared holds at most before it is started afresh


@dataclass(frozen=True, slots=True)
class Subscription:
    """What delivery reads of a subscription row (the table is `models.subscriptions`)."""
    id: str
    org: str
    dataset: str
    purpose: str
    channel: str
    status: str
    cursor: int
    epoch: int = 0
    attempts: int = 0
    url: str | None = None
    filter: str | None = None  # JSON, as stored
    batch: bool = False
    status_reason: str | None = None
    inflight_to: int | None = None
    lease_owner: str | None = None
    secret: str | None = None
    previous_secret: str | None = None
    previous_secret_expires_at: datetime | None = None

    @classmethod
    def of(cls, row: Any) -> Subscription:
        return cls(id=row.id, org=row.org, dataset=row.dataset, purpose=row.purpose, channel=row.channel,
                   status=row.status, cursor=row.cursor, epoch=row.epoch, attempts=row.attempts, url=row.url,
                   filter=row.filter, batch=bool(row.batch), status_reason=row.status_reason,
                   inflight_to=row.inflight_to, lease_owner=row.lease_owner, secret=row.secret,
                   previous_secret=row.previous_secret, previous_secret_expires_at=row.previous_secret_expires_at)

    @property
    def scope(self) -> tuple[str, str, str]:
        """Recipient, dataset and purpose: what an agreement covers."""
        return self.org, self.dataset, self.purpose


@dataclass
class PageResult:
    """What the channel answered for a page, per event."""
    delivered: list[tuple[int, str]] = field(default_factory=list)  # (seq, webhook-id)
    refused: list[tuple[int, str, Outcome]] = field(default_factory=list)  # (seq, webhook-id, why): dead letters
    failure: Outcome | None = None  # try again later (or `gone`)
    last: Outcome | None = None  # the last answer read: the page's entry in the attempt history

    @property
    def handed(self) -> list[int]:
        """Seqs the recipient got (acknowledged, or read and refused): disclosed either way."""
        return [seq for seq, _ in self.delivered] + [seq for seq, _, _ in self.refused]


@dataclass
class Page:
    """One subscription's page: planned in a round, sent on the pool, written in a later round."""
    sub: Subscription
    rows: list[Any]  # rows of the record log, in log order
    decided: disclose.Decided
    messages: list[Message]
    now: datetime
    shared: Shared | None = None  # what its decisions were made with (and when)
    result: PageResult = field(default_factory=PageResult)
    finished_at: float = 0.0  # monotonic: when the channel was done with it

    @property
    def last_seq(self) -> int:
        return int(self.rows[-1].seq)

    def settled_cursor(self) -> int:
        """Where the cursor moves once the result is in: past the page, or (after a failure)
        to just before the first event not handed over."""
        if self.result.failure is None:
            return self.last_seq
        return self.decided.seqs[len(self.result.handed)] - 1


@dataclass
class Plan:
    """A round's pages, by what happens to them next."""
    sending: list[Page] = field(default_factory=list)  # events to hand over
    quiet: list[Page] = field(default_factory=list)  # nothing on the page for it (denied or filtered): advance
    held: list[tuple[Subscription, str, str | None]] = field(default_factory=list)  # (sub, status, why): not covered now


def page_limit(sub: Subscription, page_size: int, bulk_page_size: int, batch_max_events: int) -> int:
    """Records read after the cursor per step: `page_size` for a webhook sent one event per call;
    `bulk_page_size` where the events go out together (batches, whole ones; MQTT publishes,
    acknowledged together), so that a backlog's round serves five to ten times the events."""
    if sub.batch:
        return max(1, bulk_page_size // batch_max_events) * batch_max_events
    return bulk_page_size if sub.channel == "mqtt" else page_size


def message_id(sub: Subscription, first: int, last: int | None = None) -> str:
    """A webhook-id stable for the same events in the same replay epoch."""
    base = f"msg_{sub.id.replace('-', '')[:20]}_{sub.epoch}_{first}"
    return base if last is None or last == first else f"{base}-{last}"


def messages_for(sub: Subscription, decided: disclose.Decided, batch_events: int | None = None) -> list[Message]:
    """One message per event, or (batch) one message per `batch_events` events of the page (the
    whole page when None), sent one after the other."""
    if not decided.events:
        return []
    if sub.batch:
        size = batch_events or len(decided.events)
        chunks = [(decided.events[i:i + size], decided.seqs[i:i + size]) for i in range(0, len(decided.events), size)]
        return [Message(message_id(sub, seqs[0], seqs[-1]), events, seqs, batch=True) for events, seqs in chunks]
    return [Message(message_id(sub, seq), [event], [seq]) for event, seq in zip(decided.events, decided.seqs)]


def close_together(subs: Sequence[Subscription], limit_of: Callable[[Subscription], int]) -> list[list[Subscription]]:
    """Subscriptions of one dataset in groups that one shared read serves: each group's cursors
    lie within a page of its lowest (a subscription far ahead, e.g. one sending single events
    while the others send batches, is read on its own rather than widening everyone's read)."""
    groups: list[list[Subscription]] = []
    for sub in sorted(subs, key=lambda s: s.cursor):
        if groups and sub.cursor - groups[-1][0].cursor < limit_of(groups[-1][0]):
            groups[-1].append(sub)
        else:
            groups.append([sub])
    return groups


def read_window(together: Sequence[Subscription], limit_of: Callable[[Subscription], int]) -> tuple[int, int]:
    """Where one shared read for subscriptions of one dataset starts, and how many rows it takes:
    exactly one page when they all stand at the same place, two pages' worth otherwise."""
    low = min(sub.cursor for sub in together)
    widest = max(limit_of(sub) for sub in together)
    return low, widest if all(sub.cursor == low for sub in together) else 2 * widest


def slice_window(rows: Sequence[Any], window: int, together: Sequence[Subscription],
                 limit_of: Callable[[Subscription], int]) -> list[tuple[Subscription, list[Any] | None]]:
    """Each subscription's page out of one shared read; None where the window cut it short (it is
    read on its own then) rather than the end of the log."""
    seqs = [row.seq for row in rows]
    sliced: list[tuple[Subscription, list[Any] | None]] = []
    for sub in together:
        limit = limit_of(sub)
        first = bisect_right(seqs, sub.cursor)
        page = list(rows[first:first + limit])
        sliced.append((sub, None if len(page) < limit and len(rows) == window else page))
    return sliced


def plan(policy: PolicyPort, slices: Sequence[tuple[Subscription, list[Any]]], now: datetime,
         shared: Shared | None = None, batch_events: int | None = None) -> Plan:
    """Each subscription's page, decided once per recipient and purpose for all of them, then checked
    against what covers it at that moment."""
    planned = Plan()
    rechecked: dict[tuple[str, str, str], tuple[str, str | None]] = {}
    for page in decide_pages(policy, slices, now, shared, batch_events):
        # Checked again once decided: an agreement suspended in between holds the page.
        sub = page.sub
        if sub.scope not in rechecked:
            rechecked[sub.scope] = disclose.coverage(policy, sub, now)
        status, reason = rechecked[sub.scope]
        if status != "active":
            planned.held.append((sub, status, reason))
        elif page.messages:
            planned.sending.append(page)
        else:
            planned.quiet.append(page)
    return planned


@dataclass
class Shared:
    """The work pages planned together, or a moment apart, share: each record's envelope, and for
    each recipient and purpose each record's decision (made at `at`, under policy `revision`),
    event and disclosure, each page's selection and each encoded body. Once made, nothing in it
    is changed."""
    at: datetime
    revision: Hashable = None
    envelopes: dict[int, dict[str, Any]] = field(default_factory=dict)
    decisions: dict[tuple[str, str], dict[int, Any]] = field(default_factory=dict)
    made: dict[tuple[str, str], dict[int, tuple[dict[str, Any], Any]]] = field(default_factory=dict)
    # Pages with the same rows, dataset and filter select the same events: selected once.
    selected: dict[tuple[str, str, str, str | None, tuple[int, ...]], disclose.Decided] = field(default_factory=dict)
    bodies: dict[tuple[str, str, bool, tuple[int, ...]], bytes] = field(default_factory=dict)

    def stands(self, revision: Hashable, now: datetime) -> bool:
        """Whether its decisions still stand at `now`: policy unchanged, made a moment ago."""
        return (revision == self.revision and timedelta(0) <= now - self.at <= DECISIONS_STAND
                and len(self.envelopes) < SHARED_MAX_RECORDS)


def decide_pages(policy: PolicyPort, slices: Sequence[tuple[Subscription, list[Any]]], now: datetime,
                 shared: Shared | None = None, batch_events: int | None = None) -> list[Page]:
    """Each subscription's page, decided once per recipient and purpose for all of them (at
    `shared.at`, reusing what `shared` already holds)."""
    shared = shared if shared is not None else Shared(now)
    at, envelopes = shared.at, shared.envelopes
    by_scope: dict[tuple[str, str], list[tuple[Subscription, list[Any], tuple[int, ...]]]] = {}
    read: set[tuple[int, ...]] = set()  # subscriptions side by side have the same page: looked at once
    for sub, rows in slices:
        seqs = tuple([row.seq for row in rows])
        if seqs not in read:
            read.add(seqs)
            for row in rows:
                if row.seq not in envelopes:
                    envelopes[row.seq] = envelope_of(row)
        by_scope.setdefault((sub.org, sub.purpose), []).append((sub, rows, seqs))
    pages: list[Page] = []
    bodies = shared.bodies
    for (org, purpose), scoped in by_scope.items():
        decided_by_seq = shared.decisions.setdefault((org, purpose), {})
        wanted = {seq for seqs in {seqs for _, _, seqs in scoped} for seq in seqs}
        undecided = sorted(wanted - decided_by_seq.keys())
        if undecided:
            decided_by_seq.update(zip(undecided, policy.decide_many([envelopes[seq] for seq in undecided], org,
                                                                    purpose, at)))
        made = shared.made.setdefault((org, purpose), {})
        for sub, rows, seqs in scoped:
            same = (org, purpose, sub.dataset, sub.filter, seqs)
            decided = shared.selected.get(same)
            if decided is None:
                decided = shared.selected[same] = disclose.select_for(
                    policy, sub, rows, [envelopes[row.seq] for row in rows], [decided_by_seq[row.seq] for row in rows],
                    at, made)
            messages = messages_for(sub, decided, batch_events)
            for message in messages:
                key = (org, purpose, message.batch, tuple(message.seqs))
                if key not in bodies:
                    bodies[key] = encode(message.events, message.batch)
                message.body = bodies[key]
            pages.append(Page(sub, rows, decided, messages, now, shared))
    return pages


@dataclass
class Cohort:
    """Subscriptions whose pages were sent together: they wait a moment for each other after the
    first is done, so that they stay together and keep sharing the work of a page."""
    members: frozenset[str]
    first_done: float | None = None
    gather: float = 0.0  # how long after the first is done the others are waited for (seconds)


def cohorts_of(pages: Sequence[Page]) -> dict[str, Cohort]:
    """Subscription id -> its cohort: pages of one dataset over the same stretch of the log (from
    the same cursor to the same record), whatever their channel: kept together, their next pages
    coincide again and share one read and one set of decisions and events."""
    groups: dict[tuple[str, int, int], set[str]] = {}
    for page in pages:
        sub = page.sub
        groups.setdefault((sub.dataset, sub.cursor, page.last_seq), set()).add(sub.id)
    found: dict[str, Cohort] = {}
    for members in groups.values():
        cohort = Cohort(frozenset(members))
        found.update((sub_id, cohort) for sub_id in members)
    return found
