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
    # Signs console session cookies; when unset, one is generated and kept in the database.
    secret_key: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_SECRET_KEY") or None)
    # Mark console cookies Secure even when the hub sees plain HTTP (behind a TLS-terminating proxy).
    secure_cookies: bool = field(default_factory=lambda: os.environ.get("CAUSEWAY_SECURE_COOKIES", "") == "1")
