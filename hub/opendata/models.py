from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, Table, Text, UniqueConstraint

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

# Residents' e-mail alerts on new records of an open dataset in a postcode district.
# Nothing is kept but the address and the choice (dataset, district, digest or not); the
# links' tokens are stored only as hashes. `after` is the open_records seq already told of.
open_alerts = Table(
    "open_alerts",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("email", String(254), nullable=False),
    Column("dataset", String(100), nullable=False),
    Column("district", String(8), nullable=False),
    Column("daily", Boolean, nullable=False),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True), nullable=True),
    Column("after", BigInt, nullable=False),
    Column("last_sent_at", DateTime(timezone=True), nullable=True),
    UniqueConstraint("email", "dataset", "district", name="uq_open_alerts_choice"),
    Index("ix_open_alerts_dataset_confirmed", "dataset", "confirmed_at"),
)

# How the public uses each open dataset, counted per day: page views, downloads, API
# (JSON feed) calls; subscribers are counted from open_alerts.
open_usage = Table(
    "open_usage",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("kind", String(16), primary_key=True),  # page, download, api
    Column("count", BigInt, nullable=False),
)

# Tables of counts an agreement publishes instead of records (hub.opendata.aggregates), as
# protected by disclosure control; one per (agreement, dataset) in force.
open_aggregates = Table(
    "open_aggregates",
    metadata,
    Column("agreement_id", String(100), primary_key=True),
    Column("dataset", String(100), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("document", Text, nullable=False),  # JSON: hub.statistics.suppression.ProtectedTable.as_dict + axes
    Column("computed_at", DateTime(timezone=True), nullable=False),
)


# Per open dataset: how many records the public sees and when it last changed, kept by the
# projector as it writes (so the public's pages never count the table).
open_summary = Table(
    "open_summary",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("records", BigInt, nullable=False),
    Column("modified", DateTime(timezone=True), nullable=False),
)


# Per open dataset, month (of each record's occurred_at) and publisher: how many records the
# public sees, kept by the projector as it writes, so each dataset page's chart reads a few rows.
open_monthly = Table(
    "open_monthly",
    metadata,
    Column("dataset", String(100), primary_key=True),
    Column("month", String(7), primary_key=True),  # YYYY-MM
    Column("publisher", String(64), primary_key=True),
    Column("records", BigInt, nullable=False),
)
