"""Subscriptions: create, read, delete, status, secret rotation, dead letters,
replay, and the pull feed with its acknowledgements. No HTTP here."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Callable

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from hub import db, sealing
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, Forbidden, Invalid, InvalidContent, not_found
from hub.records.events import CloudEvents
from hub.records.models import records
from hub.records.service import live_records
from hub.timeutil import iso_utc, parse_iso

from . import disclose, signing
from .destinations import DestinationRefused, check_url
from .models import CHANNELS, dead_letters, delivery_attempts, subscriptions
from .policy import PolicyPort
from .scope import READERS, SubscriptionScope

FILTER_KEYS = {"publishers", "ops", "where"}
REPLAY_SLUG = "replay-out-of-range"


def aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC; make every time comparable."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def _iso(moment) -> str | None:
    return iso_utc(moment) if moment is not None else None


def shown_status(row) -> str:
    if row.paused_at is not None:
        return "paused"
    if row.status in ("disabled", "awaiting-agreement", "paused"):
        return row.status
    if row.attempts:
        return "failing"
    return "active"


def view(row) -> dict:
    answer = {
        "id": row.id, "org": row.org, "dataset": row.dataset, "purpose": row.purpose, "channel": row.channel,
        "status": shown_status(row), "status_reason": row.status_reason, "cursor": row.cursor,
        "created_at": _iso(row.created_at),
    }
    if row.paused_at is not None:
        answer.update(status_reason=f"paused by {row.paused_by}", paused_at=_iso(row.paused_at),
                      paused_by=row.paused_by)
    if row.channel == "webhook":
        answer["url"] = row.url
        answer["batch"] = bool(row.batch)
    if row.channel == "mqtt":
        from .mqtt import topic
        answer["topic"] = topic(row.org, row.id)
    if row.channel == "pull":
        answer["feed"] = f"/api/v1/subscriptions/{row.id}/feed"
    if row.filter:
        answer["filter"] = json.loads(row.filter)
    return answer


class DeliveryService:
    def __init__(self, engine: Engine, catalogue, settings, policy=None, clock: Callable[[], datetime] = db.utcnow):
        self.engine = engine
        self.clock = clock
        self.catalogue = catalogue
        self.settings = settings
        self.delivery = settings.delivery
        self.policy = policy if isinstance(policy, PolicyPort) else PolicyPort(policy, CloudEvents(settings.public_url))
        self.box = sealing.for_engine(engine)
        self.scope = SubscriptionScope(getattr(settings, "hub_operator", None))

    # -- subscriptions -------------------------------------------------------
    def _check_filter(self, filter_) -> str | None:
        if filter_ is None:
            return None
        if not isinstance(filter_, dict) or set(filter_) - FILTER_KEYS:
            raise Invalid(f"filter is an object with any of {', '.join(sorted(FILTER_KEYS))}")
        for name in ("publishers", "ops"):
            if name in filter_ and not (isinstance(filter_[name], list) and all(isinstance(v, str) for v in filter_[name])):
                raise Invalid(f"filter.{name} is a list of strings")
        if "where" in filter_ and not isinstance(filter_["where"], dict):
            raise Invalid("filter.where is an object of payload field: value (or list of values)")
        return json.dumps(filter_, sort_keys=True)

    def _start_cursor(self, conn, start) -> int:
        if start in (None, "now"):
            return conn.execute(select(func.max(records.c.seq))).scalar() or 0
        if start == "beginning":
            return 0
        try:
            seq = int(start)
        except (TypeError, ValueError):
            raise Invalid("start is now, beginning, or the sequence number to start from") from None
        if seq < 1:
            raise Invalid("a start sequence is 1 or more")
        return seq - 1

    def subscribe(self, body: dict, principal: Principal) -> dict:
        principal.require("subscriber")
        org = body.get("org") or principal.org
        principal.require_org(org)
        dataset, purpose, channel = body["dataset"], body["purpose"], body["channel"]
        if self.catalogue.get(dataset) is None:
            raise Invalid(f"unknown dataset {dataset!r}")
        if channel not in CHANNELS:
            raise Invalid(f"channel is one of {', '.join(CHANNELS)}")
        url = body.get("url")
        secret = None
        if channel == "webhook":
            if not url:
                raise Invalid("a webhook subscription needs a url")
            try:
                check_url(url, self.delivery.webhook_allow)
            except DestinationRefused as exc:
                raise Invalid(str(exc), slug="destination-refused") from None
            secret = signing.new_secret()
        elif url:
            raise Invalid(f"a {channel} subscription takes no url")
        if channel == "mqtt" and not self.delivery.mqtt_host:
            raise Invalid("this hub has no MQTT broker configured; use webhook or pull")
        filter_json = self._check_filter(body.get("filter"))
        now = self.clock()
        sub_id = str(uuid.uuid4())
        with db.write_transaction(self.engine) as conn:
            cursor = self._start_cursor(conn, body.get("start"))
            row = dict(id=sub_id, org=org, dataset=dataset, purpose=purpose, channel=channel, url=url,
                       filter=filter_json, batch=bool(body.get("batch", False)), status="active",
                       status_reason=None, cursor=cursor, epoch=0, attempts=0,
                       secret=self.box.seal(secret) if secret else None,
                       created_at=now, created_by=principal.actor)
            conn.execute(subscriptions.insert().values(**row))
            created = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).first()
            disclose.set_coverage(conn, created, *disclose.coverage(self.policy, created, now))
            audit.append(conn, at=now, actor=principal.actor, org=org, action="subscription.create", target=sub_id,
                         detail={"dataset": dataset, "purpose": purpose, "channel": channel, "cursor": cursor})
            created = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).first()
        answer = view(created)
        if secret:
            answer["secret"] = secret  # shown once
        return answer

    def _get(self, conn, sub_id: str, principal: Principal):
        """A subscription the caller may act on (hub.delivery.scope says who)."""
        row = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).first()
        return self.scope.actionable(row, sub_id, principal)

    def _read(self, conn, sub_id: str, principal: Principal):
        """A subscription the caller may read (the hub operator: as metadata)."""
        principal.require(*READERS)
        row = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).first()
        return self.scope.readable(row, sub_id, principal)

    def get(self, sub_id: str, principal: Principal) -> dict:
        with self.engine.connect() as conn:
            row = self._read(conn, sub_id, principal)
        return self.scope.shown(row, principal, view(row))

    def list(self, principal: Principal, org: str | None = None) -> list[dict]:
        query = select(subscriptions).order_by(subscriptions.c.created_at, subscriptions.c.id)
        org = self.scope.list_org(principal, org)
        if org:
            query = query.where(subscriptions.c.org == org)
        with self.engine.connect() as conn:
            return [self.scope.shown(r, principal, view(r)) for r in conn.execute(query)]

    def delete(self, sub_id: str, principal: Principal) -> None:
        principal.require("subscriber")
        with db.write_transaction(self.engine) as conn:
            row = self._get(conn, sub_id, principal)
            principal.require_org(row.org)
            conn.execute(dead_letters.delete().where(dead_letters.c.subscription_id == sub_id))
            conn.execute(subscriptions.delete().where(subscriptions.c.id == sub_id))
            audit.append(conn, at=self.clock(), actor=principal.actor, org=row.org, action="subscription.delete", target=sub_id,
                         detail={"cursor": row.cursor})

    def rotate_secret(self, sub_id: str, principal: Principal, grace_seconds: int | None = None) -> dict:
        """A new secret (shown once); the previous one keeps signing alongside it for the grace period."""
        principal.require("subscriber")
        grace = self.delivery.secret_grace_seconds if grace_seconds is None else grace_seconds
        secret = signing.new_secret()
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            row = self._get(conn, sub_id, principal)
            principal.require_org(row.org)
            if row.channel != "webhook":
                raise Conflict("only webhook subscriptions have a signing secret")
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(
                secret=self.box.seal(secret), previous_secret=row.secret,
                previous_secret_expires_at=now + timedelta(seconds=grace)))
            audit.append(conn, at=now, actor=principal.actor, org=row.org, action="subscription.rotate-secret",
                         target=sub_id, detail={"grace_seconds": grace})
        return {"id": sub_id, "secret": secret, "previous_valid_until": iso_utc(now + timedelta(seconds=grace))}

    def signing_secrets(self, row, now: datetime) -> list[str]:
        found = [self.box.open(row.secret)] if row.secret else []
        if row.previous_secret and aware(row.previous_secret_expires_at) and aware(row.previous_secret_expires_at) > now:
            found.append(self.box.open(row.previous_secret))
        return found

    # -- operations ----------------------------------------------------------
    def status(self, sub_id: str, principal: Principal) -> dict:
        now = self.clock()
        with self.engine.connect() as conn:
            row = self._read(conn, sub_id, principal)
            behind = disclose.count_after(conn, row, row.cursor)
            oldest = disclose.oldest_after(conn, row, row.cursor) if behind else None
            dead = conn.execute(select(func.count()).select_from(dead_letters).where(
                dead_letters.c.subscription_id == sub_id, dead_letters.c.state != "delivered")).scalar() or 0
        answer = view(row)
        answer.update({
            "lag": {"records": behind, "seconds": round((now - aware(oldest)).total_seconds(), 3) if oldest else 0.0},
            "last_success_at": _iso(row.last_success_at),
            "last_error": row.last_error,
            "last_error_at": _iso(row.last_error_at),
            "attempts": row.attempts,
            "next_retry_at": _iso(row.next_attempt_at) if row.attempts else None,
            "dead_letters": dead,
            "worker": row.lease_owner if row.lease_expires_at and aware(row.lease_expires_at) > now else None,
        })
        if row.channel == "pull":
            answer["acked"] = row.acked
            answer["acked_at"] = _iso(row.acked_at)
        return self.scope.shown(row, principal, answer)

    def provider_deliveries(self, principal: Principal) -> list[dict]:
        """How far each recipient's subscription is behind on the caller's own org's records, for
        the subscriptions an active agreement lets it share with: health metadata (no URL, filter
        or error text). Most behind first."""
        principal.require("governance", "ops")
        provider, now = principal.org, self.clock()
        answer = []
        with self.engine.connect() as conn:
            rows = conn.execute(select(subscriptions).where(subscriptions.c.org != provider)).all()
            for row in rows:
                if provider not in self.policy.providers_sharing_with(row.org, row.dataset, now):
                    continue
                mine = select(func.count(), func.min(records.c.received_at)).where(
                    records.c.dataset == row.dataset, records.c.publisher == provider, records.c.seq > row.cursor)
                behind, oldest = conn.execute(mine).one()
                answer.append({"id": row.id, "org": row.org, "dataset": row.dataset, "purpose": row.purpose,
                               "channel": row.channel, "status": shown_status(row), "behind": behind or 0,
                               "seconds": round((now - aware(oldest)).total_seconds(), 3) if oldest else 0.0,
                               "last_success_at": _iso(row.last_success_at)})
        return sorted(answer, key=lambda d: (-d["seconds"], -d["behind"], d["org"], d["dataset"]))

    def follow_agreements(self, now: datetime | None = None) -> int:
        """Show every subscription (but disabled ones) as what covers it now: active, paused by a
        suspended agreement, or awaiting one; whether or not it has anything to deliver.
        Returns how many changed."""
        now = now or self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(select(
                subscriptions.c.id, subscriptions.c.org, subscriptions.c.dataset, subscriptions.c.purpose,
                subscriptions.c.status, subscriptions.c.status_reason).where(subscriptions.c.status != "disabled")).all()
        by_scope: dict[tuple, tuple] = {}
        changed = []
        for row in rows:
            scope = (row.org, row.dataset, row.purpose)
            if scope not in by_scope:
                by_scope[scope] = disclose.coverage(self.policy, row, now)
            if by_scope[scope] != (row.status, row.status_reason):
                changed.append((row, by_scope[scope]))
        if changed:
            with db.write_transaction(self.engine) as conn:
                for row, (status, reason) in changed:
                    disclose.set_coverage(conn, row, status, reason)
        return len(changed)

    def list_dead_letters(self, sub_id: str, principal: Principal, include_delivered: bool = False,
                          reason: str | None = None, after_seq: int | None = None,
                          limit: int | None = None) -> list[dict]:
        """Dead letters name records: their own org's readers (and admin) only, not the hub operator.
        In sequence order; `reason` (as `dead_letter_reasons` names it) and `after_seq`/`limit` page them."""
        principal.require(*READERS)
        with self.engine.connect() as conn:
            self._get(conn, sub_id, principal)
            query = select(dead_letters).where(dead_letters.c.subscription_id == sub_id).order_by(dead_letters.c.seq)
            if not include_delivered:
                query = query.where(dead_letters.c.state != "delivered")
            if reason is not None:
                status, _, error = reason.partition(" ")
                query = query.where(dead_letters.c.status_code.is_(None) if status == "-" else
                                    dead_letters.c.status_code == _int_or(status, -1),
                                    dead_letters.c.error.is_(None) if not error else dead_letters.c.error == error)
            if after_seq is not None:
                query = query.where(dead_letters.c.seq > after_seq)
            if limit is not None:
                query = query.limit(limit)
            return [dead_letter_view(r) for r in conn.execute(query)]

    def dead_letter_reasons(self, sub_id: str, principal: Principal) -> list[dict]:
        """The dead letters waiting, grouped by why the receiver refused them (most first)."""
        principal.require(*READERS)
        with self.engine.connect() as conn:
            self._get(conn, sub_id, principal)
            rows = conn.execute(select(dead_letters.c.status_code, dead_letters.c.error, func.count().label("n"),
                                       func.max(dead_letters.c.created_at).label("latest"))
                                .where(dead_letters.c.subscription_id == sub_id, dead_letters.c.state != "delivered")
                                .group_by(dead_letters.c.status_code, dead_letters.c.error)).all()
        groups = [{"reason": f"{r.status_code if r.status_code is not None else '-'} {r.error or ''}".rstrip(),
                   "status_code": r.status_code, "error": r.error, "count": r.n, "latest": _iso(r.latest)}
                  for r in rows]
        return sorted(groups, key=lambda g: (-g["count"], g["reason"]))

    def dead_letter_event(self, sub_id: str, letter_id: int, principal: Principal) -> dict:
        """The event of a dead letter as the hub sends it: decided again now under today's agreement
        and consent (what a retry sends), and shown only if allowed. Showing it is a disclosure to
        the recipient org, recorded and audited; a record no longer allowed is withheld. Personal data is for the recipient's governance
        staff and subscriber keys (and admins); its ops staff see the events of other datasets."""
        principal.require(*READERS)
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            row = self._get(conn, sub_id, principal)
            letter = conn.execute(select(dead_letters).where(
                dead_letters.c.id == letter_id, dead_letters.c.subscription_id == sub_id)).first()
            if letter is None:
                raise not_found(f"dead letter {letter_id}")
            known = self.catalogue.get(row.dataset)
            if known is not None and known.personal and principal.role == "ops":
                raise Forbidden(f"{row.dataset} is personal data: its events are shown to {row.org}'s governance "
                                "staff and subscriber credentials, not to operations staff")
            found = conn.execute(select(records).where(records.c.seq == letter.seq, live_records)).all()
            decided = disclose.decide(self.policy, row, found, now)
            if not decided.events:  # deny by default: nothing is shown, and nothing disclosed
                return {"id": letter_id, "webhook_id": letter.webhook_id, "event": None,
                        "withheld": f"the record may no longer go to {row.org} (agreement, consent, filter or "
                                    "retention), so it is not shown and a retry would not send it"}
            self.policy.record_disclosures(conn, list(decided.disclosures.values()), "console")
            audit.append(conn, at=now, actor=principal.actor, org=row.org, action="subscription.dead-letter-event",
                         target=sub_id, detail={"letter": letter_id, "seq": letter.seq, "record_id": letter.record_id})
        return {"id": letter_id, "webhook_id": letter.webhook_id, "event": decided.events[0]}

    def attempts(self, sub_id: str, principal: Principal, limit: int = 50) -> list[dict]:
        """The latest delivery attempts, newest first: time, outcome, status, latency, events and
        what the receiver said. The hub operator reads the times, outcomes and latencies only."""
        with self.engine.connect() as conn:
            row = self._read(conn, sub_id, principal)
            found = conn.execute(select(delivery_attempts).where(delivery_attempts.c.subscription_id == sub_id)
                                 .order_by(delivery_attempts.c.id.desc()).limit(max(1, min(limit, 500)))).all()
        own = row.org == principal.org or principal.is_admin
        return [attempt_view(r, own) for r in found]

    def _control(self, sub_id: str, principal: Principal, action: str, **values) -> dict:
        """Change a push subscription's delivery state, audited with the caller as the actor."""
        principal.require("subscriber", "ops")
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            row = self._get(conn, sub_id, principal)
            if row.channel not in ("webhook", "mqtt"):
                raise Conflict(f"subscription {sub_id} is a pull feed: its consumer reads it when it chooses")
            if action == "try-now" and row.paused_at is not None:
                raise Conflict(f"subscription {sub_id} is paused; resume it to deliver", slug="paused")
            if action == "try-now" and row.status == "disabled":
                raise Conflict(f"subscription {sub_id} is disabled (the receiver answered 410 Gone); "
                               "a replay starts it again", slug="disabled")
            if action == "pause":
                values.update(paused_at=now, paused_by=principal.actor)
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(**values))
            audit.append(conn, at=now, actor=principal.actor, org=row.org, action=f"subscription.{action}",
                         target=sub_id, detail={"cursor": row.cursor, "was": shown_status(row)})
            changed = conn.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).first()
        return view(changed)

    def pause(self, sub_id: str, principal: Principal) -> dict:
        """Stop delivering (the position is held) until someone resumes it."""
        return self._control(sub_id, principal, "pause")

    def resume(self, sub_id: str, principal: Principal) -> dict:
        return self._control(sub_id, principal, "resume", paused_at=None, paused_by=None, next_attempt_at=None)

    def try_now(self, sub_id: str, principal: Principal) -> dict:
        """Make a waiting subscription due now instead of at its next retry."""
        return self._control(sub_id, principal, "try-now", next_attempt_at=None)

    def retry_dead_letters(self, sub_id: str, principal: Principal, letter_id: int | None = None) -> int:
        """Queue dead letters (one, or all) for the worker to try again; returns how many."""
        principal.require("subscriber", "ops")
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            row = self._get(conn, sub_id, principal)
            query = dead_letters.update().where(dead_letters.c.subscription_id == sub_id,
                                                dead_letters.c.state == "dead")
            if letter_id is not None:
                query = query.where(dead_letters.c.id == letter_id)
            count = conn.execute(query.values(state="retrying", updated_at=now)).rowcount
            if letter_id is not None and not count:
                raise not_found(f"dead letter {letter_id}")
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(next_attempt_at=None))
            audit.append(conn, at=now, actor=principal.actor, org=row.org, action="subscription.retry-dead-letters",
                         target=sub_id, detail={"count": count, "letter": letter_id})
        return count

    def replay(self, sub_id: str, principal: Principal, from_seq: int | None = None, from_time: str | None = None) -> dict:
        """Move the cursor back so delivery starts again at a sequence or a time (inclusive).
        Replayed events carry new webhook-ids, so receivers that de-duplicate take them.
        A position after the end of the log, or one that would jump over records not yet
        delivered, is refused: a replay never skips anything."""
        principal.require("subscriber", "ops")
        if (from_seq is None) == (from_time is None):
            raise Invalid("replay from a sequence (from_seq) or from a time (from_time), one of them")
        with db.write_transaction(self.engine) as conn:
            row = self._get(conn, sub_id, principal)
            tail = conn.execute(select(func.max(records.c.seq))).scalar() or 0
            if from_time is not None:
                try:
                    moment = parse_iso(from_time)
                except ValueError:
                    raise Invalid("from_time is an RFC 3339 time with a zone") from None
                first = conn.execute(select(func.min(records.c.seq)).where(records.c.received_at >= moment)).scalar()
                if first is None:
                    raise _beyond_the_end(f"nothing was received at or after {from_time}", tail)
                cursor = first - 1
            else:
                if from_seq > tail:
                    raise _beyond_the_end(f"sequence {from_seq} is beyond the end of the log", tail)
                cursor = max(0, from_seq - 1)
            # Where delivery stands: the cursor, or the end of the page being sent.
            position = max(row.cursor, row.inflight_to or 0)
            if cursor > position:
                skipped = disclose.count_after(conn, row, position, upto=cursor)
                if skipped:
                    raise InvalidContent(f"a replay moves back: this subscription has delivered up to sequence {position}, "
                                         f"and starting from {cursor + 1} would skip {skipped} records not yet delivered",
                                         slug=REPLAY_SLUG, cursor=position)
            moved_back = disclose.count_after(conn, row, cursor, upto=position) if cursor < position else 0
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(
                cursor=cursor, epoch=subscriptions.c.epoch + 1, inflight_to=None, attempts=0,
                next_attempt_at=None, status="active" if row.status == "disabled" else row.status))
            audit.append(conn, at=self.clock(), actor=principal.actor, org=row.org, action="subscription.replay", target=sub_id,
                         detail={"from_seq": from_seq, "from_time": from_time, "cursor": cursor, "was": position,
                                 "moved_back": moved_back})
        return {"id": sub_id, "cursor": cursor, "previous_cursor": position, "moved_back": moved_back}

    # -- pull ----------------------------------------------------------------
    def feed(self, sub_id: str, principal: Principal, after: int | None, limit: int) -> dict:
        _require_puller(principal)
        limit = max(1, min(limit, self.settings.feed_max_limit))
        now = self.clock()
        with self.engine.connect() as conn:
            row = self._get(conn, sub_id, principal)
            principal.require_org(row.org)
        if row.channel != "pull":
            raise Conflict(f"subscription {sub_id} is delivered by {row.channel}, not read as a feed")
        position = row.cursor if after is None else after
        status, reason = disclose.coverage(self.policy, row, now)
        if status != "active":
            return {"events": [], "next": position, "status": status, "status_reason": reason}
        with db.write_transaction(self.engine) as conn:
            page = disclose.read_page(conn, row, position, limit)
            decided = disclose.decide(self.policy, row, page, now)
            self.policy.record_disclosures(conn, list(decided.disclosures.values()), "pull")
            self.policy.record_denials(conn, decided.denials, row.org, row.purpose, "pull")
        return {"events": decided.events, "next": page[-1].seq if page else position}

    def ack(self, sub_id: str, principal: Principal, seq: int) -> dict:
        _require_puller(principal)
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            row = self._get(conn, sub_id, principal)
            principal.require_org(row.org)
            if row.channel != "pull":
                raise Conflict("only pull subscriptions are acknowledged by the consumer")
            tail = conn.execute(select(func.max(records.c.seq))).scalar() or 0
            if seq > tail:
                raise Conflict(f"seq {seq} is beyond the end of the log ({tail})")
            conn.execute(subscriptions.update().where(subscriptions.c.id == sub_id).values(
                cursor=seq, acked=seq, acked_at=now, last_success_at=now))
        return {"id": sub_id, "acked": seq}


def read_lag(engine: Engine, clock: Callable[[], datetime] = db.utcnow) -> list[tuple[str, str, int, float]]:
    """(subscription, channel, records behind, seconds behind) for every subscription."""
    now = clock()
    answer = []
    with engine.connect() as conn:
        for row in conn.execute(select(subscriptions.c.id, subscriptions.c.channel, subscriptions.c.org,
                                       subscriptions.c.dataset, subscriptions.c.cursor)):
            behind = disclose.count_after(conn, row, row.cursor)
            oldest = disclose.oldest_after(conn, row, row.cursor) if behind else None
            answer.append((row.id, row.channel, behind, (now - aware(oldest)).total_seconds() if oldest else 0.0))
    return answer


def _int_or(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default


def _json_or_none(text: str | None) -> dict | None:
    return json.loads(text) if text else None


def dead_letter_view(r) -> dict:
    return {"id": r.id, "seq": r.seq, "record_id": r.record_id, "webhook_id": r.webhook_id,
            "state": r.state, "status_code": r.status_code, "error": r.error, "attempts": r.attempts,
            "reply": {"headers": _json_or_none(r.reply_headers) or {}, "excerpt": r.reply_excerpt or ""},
            "created_at": _iso(r.created_at), "updated_at": _iso(r.updated_at)}


def attempt_view(r, own: bool) -> dict:
    answer = {"at": _iso(r.at), "outcome": r.outcome, "status_code": r.status_code, "latency_ms": r.latency_ms,
              "events": r.events}
    if own:  # the receiver's words can quote its configuration: its own org (and admin) only
        answer.update(error=r.error, reply={"headers": _json_or_none(r.reply_headers) or {},
                                            "excerpt": r.reply_excerpt or ""})
    return answer


def _beyond_the_end(what: str, tail: int) -> InvalidContent:
    return InvalidContent(f"{what}: the log ends at sequence {tail}; replay from {tail} or earlier" if tail else
                          f"{what}: the log is empty, there is nothing to deliver again", slug=REPLAY_SLUG, log_end=tail)


def _require_puller(principal: Principal) -> None:
    """Pull feeds are read by the org's subscriber keys and by its enrolled agents
    (an agent's subscribe task writes them into a local system with the agent's own
    credential); require_org on the subscription then keeps each org to its own."""
    if principal.agent_id is None:
        principal.require("subscriber")
