"""Every secret the hub stores, across the domains' tables, and what is done to all of them
at once: count them by the key that sealed them, seal the unsealed ones, refuse a wrong key,
rotate the key. How one value is sealed is hub.sealing's; this module only knows where the
values are (so hub.sealing, which every service uses, imports no domain).
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub import db
from hub.console.models import console_settings
from hub.delivery.models import subscriptions
from hub.policy.models import agreements
from hub.returns.models import return_contacts
from hub.sealing import Sealer, SecretsKeyError


def secret_columns():
    """(what, table, key column, secret column, row filter) for each place a secret is kept."""
    return [
        ("webhook secrets", subscriptions, subscriptions.c.id, subscriptions.c.secret, None),
        ("previous webhook secrets", subscriptions, subscriptions.c.id, subscriptions.c.previous_secret, None),
        ("pseudonymisation keys", agreements, agreements.c.id, agreements.c.pseudonym_key, None),
        ("reminder webhook secrets", return_contacts, return_contacts.c.org, return_contacts.c.webhook_secret, None),
        ("console cookie keys", console_settings, console_settings.c.name, console_settings.c.value,
         console_settings.c.name == "secret_key"),
    ]


def _stored(conn, table, key, column, where):
    query = select(key, column).where(column.is_not(None))
    if where is not None:
        query = query.where(where)
    return conn.execute(query).all()


def inventory(engine: Engine, sealer: Sealer) -> dict[str, int]:
    """How many stored secrets are plain, sealed under the current key, an older one, or an unknown one."""
    counts = {"plain": 0, "current": 0, "old": 0, "unknown": 0}
    with engine.connect() as conn:
        for _what, table, key, column, where in secret_columns():
            for _, value in _stored(conn, table, key, column, where):
                counts[sealer.state_of(value)] += 1
    return counts


def reseal(engine: Engine, opener: Sealer, sealer: Sealer, only_plain: bool) -> dict[str, int]:
    """Seal stored secrets under `sealer`'s current key (all, or only the unsealed ones), in one
    transaction; counts by kind. Values are opened with `opener`."""
    counts: dict[str, int] = {}
    with db.write_transaction(engine) as conn:
        for what, table, key, column, where in secret_columns():
            for row_key, value in _stored(conn, table, key, column, where):
                if only_plain and opener.state_of(value) != "plain":
                    continue
                sealed = sealer.seal(opener.open(value))
                conn.execute(table.update().where(key == row_key).values({column.name: sealed}))
                counts[what] = counts.get(what, 0) + 1
    return counts


def seal_unsealed(engine: Engine, sealer: Sealer) -> dict[str, int]:
    return reseal(engine, sealer, sealer, only_plain=True)


def refuse_unknown_keys(engine: Engine, sealer: Sealer) -> dict[str, int]:
    """Raise when stored secrets are sealed under a key this hub lacks; else the inventory."""
    counts = inventory(engine, sealer)
    if counts["unknown"]:
        raise SecretsKeyError(
            f"{counts['unknown']} stored secret(s) are sealed under a key that {sealer.source.describe()} does not "
            f"hold (it holds {', '.join(sealer.key_ids) or 'no key'}): restore the key file that sealed them, or "
            f"set CAUSEWAY_SECRETS_KEY / CAUSEWAY_SECRETS_KEY_FILE to it")
    return counts


def rotate(engine: Engine, sealer: Sealer) -> dict[str, int]:
    """A new current key; every stored secret re-sealed under it. The previous key stays in the
    file (opening only), so hub processes still running on it keep working until they reload."""
    counts = refuse_unknown_keys(engine, sealer)
    done = sealer.rotate_key(lambda: reseal(engine, sealer, sealer, only_plain=False))
    done["unsealed before"] = counts["plain"]
    return done
