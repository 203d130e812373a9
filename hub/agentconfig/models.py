from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from hub.db import BigInt, metadata

# One row per configuration version of an agent. A version's text never changes once written;
# only a proposal's status moves (proposed -> approved or declined) when the agent's org decides.
agent_config_versions = Table(
    "agent_config_versions",
    metadata,
    Column("agent_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("org", String(64), nullable=False, index=True),
    Column("source", Text, nullable=False),  # the YAML as written (tasks, optionally time_zone)
    Column("status", String(16), nullable=False),  # approved | proposed | declined
    Column("note", String(500), nullable=True),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(200), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
)

# What the agent said when it tried a version: applied, or failed with the error.
agent_config_reports = Table(
    "agent_config_reports",
    metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("agent_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("outcome", String(16), nullable=False),  # applied | failed
    Column("error", Text, nullable=True),
    Column("reported_at", DateTime(timezone=True), nullable=False),
    Index("ix_agent_config_reports_agent", "agent_id", "id"),
)
