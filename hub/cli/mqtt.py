"""`mqtt acl`: the Mosquitto password file and ACL, one broker user per org."""
from __future__ import annotations

import sys
from pathlib import Path

from hub.cli.context import CommandError, services, settings


def cmd_mqtt_acl(args) -> int:
    from hub.delivery.mqtt_acl import write_broker_files

    delivery = settings(args).delivery
    if not delivery.mqtt_password:
        raise CommandError("set CAUSEWAY_MQTT_PASSWORD (the hub's own broker password) first")
    hub = services(args)
    try:
        issued, todo = write_broker_files(hub.engine, Path(args.password_file), Path(args.acl_file),
                                          delivery.mqtt_username, delivery.mqtt_password, tuple(args.rotate or ()),
                                          clock=hub.clock)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    print(f"wrote {args.password_file} and {args.acl_file}; reload the broker (SIGHUP) to apply them")
    for step in todo:
        print(f"the broker runs as its own user and cannot read it yet: run  {step}", file=sys.stderr)
    if issued:
        print("New MQTT passwords, shown only once (user = org slug):")
        for org, password in sorted(issued.items()):
            print(f"  {org} {password}")
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("mqtt", parents=[common], help="MQTT broker credentials") \
        .add_subparsers(dest="mqtt_command", required=True)
    acl = group.add_parser("acl", parents=[common], help="write a Mosquitto password file and ACL (one user per org)")
    acl.add_argument("--password-file", required=True)
    acl.add_argument("--acl-file", required=True)
    acl.add_argument("--rotate", action="append", metavar="ORG", help="give this org a new MQTT password")
    acl.set_defaults(func=cmd_mqtt_acl)
