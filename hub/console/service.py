"""Staff accounts, sign-in with throttling, sessions and CSRF tokens (no HTTP here).

Passwords are hashed with argon2id (memory-hard, salted, parameters stored in
the hash). Failed sign-ins are counted per username and per client address;
past a few free attempts each further failure blocks that key for twice as
long as the one before, up to a quarter of an hour. A blocked sign-in is
refused before the password is checked, with the same answer whether or not
the username exists. Each attempt is counted before its password is checked,
under a database lock, so concurrent attempts get no more checks than
sequential ones, however many hub processes share the database.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from hub import db, sealing
from hub.audit import service as audit
from hub.auth import Principal
from hub.orgs.models import orgs

from .models import STAFF_ROLES, console_sessions, console_settings, sign_in_failures, staff_users

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,99}$")
MIN_PASSWORD_LENGTH = 12


class AccountError(Exception):
    """A mistake the operator can fix (bad username, unknown org, weak password...)."""


@dataclass(frozen=True)
class StaffUser:
    username: str
    org: str
    role: str

    @property
    def principal(self) -> Principal:
        """The caller the domain services see: the same rules as an API key of this org and role."""
        return Principal(org=self.org, role=self.role, credential_id=f"console:{self.username}")

    @property
    def actor(self) -> str:
        return self.principal.actor


@dataclass(frozen=True)
class SignInResult:
    user: StaffUser | None
    retry_after_seconds: int = 0  # > 0 when refused because of too many failures

    @property
    def ok(self) -> bool:
        return self.user is not None


@dataclass(frozen=True)
class Throttle:
    free_failures: int
    first_block_seconds: float = 2.0
    max_block_seconds: float = 900.0
    forget_after_seconds: float = 3600.0  # a quiet hour starts the count again

    def block_for(self, failures: int) -> float:
        if failures <= self.free_failures:
            return 0.0
        return min(self.first_block_seconds * 2 ** (failures - self.free_failures - 1), self.max_block_seconds)


USER_THROTTLE = Throttle(free_failures=5)
# Many staff may sit behind one address, so a client gets more attempts.
CLIENT_THROTTLE = Throttle(free_failures=20)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC datetimes."""
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_token_matches(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


class AccountService:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = db.utcnow,
                 hasher: PasswordHasher | None = None,
                 session_idle: timedelta = timedelta(hours=2), session_max: timedelta = timedelta(hours=12),
                 user_throttle: Throttle = USER_THROTTLE, client_throttle: Throttle = CLIENT_THROTTLE):
        self.engine = engine
        self.clock = clock
        self.hasher = hasher or PasswordHasher()
        self.session_idle = session_idle
        self.session_max = session_max
        self.user_throttle = user_throttle
        self.client_throttle = client_throttle
        self._dummy = None

    @property
    def _dummy_hash(self) -> str:
        """Verified against when the username is unknown, so that costs the same time.
        Made on first use: hashing is deliberately slow and most processes never need it."""
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    # -- accounts ------------------------------------------------------------
    def add_user(self, username: str, org: str, role: str, password: str, actor: str = "cli") -> StaffUser:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise AccountError(f"username {username!r} must be 2-100 lower-case letters, digits, '.', '_', '@' or '-'")
        if role not in STAFF_ROLES:
            raise AccountError(f"role {role!r} must be one of {', '.join(STAFF_ROLES)}")
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = self.hasher.hash(password)
        try:
            with db.write_transaction(self.engine) as conn:
                if not conn.execute(select(orgs.c.slug).where(orgs.c.slug == org)).first():
                    raise AccountError(f"org {org} does not exist (add it with: causeway-hub org add {org} --name ...)")
                if conn.execute(select(staff_users.c.username).where(staff_users.c.username == username)).first():
                    raise AccountError(f"user {username} already exists")
                conn.execute(staff_users.insert().values(
                    username=username, org=org, role=role, password_hash=password_hash, created_at=self.clock()))
                audit.append(conn, at=self.clock(), actor=actor, org=org, action="staff.add", target=username, detail={"role": role})
        except IntegrityError as exc:
            raise AccountError(f"user {username} already exists") from exc
        return StaffUser(username, org, role)

    def set_password(self, username: str, password: str, actor: str = "cli") -> None:
        if len(password) < MIN_PASSWORD_LENGTH:
            raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = self.hasher.hash(password)
        with db.write_transaction(self.engine) as conn:
            row = conn.execute(select(staff_users.c.org).where(staff_users.c.username == username)).first()
            if row is None:
                raise AccountError(f"no user {username}")
            conn.execute(update(staff_users).where(staff_users.c.username == username).values(password_hash=password_hash))
            conn.execute(delete(console_sessions).where(console_sessions.c.username == username))
            audit.append(conn, at=self.clock(), actor=actor, org=row.org, action="staff.password", target=username)

    def disable_user(self, username: str, actor: str = "cli") -> None:
        with db.write_transaction(self.engine) as conn:
            row = conn.execute(select(staff_users.c.org).where(staff_users.c.username == username)).first()
            if row is None:
                raise AccountError(f"no user {username}")
            conn.execute(update(staff_users).where(staff_users.c.username == username).values(disabled_at=self.clock()))
            conn.execute(delete(console_sessions).where(console_sessions.c.username == username))
            audit.append(conn, at=self.clock(), actor=actor, org=row.org, action="staff.disable", target=username)

    def list_users(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [{"username": r.username, "org": r.org, "role": r.role, "disabled": r.disabled_at is not None}
                    for r in conn.execute(select(staff_users).order_by(staff_users.c.org, staff_users.c.username))]

    # -- sign-in -------------------------------------------------------------
    def _reserve_attempt(self, user_key: str, client_key: str, now: datetime) -> float:
        """Counts this attempt as a failure before its password is checked (a success takes
        it back), in one locked transaction: concurrent attempts, from any number of hub
        processes, cannot all pass the check. Returns the seconds still blocked (0: go ahead)."""
        keys = ((user_key, self.user_throttle), (client_key, self.client_throttle))
        with self.engine.connect() as conn:
            with conn.execution_options(causeway_write=True).begin():  # BEGIN IMMEDIATE on SQLite
                insert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(sign_in_failures)
                conn.execute(insert.values([{"key": key, "failures": 0, "last_failure_at": now}
                                            for key, _ in keys]).on_conflict_do_nothing())
                rows = {row.key: row for row in conn.execute(
                    select(sign_in_failures).where(sign_in_failures.c.key.in_([user_key, client_key]))
                    .order_by(sign_in_failures.c.key).with_for_update())}
                wait = max((_aware(row.blocked_until) - now).total_seconds() if row.blocked_until else 0.0
                           for row in rows.values())
                if wait > 0:
                    return wait
                for key, throttle in keys:
                    row = rows[key]
                    recent = (now - _aware(row.last_failure_at)).total_seconds() < throttle.forget_after_seconds
                    failures = row.failures + 1 if recent else 1
                    block = throttle.block_for(failures)
                    conn.execute(update(sign_in_failures).where(sign_in_failures.c.key == key).values(
                        failures=failures, last_failure_at=now,
                        blocked_until=now + timedelta(seconds=block) if block else None))
        return 0.0

    def _take_back_client_attempt(self, conn, client_key: str) -> None:
        row = conn.execute(select(sign_in_failures).where(sign_in_failures.c.key == client_key)
                           .with_for_update()).first()
        if row is not None:
            failures = max(row.failures - 1, 0)
            values = {"failures": failures}
            if not self.client_throttle.block_for(failures):
                values["blocked_until"] = None
            conn.execute(update(sign_in_failures).where(sign_in_failures.c.key == client_key).values(**values))

    def sign_in(self, username: str, password: str, client: str) -> SignInResult:
        username = (username or "").strip().lower()[:100]
        user_key, client_key = f"user:{username}", f"client:{(client or 'unknown')[:100]}"
        now = self.clock()
        wait = self._reserve_attempt(user_key, client_key, now)
        if wait > 0:
            return SignInResult(None, retry_after_seconds=int(wait) + 1)
        with self.engine.connect() as conn:
            row = conn.execute(select(staff_users).where(staff_users.c.username == username)).first()
        valid = False
        try:
            valid = self.hasher.verify(row.password_hash if row else self._dummy_hash, password or "")
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            valid = False
        if row is None or row.disabled_at is not None:
            valid = False
        with db.write_transaction(self.engine) as conn:
            if not valid:  # already counted
                audit.append(conn, at=now, actor=f"console:{username}" if row else "console:unknown",
                             org=row.org if row else None, action="staff.sign_in_failed",
                             target=username if row else None, detail={"client": client_key[7:]})
                return SignInResult(None)
            conn.execute(delete(sign_in_failures).where(sign_in_failures.c.key == user_key))
            self._take_back_client_attempt(conn, client_key)
            values = {"last_sign_in_at": now}
            if self.hasher.check_needs_rehash(row.password_hash):
                values["password_hash"] = self.hasher.hash(password)
            conn.execute(update(staff_users).where(staff_users.c.username == username).values(**values))
            user = StaffUser(row.username, row.org, row.role)
            audit.append(conn, at=now, actor=user.actor, org=user.org, action="staff.sign_in", target=username,
                         detail={"client": client_key[7:]})
        return SignInResult(user)

    # -- sessions ------------------------------------------------------------
    def start_session(self, user: StaffUser) -> str:
        """A new session token for the browser's cookie (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.expires_at < now))
            conn.execute(console_sessions.insert().values(
                token_hash=_token_hash(token), username=user.username, created_at=now, last_seen_at=now,
                expires_at=now + self.session_max))
        return token

    def user_for_session(self, token: str | None) -> StaffUser | None:
        if not token:
            return None
        now = self.clock()
        token_hash = _token_hash(token)
        with self.engine.connect() as conn:
            row = conn.execute(
                select(console_sessions, staff_users.c.org, staff_users.c.role, staff_users.c.disabled_at)
                .join(staff_users, staff_users.c.username == console_sessions.c.username)
                .where(console_sessions.c.token_hash == token_hash)).first()
        if row is None or row.disabled_at is not None:
            return None
        if _aware(row.expires_at) <= now or now - _aware(row.last_seen_at) > self.session_idle:
            self.end_session(token)
            return None
        if (now - _aware(row.last_seen_at)).total_seconds() > 60:
            with self.engine.begin() as conn:
                conn.execute(update(console_sessions).where(console_sessions.c.token_hash == token_hash)
                             .values(last_seen_at=now))
        return StaffUser(row.username, row.org, row.role)

    def end_session(self, token: str | None) -> None:
        if not token:
            return
        with self.engine.begin() as conn:
            conn.execute(delete(console_sessions).where(console_sessions.c.token_hash == _token_hash(token)))


def secret_key(engine: Engine) -> str:
    """The key that signs console cookies: generated once and kept in the database,
    so restarts and several hub processes share it."""
    sealer = sealing.for_engine(engine)
    with engine.connect() as conn:
        row = conn.execute(select(console_settings.c.value).where(console_settings.c.name == "secret_key")).first()
    if row:
        return sealer.open(row.value)
    try:
        with engine.begin() as conn:
            conn.execute(console_settings.insert().values(name="secret_key",
                                                          value=sealer.seal(secrets.token_urlsafe(48))))
    except IntegrityError:
        pass  # another process made it first
    with engine.connect() as conn:
        return sealer.open(conn.execute(select(console_settings.c.value)
                                        .where(console_settings.c.name == "secret_key")).scalar_one())
