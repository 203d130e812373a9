"""`secrets rotate|status`: the key sealing the hub's secrets at rest (and the sealing `init` and `serve` do)."""
from __future__ import annotations

from hub.cli.context import CommandError, counts, engine, require_current


def seal_stored_secrets(engine, announce) -> None:
    """Make sure there is a secrets key, refuse a wrong one, and seal any secret stored unsealed."""
    from hub import sealing, stored_secrets

    sealer = sealing.for_engine(engine)
    try:
        if sealer.ensure_key():
            announce(f"secrets key created in {sealer.source.key_file} (mode 0600): back it up; without it "
                     f"webhook secrets and pseudonymisation keys cannot be read")
        stored_secrets.refuse_unknown_keys(engine, sealer)
        sealed = stored_secrets.seal_unsealed(engine, sealer)
    except sealing.SecretsKeyError as exc:
        raise CommandError(str(exc)) from exc
    if sealed:
        announce(f"sealed {counts(sealed)} that were stored unsealed")


def cmd_secrets_rotate(args) -> int:
    from hub import sealing, stored_secrets

    require_current(args)
    sealer = sealing.for_engine(engine(args))
    try:
        before = sealer.key_ids[:1]
        rotated = stored_secrets.rotate(engine(args), sealer)
    except sealing.SecretsKeyError as exc:
        raise CommandError(str(exc)) from exc
    unsealed = rotated.pop("unsealed before", 0)
    print(f"new secrets key {sealer.key_ids[0]} in {sealer.source.key_file}"
          + (f" (the previous key {before[0]} is kept there to open values sealed by hub processes still running)"
             if before else ""))
    print(f"re-sealed {counts(rotated)}" + (f"; {unsealed} of them had been stored unsealed" if unsealed else ""))
    return 0


def cmd_secrets_status(args) -> int:
    from hub import sealing, stored_secrets

    sealer = sealing.for_engine(engine(args))
    try:
        held = stored_secrets.inventory(engine(args), sealer)
        ids = sealer.key_ids
    except sealing.SecretsKeyError as exc:
        raise CommandError(str(exc)) from exc
    print(f"secrets key from {sealer.source.describe()}: current {ids[0] if ids else 'none'}"
          + (f", also opening {', '.join(ids[1:])}" if ids[1:] else ""))
    print(f"stored secrets: {held['current']} sealed under the current key, {held['old']} under an older one, "
          f"{held['plain']} unsealed, {held['unknown']} under a key this hub does not hold")
    return 1 if held["unknown"] else 0


def register(commands, common) -> None:
    group = commands.add_parser("secrets", parents=[common], help="the key sealing the hub's secrets at rest") \
        .add_subparsers(dest="secrets_command", required=True)
    group.add_parser("rotate", parents=[common], help="a new secrets key; re-seal every stored secret under it") \
        .set_defaults(func=cmd_secrets_rotate)
    group.add_parser("status", parents=[common], help="where the key is and how the stored secrets are sealed") \
        .set_defaults(func=cmd_secrets_status)
