"""Staff accounts, their sign-in sessions, sign-in throttling and the console's own settings."""
from sqlalchemy import Column, DateTime, Integer, String, Table, Text

from hub.db import metadata

STAFF_ROLES = ("governance", "ops", "submitter", "admin")  # submitter: council staff sending returns

staff_users = Table(
    "staff_users",
    metadata,
    Column("username", String(100), primary_key=True),
    Column("org", String(64), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("password_hash", String(200), nullable=False),  # argon2id, with its own salt and parameters
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_sign_in_at", DateTime(timezone=True), nullable=True),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)

# A signed-in browser. The cookie carries a random session token; only its
# SHA-256 is stored, so a copy of the database does not let anyone sign in.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("username", String(100), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

# Failed sign-ins counted per username ("user:<name>") and per client address
# ("client:<ip>"); known and unknown usernames are counted alike.
sign_in_failures = Table(
    "sign_in_failures",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", DateTime(timezone=True), nullable=False),
    Column("blocked_until", DateTime(timezone=True), nullable=True),
)

console_settings = Table(
    "console_settings",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("value", Text, nullable=False),
)
