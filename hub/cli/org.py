"""`org add|list|import|contact`: member organisations and where their return reminders go."""
from __future__ import annotations

from pathlib import Path

import yaml

from hub.cli.context import EXAMPLES_DIR, CommandError, services


def cmd_org_add(args) -> int:
    org = services(args).orgs.add_org(args.slug, args.name, args.kind)
    print(f"added {org['kind']} {org['slug']}: {org['name']}")
    return 0


def cmd_org_list(args) -> int:
    for org in services(args).orgs.list_orgs():
        print(f"{org['slug']:<24} {org['kind']:<8} {org['name']}")
    return 0


def import_orgs(orgs, file: str) -> None:
    entries = yaml.safe_load(Path(file).read_text(encoding="utf-8")) or []
    added = sum(orgs.ensure_org(e["slug"], e["name"], e.get("kind", "council")) for e in entries)
    print(f"{added} orgs added, {len(entries) - added} already present")


def cmd_org_import(args) -> int:
    import_orgs(services(args).orgs, args.file)
    return 0


def cmd_org_contact(args) -> int:
    from hub.returns.reference import ReferenceError, set_contact

    hub = services(args)
    try:
        secret = set_contact(hub.engine, args.org, args.email, args.webhook,
                             allowed_networks=hub.settings.webhook_allowed_networks, clock=hub.clock)
    except ReferenceError as exc:
        raise CommandError(str(exc)) from exc
    print(f"reminders for {args.org} go to: " + ", ".join(x for x in (args.email, args.webhook) if x))
    if secret:
        print("webhook signing secret (Standard Webhooks); it is shown only once:")
        print(secret)
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("org", parents=[common], help="member organisations") \
        .add_subparsers(dest="org_command", required=True)
    add = group.add_parser("add", parents=[common], help="add an org")
    add.add_argument("slug")
    add.add_argument("--name", required=True)
    add.add_argument("--kind", choices=["council", "agency"], default="council")
    add.set_defaults(func=cmd_org_add)
    group.add_parser("list", parents=[common], help="list orgs").set_defaults(func=cmd_org_list)
    imp = group.add_parser("import", parents=[common], help="add orgs from a YAML list (slug, name, kind)")
    imp.add_argument("file", nargs="?", default=str(EXAMPLES_DIR / "orgs.yaml"))
    imp.set_defaults(func=cmd_org_import)
    contact = group.add_parser("contact", parents=[common],
                               help="where an org's return reminders go (e-mail and/or a signed webhook)")
    contact.add_argument("org")
    contact.add_argument("--email")
    contact.add_argument("--webhook", help="https URL; a signing secret is printed once")
    contact.set_defaults(func=cmd_org_contact)
