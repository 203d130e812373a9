"""`benchmarks groups|group-set|group-remove`: the family groups councils are benchmarked within."""
from __future__ import annotations

from hub.cli.context import operator, services


def cmd_groups(args) -> int:
    for group in services(args).benchmarks.groups.list(operator()):
        basis = f" ({group['basis']})" if group["basis"] else ""
        print(f"{group['name']:<24} {group['title']}{basis}: {', '.join(group['members'])}")
    return 0


def cmd_group_set(args) -> int:
    members = [m.strip() for m in args.members.split(",") if m.strip()]
    group = services(args).benchmarks.groups.set(
        args.name, {"title": args.title, "basis": args.basis, "members": members}, operator())
    print(f"family group {group['name']} set: {len(group['members'])} councils")
    return 0


def cmd_group_remove(args) -> int:
    services(args).benchmarks.groups.remove(args.name, operator())
    print(f"family group {args.name} removed")
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("benchmarks", parents=[common], help="benchmarks: family groups of councils") \
        .add_subparsers(dest="benchmarks_command", required=True)
    group.add_parser("groups", parents=[common], help="list the family groups and their councils") \
        .set_defaults(func=cmd_groups)
    setting = group.add_parser("group-set", parents=[common],
                               help="set a family group's title and councils (replacing what it had)")
    setting.add_argument("name", help="e.g. urban-deprivation-1")
    setting.add_argument("--title", required=True)
    setting.add_argument("--basis", help="what the councils share, e.g. rurality or deprivation")
    setting.add_argument("--members", required=True, help="council slugs, comma-separated")
    setting.set_defaults(func=cmd_group_set)
    removing = group.add_parser("group-remove", parents=[common], help="remove a family group")
    removing.add_argument("name")
    removing.set_defaults(func=cmd_group_remove)
