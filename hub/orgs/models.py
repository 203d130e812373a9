from sqlalchemy import Boolean, Column, DateTime, ForeignKey, String, Table, Text

from hub.db import metadata

# agent-admin: an org's IT, who keep its hub-managed agents' configuration (hub.agentconfig).
ROLES = ("publisher", "subscriber", "governance", "ops", "agent-admin", "admin")
ORG_KINDS = ("council", "agency")

orgs = Table(
    "orgs",
    metadata,
    Column("slug", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

credentials = Table(
    "credentials",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("org", String(64), ForeignKey("orgs.slug"), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("agent_id", String(36), nullable=True),
    Column("label", String(200), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

enrolment_tokens = Table(
    "enrolment_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("org", String(64), ForeignKey("orgs.slug"), nullable=False),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("used_at", DateTime(timezone=True), nullable=True),
    Column("agent_id", String(36), nullable=True),
)

agents = Table(
    "agents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org", String(64), ForeignKey("orgs.slug"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("public_key", Text, nullable=False),
    Column("enrolled_at", DateTime(timezone=True), nullable=False),
    Column("version", String(64), nullable=True),
    Column("active", Boolean, nullable=False, default=True),
)
