from sqlalchemy import Column, DateTime, Float, Index, Integer, String, Table, Text

from hub.db import BigInt, metadata

# The latest heartbeat of each agent, for listing without scanning history.
agent_health = Table(
    "agent_health",
    metadata,
    Column("agent_id", String(36), primary_key=True),
    Column("org", String(64), nullable=False, index=True),
    Column("last_heartbeat_at", DateTime(timezone=True), nullable=False),
    Column("interval_seconds", Float, nullable=False),
    Column("heartbeats", Integer, nullable=False),
    Column("report", Text, nullable=False),  # JSON, as the agent sent it
)

# Recent heartbeats (bounded: see HealthService.history_days).
agent_heartbeats = Table(
    "agent_heartbeats",
    metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("agent_id", String(36), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("report", Text, nullable=False),
    Index("ix_agent_heartbeats_agent_received", "agent_id", "received_at"),
)
