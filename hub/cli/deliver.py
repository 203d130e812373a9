"""`deliver`: a delivery worker process; several may run against one PostgreSQL database."""
from __future__ import annotations

import argparse

from causeway_common.gc_tuning import tune_for_throughput
from hub.cli.context import services


def cmd_deliver(args) -> int:
    import signal
    import threading

    hub = services(args)
    worker = hub.worker(worker_id=args.worker_id)
    if args.once:
        worker.run_until_idle(timeout=args.timeout)
        worker.stop()
        return 0
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr="127.0.0.1", registry=hub.metrics.registry)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    tune_for_throughput()
    worker.start()
    done.wait()
    worker.stop()
    return 0


def register(commands, common) -> None:
    deliver = commands.add_parser("deliver", parents=[common], help="run a delivery worker (webhook and MQTT fan-out)")
    deliver.add_argument("--worker-id", help="name shown in leases and logs (default: host name and a random suffix)")
    deliver.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    deliver.add_argument("--timeout", type=float, default=300, help=argparse.SUPPRESS)
    deliver.add_argument("--metrics-port", type=int, help="serve Prometheus metrics of this worker on 127.0.0.1:PORT")
    deliver.set_defaults(func=cmd_deliver)
