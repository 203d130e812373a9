"""What every command shares: the settings its options make, the services built from them, the operator.

Commands take their services from `services(args)` (one `hub.app.build_services` per run); the few
that must look at the database before its schema exists (`init`, `serve`'s check, `secrets`) use
`engine(args)`, the same engine the services are then built on.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

from hub.config import Settings

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
EXAMPLES_DIR = Path(__file__).resolve().parent.parent.parent / "policies"


class CommandError(Exception):
    """A mistake the operator can fix; printed without a traceback."""


def served_url(host: str, port: int, tls: bool) -> str:
    """The hub's public URL when CAUSEWAY_PUBLIC_URL is not set: where `serve` listens
    (the machine's name when it listens on every interface)."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    scheme = "https" if tls else "http"
    default_port = 443 if tls else 80
    return f"{scheme}://{host}" + ("" if port == default_port else f":{port}")


def settings(args) -> Settings:
    """The hub's settings ($CAUSEWAY_*) with this command's options applied."""
    settings = Settings(db_url=args.db)
    if getattr(args, "schemas", None):
        settings.schemas_dir = Path(args.schemas)
    if getattr(args, "open_metrics", False):
        settings.open_metrics = True
    if getattr(args, "port", None) is not None and not os.environ.get("CAUSEWAY_PUBLIC_URL"):
        tls = bool(getattr(args, "tls_cert", None) and getattr(args, "tls_key", None))
        settings.public_url = served_url(args.host, args.port, tls)
    return settings


def engine(args):
    """The database engine (with the secrets sealer), made once per run."""
    if "_engine" not in vars(args):
        from hub.app import open_engine

        args._engine = open_engine(settings(args))
    return args._engine


def services(args):
    """The hub's services, built once per run by the composition root; the database must be migrated."""
    if "_services" not in vars(args):
        from hub.app import build_services

        args._services = build_services(settings(args), engine(args))
    return args._services


def operator():
    """The hub operator at the command line acts with admin rights (but, like admin keys,
    cannot approve: approval needs a governance key of a party, given with --key-file)."""
    from hub.auth import Principal

    return Principal(org="causeway", role="admin", credential_id="cli")


def counts(counted: dict) -> str:
    return ", ".join(f"{n} {what}" for what, n in counted.items() if n) or "nothing"


def require_current(args, hint: str = "is not migrated to this version: run `causeway-hub init` first") -> None:
    from hub.migrate import is_current

    if not is_current(engine(args)):
        raise CommandError(f"the database at {args.db} {hint}")
