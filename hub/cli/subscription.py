"""`subscription list|status|dead-letters|retry|replay`: look after subscriptions as the hub operator."""
from __future__ import annotations

import json

from hub.cli.context import operator, services


def cmd_subscription_list(args) -> int:
    for sub in services(args).delivery.list(operator(), args.org):
        where = sub.get("url") or sub.get("topic") or sub.get("feed")
        print(f"{sub['id']}  {sub['org']:<20} {sub['dataset']:<28} {sub['channel']:<8} {sub['status']:<19} "
              f"cursor {sub['cursor']:<8} {where}")
    return 0


def cmd_subscription_status(args) -> int:
    print(json.dumps(services(args).delivery.status(args.id, operator()), indent=2))
    return 0


def cmd_subscription_dead_letters(args) -> int:
    letters = services(args).delivery.list_dead_letters(args.id, operator(), args.all)
    for letter in letters:
        print(f"{letter['id']:<6} seq {letter['seq']:<8} {letter['state']:<9} {letter['record_id']}  "
              f"{letter['status_code'] or ''} {letter['error'] or ''}")
    print(f"{len(letters)} dead letters")
    return 0


def cmd_subscription_retry(args) -> int:
    count = services(args).delivery.retry_dead_letters(args.id, operator(), args.letter)
    print(f"{count} dead letters queued to be tried again")
    return 0


def cmd_subscription_replay(args) -> int:
    result = services(args).delivery.replay(args.id, operator(), args.from_seq, args.from_time)
    print(f"subscription {args.id} will deliver again after sequence {result['cursor']} "
          f"({result['moved_back']} records moved back)")
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("subscription", parents=[common], help="subscriptions: status, dead letters, replay") \
        .add_subparsers(dest="subscription_command", required=True)
    listing = group.add_parser("list", parents=[common], help="list subscriptions")
    listing.add_argument("--org")
    listing.set_defaults(func=cmd_subscription_list)
    status = group.add_parser("status", parents=[common], help="lag, last success, last error, next retry")
    status.add_argument("id")
    status.set_defaults(func=cmd_subscription_status)
    dead = group.add_parser("dead-letters", parents=[common], help="events the subscriber refused")
    dead.add_argument("id")
    dead.add_argument("--all", action="store_true", help="include those delivered since")
    dead.set_defaults(func=cmd_subscription_dead_letters)
    retry = group.add_parser("retry", parents=[common], help="try dead letters again (all, or --letter N)")
    retry.add_argument("id")
    retry.add_argument("--letter", type=int)
    retry.set_defaults(func=cmd_subscription_retry)
    replay = group.add_parser("replay", parents=[common], help="deliver again from a sequence or a time")
    replay.add_argument("id")
    when = replay.add_mutually_exclusive_group(required=True)
    when.add_argument("--from-seq", type=int)
    when.add_argument("--from-time", help="RFC 3339 time, e.g. 2026-11-02T09:00:00Z")
    replay.set_defaults(func=cmd_subscription_replay)
