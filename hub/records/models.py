from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text, UniqueConstraint

from hub.db import BigInt, metadata

datasets = Table(
    "datasets",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False),
    Column("owner", String(64), nullable=False),
    Column("personal", Boolean, nullable=False),
    Column("key_field", String(100), nullable=False),
    Column("periodic", Text, nullable=True),  # JSON
    Column("cadence", Text, nullable=True),  # JSON: {every_hours, grace_hours}, see causeway_common.catalogue
    Column("open_data", Text, nullable=True),  # JSON: licence, frequency, coverage, contact (DCAT)
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

dataset_schemas = Table(
    "dataset_schemas",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("document", Text, nullable=False),  # JSON Schema, as published
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

batches = Table(
    "batches",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("org", String(64), nullable=False),
    Column("credential_id", String(32), nullable=False),
    Column("agent_id", String(36), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("manifest", Text, nullable=True),  # canonical JSON, exactly as signed
    Column("signature", Text, nullable=True),
    Column("signature_verified", Boolean, nullable=False),
)

# The record log. `seq` is assigned by the hub, gap-free and in commit order
# (see hub.db.write_transaction); a subscription is a cursor into it. A record
# `id` is unique per publisher (its idempotency key, as CloudEvents makes `id`
# unique per `source`). A personal record past the hub's retention period is a
# tombstone: `payload` removed, `purged_at` set, `digest` kept for provenance.
records = Table(
    "records",
    metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=False),
    Column("id", String(36), nullable=False),
    Column("dataset", String(100), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("key", String(200), nullable=False),
    Column("op", String(8), nullable=False),
    Column("subject", String(200), nullable=True),
    Column("publisher", String(64), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("payload", Text, nullable=True),  # canonical JSON
    Column("purged_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("id", "publisher", name="uq_records_id_publisher"),
    Index("ix_records_dataset_seq", "dataset", "seq"),
    Index("ix_records_publisher_dataset_seq", "publisher", "dataset", "seq"),
    Index("ix_records_subject", "subject"),
)

# What was wrong with rejected records, for data-quality reports: one row per
# error (path and message), at most REJECT_DETAILS_PER_BATCH rows per batch.
# Only the JSON pointer and the validator's message are kept, never the payload.
record_rejects = Table(
    "record_rejects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("batch_id", String(64), nullable=False),
    Column("publisher", String(64), nullable=False),
    Column("dataset", String(100), nullable=False),
    Column("record_index", Integer, nullable=False),
    Column("record_id", String(64), nullable=True),
    Column("key", String(200), nullable=True),  # the record's own key, as the publisher's system knows it
    Column("path", String(300), nullable=False),
    Column("message", String(500), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_record_rejects_received_at", "received_at"),
    Index("ix_record_rejects_publisher_dataset", "publisher", "dataset"),
)
