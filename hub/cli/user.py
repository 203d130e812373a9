"""`user add|password|disable|list`: console accounts for staff."""
from __future__ import annotations

import os
import sys
from pathlib import Path

from hub.cli.context import CommandError, services


def _new_password(args) -> str:
    """From --password-file, else $CAUSEWAY_USER_PASSWORD (for scripts), else asked twice without echo."""
    import getpass

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


def cmd_user_add(args) -> int:
    user = services(args).accounts.add_user(args.username, args.org, args.role, _new_password(args))
    print(f"added console user {user.username} ({user.org}, {user.role})")
    return 0


def cmd_user_password(args) -> int:
    services(args).accounts.set_password(args.username, _new_password(args))
    print(f"password changed for {args.username}; their sessions were ended")
    return 0


def cmd_user_disable(args) -> int:
    services(args).accounts.disable_user(args.username)
    print(f"disabled {args.username}; their sessions were ended")
    return 0


def cmd_user_list(args) -> int:
    for user in services(args).accounts.list_users():
        print(f"{user['username']:<32} {user['org']:<24} {user['role']:<11}{' disabled' if user['disabled'] else ''}")
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("user", parents=[common], help="console accounts for staff").add_subparsers(
        dest="user_command", required=True)
    add = group.add_parser("add", parents=[common], help="add a console user (password asked twice, never echoed)")
    add.add_argument("username")
    add.add_argument("--org", required=True)
    add.add_argument("--role", required=True, choices=["governance", "ops", "submitter", "admin"])
    add.add_argument("--password-file", help="read the password from this file's first line")
    add.set_defaults(func=cmd_user_add)
    password = group.add_parser("password", parents=[common], help="set a console user's password")
    password.add_argument("username")
    password.add_argument("--password-file", help="read the password from this file's first line")
    password.set_defaults(func=cmd_user_password)
    disable = group.add_parser("disable", parents=[common], help="stop a console user signing in")
    disable.add_argument("username")
    disable.set_defaults(func=cmd_user_disable)
    group.add_parser("list", parents=[common], help="list console users").set_defaults(func=cmd_user_list)
