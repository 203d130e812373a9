"""`returns population|remind`: reference populations and reminders for data returns."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hub.cli.context import CommandError, services


def load_population(hub, file: str, year: int | None) -> int:
    from hub.returns.reference import ReferenceError, load_population_csv

    try:
        text = Path(file).read_text(encoding="utf-8-sig")
        result = load_population_csv(hub.engine, text, year or hub.clock().year, clock=hub.clock)
    except (OSError, UnicodeDecodeError, ReferenceError) as exc:
        raise CommandError(f"{file}: {exc}") from exc
    print(f"{result.loaded} population figures loaded from {file}")
    for error in result.errors:
        print(f"  {file} {error}", file=sys.stderr)
    return 1 if result.errors else 0


def cmd_returns_population(args) -> int:
    return load_population(services(args), args.file, args.year)


def cmd_returns_remind(args) -> int:
    from hub.timeutil import parse_iso

    try:
        now = parse_iso(args.now) if args.now else None
    except ValueError as exc:
        raise CommandError(f"--now: {exc}") from exc
    sent = services(args).reminders.send_due_reminders(now)
    for item in sent:
        print(f"{item['status']:<6} {item['channel']:<7} {item['org']:<22} {item['dataset']} {item['period']} "
              f"({item['offset_days']:+d} days){' ' + item['error'] if item.get('error') else ''}")
    print(f"{sum(i['status'] == 'sent' for i in sent)} reminders sent, {sum(i['status'] == 'failed' for i in sent)} failed")
    return 0


def register(commands, common) -> None:
    group = commands.add_parser("returns", parents=[common], help="data returns").add_subparsers(
        dest="returns_command", required=True)
    population = group.add_parser("population", parents=[common],
                                  help="load reference populations from CSV: org,population[,year]")
    population.add_argument("file")
    population.add_argument("--year", type=int, help="year for rows without one (default: this year)")
    population.set_defaults(func=cmd_returns_population)
    remind = group.add_parser("remind", parents=[common],
                              help="send the reminders that are due now (the hub also does this hourly)")
    remind.add_argument("--now", help=argparse.SUPPRESS)
    remind.set_defaults(func=cmd_returns_remind)
