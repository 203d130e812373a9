"""Hub settings, read once from the command line and environment."""
import os
from dataclasses import dataclass, field
from pathlib import Path

from causeway_common.catalogue import DEFAULT_SCHEMAS_DIR

DEFAULT_DB_URL = "sqlite:///causeway.db"


def db_url_from_env() -> str:
    return os.environ.get("CAUSEWAY_DB", DEFAULT_DB_URL)


@dataclass
class Settings:
    db_url: str = field(default_factory=db_url_from_env)
    schemas_dir: Path = DEFAULT_SCHEMAS_DIR
    max_batch_records: int = 1000
    max_batch_bytes: int = 5 * 1024 * 1024
    # How far a signed manifest's timestamp may be from the hub's clock.
    manifest_max_skew_seconds: int = 300
    enrolment_token_ttl_seconds: int = 7 * 24 * 3600
    feed_max_limit: int = 1000

    # -- data returns: reminders -------------------------------------------
    # SMTP for reminder e-mail (no host: e-mail reminders are not sent).
    smtp_host: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_SMTP_HOST") or None)
    smtp_port: int = field(default_factory=lambda: int(os.environ.get("CAUSEWAY_SMTP_PORT", "25")))
    smtp_from: str = field(default_factory=lambda: os.environ.get("CAUSEWAY_SMTP_FROM", "causeway@localhost"))
    smtp_starttls: bool = field(default_factory=lambda: os.environ.get("CAUSEWAY_SMTP_STARTTLS", "") in ("1", "true", "yes"))
    smtp_username: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_SMTP_USERNAME") or None)
    smtp_password: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_SMTP_PASSWORD") or None, repr=False)
    # Networks (CIDR) that webhooks may reach although private or loopback; empty: public addresses only.
    webhook_allowed_networks: tuple = field(default_factory=lambda: tuple(
        n.strip() for n in os.environ.get("CAUSEWAY_WEBHOOK_ALLOW_NETWORKS", "").split(",") if n.strip()))
    reminder_interval_seconds: int = 3600
    # A reminder whose moment passed longer ago than this (hub down) is skipped, not sent late.
    reminder_catchup_days: int = 3
