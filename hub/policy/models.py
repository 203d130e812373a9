from sqlalchemy import Column, DateTime, Index, Integer, String, Table, Text

from hub.db import BigInt, metadata

# One row per agreement; its versions are immutable once written.
agreements = Table(
    "agreements",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    # HMAC key for pseudonymised fields: one per agreement, never shown or logged.
    Column("pseudonym_key", Text, nullable=False),  # sealed (hub.sealing)
)

agreement_versions = Table(
    "agreement_versions",
    metadata,
    Column("agreement_id", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("status", String(16), nullable=False),
    Column("document", Text, nullable=False),  # canonical JSON of the parsed agreement
    Column("source", Text, nullable=False),  # the YAML as written
    Column("changes", Text, nullable=False),  # JSON list of readable changes from the version before
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(200), nullable=False),
    Column("status_changed_at", DateTime(timezone=True), nullable=False),
    Column("revision", BigInt, nullable=False),
    Index("ix_agreement_versions_revision", "revision"),
)

# Every org named on any version: who may see the agreement.
agreement_parties = Table(
    "agreement_parties",
    metadata,
    Column("agreement_id", String(100), primary_key=True),
    Column("org", String(64), primary_key=True),
)

agreement_approvals = Table(
    "agreement_approvals",
    metadata,
    Column("agreement_id", String(100), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("org", String(64), primary_key=True),
    Column("side", String(16), nullable=False),  # provider or recipient
    Column("actor", String(200), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

agreement_history = Table(
    "agreement_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("agreement_id", String(100), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event", String(32), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=True),
    Column("actor", String(200), nullable=False),
    Column("reason", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_agreement_history_agreement", "agreement_id"),
)

# ISO/IEC TS 27560-shaped consent records.
consents = Table(
    "consents",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject", String(200), nullable=False),
    Column("controller", String(64), nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("recipients", Text, nullable=False),  # JSON list of org slugs
    Column("method", String(100), nullable=False),
    Column("evidence_ref", String(200), nullable=False),
    Column("given_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("revision", BigInt, nullable=False),
    Index("ix_consents_subject", "subject", "controller"),
    Index("ix_consents_revision", "revision"),
)

objections = Table(
    "objections",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("subject", String(200), nullable=False),
    Column("controller", String(64), nullable=False),
    Column("purpose", String(100), nullable=True),  # null: every purpose
    Column("method", String(100), nullable=False),
    Column("evidence_ref", String(200), nullable=False),
    Column("lodged_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True), nullable=True),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(200), nullable=False),
    Column("revision", BigInt, nullable=False),
    Index("ix_objections_subject", "subject", "controller"),
    Index("ix_objections_revision", "revision"),
)

# One row per record handed to a recipient (`copies` times: handed over that many times at
# once, e.g. by several subscriptions of the recipient): the subject-access report reads this.
disclosures = Table(
    "disclosures",
    metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("record_id", String(36), nullable=False),
    Column("seq", BigInt, nullable=False),
    Column("subject", String(200), nullable=True),
    Column("dataset", String(100), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("recipient", String(64), nullable=False),
    Column("purpose", String(100), nullable=False),
    Column("agreement_id", String(100), nullable=False),
    Column("agreement_version", Integer, nullable=False),
    Column("lawful_basis", String(32), nullable=False),
    Column("channel", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("copies", Integer, nullable=False, server_default="1"),
    Index("ix_disclosures_subject", "subject", "provider"),
    Index("ix_disclosures_recipient", "recipient", "seq"),
)

# Whom each hub notice in the record log is addressed to (org and dataset), so that
# delivery finds a subscription's notices, and counts them as its lag, without reading
# every recipient's.
notice_recipients = Table(
    "notice_recipients",
    metadata,
    Column("seq", BigInt, primary_key=True, autoincrement=False),  # the notice's seq in the record log
    Column("recipient", String(64), nullable=False),
    Column("dataset", String(100), nullable=False),
    Index("ix_notice_recipients_recipient_dataset_seq", "recipient", "dataset", "seq"),
)

# A counter bumped by every policy change, so each process can tell cheaply
# whether its in-memory indexes are stale.
policy_revision = Table(
    "policy_revision",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("revision", BigInt, nullable=False),
)
