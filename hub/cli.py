"""causeway-hub: set up and run the hub.

Every command takes --db URL (default: $CAUSEWAY_DB, else sqlite:///causeway.db).
Secrets are printed once, as the last line of standard output, and never logged.
"""
from __future__ import annotations

import argparse
import logging
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
    from hub.db import make_engine

    return make_engine(args.db)


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
    return 0


def cmd_serve(args) -> int:
    import uvicorn

    from hub.app import build_services, create_app
    from hub.returns.scheduler import start_reminder_scheduler

    from hub.migrate import is_current

    if not is_current(_engine(args)):
        raise CommandError(f"the database at {args.db} is not initialised or not migrated to this version: "
                           f"run `causeway-hub init --db {args.db}` first")
    settings = _settings(args)
    services = build_services(settings)
    app = create_app(services=services)
    scheduler = start_reminder_scheduler(services.reminders, settings.reminder_interval_seconds)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, access_log=args.access_log)
    finally:
        scheduler.shutdown(wait=False)
    return 0


def _orgs(args):
    from hub.orgs.service import OrgService

    return OrgService(_engine(args))


def cmd_org_add(args) -> int:
    from hub.orgs.service import OrgError

    try:
        org = _orgs(args).add_org(args.slug, args.name, args.kind)
    except OrgError as exc:
        raise CommandError(str(exc)) from exc
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
    from hub.orgs.service import OrgError

    try:
        key = _orgs(args).issue_key(args.org, args.role, label=args.label)
    except OrgError as exc:
        raise CommandError(str(exc)) from exc
    print(f"API key for {args.org} ({args.role}); it is shown only once:")
    print(key)
    return 0


def cmd_key_revoke(args) -> int:
    from hub.orgs.service import OrgError

    try:
        _orgs(args).revoke_key(args.credential_id)
    except OrgError as exc:
        raise CommandError(str(exc)) from exc
    print(f"revoked {args.credential_id}")
    return 0


def cmd_enrolment(args) -> int:
    from hub.orgs.service import OrgError

    try:
        token, expires = _orgs(args).create_enrolment(args.org, int(args.ttl_hours * 3600))
    except OrgError as exc:
        raise CommandError(str(exc)) from exc
    print(f"one-time enrolment token for an agent of {args.org}, valid until {expires}:")
    print(token)
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


def cmd_demo(args) -> int:
    """Everything `make run` needs: database, example orgs and schemas, demo keys, the server."""
    cmd_init(args)
    cmd_org_import(argparse.Namespace(db=args.db, file=str(EXAMPLES_DIR / "orgs.yaml")))
    cmd_returns_population(argparse.Namespace(db=args.db, file=str(EXAMPLES_DIR / "population.csv"), year=None))
    from hub.app import build_services
    from hub.returns.demo import publish_example_returns, set_example_contacts

    set_example_contacts(_engine(args))
    print(publish_example_returns(build_services(_settings(args))))
    service = _orgs(args)
    print("\nDemo credentials (new ones are made at every start; keep them to try the API):")
    for org, role in DEMO_KEYS:
        print(f"  {org:<22} {role:<11} {service.issue_key(org, role, label='demo')}")
    print(f"\nHub on http://{args.host}:{args.port}/api/v1 (try: curl -H 'Authorization: Bearer <key>' "
          f"http://{args.host}:{args.port}/api/v1/datasets)", flush=True)
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
    serve.set_defaults(func=cmd_serve)

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

    audit = commands.add_parser("audit", parents=[common], help="the audit log").add_subparsers(dest="audit_command", required=True)
    audit.add_parser("verify", parents=[common], help="verify the hash chain end to end").set_defaults(func=cmd_audit_verify)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except CommandError as exc:
        print(f"causeway-hub: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
