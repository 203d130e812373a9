"""`retention run`: replace personal payloads past the hub retention period by tombstones."""
from __future__ import annotations

from hub.cli.context import services


def cmd_retention_run(args) -> int:
    retention = services(args).retention
    report = retention.purge(actor="cli")
    held = retention.tombstones()
    for name, counts in report.items():
        period = f"{counts['retention_days']} days" if counts["retention_days"] is not None else \
            "no retention period (no agreement covers it): payloads kept"
        print(f"{name:<40} {period:<24} purged {counts['purged']:>8}  tombstones {held.get(name, 0):>8}")
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("retention", parents=[common], help="personal payloads in the record log") \
        .add_subparsers(dest="retention_command", required=True)
    group.add_parser("run", parents=[common],
                     help="replace personal payloads past the hub retention period by tombstones (serve does this hourly)") \
        .set_defaults(func=cmd_retention_run)
