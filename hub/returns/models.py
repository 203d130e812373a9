"""Tables of the returns domain. Submissions themselves are not stored here:
they are read from the record log (the source of truth)."""
from sqlalchemy import Column, DateTime, Integer, String, Table, Text, UniqueConstraint

from hub.db import metadata

# Reference populations (for rates per 1,000 and for comparing councils of
# different sizes), loaded from CSV; one figure per org and year.
return_population = Table(
    "return_population",
    metadata,
    Column("org", String(64), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("population", Integer, nullable=False),
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

# Where an org's reminders go. The webhook secret signs payloads, so it is
# kept (it is shown once when set, and never logged).
return_contacts = Table(
    "return_contacts",
    metadata,
    Column("org", String(64), primary_key=True),
    Column("email", String(254), nullable=True),
    Column("webhook_url", String(2000), nullable=True),
    Column("webhook_secret", String(200), nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# One row per reminder and channel: claimed before sending, so a reminder is
# sent once even when two hub processes run the job at the same moment.
return_reminders = Table(
    "return_reminders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset", String(100), nullable=False),
    Column("period", String(20), nullable=False),
    Column("org", String(64), nullable=False),
    Column("offset_days", Integer, nullable=False),
    Column("channel", String(16), nullable=False),  # email | webhook
    Column("destination", String(2000), nullable=False),
    Column("status", String(16), nullable=False),  # sending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("dataset", "period", "org", "offset_days", "channel", name="uq_return_reminders_once"),
)
