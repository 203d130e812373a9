"""`consent import`: consent records from CSV."""
from __future__ import annotations

from pathlib import Path

from hub.cli.context import CommandError, operator, services


def cmd_consent_import(args) -> int:
    from hub.cli.errors import describe
    from hub.errors import HubError

    consents = services(args).policy.consents
    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
        result = consents.import_csv(text, operator(), controller=args.controller)
    except OSError as exc:
        raise CommandError(f"{args.file}: {exc.strerror}") from exc
    except HubError as exc:
        raise CommandError(f"{args.file}: {describe(exc)}") from exc
    print(f"{result['imported']} consents imported, {result['duplicates']} already present, {result['rejected']} rejected")
    for row in result["rows"]:
        if row["status"] == "rejected":
            for error in row["errors"]:
                print(f"  line {row['line']}: {error['field']}: {error['message']}")
    return 1 if result["rejected"] else 0


def register(commands, common) -> None:
    group = commands.add_parser("consent", parents=[common], help="consent records").add_subparsers(
        dest="consent_command", required=True)
    imp = group.add_parser("import", parents=[common], help="import consents from CSV (see docs/governance.md)")
    imp.add_argument("file")
    imp.add_argument("--controller", required=True, help="the org that holds these consents")
    imp.set_defaults(func=cmd_consent_import)
