"""`init`: create or migrate the database and load the dataset schemas."""
from __future__ import annotations

from hub.cli.context import CommandError, engine, settings
from hub.cli.secrets import seal_stored_secrets


def cmd_init(args) -> int:
    from causeway_common.catalogue import CatalogueError, load_catalogue
    from hub.migrate import upgrade
    from hub.records.service import sync_catalogue
    from hub.returns.declaration import validate_periodic

    upgrade(engine(args))
    schemas_dir = settings(args).schemas_dir
    try:
        loaded = load_catalogue(schemas_dir)
        validate_periodic(loaded, schemas_dir)
        changes = sync_catalogue(engine(args), loaded)
    except (CatalogueError, ValueError) as exc:
        raise CommandError(str(exc)) from exc
    print(f"database ready at {engine(args).url.render_as_string(hide_password=True)}; "
          f"{len(loaded)} datasets, {len(changes)} catalogue changes")
    for change in changes:
        print(f"  added {change}")
    seal_stored_secrets(engine(args), print)
    return 0


def register(commands, common) -> None:
    init = commands.add_parser("init", parents=[common], help="create or migrate the database and load schemas/")
    init.add_argument("--schemas", help="folder of dataset schemas (default: the repository's schemas/)")
    init.set_defaults(func=cmd_init)
