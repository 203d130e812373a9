"""Alerts: the job that evaluates the rules and sends what episodes owe, the list and
history for ops, silences, and where each org's alerts go.

Who sees what (deny by default): an episode is read and silenced by ops of an org it
concerns, the hub operator's ops and admins; no other role or org learns it exists.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import and_, case, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from hub import db, sealing
from hub.audit import service as audit
from hub.auth import Principal, has_operator_view
from hub.delivery.destinations import DestinationRefused, check_url
from hub.delivery.signing import new_secret
from hub.errors import Forbidden, Invalid, not_found
from hub.orgs.models import orgs as orgs_table

from . import episodes, messages, quality_report
from .models import (
    alert_contacts,
    alert_episode_orgs,
    alert_episodes,
    alert_events,
    alert_notifications,
    alert_silences,
)
from .registry import Sources, enabled_rules

log = logging.getLogger("causeway.hub.alerts")
READERS = ("ops",)  # and admin
MAX_SILENCE_MINUTES = 90 * 24 * 60
MAX_REASON = 500
MAX_LISTED = 500
# A message still `sending` this long after its claim was abandoned (the process stopped): claim it again.
ABANDONED_AFTER = timedelta(minutes=10)
EMAIL_SHAPE = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


class AlertService:
    def __init__(self, engine: Engine, sources: Sources, settings, mailer, webhooks, catalogue,
                 clock: Callable[[], datetime] = db.utcnow):
        self.engine = engine
        self.catalogue = catalogue
        self.sources = sources
        self.settings = settings  # hub.config.Settings
        self.mailer = mailer
        self.webhooks = webhooks  # hub.delivery.webhook.WebhookSender
        self.clock = clock

    # -- the job ------------------------------------------------------------
    def run(self) -> dict:
        """One evaluation and one sending pass (the scheduler's alert job)."""
        changed = self.evaluate()
        sent = self.send_queued() + self.send_quality_reports()
        return {**changed, "sent": sum(s["status"] == "sent" for s in sent),
                "failed": sum(s["status"] == "failed" for s in sent)}

    def evaluate(self) -> dict[str, int]:
        now = self.clock()
        conditions, ran = [], set()
        for found_rule in enabled_rules(self.settings.alerts.disabled_rules):
            try:
                conditions += found_rule.check(self.sources, now, self.settings.alerts)
            except Exception:  # one broken rule must not stop the others or resolve its open episodes
                log.exception("alert rule %s failed; its episodes stay as they were", found_rule.name)
                continue
            ran.add(found_rule.name)
        with db.write_transaction(self.engine) as conn:
            recipients = self._recipients(conn)
            return episodes.apply(conn, conditions, ran, now, recipients)

    def _recipients(self, conn: Connection):
        """orgs -> [(org, channel)]: the orgs concerned and the hub operator, each by the channels
        its alert contact names (e-mail only when an SMTP server is configured)."""
        contacts = {row.org: row for row in conn.execute(select(alert_contacts))}
        operator = self.settings.hub_operator

        def recipients(orgs: list[str]) -> list[tuple[str, str]]:
            told = list(dict.fromkeys([*orgs, *([operator] if operator else [])]))
            found = []
            for org in told:
                contact = contacts.get(org)
                if contact is None:
                    continue
                if contact.email and self.mailer.configured:
                    found.append((org, "email"))
                if contact.webhook_url:
                    found.append((org, "webhook"))
            return found
        return recipients

    def send_queued(self) -> list[dict]:
        """Send every queued message (and retry failed ones, up to max_attempts in all)."""
        t = alert_notifications.c
        with self.engine.connect() as conn:
            work = conn.execute(select(alert_notifications).where(
                t.subject.like("episode:%"), self._sendable(self.clock())).order_by(t.id)).all()
        done = []
        for row in work:
            if not self._claim(row.id):
                continue  # another process took it
            _, episode_id, phase = row.subject.split(":")
            with self.engine.connect() as conn:
                episode = self._episode(conn, int(episode_id))
                contact = conn.execute(select(alert_contacts).where(alert_contacts.c.org == row.org)).first()
            done.append(self._send(row, contact, lambda c, r=row, e=episode, p=phase: self._deliver(c, r, e, p)))
        return done

    def _send(self, row, contact, deliver) -> dict:
        outcome = {"subject": row.subject, "org": row.org, "channel": row.channel}
        try:
            if contact is None:
                raise RuntimeError(f"{row.org} no longer has an alert contact")
            deliver(contact)
        except Exception as exc:  # recorded and retried; the job goes on to the next message
            error = f"{type(exc).__name__}: {exc}"
            log.warning("alert %s %s to %s failed: %s", row.subject, row.channel, row.org, error)
            self._finish(row.id, "failed", error)
            return {**outcome, "status": "failed", "error": error}
        self._finish(row.id, "sent", None)
        return {**outcome, "status": "sent"}

    def _deliver(self, contact, row, episode: dict, phase: str) -> None:
        public_url = self.settings.public_url
        if row.channel == "email":
            if not contact.email:
                raise RuntimeError(f"{row.org}'s alert contact has no e-mail address now")
            self.mailer.send(contact.email, *messages.alert_email(episode, phase, public_url))
        else:
            self.webhook(contact, row, messages.alert_event(episode, phase, public_url),
                         messages.EVENT_CONTENT_TYPE)

    def webhook(self, contact, row, body: bytes, content_type: str) -> None:
        if not contact.webhook_url:
            raise RuntimeError(f"{row.org}'s alert contact has no webhook now")
        secret = sealing.for_engine(self.engine).open(contact.webhook_secret)
        outcome = self.webhooks.send(contact.webhook_url, [secret], messages.webhook_id(row.subject, row.org), body,
                                     content_type)
        if outcome.kind != "ok":
            raise RuntimeError(outcome.error or f"the endpoint answered {outcome.status}")

    def _claim(self, notification_id: int) -> bool:
        t = alert_notifications.c
        with db.write_transaction(self.engine) as conn:
            return conn.execute(update(alert_notifications).where(t.id == notification_id, self._sendable(self.clock()))
                                .values(status="sending", attempts=t.attempts + 1, updated_at=self.clock())).rowcount == 1

    def _sendable(self, now: datetime):
        """Queued; or failed, or left `sending` by a process that stopped mid-send, with tries left."""
        t = alert_notifications.c
        tries_left = t.attempts < self.settings.alerts.max_attempts
        return (t.status == "queued") | and_(t.status == "failed", tries_left) | and_(
            t.status == "sending", t.updated_at < now - ABANDONED_AFTER, tries_left)

    def _finish(self, notification_id: int, status: str, error: str | None) -> None:
        with db.write_transaction(self.engine) as conn:
            conn.execute(update(alert_notifications).where(alert_notifications.c.id == notification_id).values(
                status=status, error=error, updated_at=self.clock()))

    # -- the daily quality report -------------------------------------------
    def send_quality_reports(self) -> list[dict]:
        """From `quality_report_hour` (UTC) on, each opted-in org's report of the day before,
        once (claimed like an alert's messages)."""
        now = self.clock()
        if now.hour < self.settings.alerts.quality_report_hour or not self.mailer.configured:
            return []
        day = now.date() - timedelta(days=1)
        subject = f"quality:{day.isoformat()}"
        with self.engine.connect() as conn:
            contacts = conn.execute(select(alert_contacts).where(
                alert_contacts.c.quality_report.is_(True), alert_contacts.c.email.is_not(None))).all()
        done = []
        for contact in contacts:
            row = self._claim_new(subject, contact.org, "email", now)
            if row is None:
                continue
            done.append(self._send(row, contact, lambda c: self._quality_email(c, day)))
        return done

    def _quality_email(self, contact, day) -> None:
        with self.engine.connect() as conn:
            found = quality_report.rejects_by_field(conn, contact.org, day)
        personal = {name for name in found if (ds := self.catalogue.get(name)) is not None and ds.personal}
        self.mailer.send(contact.email, *quality_report.report_email(contact.org, day, found, personal,
                                                                     self.settings.public_url))

    def _claim_new(self, subject: str, org: str, channel: str, now: datetime):
        """The claimed row of a message not sent before (or failed and worth retrying), else None."""
        t = alert_notifications.c
        try:
            with db.write_transaction(self.engine) as conn:
                conn.execute(alert_notifications.insert().values(subject=subject, org=org, channel=channel,
                                                                 status="queued", attempts=0, updated_at=now))
        except IntegrityError:
            pass
        with self.engine.connect() as conn:
            row = conn.execute(select(alert_notifications).where(t.subject == subject, t.org == org,
                                                                 t.channel == channel)).first()
        return row if row is not None and self._claim(row.id) else None

    # -- reading ------------------------------------------------------------
    def _reads_all(self, principal: Principal) -> bool:
        return principal.is_admin or has_operator_view(principal, self.settings.hub_operator)

    def list_alerts(self, principal: Principal, state: str | None = None) -> list[dict]:
        principal.require(*READERS)
        t = alert_episodes.c
        query = select(alert_episodes).where(t.state != "pending")
        if state is not None:
            query = query.where(t.state == state)
        if not self._reads_all(principal):
            query = query.where(t.id.in_(select(alert_episode_orgs.c.episode_id).where(
                alert_episode_orgs.c.org == principal.org)))
        query = query.order_by(case((t.state == "open", 0), else_=1), t.opened_at.desc(), t.id.desc()).limit(MAX_LISTED)
        with self.engine.connect() as conn:
            return [self._shape(conn, row) for row in conn.execute(query)]

    def get_alert(self, principal: Principal, episode_id: int) -> dict:
        principal.require(*READERS)
        with self.engine.connect() as conn:
            episode = self._episode(conn, episode_id)
            if episode is None or episode["state"] == "pending" or not self._may_see(principal, episode):
                raise not_found(f"alert {episode_id}")  # the same answer whether it exists or not
            episode["history"] = [
                {"at": messages.as_text(r.at), "event": r.event, "actor": r.actor,
                 "detail": json.loads(r.detail) if r.detail else None}
                for r in conn.execute(select(alert_events).where(alert_events.c.episode_id == episode_id)
                                      .order_by(alert_events.c.id))]
            episode["notifications"] = [
                {"org": r.org, "channel": r.channel, "phase": r.subject.rsplit(":", 1)[1], "status": r.status,
                 "attempts": r.attempts}
                for r in conn.execute(select(alert_notifications).where(
                    alert_notifications.c.subject.like(f"episode:{episode_id}:%")).order_by(alert_notifications.c.id))
                if self._reads_all(principal) or r.org == principal.org]
        return episode

    def _may_see(self, principal: Principal, episode: dict) -> bool:
        return self._reads_all(principal) or principal.org in episode["orgs"]

    def _episode(self, conn: Connection, episode_id: int) -> dict | None:
        row = conn.execute(select(alert_episodes).where(alert_episodes.c.id == episode_id)).first()
        return self._shape(conn, row) if row is not None else None

    def _shape(self, conn: Connection, row) -> dict:
        orgs = [r.org for r in conn.execute(select(alert_episode_orgs.c.org).where(
            alert_episode_orgs.c.episode_id == row.id).order_by(alert_episode_orgs.c.org))]
        silence = conn.execute(select(alert_silences).where(
            alert_silences.c.rule == row.rule, alert_silences.c.key == row.key,
            alert_silences.c.until > self.clock()).order_by(alert_silences.c.until.desc()).limit(1)).first()
        return {"id": row.id, "rule": row.rule, "key": row.key, "state": row.state, "summary": row.summary,
                "detail": json.loads(row.detail), "orgs": orgs,
                "opened_at": messages.as_text(row.opened_at), "resolved_at": messages.as_text(row.resolved_at),
                "last_seen_at": messages.as_text(row.last_seen_at),
                "silenced_until": messages.as_text(silence.until) if silence else None,
                "silence_reason": silence.reason if silence else None}

    # -- silencing ----------------------------------------------------------
    def silence(self, principal: Principal, episode_id: int, minutes, reason) -> dict:
        """Silence an alert (its rule and key) for `minutes` with a reason: nothing is sent for
        it meanwhile, neither its end nor a new start. Audited."""
        principal.require(*READERS)
        with self.engine.connect() as conn:
            episode = self._episode(conn, episode_id)
        if episode is None or episode["state"] == "pending" or not self._may_see(principal, episode):
            raise not_found(f"alert {episode_id}")
        if not (principal.is_admin or principal.org in episode["orgs"]):
            # the hub operator reads every org's alerts; acting on another org's still needs admin
            raise Forbidden(f"alert {episode_id} concerns {', '.join(episode['orgs'])}: its ops or an admin silence it")
        minutes, reason = _silence_input(minutes, reason)
        now = self.clock()
        until = now + timedelta(minutes=minutes)
        with db.write_transaction(self.engine) as conn:
            conn.execute(alert_silences.insert().values(rule=episode["rule"], key=episode["key"], until=until,
                                                        reason=reason, created_by=principal.actor, created_at=now))
            episodes.event(conn, episode_id, now, "silenced", actor=principal.actor,
                           detail={"until": messages.as_text(until), "reason": reason})
            audit.append(conn, at=now, actor=principal.actor, org=principal.org, action="alerts.silence",
                         target=f"alert:{episode_id}",
                         detail={"rule": episode["rule"], "key": episode["key"], "until": messages.as_text(until),
                                 "reason": reason})
        return self.get_alert(principal, episode_id)

    # -- where alerts go ----------------------------------------------------
    def set_contact(self, principal: Principal, org: str, email: str | None, webhook_url: str | None,
                    quality_report: bool = False) -> dict:
        """An org's ops (or admin) say where its alerts and quality report go. A new webhook gets a
        new signing secret, answered once."""
        principal.require(*READERS)
        principal.require_org(org)
        email = (email or "").strip() or None
        webhook_url = (webhook_url or "").strip() or None
        if email is None and webhook_url is None:
            raise Invalid("email, webhook_url: give an e-mail address, a webhook URL, or both", field="email")
        if email and (len(email) > 254 or not re.match(EMAIL_SHAPE, email)):
            raise Invalid(f"email: {email!r} is not an e-mail address", field="email")
        if quality_report and not email:
            raise Invalid("quality_report: the daily quality report goes by e-mail, so it needs an e-mail address",
                          field="quality_report")
        if webhook_url:
            try:
                check_url(webhook_url, tuple(self.settings.webhook_allowed_networks))
            except DestinationRefused as exc:
                raise Invalid(f"webhook_url: {exc}", field="webhook_url") from exc
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            if conn.execute(select(orgs_table.c.slug).where(orgs_table.c.slug == org)).first() is None:
                raise not_found(f"org {org}")
            before = conn.execute(select(alert_contacts).where(alert_contacts.c.org == org)).first()
            secret = None
            sealed = before.webhook_secret if before is not None and before.webhook_url == webhook_url else None
            if webhook_url and sealed is None:
                secret = new_secret()
                sealed = sealing.for_engine(self.engine).seal(secret)
            values = {"email": email, "webhook_url": webhook_url, "webhook_secret": sealed if webhook_url else None,
                      "quality_report": bool(quality_report), "updated_at": now}
            if before is None:
                conn.execute(alert_contacts.insert().values(org=org, **values))
            else:
                conn.execute(alert_contacts.update().where(alert_contacts.c.org == org).values(**values))
            audit.append(conn, at=now, actor=principal.actor, org=org, action="alerts.contact.set", target=org,
                         detail={"email": email, "webhook_url": webhook_url, "quality_report": bool(quality_report)})
        answer = self.get_contact(principal, org)
        if secret:
            answer["webhook_secret"] = secret  # shown once
        return answer

    def get_contact(self, principal: Principal, org: str) -> dict:
        principal.require(*READERS)
        principal.require_org(org)
        with self.engine.connect() as conn:
            row = conn.execute(select(alert_contacts).where(alert_contacts.c.org == org)).first()
        if row is None:
            raise not_found(f"alert contact of {org}")
        return {"org": org, "email": row.email, "webhook_url": row.webhook_url,
                "quality_report": bool(row.quality_report), "updated_at": messages.as_text(row.updated_at)}


def _silence_input(minutes, reason) -> tuple[int, str]:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SILENCE_MINUTES:
        raise Invalid(f"minutes: how long to silence the alert, a whole number from 1 to {MAX_SILENCE_MINUTES} "
                      f"(90 days), not {minutes!r}", field="minutes")
    reason = reason.strip() if isinstance(reason, str) else ""
    if not reason:
        raise Invalid("reason: say why the alert is silenced (it is kept in the alert's history and the audit log)",
                      field="reason")
    if len(reason) > MAX_REASON:
        raise Invalid(f"reason: at most {MAX_REASON} characters, not {len(reason)}", field="reason")
    return minutes, reason
