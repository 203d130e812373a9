"""`policy apply|approve|transition|list`: sharing agreements."""
from __future__ import annotations

import os
from pathlib import Path

from hub.cli.context import CommandError, operator, services


def _governance_key(args):
    """A governance API key from --key-file or $CAUSEWAY_API_KEY (never from the command line)."""
    key = None
    if args.key_file:
        key = Path(args.key_file).read_text(encoding="utf-8").strip()
    key = key or os.environ.get("CAUSEWAY_API_KEY", "").strip()
    if not key:
        raise CommandError("approval needs a governance API key of a party: put it in a file named by --key-file "
                           "or in $CAUSEWAY_API_KEY")
    return key


def cmd_policy_apply(args) -> int:
    from hub.cli.errors import describe
    from hub.errors import HubError

    agreements = services(args).policy.agreements
    for name in args.files:
        path = Path(name)
        try:
            result = agreements.apply(path.read_text(encoding="utf-8"), operator())
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
    hub = services(args)
    who = hub.orgs.authenticate(_governance_key(args))
    if who is None:
        raise CommandError("the API key is unknown or revoked")
    result = hub.policy.agreements.transition(args.agreement_id, "approved", who, version=args.version)
    print(f"{who.org} approved {result['id']} version {result['version']}: now {result['status']}"
          + (f" ({result['waiting_for']})" if result.get("waiting_for") else ""))
    if args.activate and result["status"] == "approved":
        result = hub.policy.agreements.transition(args.agreement_id, "active", who, version=result["version"])
        print(f"{result['id']} version {result['version']} is now active")
    return 0


def cmd_policy_transition(args) -> int:
    result = services(args).policy.agreements.transition(args.agreement_id, args.to, operator(),
                                                         version=args.version, reason=args.reason)
    print(f"{result['id']} version {result['version']} is now {result['status']}")
    return 0


def cmd_policy_list(args) -> int:
    for item in services(args).policy.agreements.list(operator()):
        pending = "" if item["latest_version"] == item["version"] else \
            f"  (v{item['latest_version']} {item['latest_status']})"
        print(f"{item['id']:<36} v{item['version']:<3} {item['status']:<10} {item['lawful_basis']:<16} "
              f"{', '.join(item['datasets'])}{pending}")
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("policy", parents=[common], help="sharing agreements").add_subparsers(
        dest="policy_command", required=True)
    apply = group.add_parser("apply", parents=[common],
                             help="write agreements from YAML files (a new draft version when changed)")
    apply.add_argument("files", nargs="+", metavar="FILE")
    apply.set_defaults(func=cmd_policy_apply)
    approve = group.add_parser("approve", parents=[common],
                               help="approve the draft for your org, with a governance API key from --key-file "
                                    "or $CAUSEWAY_API_KEY")
    approve.add_argument("agreement_id")
    approve.add_argument("--version", type=int)
    approve.add_argument("--key-file", help="file holding a governance API key of a provider or recipient")
    approve.add_argument("--activate", action="store_true", help="put it in force once every party has approved")
    approve.set_defaults(func=cmd_policy_approve)
    move = group.add_parser("transition", parents=[common], help="activate, suspend or retire a version")
    move.add_argument("agreement_id")
    move.add_argument("to", choices=["active", "suspended", "retired"])
    move.add_argument("--version", type=int)
    move.add_argument("--reason")
    move.set_defaults(func=cmd_policy_transition)
    group.add_parser("list", parents=[common], help="list agreements").set_defaults(func=cmd_policy_list)
