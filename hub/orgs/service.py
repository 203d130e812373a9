"""Orgs, API keys, enrolment tokens and agents.

Secrets (API keys, enrolment tokens) are shown once and stored only as SHA-256
hashes: they are 256-bit random values, so a fast hash is enough, and lookups
go by a public id prefix with a constant-time comparison of the hash.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import bindparam, select, update
from sqlalchemy.engine import Engine

from causeway_common.signing import SignatureInvalid, load_public_key
from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Invalid, Unauthenticated
from hub.timeutil import iso_utc

from .models import ORG_KINDS, ROLES, agents, credentials, enrolment_tokens, orgs

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
API_KEY = re.compile(r"^cw_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
ENROLMENT_TOKEN = re.compile(r"^cwe_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
# Names agreements and the log give a meaning of their own: the open-data recipient, the hub.
RESERVED_SLUGS = frozenset({"public", "causeway"})
# Every API request looks its key up: built once, not re-keyed for SQLAlchemy's cache per request.
_CREDENTIAL_BY_ID = select(credentials).where(credentials.c.id == bindparam("ident"))


class OrgError(Invalid):
    """An org, credential or role the operator named that the hub cannot use as named."""


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _new_secret(prefix: str) -> tuple[str, str, str]:
    ident, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    return ident, secret, f"{prefix}_{ident}_{secret}"


class OrgService:
    def __init__(self, engine: Engine, clock: Callable[[], datetime] = db.utcnow):
        self.engine = engine
        self.clock = clock

    # -- orgs --------------------------------------------------------------
    def add_org(self, slug: str, name: str, kind: str = "council", actor: str = "cli") -> dict:
        if not SLUG.match(slug):
            raise OrgError(f"org slug {slug!r} must be lower-case letters, digits and hyphens (e.g. edinburgh)")
        if kind not in ORG_KINDS:
            raise OrgError(f"org kind {kind!r} must be one of {', '.join(ORG_KINDS)}")
        if slug in RESERVED_SLUGS:
            raise OrgError(f"{slug!r} is a name the hub reserves (agreements use it for the public and the hub itself)")
        with db.write_transaction(self.engine) as conn:
            if conn.execute(select(orgs.c.slug).where(orgs.c.slug == slug)).first():
                raise OrgError(f"org {slug} already exists")
            now = self.clock()
            conn.execute(orgs.insert().values(slug=slug, name=name, kind=kind, created_at=now))
            audit.append(conn, at=now, actor=actor, org=slug, action="org.add", target=slug, detail={"name": name, "kind": kind})
        return {"slug": slug, "name": name, "kind": kind}

    def ensure_org(self, slug: str, name: str, kind: str, actor: str = "cli") -> bool:
        """Add the org unless it exists; True when added."""
        if self.get_org(slug):
            return False
        self.add_org(slug, name, kind, actor)
        return True

    def get_org(self, slug: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(orgs).where(orgs.c.slug == slug)).first()
        return dict(row._mapping) if row else None

    def list_orgs(self) -> list[dict]:
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(select(orgs).order_by(orgs.c.slug))]

    # -- API keys ----------------------------------------------------------
    def issue_key(self, org: str, role: str, label: str | None = None, actor: str = "cli",
                  agent_id: str | None = None, conn=None) -> str:
        if role not in ROLES:
            raise OrgError(f"role {role!r} must be one of {', '.join(ROLES)}")
        ident, secret, key = _new_secret("cw")

        def write(c):
            now = self.clock()
            if not c.execute(select(orgs.c.slug).where(orgs.c.slug == org)).first():
                raise OrgError(f"org {org} does not exist (add it with: causeway-hub org add {org} --name ...)")
            c.execute(credentials.insert().values(
                id=ident, org=org, role=role, secret_hash=_hash(secret), agent_id=agent_id,
                label=label, created_at=now))
            audit.append(c, at=now, actor=actor, org=org, action="credential.issue", target=ident,
                         detail={"role": role, "agent_id": agent_id, "label": label})

        if conn is not None:
            write(conn)
        else:
            with db.write_transaction(self.engine) as c:
                write(c)
        return key

    def revoke_key(self, credential_id: str, actor: str = "cli") -> None:
        with db.write_transaction(self.engine) as conn:
            row = conn.execute(select(credentials.c.org).where(credentials.c.id == credential_id)).first()
            if not row:
                raise OrgError(f"no credential {credential_id}")
            now = self.clock()
            conn.execute(update(credentials).where(credentials.c.id == credential_id).values(revoked_at=now))
            audit.append(conn, at=now, actor=actor, org=row.org, action="credential.revoke", target=credential_id)

    def authenticate(self, key: str) -> Principal | None:
        match = API_KEY.match(key or "")
        if not match:
            return None
        ident, secret = match.groups()
        with self.engine.connect() as conn:
            row = conn.execute(_CREDENTIAL_BY_ID, {"ident": ident}).first()
        if row is None or row.revoked_at is not None:
            # Compare anyway so an unknown id costs the same as a wrong secret.
            hmac.compare_digest(_hash(secret), "0" * 64)
            return None
        if not hmac.compare_digest(_hash(secret), row.secret_hash):
            return None
        return Principal(org=row.org, role=row.role, credential_id=row.id, agent_id=row.agent_id)

    # -- agent enrolment ---------------------------------------------------
    def create_enrolment(self, org: str, ttl_seconds: int, actor: str = "cli") -> tuple[str, str]:
        """A one-time token an agent exchanges for its credential; returns (token, expires_at)."""
        ident, secret, token = _new_secret("cwe")
        now = self.clock()
        expires = now + timedelta(seconds=ttl_seconds)
        with db.write_transaction(self.engine) as conn:
            if not conn.execute(select(orgs.c.slug).where(orgs.c.slug == org)).first():
                raise OrgError(f"org {org} does not exist")
            conn.execute(enrolment_tokens.insert().values(
                id=ident, org=org, secret_hash=_hash(secret), created_at=now, expires_at=expires))
            audit.append(conn, at=now, actor=actor, org=org, action="enrolment.create", target=ident,
                         detail={"expires_at": iso_utc(expires)})
        return token, iso_utc(expires)

    def enrol_agent(self, token: str, public_key_b64: str, name: str, version: str | None) -> dict:
        match = ENROLMENT_TOKEN.match(token or "")
        invalid = Unauthenticated("enrolment token is unknown, already used or expired; ask the hub operator for a new one (causeway-hub enrolment ORG)")
        if not match:
            raise invalid
        try:
            load_public_key(public_key_b64)
        except SignatureInvalid as exc:
            raise Invalid(str(exc)) from exc
        ident, secret = match.groups()
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            row = conn.execute(select(enrolment_tokens).where(enrolment_tokens.c.id == ident)).first()
            if row is None or not hmac.compare_digest(_hash(secret), row.secret_hash) or row.used_at is not None:
                raise invalid
            expires = row.expires_at if row.expires_at.tzinfo else row.expires_at.replace(tzinfo=now.tzinfo)
            if expires <= now:
                raise invalid
            agent_id = str(uuid.uuid4())
            conn.execute(agents.insert().values(
                id=agent_id, org=row.org, name=name, public_key=public_key_b64, enrolled_at=now,
                version=version, active=True))
            conn.execute(update(enrolment_tokens).where(enrolment_tokens.c.id == ident).values(used_at=now, agent_id=agent_id))
            key = self.issue_key(row.org, "publisher", label=f"agent {name}", actor=f"{row.org}/enrolment:{ident}",
                                 agent_id=agent_id, conn=conn)
            audit.append(conn, at=now, actor=f"{row.org}/enrolment:{ident}", org=row.org, action="agent.enrol",
                         target=agent_id, detail={"name": name, "version": version})
        return {"agent_id": agent_id, "org": row.org, "api_key": key}

    def agent_public_key(self, agent_id: str) -> str | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(agents.c.public_key, agents.c.active).where(agents.c.id == agent_id)).first()
        return row.public_key if row and row.active else None

    def get_agent(self, agent_id: str) -> dict | None:
        """One enrolled agent (id, org, name, version, enrolled_at, active), or None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(agents.c.id, agents.c.org, agents.c.name, agents.c.version, agents.c.enrolled_at,
                                      agents.c.active).where(agents.c.id == agent_id)).first()
        return dict(row._mapping) if row else None

    def list_agents(self, org: str | None = None) -> list[dict]:
        """Enrolled agents (of one org, or all): id, org, name, version, enrolled_at, active."""
        query = select(agents.c.id, agents.c.org, agents.c.name, agents.c.version, agents.c.enrolled_at,
                       agents.c.active).order_by(agents.c.org, agents.c.name)
        if org is not None:
            query = query.where(agents.c.org == org)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]
