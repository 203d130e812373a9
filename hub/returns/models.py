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

# Returns drafted through the API or console (no file on the hub): one row per return,
# owned by its requesting org, with its lifecycle dates (ISO text, as in dataset.yaml).
return_definitions = Table(
    "return_definitions",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("owner_org", String(64), nullable=False),
    Column("introduced", String(10), nullable=False),
    Column("reviewed", String(10), nullable=True),
    Column("retired", String(10), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)

# Its versions: immutable once written; `draft` until the hub's admin approves it, then
# `approved` and in force from the period `applies_from` on.
return_versions = Table(
    "return_versions",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),  # draft | approved
    Column("applies_from", String(20), nullable=False),
    Column("spec", Text, nullable=False),  # canonical JSON of the declaration
    Column("drafted_by", String(200), nullable=False),
    Column("drafted_at", DateTime(timezone=True), nullable=False),
    Column("approved_by", String(200), nullable=True),
    Column("approved_at", DateTime(timezone=True), nullable=True),
)

# A council's return for a period as the set of rows it submitted; a resubmission replaces
# every row at once (revision counts the sets sent).
return_submissions = Table(
    "return_submissions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("period", String(20), nullable=False),
    Column("org", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("revision", Integer, nullable=False),
    Column("first_submitted_at", DateTime(timezone=True), nullable=False),
    Column("last_submitted_at", DateTime(timezone=True), nullable=False),
    Column("submitted_by", String(200), nullable=False),
    # Sign-off: draft -> submitted -> approved (by the council) -> accepted or sent_back (by the agency)
    Column("state", String(16), nullable=False),
    Column("state_at", DateTime(timezone=True), nullable=False),
    Column("state_by", String(200), nullable=False),
    Column("first_approved_at", DateTime(timezone=True), nullable=True),
    Column("comment", Text, nullable=True),  # why the agency sent it back
    UniqueConstraint("name", "period", "org", name="uq_return_submissions_one"),
)

# A council's choice, per return, to approve its row sets as they arrive (e.g. from an agent).
return_auto_approve = Table(
    "return_auto_approve",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("org", String(64), primary_key=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

return_rows = Table(
    "return_rows",
    metadata,
    Column("submission_id", Integer, primary_key=True),
    Column("row_key", String(200), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("payload", Text, nullable=False),
)

# Who changed which row of a council's draft, when, and how (upload, form, api or agent): one row
# per row added, changed or removed, so several staff can work on one draft and see each other's work.
return_row_changes = Table(
    "return_row_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("submission_id", Integer, nullable=False, index=True),
    Column("revision", Integer, nullable=False),  # the set's revision this change made
    Column("row_key", String(200), nullable=False),
    Column("change", String(8), nullable=False),  # added | changed | removed
    Column("fields", Text, nullable=False),  # JSON list of the fields whose values changed
    Column("via", String(8), nullable=False),  # upload | form | api | agent | derived
    Column("changed_by", String(200), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)

# Submitters scoped to named returns: a console submitter with any row here sees and sends only
# those returns (the rest answer 404, as for a return that does not exist).
return_submitter_scopes = Table(
    "return_submitter_scopes",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("assigned_at", DateTime(timezone=True), nullable=False),
    Column("assigned_by", String(200), nullable=False),
)

# Each org's secret calendar-feed address (an .ics that Outlook subscribes to without a
# bearer key). Only a SHA-256 of the token is kept: the address is shown once when made;
# making it again replaces it, deleting the row revokes it.
return_calendar_feeds = Table(
    "return_calendar_feeds",
    metadata,
    Column("org", String(64), primary_key=True),
    Column("token_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
)
