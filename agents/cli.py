"""causeway-agent: enrol, check, run and inspect an agent.

    causeway-agent enrol --hub URL --token TOKEN --state DIR
    causeway-agent check -c agent.yaml
    causeway-agent run -c agent.yaml [--once [--task NAME [--accept-deletes]]]
    causeway-agent status -c agent.yaml [--rejects N]
    causeway-agent rejects [list|export|clear] -c agent.yaml [--task T] [-o rejects.csv] [--id N | --all]

Mistakes the operator can fix are printed as one clear line without a traceback
(exit code 2); secrets are never printed or logged.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time

from causeway_common.signing import generate_key, public_key_b64

from . import platform
from .config import AgentConfig, ConfigError, load_config
from .hub_client import HubError
from .state import StateDir, StateError, read_passphrase

log = logging.getLogger("causeway.agent")
ENROLMENT_TOKEN_ENV = "CAUSEWAY_ENROLMENT_TOKEN"


class CommandError(Exception):
    pass


def _config(args) -> AgentConfig:
    try:
        return load_config(args.config)
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def _credential(config: AgentConfig):
    try:
        return StateDir(config.state_dir).load_credential(read_passphrase(config.passphrase_file))
    except StateError as exc:
        raise CommandError(str(exc)) from None


# -- enrol ----------------------------------------------------------------------
def cmd_enrol(args) -> int:
    from .hub_client import HubClient, RequestsTransport

    config = _config(args) if args.config else None
    hub_url = args.hub or (config.hub_url if config else None)
    state_path = args.state or (config.state_dir if config else None)
    if not hub_url or not state_path:
        raise CommandError("enrol needs --hub URL and --state DIR (or -c agent.yaml naming both)")
    token = args.token or os.environ.get(ENROLMENT_TOKEN_ENV)
    if not token:
        raise CommandError(f"enrol needs the one-time token from the hub operator: --token TOKEN or ${ENROLMENT_TOKEN_ENV}")
    state = StateDir(state_path)
    if state.is_enrolled() and not args.force:
        info = state.public_info()
        raise CommandError(f"{state.path} already holds agent {info['agent_id']} of {info['org']}; "
                           "use --force to enrol a new agent in its place")
    try:
        passphrase = read_passphrase(args.passphrase_file or (config.passphrase_file if config else None))
    except StateError as exc:
        raise CommandError(str(exc)) from None
    proxy = args.proxy or (config.proxy if config else None)
    ca_bundle = args.ca_bundle or (config.ca_bundle if config else None)
    hub = HubClient(hub_url, transport=RequestsTransport(proxy=proxy, ca_bundle=ca_bundle))
    key = generate_key()
    name = args.name or socket.gethostname()
    try:
        answer = hub.enrol(token, public_key_b64(key), name)
    except HubError as exc:
        raise CommandError(str(exc)) from None
    state.save_credential(hub_url=hub_url, agent_id=answer["agent_id"], org=answer["org"], name=name,
                          api_key=answer["api_key"], signing_key=key, passphrase=passphrase)
    print(f"enrolled agent {answer['agent_id']} ({name}) for {answer['org']} at {hub.base_url}")
    print(f"credential and encrypted key stored in {state.path} (readable by this user only)")
    return 0


# -- check ------------------------------------------------------------------------
def cmd_check(args) -> int:
    from .checking import check_tasks
    from .runner import open_hub

    failures = 0

    def fail(message: str) -> None:
        nonlocal failures
        failures += 1
        print(f"  FAIL {message}")

    config = _config(args)
    print(f"{config.path}: valid, " + (f"{len(config.tasks)} task(s)" if config.managed_by == "file"
                                       else "hub-managed (the tasks come from the hub)"))

    credential = None
    state = StateDir(config.state_dir)
    try:
        credential = state.load_credential(read_passphrase(config.passphrase_file))
        print(f"agent {credential.agent_id} of {credential.org}; state in {state.path}")
    except StateError as exc:
        fail(str(exc))
    hub = open_hub(config, credential.api_key if credential else None)
    try:
        hub.health()
        print(f"hub {hub.base_url}: reachable")
    except HubError as exc:
        fail(str(exc))
    if config.managed_by == "hub" and credential is not None:
        # The version the hub holds now, checked as the running agent checks it before applying it.
        from .config import with_hub_configuration

        try:
            current = hub.agent_configuration(credential.agent_id)
            if current.get("version") is None:
                print("the hub holds no configuration version for this agent yet")
            else:
                config = with_hub_configuration(config, current["source"], current["version"])
                print(f"hub configuration version {current['version']}: valid, {len(config.tasks)} task(s)")
        except (HubError, ConfigError) as exc:
            fail(str(exc))

    checked = check_tasks(config, hub, rows=args.rows)
    failures += len(checked.failures) + checked.tasks_rejecting
    if failures:
        print(f"\n{failures} problem(s) found")
        return 1
    print("\nall checks passed")
    return 0


# -- run --------------------------------------------------------------------------
def cmd_run(args) -> int:
    from .runner import Agent

    config = _config(args)
    if args.accept_deletes and not (args.once and args.task):
        raise CommandError("--accept-deletes goes with --once and --task NAME: it accepts one snapshot's deletes, "
                           "for the tasks named, in this run only")
    try:
        agent = Agent(config, _credential(config), accept_deletes_for=frozenset(args.task or ()) if args.accept_deletes
                      else frozenset())
    except ConfigError as exc:
        raise CommandError(str(exc)) from None
    if args.once:
        return 0 if agent.run_once(args.task or None) else 1
    stopped = threading.Event()

    def _stop(signum, _frame):
        log.info("signal %s: finishing the current chunk and stopping", signal.Signals(signum).name)
        stopped.set()

    for signum in platform.current.stop_signals():
        signal.signal(signum, _stop)
    agent.start()
    while not stopped.wait(1):
        pass
    agent.stop()
    return 0


# -- status -----------------------------------------------------------------------
def _age(moment) -> str:
    if not moment:
        return "never"
    seconds = time.time() - moment
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit} ago"
    return f"{seconds:.0f}s ago"


def _last_good_hub_configuration(config: AgentConfig, state: StateDir) -> AgentConfig:
    """What a hub-managed agent runs: the last version it applied, as saved in its state."""
    from .config import with_hub_configuration

    try:
        saved = state.load_hub_config()
    except StateError as exc:
        raise CommandError(str(exc)) from None
    if saved is None:
        print("hub-managed: no configuration version from the hub applied yet (the agent asks at every heartbeat)")
        return config
    print(f"hub-managed: configuration version {saved['version']} from the hub, applied {_age(saved.get('applied_at'))}")
    try:
        return with_hub_configuration(config, saved["source"], saved["version"])
    except ConfigError as exc:
        raise CommandError(str(exc)) from None


def cmd_status(args) -> int:
    from .outbox import Outbox

    config = _config(args)
    state = StateDir(config.state_dir)
    try:
        info = state.public_info()
    except StateError as exc:
        raise CommandError(str(exc)) from None
    print(f"agent {info['agent_id']} ({info['name']}) of {info['org']}, hub {info['hub_url']}")
    if config.managed_by == "hub":
        config = _last_good_hub_configuration(config, state)
    else:
        print(f"file-managed: the tasks are those of {config.path}")
    if not state.outbox_path.exists():
        print("no outbox yet: the agent has not run")
        return 0
    outbox = Outbox(state.outbox_path)
    stats = outbox.task_stats()
    print(f"outbox: {outbox.depth()} records waiting for the hub; {outbox.reject_count()} rejects kept\n")
    print(f"{'task':<24} {'status':<10} {'last run':<12} {'read':>9} {'published':>10} {'rejected':>9} {'waiting':>8}")
    for task in config.tasks:
        s = stats.get(task.name, {})
        published = s.get("delivered", 0) if task.direction == "subscribe" else s.get("published", 0)
        print(f"{task.name:<24} {s.get('status') or 'never-run':<10} {_age(s.get('last_run_started')):<12} "
              f"{s.get('rows_read', 0):>9} {published:>10} {s.get('rejected', 0):>9} {s.get('outbox_depth', 0):>8}")
        if s.get("last_error"):
            print(f"    last error: {s['last_error']}")
    if args.rejects:
        print(f"\nrejects (first {args.rejects}):")
        _print_rejects(outbox.rejects(limit=args.rejects))
    outbox.close()
    return 0


# -- rejects ----------------------------------------------------------------------
def _print_rejects(rejects) -> None:
    from .publisher import describe_location

    for reject in rejects:
        seen = f" (seen {reject['count']} times, last {_age(reject['last_seen_at'])})" if reject["count"] > 1 else ""
        for error in reject["errors"]:
            print(f"  #{reject['id']} {reject['task']} [{reject['stage']}] {describe_location(reject['location'])}"
                  f"{seen}: {error.get('path') or 'row'}: {error.get('message')}")


def _outbox(args):
    from .outbox import Outbox

    config = _config(args)
    if args.task and config.managed_by == "file" and args.task not in {t.name for t in config.tasks}:
        raise CommandError(f"{config.path} has no task {args.task!r} "
                           f"(tasks: {', '.join(t.name for t in config.tasks)})")
    state = StateDir(config.state_dir)
    if not state.outbox_path.exists():
        raise CommandError(f"{state.path} has no outbox yet: the agent has not run")
    return Outbox(state.outbox_path)


def cmd_rejects(args) -> int:
    from .rejects_export import write_rejects_csv

    if args.action != "clear" and (args.id or args.all):
        raise CommandError("--id and --all are for 'rejects clear'")
    outbox = _outbox(args)
    try:
        if args.action == "list":
            rejects = outbox.rejects(args.task, limit=args.limit)
            total = outbox.reject_count(args.task)
            print(f"{total} reject(s) kept" + (f" for task {args.task}" if args.task else "")
                  + (f"; the first {len(rejects)}:" if total > len(rejects) else ""))
            _print_rejects(rejects)
        elif args.action == "export":
            rejects = outbox.rejects(args.task, limit=None)
            if args.output == "-":
                write_rejects_csv(rejects, sys.stdout)
            else:
                with open(args.output, "w", encoding="utf-8-sig", newline="") as out:  # BOM: Excel reads it as UTF-8
                    write_rejects_csv(rejects, out)
                print(f"{len(rejects)} reject(s) written to {args.output}")
        else:
            if bool(args.all) == bool(args.task or args.id):
                raise CommandError("say which rejects to clear: --task NAME and/or --id N (repeatable), or --all alone")
            cleared = outbox.clear_rejects(args.task, args.id)
            print(f"cleared {cleared} reject(s)")
    finally:
        outbox.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="causeway-agent", description="The Causeway agent: publish from and "
                                     "deliver into local systems, outbound connections only.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    commands = parser.add_subparsers(dest="command", required=True)

    enrol = commands.add_parser("enrol", help="make the agent's key pair and register it with the hub")
    enrol.add_argument("--hub", help="the hub's URL, e.g. https://causeway.example.scot")
    enrol.add_argument("--token", help=f"one-time enrolment token (or ${ENROLMENT_TOKEN_ENV})")
    enrol.add_argument("--state", help="state directory for the credential, key and outbox")
    enrol.add_argument("-c", "--config", help="take hub, state_dir, proxy and CA bundle from agent.yaml")
    enrol.add_argument("--name", help="a name for this agent (default: the host name)")
    enrol.add_argument("--proxy", help="outbound proxy URL (default: $HTTPS_PROXY)")
    enrol.add_argument("--ca-bundle", help="PEM file of a private CA to trust")
    enrol.add_argument("--passphrase-file", help="file holding the key's passphrase (else $CAUSEWAY_AGENT_PASSPHRASE)")
    enrol.add_argument("--force", action="store_true", help="replace an agent already enrolled in this state directory")
    enrol.set_defaults(func=cmd_enrol)

    check = commands.add_parser("check", help="validate agent.yaml, test connections, dry-run every task")
    check.add_argument("-c", "--config", default="agent.yaml")
    check.add_argument("--rows", type=int, default=5, help="rows to dry-run per publish task (default 5)")
    check.set_defaults(func=cmd_check)

    run = commands.add_parser("run", help="run the tasks on their schedules")
    run.add_argument("-c", "--config", default="agent.yaml")
    run.add_argument("--once", action="store_true", help="run every task once, send the outbox, and exit")
    run.add_argument("--task", action="append", help="with --once: only this task (repeatable)")
    run.add_argument("--accept-deletes", action="store_true",
                     help="with --once --task: send a snapshot's deletes even beyond max_delete_percent "
                          "(after checking the removals are real)")
    run.set_defaults(func=cmd_run)

    status = commands.add_parser("status", help="print a local summary: tasks, outbox, rejects")
    status.add_argument("-c", "--config", default="agent.yaml")
    status.add_argument("--rejects", type=int, nargs="?", const=20, default=0, help="also list the first N rejects")
    status.set_defaults(func=cmd_status)

    rejects = commands.add_parser("rejects", help="list, export (CSV) or clear the rows kept as rejects")
    rejects.add_argument("action", nargs="?", choices=["list", "export", "clear"], default="list")
    rejects.add_argument("-c", "--config", default="agent.yaml")
    rejects.add_argument("--task", help="only this task's rejects")
    rejects.add_argument("--limit", type=int, default=50, help="list: at most N rejects (default 50)")
    rejects.add_argument("-o", "--output", default="rejects.csv", help="export: CSV file, or - for standard output")
    rejects.add_argument("--id", type=int, action="append", help="clear: this reject (repeatable)")
    rejects.add_argument("--all", action="store_true", help="clear: every reject")
    rejects.set_defaults(func=cmd_rejects)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        return args.func(args)
    except CommandError as exc:
        print(f"causeway-agent: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
