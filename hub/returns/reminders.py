"""Reminders to publishers that have not sent a return, before and after it is due.

For each offset in a return's `remind_days` (days relative to the due date)
a reminder falls due at 09:00 Scottish time on that day. The job sends, for
each period and publisher, only the latest reminder that has fallen due
(and not more than `reminder_catchup_days` ago, so a hub that was down does
not send a burst of stale ones), by e-mail and by webhook as the org's
contact says. Each (return, period, org, offset, channel) is claimed in the
database before it is sent, so it is sent once; a failed send is retried at
the next run, up to MAX_ATTEMPTS times.
"""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Callable

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hub import db
from hub.timeutil import iso_utc

from .calendar import console_path
from .declaration import ReturnDeclaration
from .models import return_reminders
from .periods import LOCAL_TIME, Period, period_containing
from .reference import contacts
from .submissions import read_submissions

log = logging.getLogger("causeway.hub.returns")
SEND_AT = time(9, 0)
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Reminder:
    declaration: ReturnDeclaration
    period: Period
    org: str
    offset_days: int
    public_url: str = ""  # the hub's public base URL, for the link to the return's console page

    @property
    def console_url(self) -> str:
        return self.public_url.rstrip("/") + console_path(self.declaration.dataset, self.period.name, self.org)

    @property
    def due_date(self):
        return self.period.due_date(self.declaration.due_days)

    def event(self, now: datetime) -> dict:
        """The webhook payload (Standard Webhooks shape: type, timestamp, data)."""
        return {
            "type": "return.reminder",
            "timestamp": iso_utc(now),
            "data": {
                "dataset": self.declaration.dataset, "title": self.declaration.title,
                "period": self.period.name, "org": self.org,
                "due_date": self.due_date.isoformat(),
                "deadline": iso_utc(self.period.deadline(self.declaration.due_days)),
                "offset_days": self.offset_days,
                "overdue": self.offset_days > 0,
                "requesting_org": self.declaration.requesting_org,
                "console_url": self.console_url,
            },
        }

    @property
    def webhook_id(self) -> str:
        """The same for every attempt at one reminder, so a receiver can de-duplicate retries."""
        name = f"{self.declaration.dataset}|{self.period.name}|{self.org}|{self.offset_days}"
        return "msg_" + hashlib.sha256(name.encode("utf-8")).hexdigest()[:32]

    def email(self) -> tuple[str, str]:
        d = self.declaration
        due = f"{self.due_date:%-d %B %Y}"
        if self.offset_days > 0:
            subject = f"Overdue: {d.title} for {self.period.name} was due on {due}"
            opening = f"The {d.title} for {self.period.name} from {self.org} was due on {due} and has not been received."
        else:
            subject = f"Reminder: {d.title} for {self.period.name} is due on {due}"
            opening = f"The {d.title} for {self.period.name} from {self.org} is due on {due} and has not yet been received."
        body = (f"{opening}\n\n"
                f"Return: {d.dataset} (requested by {d.requesting_org})\n"
                f"Period: {self.period.name} ({self.period.first_day} to {self.period.last_day})\n"
                f"Due: {due}\n\n"
                f"Open it in the console: {self.console_url}\n\n"
                f"Guidance:\n{d.guidance}\n\n"
                + ("Upload the workbook or send the rows on that page, or through the hub API.\n"
                   if d.source == "rows" else
                   "Publish the return through your Causeway agent or the hub API. "
                   "If you have already sent it, check that its period field says "
                   f"{self.period.name}.\n"))
        return subject, body


def reminder_moment(period: Period, declaration: ReturnDeclaration, offset_days: int) -> datetime:
    day = period.due_date(declaration.due_days) + timedelta(days=offset_days)
    return datetime.combine(day, SEND_AT, LOCAL_TIME)


def reminders_due(declaration: ReturnDeclaration, now: datetime, catchup: timedelta) -> list[tuple[Period, int]]:
    """(period, offset) pairs whose latest reminder fell due in (now - catchup, now]."""
    offsets = declaration.remind_days
    if not offsets:
        return []
    earliest = (now - catchup).date() - timedelta(days=max(offsets) + declaration.due_days + 1)
    period = period_containing(declaration.frequency, max(earliest, declaration.introduced))
    found = []
    while reminder_moment(period, declaration, min(offsets)) <= now:
        if declaration.retired and period.first_day >= declaration.retired:
            break
        fallen = [o for o in offsets if now - catchup < reminder_moment(period, declaration, o) <= now]
        if fallen and period.last_day >= declaration.introduced:
            found.append((period, max(fallen)))
        period = period.next()
    return found


class WebhookFailed(RuntimeError):
    pass


class ReminderService:
    """`webhooks` is the hub's one webhook sender (hub.delivery.webhook.WebhookSender):
    reminders go to the same checked destinations, signed alike, as deliveries."""

    def __init__(self, engine: Engine, returns, mailer, webhooks, catchup_days: int = 3,
                 clock: Callable[[], datetime] | None = None, public_url: str = ""):
        self.engine = engine
        self.public_url = public_url
        self.returns = returns
        self.clock = clock or returns.clock
        self.mailer = mailer
        self.webhooks = webhooks
        self.catchup = timedelta(days=catchup_days)

    def send_due_reminders(self, now: datetime | None = None) -> list[dict]:
        """Send every reminder that has fallen due by `now`; returns what was attempted."""
        now = now or self.clock()
        attempted = []
        with self.engine.connect() as conn:
            org_contacts = contacts(conn)
            work = []
            for declaration in self.returns.declarations():
                due = reminders_due(declaration, now, self.catchup)
                if not due:
                    continue
                submitted = set(read_submissions(conn, declaration))
                publishers = [slug for slug, _ in self.returns.expected_publishers(conn, declaration)]
                for period, offset in due:
                    work += [Reminder(declaration, period, org, offset, self.public_url) for org in publishers
                             if (org, period.name) not in submitted]
        if work and not self.mailer.configured:
            log.warning("no SMTP server configured (CAUSEWAY_SMTP_HOST): reminders go by webhook only")
        for reminder in work:
            contact = org_contacts.get(reminder.org)
            if contact is None:
                log.warning("no reminder contact for %s (%s %s): set one with causeway-hub org contact",
                            reminder.org, reminder.declaration.dataset, reminder.period.name)
                continue
            if contact["email"] and self.mailer.configured:
                attempted.append(self._once(reminder, "email", contact["email"],
                                            lambda r=reminder, c=contact: self.mailer.send(c["email"], *r.email())))
            if contact["webhook_url"]:
                attempted.append(self._once(reminder, "webhook", contact["webhook_url"],
                                            lambda r=reminder, c=contact: self._webhook(r, c, now)))
        return [a for a in attempted if a is not None]

    def _webhook(self, reminder: Reminder, contact: dict, now: datetime) -> None:
        body = json.dumps(reminder.event(now), separators=(",", ":")).encode("utf-8")
        outcome = self.webhooks.send(contact["webhook_url"], [contact["webhook_secret"]], reminder.webhook_id, body,
                                     "application/json")
        if outcome.kind != "ok":
            raise WebhookFailed(outcome.error)

    def _once(self, reminder: Reminder, channel: str, destination: str, send) -> dict | None:
        if not self._claim(reminder, channel, destination):
            return None
        outcome = {"dataset": reminder.declaration.dataset, "period": reminder.period.name, "org": reminder.org,
                   "offset_days": reminder.offset_days, "channel": channel, "destination": destination}
        try:
            send()
        except Exception as exc:  # any failure is recorded and retried; the job must go on to the next one
            error = f"{type(exc).__name__}: {exc}"
            log.warning("reminder %s to %s for %s %s failed: %s", channel, reminder.org,
                        reminder.declaration.dataset, reminder.period.name, error)
            self._finish(reminder, channel, "failed", error)
            return {**outcome, "status": "failed", "error": error}
        self._finish(reminder, channel, "sent", None)
        return {**outcome, "status": "sent"}

    def _where(self, reminder: Reminder, channel: str):
        t = return_reminders.c
        return and_(t.dataset == reminder.declaration.dataset, t.period == reminder.period.name,
                    t.org == reminder.org, t.offset_days == reminder.offset_days, t.channel == channel)

    def _claim(self, reminder: Reminder, channel: str, destination: str) -> bool:
        """True when this process may send it: never sent before, or failed and worth retrying."""
        now = self.clock()
        try:
            with db.write_transaction(self.engine) as conn:
                conn.execute(return_reminders.insert().values(
                    dataset=reminder.declaration.dataset, period=reminder.period.name, org=reminder.org,
                    offset_days=reminder.offset_days, channel=channel, destination=destination,
                    status="sending", attempts=1, updated_at=now))
            return True
        except IntegrityError:
            pass
        with db.write_transaction(self.engine) as conn:
            result = conn.execute(update(return_reminders).where(
                self._where(reminder, channel), return_reminders.c.status == "failed",
                return_reminders.c.attempts < MAX_ATTEMPTS,
            ).values(status="sending", attempts=return_reminders.c.attempts + 1, destination=destination,
                     updated_at=now))
            return result.rowcount == 1

    def _finish(self, reminder: Reminder, channel: str, status: str, error: str | None) -> None:
        with db.write_transaction(self.engine) as conn:
            conn.execute(update(return_reminders).where(self._where(reminder, channel)).values(
                status=status, error=error, updated_at=self.clock()))

    def sent(self, dataset: str | None = None) -> list[dict]:
        query = select(return_reminders).order_by(return_reminders.c.id)
        if dataset:
            query = query.where(return_reminders.c.dataset == dataset)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
