"""Submitters scoped to named returns.

A council's console `submitter` account with no assignment sends every return asked of its org
(as before); once its council's governance (or the hub's admin) assigns it one or more returns,
it sees and sends only those: any other return answers 404, as for one that does not exist.
Who is assigned is managed in `submitter_assignments`; this module only answers the check,
so the calendar and derived returns use it without reaching the console's account table.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from hub.auth import Principal
from hub.errors import not_found

from .models import return_submitter_scopes

CONSOLE = "console:"


def username_of(caller: Principal) -> str | None:
    return caller.credential_id[len(CONSOLE):] if caller.credential_id.startswith(CONSOLE) else None


def scoped_returns(conn: Connection, caller: Principal) -> set[str] | None:
    """The returns a scoped submitter may work on (None: not scoped)."""
    username = username_of(caller)
    if caller.role != "submitter" or username is None:
        return None
    names = {r.name for r in conn.execute(select(return_submitter_scopes.c.name).where(
        return_submitter_scopes.c.username == username))}
    return names or None


def require_in_scope(engine: Engine, dataset: str, caller: Principal) -> None:
    with engine.connect() as conn:
        names = scoped_returns(conn, caller)
    if names is not None and dataset not in names:
        raise not_found(f"periodic return {dataset}")
