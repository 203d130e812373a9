"""Broker credentials: one MQTT user per org that may read only
`causeway/v1/{its org}/#`, and the hub's own user that may write `causeway/v1/#`.

Passwords are new random secrets, shown once when an org's MQTT user is first
made (or rotated); the hub keeps only the broker's own PBKDF2-SHA512 hash
(mosquitto 2's `$7$` format), so the password file can be written again at any
time without knowing them.
"""
from __future__ import annotations

import base64
import hashlib
import os
import pwd
import secrets
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub import db
from hub.audit import service as audit
from hub.orgs.models import orgs

from .models import mqtt_credentials
from .mqtt import TOPIC_PREFIX

ITERATIONS = 101  # what mosquitto_passwd 2.0 writes
BROKER_USER = "mosquitto"  # the user the Debian package's broker drops to


def password_hash(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def acl_text(org_slugs: list[str], hub_user: str) -> str:
    lines = ["# written by causeway-hub mqtt acl: each org reads only its own topics", "",
             f"user {hub_user}", f"topic write {TOPIC_PREFIX}/#", ""]
    for slug in org_slugs:
        lines += [f"user {slug}", f"topic read {TOPIC_PREFIX}/{slug}/#", ""]
    return "\n".join(lines)


def _broker_account(user: str) -> tuple[int, int] | None:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        return None
    return entry.pw_uid, entry.pw_gid


def write_for_broker(path: Path, text: str, broker_user: str = BROKER_USER) -> str | None:
    """Write a file the broker can read once it has dropped to its own user (the Debian
    package's `mosquitto`), and nobody else: owner and group of that user where this process
    may set them (root), else its group where this process belongs to it, mode 0640.
    Replaced atomically, so a broker reloading meanwhile reads the old file or the new one.
    Answers what the operator must still do, or None."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    account = _broker_account(broker_user)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    todo = None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            if account is not None:
                uid, gid = account
                try:
                    os.fchown(f.fileno(), uid, gid)
                except PermissionError:
                    try:
                        os.fchown(f.fileno(), -1, gid)
                    except PermissionError:
                        todo = f"chown {broker_user}:{broker_user} {path} && chmod 0640 {path}"
                if todo is None:
                    os.fchmod(f.fileno(), 0o640)
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return todo


def write_broker_files(engine: Engine, password_file: Path, acl_file: Path, hub_user: str, hub_password: str,
                       rotate: tuple[str, ...] = (), actor: str = "cli",
                       broker_user: str = BROKER_USER, clock=db.utcnow) -> tuple[dict[str, str], list[str]]:
    """Write both files (readable by the broker's user, see write_for_broker); returns
    {org: new password} for orgs given a new one (shown once), and the commands the
    operator must still run for the broker to read them (none when this process could
    set their owner)."""
    new_passwords: dict[str, str] = {}
    now = clock()
    with db.write_transaction(engine) as conn:
        slugs = [r.slug for r in conn.execute(select(orgs.c.slug).order_by(orgs.c.slug))]
        stored = {r.org: r.password_hash for r in conn.execute(select(mqtt_credentials))}
        for slug in slugs:
            if slug in stored and slug not in rotate:
                continue
            password = secrets.token_urlsafe(24)
            hashed = password_hash(password)
            if slug in stored:
                conn.execute(mqtt_credentials.update().where(mqtt_credentials.c.org == slug).values(
                    password_hash=hashed, created_at=now))
            else:
                conn.execute(mqtt_credentials.insert().values(org=slug, password_hash=hashed, created_at=now))
            stored[slug] = hashed
            new_passwords[slug] = password
        if new_passwords:
            audit.append(conn, at=now, actor=actor, org=None, action="mqtt.credentials",
                         detail={"issued": sorted(new_passwords)})
    if hub_user in stored:
        raise ValueError(f"the hub's MQTT user {hub_user!r} clashes with an org slug")
    lines = [f"{hub_user}:{password_hash(hub_password)}"] + [f"{slug}:{stored[slug]}" for slug in slugs]
    todo = [write_for_broker(Path(password_file), "\n".join(lines) + "\n", broker_user),
            write_for_broker(Path(acl_file), acl_text(slugs, hub_user), broker_user)]
    return new_passwords, [step for step in todo if step]
