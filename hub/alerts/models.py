"""Alert episodes (one problem from start to resolution), their history, silences, where
each org's alerts go, and the claims that keep every notification to one send."""
from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text, UniqueConstraint

from hub.db import metadata

# One row per episode. `pending` while a condition that must hold for a while (a failing
# subscription) has not yet held long enough: nothing is sent for it, and it is dropped
# if the condition ends first. `open` once notified as started; `resolved` when it ended.
alert_episodes = Table(
    "alert_episodes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("key", String(300), nullable=False),  # what the rule watches (an agent, a subscription, ...)
    Column("state", String(12), nullable=False),  # pending | open | resolved
    Column("summary", String(500), nullable=False),
    Column("detail", Text, nullable=False),  # JSON: health metadata only, never payloads or error text
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=True),
    Column("resolved_at", DateTime(timezone=True), nullable=True),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Index("ix_alert_episodes_rule_key_state", "rule", "key", "state"),
)

# The orgs an episode concerns (its ops see it and are told of it).
alert_episode_orgs = Table(
    "alert_episode_orgs",
    metadata,
    Column("episode_id", Integer, primary_key=True),
    Column("org", String(64), primary_key=True),
    Index("ix_alert_episode_orgs_org", "org"),
)

# What happened to an episode, in order: opened, notified, silenced, resolved, ...
alert_events = Table(
    "alert_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("episode_id", Integer, nullable=False, index=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("event", String(32), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("detail", Text, nullable=True),
)

# A silence on a rule and key until a moment: episodes of it send nothing meanwhile.
alert_silences = Table(
    "alert_silences",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rule", String(64), nullable=False),
    Column("key", String(300), nullable=False),
    Column("until", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_alert_silences_rule_key", "rule", "key"),
)

# Where an org's alerts (and, if it opted in, its daily quality report) go.
alert_contacts = Table(
    "alert_contacts",
    metadata,
    Column("org", String(64), primary_key=True),
    Column("email", String(254), nullable=True),
    Column("webhook_url", String(2000), nullable=True),
    Column("webhook_secret", Text, nullable=True),  # sealed whsec_ secret
    Column("quality_report", Boolean, nullable=False, default=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per message: claimed before it is sent, so two hub processes never both send it.
# `subject` is `episode:<id>:<phase>` or `quality:<day>`.
alert_notifications = Table(
    "alert_notifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(100), nullable=False),
    Column("org", String(64), nullable=False),
    Column("channel", String(8), nullable=False),  # email | webhook
    Column("status", String(12), nullable=False),  # sending | sent | failed | silenced
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("subject", "org", "channel", name="uq_alert_notifications_subject_org_channel"),
)
