"""Assigning a council's submitter accounts to named returns (its governance, or the hub's
admin): the management side of `scopes`, which reads the console's account table."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.console.models import staff_users
from hub.errors import NotFound

from .models import return_submitter_scopes


def submitters(engine: Engine, dataset: str, caller: Principal) -> list[dict]:
    """The submitters assigned to a return (of the caller's org, or every org's for admin)."""
    caller.require("governance")
    query = (select(return_submitter_scopes, staff_users.c.org)
             .join(staff_users, staff_users.c.username == return_submitter_scopes.c.username)
             .where(return_submitter_scopes.c.name == dataset))
    if not caller.is_admin:
        query = query.where(staff_users.c.org == caller.org)
    with engine.connect() as conn:
        return [{"username": r.username, "org": r.org, "assigned_at": r.assigned_at, "assigned_by": r.assigned_by}
                for r in conn.execute(query.order_by(return_submitter_scopes.c.username))]


def submitter_choices(engine: Engine, dataset: str, org: str) -> list[dict]:
    """Every submitter account of the org: whether it is assigned to this return, and to any."""
    with engine.connect() as conn:
        accounts = [r.username for r in conn.execute(select(staff_users.c.username).where(
            staff_users.c.org == org, staff_users.c.role == "submitter", staff_users.c.disabled_at.is_(None))
            .order_by(staff_users.c.username))]
        scopes = conn.execute(select(return_submitter_scopes.c.username, return_submitter_scopes.c.name).where(
            return_submitter_scopes.c.username.in_(accounts))).all() if accounts else []
    here = {username for username, name in scopes if name == dataset}
    scoped = {username for username, _ in scopes}
    return [{"username": name, "assigned": name in here, "scoped": name in scoped} for name in accounts]


def assign(engine: Engine, dataset: str, username: str, assigned: bool, caller: Principal, now: datetime) -> None:
    """Assign a submitter to a return, or take the assignment away (its council's governance, or admin)."""
    caller.require("governance")
    with db.write_transaction(engine) as conn:
        user = conn.execute(select(staff_users.c.org, staff_users.c.role).where(
            staff_users.c.username == username)).first()
        if user is None or user.role != "submitter" or (user.org != caller.org and not caller.is_admin):
            # Another org's accounts are not named to outsiders.
            raise NotFound(f"no submitter {username!r} in {caller.org}")
        where = (return_submitter_scopes.c.username == username, return_submitter_scopes.c.name == dataset)
        conn.execute(delete(return_submitter_scopes).where(*where))
        if assigned:
            conn.execute(return_submitter_scopes.insert().values(username=username, name=dataset, assigned_at=now,
                                                                 assigned_by=caller.actor))
        audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.submitter.assigned"
                     if assigned else "return.submitter.unassigned", target=f"{dataset}/{username}",
                     detail={"org": user.org})
