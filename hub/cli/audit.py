"""`audit verify`: check the audit log's hash chain end to end."""
from __future__ import annotations

import sys

from hub.cli.context import engine


def cmd_audit_verify(args) -> int:
    from hub.audit.service import verify

    checked, broken = verify(engine(args))
    if broken is None:
        print(f"audit chain intact: {checked} entries verified")
        return 0
    print(f"audit chain BROKEN at entry {broken.seq}: {broken.reason} ({checked} entries before it verified)",
          file=sys.stderr)
    return 1


def register(commands, common) -> None:
    group = commands.add_parser("audit", parents=[common], help="the audit log") \
        .add_subparsers(dest="audit_command", required=True)
    group.add_parser("verify", parents=[common], help="verify the hash chain end to end") \
        .set_defaults(func=cmd_audit_verify)
