"""Hub settings, read once from the command line and environment."""
import os
from dataclasses import dataclass, field
from pathlib import Path

from causeway_common.catalogue import DEFAULT_SCHEMAS_DIR

DEFAULT_DB_URL = "sqlite:///causeway.db"
# Where the hub is reached (`serve`'s default host and port); events name their schemas under it.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"


def db_url_from_env() -> str:
    return os.environ.get("CAUSEWAY_DB", DEFAULT_DB_URL)


def public_url_from_env() -> str:
    return os.environ.get("CAUSEWAY_PUBLIC_URL") or DEFAULT_PUBLIC_URL


@dataclass
class Settings:
    db_url: str = field(default_factory=db_url_from_env)
    # The hub's public base URL (CAUSEWAY_PUBLIC_URL), e.g. https://hub.example: delivered events name
    # their dataschema under it. `serve` defaults it from its --host/--port.
    public_url: str = field(default_factory=public_url_from_env)
    schemas_dir: Path = DEFAULT_SCHEMAS_DIR
    max_batch_records: int = 1000
    max_batch_bytes: int = 5 * 1024 * 1024
    # How far a signed manifest's timestamp may be from the hub's clock.
    manifest_max_skew_seconds: int = 300
    enrolment_token_ttl_seconds: int = 7 * 24 * 3600
    feed_max_limit: int = 1000
    # Longest agreement YAML (bytes of UTF-8) the API and console accept (the contract's ceiling is 1 MiB).
    agreement_source_max_bytes: int = field(
        default_factory=lambda: _env_int("CAUSEWAY_AGREEMENT_SOURCE_MAX_BYTES", 256 * 1024))
    # Levels of objects and arrays a record's payload may nest (deeper: rejected per record).
    max_nesting_depth: int = field(default_factory=lambda: int(os.environ.get("CAUSEWAY_MAX_NESTING_DEPTH", "64")))
    # Signs console session cookies; when unset, one is generated and kept in the database.
    secret_key: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_SECRET_KEY") or None)
    # The key file sealing secrets at rest (hub.sealing); default: next to a SQLite database.
    # CAUSEWAY_SECRETS_KEY (DeliverySettings.secrets_key), when set, is used instead.
    secrets_key_file: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_SECRETS_KEY_FILE") or None)
    # Mark console cookies Secure even when the hub sees plain HTTP (behind a TLS-terminating proxy).
    secure_cookies: bool = field(default_factory=lambda: os.environ.get("CAUSEWAY_SECURE_COOKIES", "") == "1")

    # The one org that runs this hub (e.g. improvement-service): its ops credentials have a
    # hub-wide read view of health metadata (agents, subscription status and lag), never
    # payloads, subjects, webhook URL paths or secrets. Unset: no org has that view.
    hub_operator: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_HUB_OPERATOR") or None)

    # The oldest agent version the hub supports (CAUSEWAY_MIN_AGENT_VERSION, e.g. 0.1.0): the
    # coverage view flags agents that report an older one. Unset: none is flagged.
    min_agent_version: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_MIN_AGENT_VERSION") or None)

    # -- HTTP -----------------------------------------------------------------
    # /metrics answers a bearer token: this one, an admin key or the hub operator's ops key...
    metrics_token: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_METRICS_TOKEN") or None,
                                      repr=False)
    # ...unless the operator opens it to anyone who can reach it (serve --open-metrics).
    open_metrics: bool = field(default_factory=lambda: os.environ.get("CAUSEWAY_OPEN_METRICS", "") in ("1", "true", "yes"))
    # Days personal payloads stay in the hub's record log, per dataset (`referral=400,...`);
    # a dataset not named keeps them for the longest retention_days of the agreements covering it.
    hub_retention_days: dict = field(default_factory=lambda: _env_days("CAUSEWAY_HUB_RETENTION_DAYS"))
    retention_interval_seconds: float = field(
        default_factory=lambda: float(os.environ.get("CAUSEWAY_RETENTION_INTERVAL_SECONDS", "3600")))
    # How often `serve` decides newly published records for the public (open data).
    open_data_interval_seconds: float = field(
        default_factory=lambda: float(os.environ.get("CAUSEWAY_OPEN_DATA_INTERVAL_SECONDS", "10")))
    # How often `serve` recounts the tables of counts agreements publish to the public.
    open_aggregates_interval_seconds: float = field(
        default_factory=lambda: float(os.environ.get("CAUSEWAY_OPEN_AGGREGATES_INTERVAL_SECONDS", "300")))

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
    # How often `serve` recomputes the drafts of returns derived from records whose records changed.
    derived_returns_interval_seconds: float = field(
        default_factory=lambda: float(os.environ.get("CAUSEWAY_DERIVED_RETURNS_INTERVAL_SECONDS", "60")))
    # A reminder whose moment passed longer ago than this (hub down) is skipped, not sent late.
    reminder_catchup_days: int = 3
    # -- delivery: fan-out to subscribers ----------------------------------
    delivery: "DeliverySettings" = field(default_factory=lambda: DeliverySettings())
    # -- alerts: rules, episodes, the daily quality report ------------------
    alerts: "AlertSettings" = field(default_factory=lambda: AlertSettings())


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())


def _env_days(name: str) -> dict[str, int]:
    """`dataset=days,dataset=days` -> {dataset: days}."""
    found = {}
    for part in _env_list(name):
        dataset, sep, days = part.partition("=")
        if not sep or not days.strip().isdigit():
            raise ValueError(f"{name}: expected dataset=days pairs separated by commas, not {part!r}")
        found[dataset.strip()] = int(days)
    return found


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_schedule(name: str, default: tuple) -> tuple:
    value = os.environ.get(name)
    return tuple(float(v) for v in value.split(",")) if value else default


# Webhook retry delays (seconds) after each consecutive failure; the last repeats
# for as long as the endpoint keeps failing (its cursor holds: nothing is skipped).
DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


@dataclass
class DeliverySettings:
    """Fan-out to subscribers (webhook, MQTT, pull)."""
    # Networks (CIDR) webhooks may reach although private or loopback (the same
    # variable as Settings.webhook_allowed_networks); plain http is allowed only to
    # these. Empty: public https only.
    webhook_allow: tuple[str, ...] = field(default_factory=lambda: _env_list("CAUSEWAY_WEBHOOK_ALLOW_NETWORKS"))
    webhook_timeout_seconds: float = 15.0
    retry_schedule: tuple[float, ...] = field(
        default_factory=lambda: _env_schedule("CAUSEWAY_RETRY_SCHEDULE", DEFAULT_RETRY_SCHEDULE))
    max_retry_after_seconds: float = 86400.0
    secret_grace_seconds: int = 24 * 3600
    # Key (base64 of 32 bytes) sealing the hub's secrets at rest (AES-256-GCM; hub.sealing),
    # instead of a key file.
    secrets_key: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_SECRETS_KEY"))
    mqtt_host: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_MQTT_HOST"))
    mqtt_port: int = field(default_factory=lambda: _env_int("CAUSEWAY_MQTT_PORT", 1883))
    mqtt_username: str = field(default_factory=lambda: os.environ.get("CAUSEWAY_MQTT_USERNAME", "causeway-hub"))
    mqtt_password: str | None = field(default_factory=lambda: os.environ.get("CAUSEWAY_MQTT_PASSWORD"))
    mqtt_retry_seconds: float = field(default_factory=lambda: _env_float("CAUSEWAY_MQTT_RETRY_SECONDS", 5.0))  # broker unreachable: hold and try again after this
    lease_seconds: float = field(default_factory=lambda: _env_float("CAUSEWAY_LEASE_SECONDS", 30.0))
    poll_interval_seconds: float = field(default_factory=lambda: _env_float("CAUSEWAY_POLL_SECONDS", 0.2))
    page_size: int = 200  # records read after the cursor per step (a webhook sent one event per call)
    # ...where events go out together: batches (consecutive, of batch_max_events), MQTT publishes
    bulk_page_size: int = 1000
    # How long the attempt history (what each receiver answered, hub.delivery.reply) is kept.
    attempts_keep_seconds: float = 7 * 86400.0
    batch_max_events: int = field(default_factory=lambda: _env_int("CAUSEWAY_BATCH_MAX_EVENTS", 100))
    # subscriptions held at once by one worker (and threads sending for them); when more are
    # due, held ones make way after each page
    concurrency: int = field(default_factory=lambda: _env_int("CAUSEWAY_DELIVERY_CONCURRENCY", 32))
    agreement_recheck_seconds: float = field(
        default_factory=lambda: _env_float("CAUSEWAY_AGREEMENT_RECHECK_SECONDS", 10.0))


@dataclass
class AlertSettings:
    """When the alert rules (hub.alerts) call something a problem, and how often they look."""
    interval_seconds: float = field(default_factory=lambda: _env_float("CAUSEWAY_ALERT_INTERVAL_SECONDS", 60.0))
    # A subscription failing (consecutive failed attempts) this long opens an alert.
    subscription_failing_minutes: float = field(
        default_factory=lambda: _env_float("CAUSEWAY_ALERT_SUBSCRIPTION_FAILING_MINUTES", 30.0))
    # More dead letters than this on one subscription opens an alert.
    dead_letters_max: int = field(default_factory=lambda: _env_int("CAUSEWAY_ALERT_DEAD_LETTERS_MAX", 10))
    # Rejected share (percent) of a council's records of a dataset over the last hour...
    reject_rate_percent: float = field(default_factory=lambda: _env_float("CAUSEWAY_ALERT_REJECT_RATE_PERCENT", 5.0))
    # ...counted only once the hour holds at least this many records (a handful is no rate).
    reject_rate_min_records: int = field(default_factory=lambda: _env_int("CAUSEWAY_ALERT_REJECT_RATE_MIN_RECORDS", 20))
    # An active agreement this close to its review date or its end opens an alert.
    agreement_notice_days: int = field(default_factory=lambda: _env_int("CAUSEWAY_ALERT_AGREEMENT_NOTICE_DAYS", 30))
    # Rules switched off (`agent-stale,council-quiet`).
    disabled_rules: tuple[str, ...] = field(default_factory=lambda: _env_list("CAUSEWAY_ALERT_DISABLED_RULES"))
    # Hour (UTC) from which the daily quality report of the day before is sent.
    quality_report_hour: int = field(default_factory=lambda: _env_int("CAUSEWAY_QUALITY_REPORT_HOUR", 7))
    # A notification that failed is tried again at later runs, this many times in all.
    max_attempts: int = 3
