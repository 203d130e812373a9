"""`key issue|revoke` and `enrolment`: API keys and one-time agent enrolment tokens."""
from __future__ import annotations

from hub.cli.context import services
from hub.orgs.models import ROLES


def cmd_key_issue(args) -> int:
    key = services(args).orgs.issue_key(args.org, args.role, label=args.label)
    print(f"API key for {args.org} ({args.role}); it is shown only once:")
    print(key)
    return 0


def cmd_key_revoke(args) -> int:
    services(args).orgs.revoke_key(args.credential_id)
    print(f"revoked {args.credential_id}")
    return 0


def cmd_enrolment(args) -> int:
    token, expires = services(args).orgs.create_enrolment(args.org, int(args.ttl_hours * 3600))
    print(f"one-time enrolment token for an agent of {args.org}, valid until {expires}:")
    print(token)
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("key", parents=[common], help="API keys").add_subparsers(dest="key_command", required=True)
    issue = group.add_parser("issue", parents=[common], help="issue an API key (printed once, last line)")
    issue.add_argument("org")
    issue.add_argument("--role", required=True, choices=list(ROLES))
    issue.add_argument("--label")
    issue.set_defaults(func=cmd_key_issue)
    revoke = group.add_parser("revoke", parents=[common], help="revoke an API key by its id (the hex after cw_)")
    revoke.add_argument("credential_id")
    revoke.set_defaults(func=cmd_key_revoke)

    enrol = commands.add_parser("enrolment", parents=[common], help="print a one-time agent enrolment token")
    enrol.add_argument("org")
    enrol.add_argument("--ttl-hours", type=float, default=72)
    enrol.set_defaults(func=cmd_enrolment)
