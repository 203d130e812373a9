"""The policy revision counter: bumped in the same transaction as every policy change."""
from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from .models import policy_revision


def bump(conn: Connection) -> int:
    conn.execute(update(policy_revision).where(policy_revision.c.id == 1)
                 .values(revision=policy_revision.c.revision + 1))
    return conn.execute(select(policy_revision.c.revision).where(policy_revision.c.id == 1)).scalar_one()


_CURRENT = select(policy_revision.c.revision).where(policy_revision.c.id == 1)  # asked several times a round


def current(conn: Connection) -> int:
    return conn.execute(_CURRENT).scalar_one()
