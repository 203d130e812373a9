"""Subscriptions (a cursor per subscription into the record log), dead letters,
and the MQTT credentials of orgs."""
from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text

from hub.db import BigInt, metadata

CHANNELS = ("webhook", "mqtt", "pull")

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("org", String(64), nullable=False, index=True),  # the recipient
    Column("dataset", String(100), nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("url", Text, nullable=True),
    Column("filter", Text, nullable=True),  # JSON
    Column("batch", Boolean, nullable=False, default=False),
    # active | paused (an agreement that would cover it is suspended) | awaiting-agreement | disabled
    # ("failing" is shown while attempts > 0)
    Column("status", String(24), nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("cursor", BigInt, nullable=False),  # last seq handed over (or skipped as not entitled)
    Column("epoch", Integer, nullable=False, default=0),  # bumped by replay; part of webhook-id
    Column("inflight_to", BigInt, nullable=True),  # last seq of the page being sent, for identical repeats
    Column("acked", BigInt, nullable=True),  # pull: the consumer's acknowledged position
    Column("acked_at", DateTime(timezone=True), nullable=True),
    Column("secret", Text, nullable=True),  # sealed whsec_ secret
    Column("previous_secret", Text, nullable=True),
    Column("previous_secret_expires_at", DateTime(timezone=True), nullable=True),
    Column("lease_owner", String(64), nullable=True),
    Column("lease_expires_at", DateTime(timezone=True), nullable=True),
    Column("attempts", Integer, nullable=False, default=0),  # consecutive failed attempts
    Column("next_attempt_at", DateTime(timezone=True), nullable=True),
    Column("last_error", Text, nullable=True),
    Column("last_error_at", DateTime(timezone=True), nullable=True),
    Column("last_success_at", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    # Paused by hand (an operator): not delivered until resumed; the position is held.
    Column("paused_at", DateTime(timezone=True), nullable=True),
    Column("paused_by", String(200), nullable=True),
    Index("ix_subscriptions_status_channel", "status", "channel"),
)

# A single event the subscriber refused permanently (a 4xx other than 408/409/410/429):
# kept so the rest of the stream flows; retried one by one or all on request.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), nullable=False),
    Column("seq", BigInt, nullable=False),
    Column("record_id", String(36), nullable=False),
    Column("webhook_id", String(100), nullable=False),
    Column("state", String(12), nullable=False),  # dead | retrying | delivered
    Column("status_code", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("reply_headers", Text, nullable=True),  # JSON: the receiver's headers that matter (hub.delivery.reply)
    Column("reply_excerpt", Text, nullable=True),  # the start of its answer, bounded and sanitised
    Column("attempts", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_dead_letters_subscription_state", "subscription_id", "state"),
)

# What each receiver answered: one row per page handed over (its last exchange), kept for
# DeliverySettings.attempts_keep_days; the console's attempt history.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("subscription_id", String(36), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(12), nullable=False),  # ok | refused | failed | gone | denied
    Column("status_code", Integer, nullable=True),
    Column("latency_ms", Integer, nullable=True),
    Column("events", Integer, nullable=False),  # events handed over by the page
    Column("error", Text, nullable=True),
    Column("reply_headers", Text, nullable=True),
    Column("reply_excerpt", Text, nullable=True),
    Index("ix_delivery_attempts_subscription_at", "subscription_id", "at"),
    Index("ix_delivery_attempts_at", "at"),
)

# Mosquitto password hashes (PBKDF2-SHA512, the broker's own format) of each org's MQTT user.
mqtt_credentials = Table(
    "mqtt_credentials",
    metadata,
    Column("org", String(64), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
