"""`serve`: the HTTP API and console, with the delivery worker, reminder and retention jobs the hub runs.

`serve --workers N` (PostgreSQL) runs N API processes on one port (uvicorn's supervisor, which
starts a dead one again) and its delivery workers as separate `deliver` processes; the jobs run
once, in the supervising process. SIGTERM stops them all, each finishing what it has in hand."""
from __future__ import annotations

import logging
import os
import signal
import sys
from pathlib import Path

from causeway_common.gc_tuning import tune_for_throughput
from hub.cli.context import LOG_FORMAT, CommandError, engine, require_current, services
from hub.cli.delivery_processes import DeliveryProcesses
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

    tls = _tls(args)
    api_processes, delivery_processes = _process_counts(args)
    require_current(args, f"is not initialised or not migrated to this version: "
                          f"run `causeway-hub init --db {args.db}` first")
    seal_stored_secrets(engine(args), lambda message: print(message, file=sys.stderr))
    hub = services(args)
    listen = dict(host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log,
                  timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, **_forwarded(args), **tls)
    jobs = hub.start_jobs()  # once per `serve`, whatever the number of API processes
    worker, workers = None, None
    # uvicorn stops serving at SIGTERM/SIGINT and then raises the signal again under the handler it
    # found: this one, so what `serve` started is stopped below rather than left behind.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    try:
        if delivery_processes:
            workers = DeliveryProcesses(args.db, delivery_processes).start()
        elif delivery_processes is None:
            worker = hub.worker().start()
        if api_processes == 1:
            from hub.app import create_app

            app = create_app(services=hub)
            tune_for_throughput()
            uvicorn.run(app, **listen)
        else:
            # Each API process builds its own services from these (spawned processes inherit the environment).
            os.environ.update({"CAUSEWAY_DB": args.db, "CAUSEWAY_PUBLIC_URL": hub.settings.public_url,
                               **({"CAUSEWAY_OPEN_METRICS": "1"} if hub.settings.open_metrics else {})})
            uvicorn.run(f"{__name__}:api_process_app", factory=True, workers=api_processes, **listen)
    except Stopped:
        pass
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # a second signal must not cut the stopping short
        jobs.shutdown()
        if worker is not None:
            worker.stop()
        if workers is not None:
            workers.stop()
    return 0


class Stopped(Exception):
    """SIGTERM or SIGINT: stop everything `serve` started, then exit 0."""


def _stop(signum, frame) -> None:
    raise Stopped(signal.Signals(signum).name)


GRACEFUL_SHUTDOWN_SECONDS = 30  # requests in progress at SIGTERM get this long to finish


def _process_counts(args) -> tuple[int, int | None]:
    """(API processes, separate delivery processes); None: one delivery worker inside the API process."""
    # `demo` serves through here too, with the listening options only: one process.
    api = getattr(args, "workers", 1)
    delivery = getattr(args, "delivery_workers", None)
    sqlite = args.db.startswith("sqlite")
    if api < 1 or (delivery is not None and delivery < 0):
        raise CommandError("--workers must be at least 1 and --delivery-workers at least 0")
    if sqlite and (api > 1 or delivery):
        raise CommandError(f"--workers {api} --delivery-workers {delivery or 0}: several hub processes need "
                           f"PostgreSQL; SQLite ({args.db}) takes one writer at a time, so it is served by one "
                           f"process with its delivery worker inside (drop --workers and --delivery-workers)")
    if sqlite:
        return 1, None  # the in-process worker is the only one SQLite can have
    if getattr(args, "no_worker", False):
        if delivery:
            raise CommandError("--no-worker and --delivery-workers contradict each other: choose one")
        return api, 0
    if delivery is None and api > 1:
        delivery = 1  # API processes stay stateless: delivery runs beside them, not inside
    return api, delivery


def api_process_app():
    """One of the API processes of `serve --workers N` (spawned by uvicorn, settings from the
    environment `serve` set): the HTTP API and console only; jobs and delivery run beside it."""
    from hub.app import build_services, create_app
    from hub.config import Settings

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    app = create_app(services=build_services(Settings()))
    tune_for_throughput()
    return app


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
    serve.add_argument("--workers", type=int, default=1, metavar="N",
                       help="PostgreSQL only: N API processes sharing the port (default 1); with N > 1 delivery "
                            "runs in separate processes (--delivery-workers, default 1)")
    serve.add_argument("--delivery-workers", type=int, metavar="M",
                       help="PostgreSQL only: M delivery worker processes (`deliver`) beside the API processes, "
                            "started again if one dies; 0 leaves delivery to `deliver` processes run elsewhere")
    serve.set_defaults(func=cmd_serve)
