"""Residents' e-mail alerts: anyone may ask to hear of new records of an open dataset in a
postcode district (planning applications in EH1, say), as they come or as a daily digest.

- Double opt-in: asking sends one message with a confirmation link; nothing else is sent
  until it is followed. Asking again for a choice already confirmed sends nothing, and the
  answer is the same either way, so the form tells nobody who is subscribed.
- Every message carries an unsubscribe link (and List-Unsubscribe headers, RFC 8058);
  following it deletes the alert: nothing is kept but the address and the choice, while
  it lasts.
- Links carry the alert's id and a keyed hash of it (HMAC-SHA-256 with the hub's secret
  key), so no token is stored and none can be guessed.
- Rate limits: a few requests per address a day (counted from what is stored) and per
  client an hour (counted in this process).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

import orjson
from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Engine

from hub import db
from hub.errors import Invalid, NotFound, TooManyRequests

from .models import open_alerts, open_records
from .service import OpenData, district_query

EMAIL = re.compile(r"^[^@\s<>\"',;:()\[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
RECORDS_PER_MESSAGE = 20


class ResidentAlerts:
    def __init__(self, engine: Engine, open_data: OpenData, mailer, public_url: str, key: Callable[[], str],
                 clock: Callable[[], datetime] = db.utcnow, per_address_per_day: int = 5,
                 per_client_per_hour: int = 20):
        self.engine = engine
        self.open_data = open_data
        self.mailer = mailer
        self.public_url = public_url.rstrip("/")
        self._key = key
        self.clock = clock
        self.per_address_per_day = per_address_per_day
        self.per_client_per_hour = per_client_per_hour
        self._clients: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    # -- links ----------------------------------------------------------------
    def _mac(self, alert_id: str, purpose: str) -> str:
        return hmac.new(self._key().encode(), f"{purpose}:{alert_id}".encode(), hashlib.sha256).hexdigest()[:32]

    def link(self, alert_id: str, purpose: str) -> str:
        return f"{self.public_url}/open/alerts/{purpose}/{alert_id}.{self._mac(alert_id, purpose)}"

    def alert_of(self, token: str, purpose: str):
        alert_id, _, mac = token.partition(".")
        if not alert_id or not hmac.compare_digest(mac, self._mac(alert_id, purpose)):
            raise NotFound("this link is not one the hub sent, or it was cut short", slug="bad-link")
        with self.engine.connect() as conn:
            row = conn.execute(select(open_alerts).where(open_alerts.c.id == alert_id)).first()
        if row is None:
            raise NotFound("this alert no longer exists (it was unsubscribed)", slug="alert-gone")
        return row

    # -- asking, confirming, leaving ---------------------------------------------
    def request(self, email: str, dataset: str, district: str, daily: bool, client: str) -> None:
        email = email.strip()
        if len(email) > 254 or not EMAIL.match(email):
            raise Invalid("enter an e-mail address such as name@example.com", slug="bad-email")
        entry = self.open_data.open_dataset(dataset)
        if not entry["dataset"].open_data.get("postcode_field"):
            raise Invalid(f"{dataset} has no postcodes to search, so it has no alerts", slug="no-alerts")
        district = district_query(district)
        if not self.mailer.configured:
            raise Invalid("this hub sends no e-mail, so it has no alerts", slug="no-mail")
        self._count_client(client)
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            recent = conn.execute(select(func.count()).select_from(open_alerts).where(
                func.lower(open_alerts.c.email) == email.lower(),
                open_alerts.c.requested_at > now - timedelta(days=1))).scalar() or 0
            if recent >= self.per_address_per_day:
                raise TooManyRequests("too many alerts asked for this address today: try again tomorrow",
                                      slug="too-many-requests")
            row = conn.execute(select(open_alerts).where(
                func.lower(open_alerts.c.email) == email.lower(), open_alerts.c.dataset == dataset,
                open_alerts.c.district == district)).first()
            if row is not None and row.confirmed_at is not None:
                return  # already subscribed: send nothing, answer as for a new request
            if row is None:
                alert_id = secrets.token_hex(16)
                conn.execute(insert(open_alerts).values(
                    id=alert_id, email=email, dataset=dataset, district=district, daily=daily,
                    requested_at=now, confirmed_at=None, after=0, last_sent_at=None))
            else:
                alert_id = row.id
                conn.execute(update(open_alerts).where(open_alerts.c.id == alert_id)
                             .values(daily=daily, requested_at=now))
        title = entry["dataset"].title
        self.mailer.send(
            email, f"Confirm your alert: {title} in {district}",
            f"Someone, we hope you, asked to be told by e-mail of new records of {title} "
            f"in the postcode district {district}{', once a day' if daily else ''}.\n\n"
            f"To start the alert, open this link:\n{self.link(alert_id, 'confirm')}\n\n"
            "If it was not you, ignore this message: nothing more will be sent, and the request is "
            "forgotten.\n", headers=self._unsubscribe_headers(alert_id))

    def confirm(self, token: str) -> dict:
        row = self.alert_of(token, "confirm")
        if row.confirmed_at is None:
            with db.write_transaction(self.engine) as conn:
                newest = conn.execute(select(func.max(open_records.c.seq))
                                      .where(open_records.c.dataset == row.dataset)).scalar() or 0
                conn.execute(update(open_alerts).where(open_alerts.c.id == row.id)
                             .values(confirmed_at=self.clock(), after=newest))
        return {"dataset": row.dataset, "district": row.district, "daily": row.daily,
                "unsubscribe": self.link(row.id, "unsubscribe")}

    def unsubscribe(self, token: str) -> dict:
        row = self.alert_of(token, "unsubscribe")
        with db.write_transaction(self.engine) as conn:
            conn.execute(delete(open_alerts).where(open_alerts.c.id == row.id))
        return {"dataset": row.dataset, "district": row.district}

    def forget_unconfirmed(self, older_than: timedelta = timedelta(days=7)) -> int:
        """Requests never confirmed are deleted after a week: nothing is kept of them."""
        with db.write_transaction(self.engine) as conn:
            return conn.execute(delete(open_alerts).where(
                open_alerts.c.confirmed_at.is_(None),
                open_alerts.c.requested_at < self.clock() - older_than)).rowcount

    # -- sending ----------------------------------------------------------------
    def send_due(self) -> int:
        """One message per confirmed alert with new records (daily ones at most once a
        day); returns how many were sent. An alert's place moves on only once its
        message was handed to the mail server, so a failure is retried next time."""
        now = self.clock()
        with self.engine.connect() as conn:
            due = conn.execute(select(open_alerts).where(
                open_alerts.c.confirmed_at.is_not(None),
                or_(open_alerts.c.daily.is_(False), open_alerts.c.last_sent_at.is_(None),
                    open_alerts.c.last_sent_at <= now - timedelta(hours=23, minutes=30)))).all()
        open_names = {entry["dataset"].name: entry for entry in self.open_data.open_datasets()}
        sent = 0
        for alert in due:
            entry = open_names.get(alert.dataset)
            if entry is None:
                continue  # no longer published openly: nothing to tell
            with self.engine.connect() as conn:
                query = select(open_records).where(and_(
                    open_records.c.dataset == alert.dataset, open_records.c.postcode_district == alert.district,
                    open_records.c.seq > alert.after, open_records.c.op != "delete"))
                fresh = conn.execute(query.order_by(open_records.c.seq).limit(RECORDS_PER_MESSAGE + 1)).all()
                total = conn.execute(query.with_only_columns(func.count())).scalar() or 0
                newest = conn.execute(query.with_only_columns(func.max(open_records.c.seq))).scalar()
            if not fresh:
                continue
            self.mailer.send(alert.email, *self._message(alert, entry, fresh[:RECORDS_PER_MESSAGE], total),
                             headers=self._unsubscribe_headers(alert.id))
            with db.write_transaction(self.engine) as conn:
                conn.execute(update(open_alerts).where(open_alerts.c.id == alert.id)
                             .values(after=newest, last_sent_at=now))
            sent += 1
        return sent

    def _message(self, alert, entry: dict, rows, total: int) -> tuple[str, str]:
        dataset = entry["dataset"]
        key_field = dataset.key_field
        lines = []
        for row in rows:
            payload = orjson.loads(row.payload) if row.payload else {}
            summary = ", ".join(str(payload[f]) for f in ("description", "proposal", "paon", "street", "town",
                                                          "postcode") if payload.get(f))
            lines.append(f"- {payload.get(key_field, row.key)}: {summary[:200]}")
        more = f"\n…and {total - len(rows)} more." if total > len(rows) else ""
        subject = f"{total} new: {dataset.title} in {alert.district}"
        body = (f"New records of {dataset.title} in {alert.district}:\n\n" + "\n".join(lines) + more +
                f"\n\nSee them all: {self.public_url}/open/{dataset.name}?district={alert.district}\n\n"
                f"To stop these messages: {self.link(alert.id, 'unsubscribe')}\n")
        return subject, body

    def _unsubscribe_headers(self, alert_id: str) -> dict[str, str]:
        return {"List-Unsubscribe": f"<{self.link(alert_id, 'unsubscribe')}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}

    def subscribers(self) -> dict[str, int]:
        """Confirmed alerts per dataset (for the owner's usage figures)."""
        with self.engine.connect() as conn:
            return dict(conn.execute(select(open_alerts.c.dataset, func.count())
                                     .where(open_alerts.c.confirmed_at.is_not(None))
                                     .group_by(open_alerts.c.dataset)).all())

    def _count_client(self, client: str) -> None:
        now = time.monotonic()
        with self._lock:
            recent = self._clients.setdefault(client, deque())
            while recent and recent[0] < now - 3600:
                recent.popleft()
            if len(recent) >= self.per_client_per_hour:
                raise TooManyRequests("too many alert requests from your connection: try again in an hour",
                                      slug="too-many-requests")
            recent.append(now)
            if len(self._clients) > 10_000:  # bounded: forget the quietest clients
                for quiet in [c for c, times in self._clients.items() if not times][:5_000]:
                    del self._clients[quiet]
