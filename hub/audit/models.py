from sqlalchemy import Column, DateTime, Index, String, Table, Text

from hub.db import BigInt, metadata

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("org", String(64), nullable=True),
    Column("action", String(100), nullable=False),
    Column("target", String(200), nullable=True),
    Column("detail", Text, nullable=False),  # canonical JSON
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_action", "action"),
    Index("ix_audit_log_org", "org"),
)
