"""`serve`: the HTTP API and console, with the delivery worker, reminder and retention jobs the hub runs."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from hub.cli.context import CommandError, engine, require_current, services
from hub.cli.secrets import seal_stored_secrets


def _tls(args) -> dict:
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if not (cert or key):
        return {}
    if not (cert and key):
        raise CommandError("serve needs both --tls-cert and --tls-key to serve HTTPS")
    for path in (cert, key):
        if not Path(path).is_file():
            raise CommandError(f"no such file: {path}")
    return {"ssl_certfile": cert, "ssl_keyfile": key}


def _forwarded(args) -> dict:
    """X-Forwarded-For/-Proto are believed only from the proxies the operator lists: anyone
    else could name any client address (and so dodge the sign-in throttle per address)."""
    proxies = getattr(args, "forwarded_allow_ips", None) or os.environ.get("CAUSEWAY_FORWARDED_ALLOW_IPS", "")
    if not proxies.strip():
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": proxies}


def cmd_serve(args) -> int:
    import uvicorn

    from causeway_common.gc_tuning import tune_for_throughput
    from hub.app import create_app

    tls = _tls(args)
    require_current(args, f"is not initialised or not migrated to this version: "
                          f"run `causeway-hub init --db {args.db}` first")
    seal_stored_secrets(engine(args), lambda message: print(message, file=sys.stderr))
    hub = services(args)
    app = create_app(services=hub)
    jobs = hub.start_jobs()
    worker = None
    # On SQLite the in-process worker is the only one; on PostgreSQL run `deliver` processes instead if you like.
    if not getattr(args, "no_worker", False) or hub.settings.db_url.startswith("sqlite"):
        worker = hub.worker().start()
    tune_for_throughput()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log,
                    **_forwarded(args), **tls)
    finally:
        jobs.shutdown()
        if worker is not None:
            worker.stop()
    return 0


def add_listen_options(parser) -> None:
    """Where the hub listens; `serve` and `demo` both take these."""
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-access-log", dest="access_log", action="store_false")


def register(commands, common) -> None:
    serve = commands.add_parser("serve", parents=[common], help="serve the HTTP API")
    add_listen_options(serve)
    serve.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (chain); needs --tls-key")
    serve.add_argument("--tls-key", help="PEM private key of --tls-cert")
    serve.add_argument("--forwarded-allow-ips", metavar="ADDRESSES",
                       help="comma-separated addresses (or CIDR networks) of reverse proxies whose X-Forwarded-For "
                            "and X-Forwarded-Proto are believed (default: $CAUSEWAY_FORWARDED_ALLOW_IPS, else none)")
    serve.add_argument("--open-metrics", action="store_true",
                       help="serve /metrics without a bearer token (default: $CAUSEWAY_OPEN_METRICS, else closed)")
    serve.add_argument("--no-worker", action="store_true",
                       help="PostgreSQL only: deliver with separate `deliver` processes instead of one in this process")
    serve.set_defaults(func=cmd_serve)
