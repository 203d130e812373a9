"""causeway-hub: set up and run the hub.

Every command takes --db URL (default: $CAUSEWAY_DB, else sqlite:///causeway.db).
Secrets are printed once, as the last line of standard output, and never logged.
"""
from __future__ import annotations

import argparse
import logging
import os
import secrets
import socket
import sys
from pathlib import Path

import yaml

from hub.config import Settings, db_url_from_env

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "policies"


class CommandError(Exception):
    """A mistake the operator can fix; printed without a traceback."""


def _settings(args) -> Settings:
    settings = Settings(db_url=args.db)
    if getattr(args, "schemas", None):
        settings.schemas_dir = Path(args.schemas)
    return settings


def _engine(args):
    from hub import sealing
    from hub.db import make_engine

    engine = make_engine(args.db)
    settings = Settings(db_url=args.db)
    sealing.use(engine, sealing.sealer_for(args.db, settings.delivery.secrets_key, settings.secrets_key_file))
    return engine


def _sealer(engine):
    from hub import sealing

    return sealing.for_engine(engine)


def _seal_stored_secrets(engine, announce) -> None:
    """Make sure there is a secrets key, refuse a wrong one, and seal any secret stored unsealed."""
    from hub import sealing

    sealer = _sealer(engine)
    try:
        if sealer.ensure_key():
            announce(f"secrets key created in {sealer.source.key_file} (mode 0600): back it up; without it "
                     f"webhook secrets and pseudonymisation keys cannot be read")
        sealing.refuse_unknown_keys(engine, sealer)
        sealed = sealing.seal_unsealed(engine, sealer)
    except sealing.SecretsKeyError as exc:
        raise CommandError(str(exc)) from exc
    if sealed:
        announce(f"sealed {_counts(sealed)} that were stored unsealed")


def _counts(counts: dict) -> str:
    return ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing"


def cmd_init(args) -> int:
    from causeway_common.catalogue import CatalogueError, load_catalogue
    from hub.migrate import upgrade
    from hub.records.service import sync_catalogue
    from hub.returns.declaration import validate_periodic

    engine = _engine(args)
    upgrade(engine)
    try:
        loaded = load_catalogue(_settings(args).schemas_dir)
        validate_periodic(loaded, _settings(args).schemas_dir)
        changes = sync_catalogue(engine, loaded)
    except (CatalogueError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"database ready at {engine.url.render_as_string(hide_password=True)}; "
          f"{len(loaded)} datasets, {len(changes)} catalogue changes")
    for change in changes:
        print(f"  added {change}")
    _seal_stored_secrets(engine, print)
    return 0


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


def cmd_serve(args) -> int:
    import uvicorn

    from hub.app import build_services, create_app
    from hub.migrate import is_current
    from hub.records.retention import start_retention_scheduler
    from hub.returns.scheduler import start_reminder_scheduler

    tls = {}
    cert, key = getattr(args, "tls_cert", None), getattr(args, "tls_key", None)
    if cert or key:
        if not (cert and key):
            raise CommandError("serve needs both --tls-cert and --tls-key to serve HTTPS")
        for path in (cert, key):
            if not Path(path).is_file():
                raise CommandError(f"no such file: {path}")
        tls = {"ssl_certfile": cert, "ssl_keyfile": key}
    if not is_current(_engine(args)):
        raise CommandError(f"the database at {args.db} is not initialised or not migrated to this version: "
                           f"run `causeway-hub init --db {args.db}` first")
    _seal_stored_secrets(_engine(args), lambda message: print(message, file=sys.stderr))
    settings = _settings(args)
    if getattr(args, "open_metrics", False):
        settings.open_metrics = True
    if not os.environ.get("CAUSEWAY_PUBLIC_URL"):
        settings.public_url = served_url(args.host, args.port, bool(tls))
    services = build_services(settings)
    app = create_app(services=services)
    scheduler = start_reminder_scheduler(services.reminders, settings.reminder_interval_seconds)
    retention = start_retention_scheduler(services.engine, settings.hub_retention_days,
                                          settings.retention_interval_seconds)
    worker = None
    # On SQLite the in-process worker is the only one; on PostgreSQL run `deliver` processes instead if you like.
    if not getattr(args, "no_worker", False) or settings.db_url.startswith("sqlite"):
        from hub.delivery.runner import build_worker

        worker = build_worker(services).start()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log,
                    **_forwarded(args), **tls)
    finally:
        scheduler.shutdown(wait=False)
        retention.shutdown(wait=False)
        if worker is not None:
            worker.stop()
    return 0


def _forwarded(args) -> dict:
    """X-Forwarded-For/-Proto are believed only from the proxies the operator lists: anyone
    else could name any client address (and so dodge the sign-in throttle per address)."""
    proxies = getattr(args, "forwarded_allow_ips", None) or os.environ.get("CAUSEWAY_FORWARDED_ALLOW_IPS", "")
    if not proxies.strip():
        return {"proxy_headers": False}
    return {"proxy_headers": True, "forwarded_allow_ips": proxies}


def cmd_secrets_rotate(args) -> int:
    from hub import sealing
    from hub.migrate import is_current

    engine = _engine(args)
    if not is_current(engine):
        raise CommandError(f"the database at {args.db} is not migrated to this version: run `causeway-hub init` first")
    sealer = _sealer(engine)
    try:
        before = sealer.key_ids[:1]
        counts = sealing.rotate(engine, sealer)
    except sealing.SecretsKeyError as exc:
        raise CommandError(str(exc)) from exc
    unsealed = counts.pop("unsealed before", 0)
    print(f"new secrets key {sealer.key_ids[0]} in {sealer.source.key_file}"
          + (f" (the previous key {before[0]} is kept there to open values sealed by hub processes still running)"
             if before else ""))
    print(f"re-sealed {_counts(counts)}" + (f"; {unsealed} of them had been stored unsealed" if unsealed else ""))
    return 0


def cmd_secrets_status(args) -> int:
    from hub import sealing

    engine = _engine(args)
    sealer = _sealer(engine)
    try:
        counts = sealing.inventory(engine, sealer)
        ids = sealer.key_ids
    except sealing.SecretsKeyError as exc:
        raise CommandError(str(exc)) from exc
    print(f"secrets key from {sealer.source.describe()}: current {ids[0] if ids else 'none'}"
          + (f", also opening {', '.join(ids[1:])}" if ids[1:] else ""))
    print(f"stored secrets: {counts['current']} sealed under the current key, {counts['old']} under an older one, "
          f"{counts['plain']} unsealed, {counts['unknown']} under a key this hub does not hold")
    return 1 if counts["unknown"] else 0


def cmd_deliver(args) -> int:
    """A delivery worker process; several may run against one PostgreSQL database."""
    import signal
    import threading

    from hub.app import build_services
    from hub.delivery.runner import build_worker

    services = build_services(_settings(args))
    worker = build_worker(services, worker_id=args.worker_id)
    if args.once:
        worker.run_until_idle(timeout=args.timeout)
        worker.stop()
        return 0
    if args.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(args.metrics_port, addr="127.0.0.1", registry=services.metrics.registry)
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    worker.start()
    done.wait()
    worker.stop()
    return 0


def _delivery(args):
    from hub.app import build_services

    return build_services(_settings(args)).delivery


def cmd_subscription_list(args) -> int:
    for sub in _delivery(args).list(_operator(), args.org):
        where = sub.get("url") or sub.get("topic") or sub.get("feed")
        print(f"{sub['id']}  {sub['org']:<20} {sub['dataset']:<28} {sub['channel']:<8} {sub['status']:<19} "
              f"cursor {sub['cursor']:<8} {where}")
    return 0


def cmd_subscription_status(args) -> int:
    import json

    print(json.dumps(_delivery(args).status(args.id, _operator()), indent=2))
    return 0


def cmd_subscription_dead_letters(args) -> int:
    letters = _delivery(args).list_dead_letters(args.id, _operator(), args.all)
    for letter in letters:
        print(f"{letter['id']:<6} seq {letter['seq']:<8} {letter['state']:<9} {letter['record_id']}  "
              f"{letter['status_code'] or ''} {letter['error'] or ''}")
    print(f"{len(letters)} dead letters")
    return 0


def cmd_subscription_retry(args) -> int:
    count = _delivery(args).retry_dead_letters(args.id, _operator(), args.letter)
    print(f"{count} dead letters queued to be tried again")
    return 0


def cmd_subscription_replay(args) -> int:
    result = _delivery(args).replay(args.id, _operator(), args.from_seq, args.from_time)
    print(f"subscription {args.id} will deliver again after sequence {result['cursor']} "
          f"({result['moved_back']} records moved back)")
    return 0


def cmd_mqtt_acl(args) -> int:
    from hub.delivery.mqtt_acl import write_broker_files

    delivery = _settings(args).delivery
    if not delivery.mqtt_password:
        raise CommandError("set CAUSEWAY_MQTT_PASSWORD (the hub's own broker password) first")
    try:
        issued, todo = write_broker_files(_engine(args), Path(args.password_file), Path(args.acl_file),
                                          delivery.mqtt_username, delivery.mqtt_password, tuple(args.rotate or ()))
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    print(f"wrote {args.password_file} and {args.acl_file}; reload the broker (SIGHUP) to apply them")
    for step in todo:
        print(f"the broker runs as its own user and cannot read it yet: run  {step}", file=sys.stderr)
    if issued:
        print("New MQTT passwords, shown only once (user = org slug):")
        for org, password in sorted(issued.items()):
            print(f"  {org} {password}")


def _orgs(args):
    from hub.orgs.service import OrgService

    return OrgService(_engine(args))


def cmd_org_add(args) -> int:
    org = _orgs(args).add_org(args.slug, args.name, args.kind)
    print(f"added {org['kind']} {org['slug']}: {org['name']}")
    return 0


def cmd_org_list(args) -> int:
    for org in _orgs(args).list_orgs():
        print(f"{org['slug']:<24} {org['kind']:<8} {org['name']}")
    return 0


def cmd_org_import(args) -> int:
    service = _orgs(args)
    entries = yaml.safe_load(Path(args.file).read_text(encoding="utf-8")) or []
    added = sum(service.ensure_org(e["slug"], e["name"], e.get("kind", "council")) for e in entries)
    print(f"{added} orgs added, {len(entries) - added} already present")
    return 0


def cmd_key_issue(args) -> int:
    key = _orgs(args).issue_key(args.org, args.role, label=args.label)
    print(f"API key for {args.org} ({args.role}); it is shown only once:")
    print(key)
    return 0


def cmd_key_revoke(args) -> int:
    _orgs(args).revoke_key(args.credential_id)
    print(f"revoked {args.credential_id}")
    return 0


def cmd_enrolment(args) -> int:
    token, expires = _orgs(args).create_enrolment(args.org, int(args.ttl_hours * 3600))
    print(f"one-time enrolment token for an agent of {args.org}, valid until {expires}:")
    print(token)
    return 0


def _new_password(args) -> str:
    """From --password-file, else $CAUSEWAY_USER_PASSWORD (for scripts), else asked twice without echo."""
    import getpass
    import os

    if args.password_file:
        try:
            return Path(args.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            raise CommandError(f"cannot read the password file: {exc.strerror}") from exc
    if os.environ.get("CAUSEWAY_USER_PASSWORD"):
        return os.environ["CAUSEWAY_USER_PASSWORD"]
    if not sys.stdin.isatty():
        raise CommandError("no password given: use --password-file, $CAUSEWAY_USER_PASSWORD or run in a terminal")
    first = getpass.getpass(f"Password for {args.username}: ")
    if getpass.getpass("Same password again: ") != first:
        raise CommandError("the two passwords differ; nothing was changed")
    return first


def _accounts(args):
    from hub.console.service import AccountService

    return AccountService(_engine(args))


def cmd_user_add(args) -> int:
    user = _accounts(args).add_user(args.username, args.org, args.role, _new_password(args))
    print(f"added console user {user.username} ({user.org}, {user.role})")
    return 0


def cmd_user_password(args) -> int:
    _accounts(args).set_password(args.username, _new_password(args))
    print(f"password changed for {args.username}; their sessions were ended")
    return 0


def cmd_user_disable(args) -> int:
    _accounts(args).disable_user(args.username)
    print(f"disabled {args.username}; their sessions were ended")
    return 0


def cmd_user_list(args) -> int:
    for user in _accounts(args).list_users():
        print(f"{user['username']:<32} {user['org']:<24} {user['role']:<11}{' disabled' if user['disabled'] else ''}")
    return 0


def cmd_audit_verify(args) -> int:
    from hub.audit.service import verify

    checked, broken = verify(_engine(args))
    if broken is None:
        print(f"audit chain intact: {checked} entries verified")
        return 0
    print(f"audit chain BROKEN at entry {broken.seq}: {broken.reason} ({checked} entries before it verified)",
          file=sys.stderr)
    return 1


def cmd_retention_run(args) -> int:
    from hub.records.retention import purge, tombstones

    engine = _engine(args)
    report = purge(engine, _settings(args).hub_retention_days, actor="cli")
    held = tombstones(engine)
    for name, counts in report.items():
        period = f"{counts['retention_days']} days" if counts["retention_days"] is not None else \
            "no retention period (no agreement covers it): payloads kept"
        print(f"{name:<40} {period:<24} purged {counts['purged']:>8}  tombstones {held.get(name, 0):>8}")
    return 0


def _policy(args):
    from hub.orgs.service import OrgService
    from hub.policy.service import PolicyService
    from hub.records.service import Catalogue

    engine = _engine(args)
    orgs = OrgService(engine)
    return PolicyService(engine, Catalogue(engine), lambda slug: orgs.get_org(slug) is not None), orgs


# The hub operator at the console acts with admin rights (but, like admin keys,
# cannot approve: approval needs a governance key of a party, given with --key).
def _operator():
    from hub.auth import Principal

    return Principal(org="causeway", role="admin", credential_id="cli")


def _governance_key(args):
    """A governance API key from --key-file or $CAUSEWAY_API_KEY (never from the command line)."""
    import os

    key = None
    if args.key_file:
        key = Path(args.key_file).read_text(encoding="utf-8").strip()
    key = key or os.environ.get("CAUSEWAY_API_KEY", "").strip()
    if not key:
        raise CommandError("approval needs a governance API key of a party: put it in a file named by --key-file "
                           "or in $CAUSEWAY_API_KEY")
    return key


def cmd_policy_apply(args) -> int:
    from hub.cli_errors import describe
    from hub.errors import HubError

    policy, _ = _policy(args)
    for name in args.files:
        path = Path(name)
        try:
            result = policy.agreements.apply(path.read_text(encoding="utf-8"), _operator())
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror}") from exc
        except HubError as exc:
            raise CommandError(f"{path}: {describe(exc)}") from exc
        if result["changed"]:
            print(f"{path}: agreement {result['id']} version {result['version']} written as a draft")
            for change in result["changes"]:
                print(f"  {change}")
        else:
            print(f"{path}: agreement {result['id']} unchanged (version {result['version']}, {result['status']})")
    return 0


def cmd_policy_approve(args) -> int:
    policy, orgs = _policy(args)
    who = orgs.authenticate(_governance_key(args))
    if who is None:
        raise CommandError("the API key is unknown or revoked")
    result = policy.agreements.transition(args.agreement_id, "approved", who, version=args.version)
    print(f"{who.org} approved {result['id']} version {result['version']}: now {result['status']}"
          + (f" ({result['waiting_for']})" if result.get("waiting_for") else ""))
    if args.activate and result["status"] == "approved":
        result = policy.agreements.transition(args.agreement_id, "active", who, version=result["version"])
        print(f"{result['id']} version {result['version']} is now active")
    return 0


def cmd_policy_transition(args) -> int:
    policy, _ = _policy(args)
    result = policy.agreements.transition(args.agreement_id, args.to, _operator(), version=args.version,
                                          reason=args.reason)
    print(f"{result['id']} version {result['version']} is now {result['status']}")
    return 0


def cmd_policy_list(args) -> int:
    policy, _ = _policy(args)
    for item in policy.agreements.list(_operator()):
        pending = "" if item["latest_version"] == item["version"] else \
            f"  (v{item['latest_version']} {item['latest_status']})"
        print(f"{item['id']:<36} v{item['version']:<3} {item['status']:<10} {item['lawful_basis']:<16} "
              f"{', '.join(item['datasets'])}{pending}")
    return 0


def cmd_consent_import(args) -> int:
    from hub.cli_errors import describe
    from hub.errors import HubError

    policy, _ = _policy(args)
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
        result = policy.consents.import_csv(text, _operator(), controller=args.controller)
    except OSError as exc:
        raise CommandError(f"{args.file}: {exc.strerror}") from exc
    except HubError as exc:
        raise CommandError(f"{args.file}: {describe(exc)}") from exc
    print(f"{result['imported']} consents imported, {result['duplicates']} already present, {result['rejected']} rejected")
    for row in result["rows"]:
        if row["status"] == "rejected":
            for error in row["errors"]:
                print(f"  line {row['line']}: {error['field']}: {error['message']}")
    return 1 if result["rejected"] else 0


def demo_policies(args, keys: dict) -> None:
    """Apply the example agreements and activate them, approving as a governance key of every
    provider and every recipient (each approves for itself), so the demo has agreements in force."""
    policy, orgs = _policy(args)
    for path in sorted(EXAMPLES_DIR.glob("*.yaml")):
        if path.name == "orgs.yaml":
            continue
        result = policy.agreements.apply(path.read_text(encoding="utf-8"), _operator())
        document = policy.agreements.versions(result["id"], _operator())[-1]["document"]
        if result["status"] == "active":
            continue
        for org in dict.fromkeys(document["providers"] + document["recipients"]):
            key = keys.get((org, "governance")) or orgs.issue_key(org, "governance", label="demo")
            keys[(org, "governance")] = key
            policy.agreements.transition(result["id"], "approved", orgs.authenticate(key))
        policy.agreements.transition(result["id"], "active", orgs.authenticate(keys[(document["providers"][0], "governance")]))
        print(f"  agreement {result['id']} v{result['version']} active")


def cmd_org_contact(args) -> int:
    from hub.returns.reference import ReferenceError, set_contact

    try:
        secret = set_contact(_engine(args), args.org, args.email, args.webhook,
                             allowed_networks=_settings(args).webhook_allowed_networks)
    except ReferenceError as exc:
        raise CommandError(str(exc)) from exc
    print(f"reminders for {args.org} go to: " + ", ".join(x for x in (args.email, args.webhook) if x))
    if secret:
        print("webhook signing secret (Standard Webhooks); it is shown only once:")
        print(secret)
    return 0


def cmd_returns_population(args) -> int:
    from datetime import date

    from hub.returns.reference import ReferenceError, load_population_csv

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
        result = load_population_csv(_engine(args), text, args.year or date.today().year)
    except (OSError, UnicodeDecodeError, ReferenceError) as exc:
        raise CommandError(f"{args.file}: {exc}") from exc
    print(f"{result.loaded} population figures loaded from {args.file}")
    for error in result.errors:
        print(f"  {args.file} {error}", file=sys.stderr)
    return 1 if result.errors else 0


def cmd_returns_remind(args) -> int:
    from hub.app import build_services
    from hub.timeutil import parse_iso

    try:
        now = parse_iso(args.now) if args.now else None
    except ValueError as exc:
        raise CommandError(f"--now: {exc}") from exc
    services = build_services(_settings(args))
    sent = services.reminders.send_due_reminders(now)
    for item in sent:
        print(f"{item['status']:<6} {item['channel']:<7} {item['org']:<22} {item['dataset']} {item['period']} "
              f"({item['offset_days']:+d} days){' ' + item['error'] if item.get('error') else ''}")
    print(f"{sum(i['status'] == 'sent' for i in sent)} reminders sent, {sum(i['status'] == 'failed' for i in sent)} failed")
    return 0


DEMO_KEYS = [("edinburgh", "publisher"), ("sds", "subscriber"), ("edinburgh", "governance"),
             ("sds", "governance"), ("improvement-service", "ops"), ("scottish-government", "admin")]


DEMO_STAFF = [("gov.edinburgh", "edinburgh", "governance"), ("gov.sds", "sds", "governance"),
              ("ops", "improvement-service", "ops"), ("admin", "scottish-government", "admin")]


def cmd_demo(args) -> int:
    """Everything `make run` needs: database, example orgs and schemas, demo keys, the server."""
    # The demo's operations staff are the Improvement Service's, running the hub for everyone.
    os.environ.setdefault("CAUSEWAY_HUB_OPERATOR", "improvement-service")
    cmd_init(args)
    cmd_org_import(argparse.Namespace(db=args.db, file=str(EXAMPLES_DIR / "orgs.yaml")))
    cmd_returns_population(argparse.Namespace(db=args.db, file=str(EXAMPLES_DIR / "population.csv"), year=None))
    from hub.app import build_services
    from hub.returns.demo import publish_example_returns, set_example_contacts

    set_example_contacts(_engine(args))
    print(publish_example_returns(build_services(_settings(args))))
    service = _orgs(args)
    keys = {(org, role): service.issue_key(org, role, label="demo") for org, role in DEMO_KEYS}
    print("\nExample sharing agreements:")
    demo_policies(args, keys)
    print("\nDemo credentials (new ones are made at every start; keep them to try the API):")
    for org, role in DEMO_KEYS:
        print(f"  {org:<22} {role:<11} {keys[org, role]}")
    print("\nConsole staff (passwords are new at every start):")
    accounts = build_services(_settings(args)).accounts
    for username, org, role in DEMO_STAFF:
        password = secrets.token_urlsafe(12)
        if username not in {user["username"] for user in accounts.list_users()}:
            accounts.add_user(username, org, role, password, actor="demo")
        else:
            accounts.set_password(username, password, actor="demo")
        print(f"  {username:<16} {org + '/' + role:<32} {password}")
    print(f"\nHub on http://{args.host}:{args.port}/api/v1 (try: curl -H 'Authorization: Bearer <key>' "
          f"http://{args.host}:{args.port}/api/v1/datasets); console on http://{args.host}:{args.port}/console",
          flush=True)
    if args.agent_dir:
        from hub import demo_agent

        token, _ = service.create_enrolment("edinburgh", 3600, actor="demo")
        demo_agent.start(Path(args.agent_dir), args.host, args.port, token)
        print(f"An Edinburgh agent publishes the sample files in {args.agent_dir}/drop (log: {args.agent_dir}/agent.log);\n"
              f"watch records arrive with the edinburgh publisher key: curl -H 'Authorization: Bearer <key>' "
              f"http://{args.host}:{args.port}/api/v1/feeds/gazetteer-address\n"
              f"and the agent's health with the scottish-government admin key: "
              f"http://{args.host}:{args.port}/api/v1/agents\n", flush=True)
    return cmd_serve(args)


def build_parser() -> argparse.ArgumentParser:
    # --db may come before or after the command; only the top level sets the default,
    # so a subcommand's parser never overwrites a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS,
                        help="database URL (default: $CAUSEWAY_DB, else sqlite:///causeway.db)")

    parser = argparse.ArgumentParser(prog="causeway-hub", description="Run and administer the Causeway hub.")
    parser.add_argument("--db", default=db_url_from_env(),
                        help="database URL (default: $CAUSEWAY_DB, else sqlite:///causeway.db)")
    commands = parser.add_subparsers(dest="command", required=True)

    init = commands.add_parser("init", parents=[common], help="create or migrate the database and load schemas/")
    init.add_argument("--schemas", help="folder of dataset schemas (default: the repository's schemas/)")
    init.set_defaults(func=cmd_init)

    serve = commands.add_parser("serve", parents=[common], help="serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--log-level", default="info")
    serve.add_argument("--no-access-log", dest="access_log", action="store_false")
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

    deliver = commands.add_parser("deliver", parents=[common], help="run a delivery worker (webhook and MQTT fan-out)")
    deliver.add_argument("--worker-id", help="name shown in leases and logs (default: host name and a random suffix)")
    deliver.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    deliver.add_argument("--timeout", type=float, default=300, help=argparse.SUPPRESS)
    deliver.add_argument("--metrics-port", type=int, help="serve Prometheus metrics of this worker on 127.0.0.1:PORT")
    deliver.set_defaults(func=cmd_deliver)

    subscription = commands.add_parser("subscription", parents=[common], help="subscriptions: status, dead letters, replay") \
        .add_subparsers(dest="subscription_command", required=True)
    sub_list = subscription.add_parser("list", parents=[common], help="list subscriptions")
    sub_list.add_argument("--org")
    sub_list.set_defaults(func=cmd_subscription_list)
    sub_status = subscription.add_parser("status", parents=[common], help="lag, last success, last error, next retry")
    sub_status.add_argument("id")
    sub_status.set_defaults(func=cmd_subscription_status)
    sub_dead = subscription.add_parser("dead-letters", parents=[common], help="events the subscriber refused")
    sub_dead.add_argument("id")
    sub_dead.add_argument("--all", action="store_true", help="include those delivered since")
    sub_dead.set_defaults(func=cmd_subscription_dead_letters)
    sub_retry = subscription.add_parser("retry", parents=[common], help="try dead letters again (all, or --letter N)")
    sub_retry.add_argument("id")
    sub_retry.add_argument("--letter", type=int)
    sub_retry.set_defaults(func=cmd_subscription_retry)
    sub_replay = subscription.add_parser("replay", parents=[common], help="deliver again from a sequence or a time")
    sub_replay.add_argument("id")
    when = sub_replay.add_mutually_exclusive_group(required=True)
    when.add_argument("--from-seq", type=int)
    when.add_argument("--from-time", help="RFC 3339 time, e.g. 2026-11-02T09:00:00Z")
    sub_replay.set_defaults(func=cmd_subscription_replay)

    mqtt = commands.add_parser("mqtt", parents=[common], help="MQTT broker credentials") \
        .add_subparsers(dest="mqtt_command", required=True)
    acl = mqtt.add_parser("acl", parents=[common], help="write a Mosquitto password file and ACL (one user per org)")
    acl.add_argument("--password-file", required=True)
    acl.add_argument("--acl-file", required=True)
    acl.add_argument("--rotate", action="append", metavar="ORG", help="give this org a new MQTT password")
    acl.set_defaults(func=cmd_mqtt_acl)

    secrets_ = commands.add_parser("secrets", parents=[common], help="the key sealing the hub's secrets at rest") \
        .add_subparsers(dest="secrets_command", required=True)
    secrets_.add_parser("rotate", parents=[common], help="a new secrets key; re-seal every stored secret under it") \
        .set_defaults(func=cmd_secrets_rotate)
    secrets_.add_parser("status", parents=[common], help="where the key is and how the stored secrets are sealed") \
        .set_defaults(func=cmd_secrets_status)

    demo = commands.add_parser("demo", parents=[common], help="set up example orgs, schemas and keys, then serve")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--log-level", default="info")
    demo.add_argument("--no-access-log", dest="access_log", action="store_false")
    demo.add_argument("--schemas", help=argparse.SUPPRESS)
    demo.add_argument("--agent-dir", default="var/demo/agent",
                      help="where the demo agent keeps its config, drop folders and state ('' for no agent)")
    demo.set_defaults(func=cmd_demo)

    org = commands.add_parser("org", parents=[common], help="member organisations").add_subparsers(dest="org_command", required=True)
    add = org.add_parser("add", parents=[common], help="add an org")
    add.add_argument("slug")
    add.add_argument("--name", required=True)
    add.add_argument("--kind", choices=["council", "agency"], default="council")
    add.set_defaults(func=cmd_org_add)
    org.add_parser("list", parents=[common], help="list orgs").set_defaults(func=cmd_org_list)
    imp = org.add_parser("import", parents=[common], help="add orgs from a YAML list (slug, name, kind)")
    imp.add_argument("file", nargs="?", default=str(EXAMPLES_DIR / "orgs.yaml"))
    imp.set_defaults(func=cmd_org_import)

    contact = org.add_parser("contact", parents=[common],
                             help="where an org's return reminders go (e-mail and/or a signed webhook)")
    contact.add_argument("org")
    contact.add_argument("--email")
    contact.add_argument("--webhook", help="https URL; a signing secret is printed once")
    contact.set_defaults(func=cmd_org_contact)

    returns = commands.add_parser("returns", parents=[common], help="data returns").add_subparsers(
        dest="returns_command", required=True)
    population = returns.add_parser("population", parents=[common],
                                    help="load reference populations from CSV: org,population[,year]")
    population.add_argument("file")
    population.add_argument("--year", type=int, help="year for rows without one (default: this year)")
    population.set_defaults(func=cmd_returns_population)
    remind = returns.add_parser("remind", parents=[common], help="send the reminders that are due now (the hub also does this hourly)")
    remind.add_argument("--now", help=argparse.SUPPRESS)
    remind.set_defaults(func=cmd_returns_remind)

    key = commands.add_parser("key", parents=[common], help="API keys").add_subparsers(dest="key_command", required=True)
    issue = key.add_parser("issue", parents=[common], help="issue an API key (printed once, last line)")
    issue.add_argument("org")
    issue.add_argument("--role", required=True, choices=["publisher", "subscriber", "governance", "ops", "admin"])
    issue.add_argument("--label")
    issue.set_defaults(func=cmd_key_issue)
    revoke = key.add_parser("revoke", parents=[common], help="revoke an API key by its id (the hex after cw_)")
    revoke.add_argument("credential_id")
    revoke.set_defaults(func=cmd_key_revoke)

    enrol = commands.add_parser("enrolment", parents=[common], help="print a one-time agent enrolment token")
    enrol.add_argument("org")
    enrol.add_argument("--ttl-hours", type=float, default=72)
    enrol.set_defaults(func=cmd_enrolment)

    user = commands.add_parser("user", parents=[common], help="console accounts for staff").add_subparsers(
        dest="user_command", required=True)
    user_add = user.add_parser("add", parents=[common], help="add a console user (password asked twice, never echoed)")
    user_add.add_argument("username")
    user_add.add_argument("--org", required=True)
    user_add.add_argument("--role", required=True, choices=["governance", "ops", "admin"])
    user_add.add_argument("--password-file", help="read the password from this file's first line")
    user_add.set_defaults(func=cmd_user_add)
    user_password = user.add_parser("password", parents=[common], help="set a console user's password")
    user_password.add_argument("username")
    user_password.add_argument("--password-file", help="read the password from this file's first line")
    user_password.set_defaults(func=cmd_user_password)
    user_disable = user.add_parser("disable", parents=[common], help="stop a console user signing in")
    user_disable.add_argument("username")
    user_disable.set_defaults(func=cmd_user_disable)
    user.add_parser("list", parents=[common], help="list console users").set_defaults(func=cmd_user_list)

    policy = commands.add_parser("policy", parents=[common], help="sharing agreements").add_subparsers(
        dest="policy_command", required=True)
    apply = policy.add_parser("apply", parents=[common], help="write agreements from YAML files (a new draft version when changed)")
    apply.add_argument("files", nargs="+", metavar="FILE")
    apply.set_defaults(func=cmd_policy_apply)
    approve = policy.add_parser("approve", parents=[common],
                                help="approve the draft for your org, with a governance API key from --key-file or $CAUSEWAY_API_KEY")
    approve.add_argument("agreement_id")
    approve.add_argument("--version", type=int)
    approve.add_argument("--key-file", help="file holding a governance API key of a provider or recipient")
    approve.add_argument("--activate", action="store_true", help="put it in force once every party has approved")
    approve.set_defaults(func=cmd_policy_approve)
    move = policy.add_parser("transition", parents=[common], help="activate, suspend or retire a version")
    move.add_argument("agreement_id")
    move.add_argument("to", choices=["active", "suspended", "retired"])
    move.add_argument("--version", type=int)
    move.add_argument("--reason")
    move.set_defaults(func=cmd_policy_transition)
    policy.add_parser("list", parents=[common], help="list agreements").set_defaults(func=cmd_policy_list)

    consent = commands.add_parser("consent", parents=[common], help="consent records").add_subparsers(
        dest="consent_command", required=True)
    cimport = consent.add_parser("import", parents=[common], help="import consents from CSV (see docs/governance.md)")
    cimport.add_argument("file")
    cimport.add_argument("--controller", required=True, help="the org that holds these consents")
    cimport.set_defaults(func=cmd_consent_import)

    audit = commands.add_parser("audit", parents=[common], help="the audit log").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", parents=[common], help="verify the hash chain end to end").set_defaults(func=cmd_audit_verify)
    retention = commands.add_parser("retention", parents=[common], help="personal payloads in the record log") \
        .add_subparsers(dest="retention_command", required=True)
    retention.add_parser("run", parents=[common],
                         help="replace personal payloads past the hub retention period by tombstones (serve does this hourly)") \
        .set_defaults(func=cmd_retention_run)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    from hub.cli_errors import report
    from hub.console.service import AccountError
    from hub.errors import HubError
    from hub.sealing import SecretsKeyError

    try:
        return args.func(args)
    except HubError as exc:  # a domain error, said in the domain's words
        code, message = report(exc)
        print(f"causeway-hub: {message}", file=sys.stderr)
        return code
    except (CommandError, AccountError, SecretsKeyError) as exc:  # mistakes an operator can fix: no traceback
        print(f"causeway-hub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
