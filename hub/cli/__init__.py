"""causeway-hub: set up and run the hub.

Every command takes --db URL (default: $CAUSEWAY_DB, else sqlite:///causeway.db).
Secrets are printed once, as the last line of standard output, and never logged.

One module per command group, each registering its own subcommands (`register`);
commands take the services they need from `hub.cli.context.services`, which builds
them with the hub's one composition root, `hub.app.build_services`.
"""
from __future__ import annotations

import argparse
import logging
import sys

from hub.cli import (
    audit,
    benchmarks,
    consent,
    db,
    deliver,
    demo,
    key,
    mqtt,
    org,
    policy,
    retention,
    returns,
    secrets,
    serve,
    subscription,
    user,
)
from hub.cli.context import LOG_FORMAT, CommandError
from hub.config import db_url_from_env

# In the order `causeway-hub --help` lists them.
COMMAND_GROUPS = (db, serve, deliver, subscription, mqtt, secrets, demo, org, returns, benchmarks, key, user, policy,
                  consent, audit, retention)

DB_HELP = "database URL (default: $CAUSEWAY_DB, else sqlite:///causeway.db)"


def build_parser() -> argparse.ArgumentParser:
    # --db may come before or after the command; only the top level sets the default,
    # so a subcommand's parser never overwrites a value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help=DB_HELP)

    parser = argparse.ArgumentParser(prog="causeway-hub", description="Run and administer the Causeway hub.")
    parser.add_argument("--db", default=db_url_from_env(), help=DB_HELP)
    commands = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group.register(commands, common)
    return parser


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    from hub.cli.errors import report
    from hub.console.service import AccountError
    from hub.errors import HubError
    from hub.sealing import SecretsKeyError

    try:
        return args.func(args)
    except HubError as exc:  # a domain error, said in the domain's words
        code, message = report(exc)
        print(f"causeway-hub: {message}", file=sys.stderr)
        return code
    except (CommandError, AccountError, SecretsKeyError) as exc:  # mistakes an operator can fix: no traceback
        print(f"causeway-hub: {exc}", file=sys.stderr)
        return 2


__all__ = ["CommandError", "build_parser", "main"]
