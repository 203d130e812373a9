from sqlalchemy import Column, DateTime, Index, String, Table, Text

from hub.db import BigInt, metadata

# What the public may read: each key's current state, projected as the agreement that
# publishes it allows, written by the projector when it decides the log for the public.
# A key deleted (or no longer allowed) stays as a tombstone (op "delete", no payload), so
# a feed reader learns of it; `seq` is the log position of the state shown.
open_records = Table(
    "open_records",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("publisher", String(64), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("seq", BigInt, nullable=False),
    Column("op", String(8), nullable=False),
    Column("postcode_district", String(8), nullable=True),
    Column("payload", Text, nullable=True),  # canonical JSON, projected
    Column("agreement_id", String(100), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("published_at", DateTime(timezone=True), nullable=False),
    Index("ix_open_records_dataset_seq", "dataset", "seq"),
    Index("ix_open_records_dataset_district_seq", "dataset", "postcode_district", "seq"),
)

# The projector's place in the log, and the open routes it was built for (JSON), so a
# change of agreements rebuilds what the public sees from the start.
open_state = Table(
    "open_state",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("cursor", BigInt, nullable=False),
    Column("routes", Text, nullable=False),
)
