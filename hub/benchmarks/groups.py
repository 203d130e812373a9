"""Family groups: groups of councils compared with each other (e.g. by rurality or by deprivation,
as the Local Government Benchmarking Framework's family groups), configured by the hub's admin.
A council may be in several groups (one per basis, say)."""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Forbidden, Invalid, NotFound
from hub.orgs.models import orgs

from .models import benchmark_group_members, benchmark_groups

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_MEMBERS = 100


def _problem(path: str, message: str) -> Invalid:
    # `field` too, so that the command line (hub.cli.errors) names it as the API does
    return Invalid(f"{path}: {message}", errors=[{"path": path, "field": path, "message": message}])


def memberships(conn: Connection) -> dict[str, dict]:
    """name -> {name, title, basis, members (sorted)} for every family group."""
    found = {row.name: {"name": row.name, "title": row.title, "basis": row.basis, "members": []}
             for row in conn.execute(select(benchmark_groups).order_by(benchmark_groups.c.name))}
    for row in conn.execute(select(benchmark_group_members).order_by(benchmark_group_members.c.org)):
        if row.group_name in found:
            found[row.group_name]["members"].append(row.org)
    return found


class FamilyGroups:
    def __init__(self, engine: Engine, clock: Callable[[], datetime]):
        self.engine = engine
        self.clock = clock

    def list(self, caller: Principal) -> list[dict]:
        """Admin sees every group and its members; anyone else the groups its org is in, with how
        many councils each has but not which (other councils are not named to it)."""
        with self.engine.connect() as conn:
            groups = list(memberships(conn).values())
        if caller.is_admin:
            return groups
        return [{**{k: g[k] for k in ("name", "title", "basis")}, "member_count": len(g["members"])}
                for g in groups if caller.org in g["members"]]

    def set(self, name: str, body: dict, caller: Principal) -> dict:
        if not caller.is_admin:
            raise Forbidden("family groups are set by the hub's admin")
        if not NAME.match(name or ""):
            raise _problem("/name", f"{name!r}: a group's name is lower-case letters, digits and hyphens")
        title, members = body.get("title"), body.get("members")
        if not isinstance(title, str) or not title.strip() or len(title) > 200:
            raise _problem("/title", "give the group a title of 1 to 200 characters")
        if not isinstance(members, list) or not members or len(members) > MAX_MEMBERS:
            raise _problem("/members", f"list the group's councils (1 to {MAX_MEMBERS} org slugs)")
        basis = body.get("basis")
        if basis is not None and (not isinstance(basis, str) or len(basis) > 200):
            raise _problem("/basis", "the basis is text of at most 200 characters, e.g. \"rurality\"")
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            councils = {r.slug for r in conn.execute(select(orgs.c.slug).where(orgs.c.kind == "council"))}
            for index, member in enumerate(members):
                if member not in councils:
                    raise _problem(f"/members/{index}", f"{member!r} is not a council of this hub")
            if len(set(members)) != len(members):
                raise _problem("/members", "a council is listed twice")
            conn.execute(delete(benchmark_group_members).where(benchmark_group_members.c.group_name == name))
            conn.execute(delete(benchmark_groups).where(benchmark_groups.c.name == name))
            conn.execute(benchmark_groups.insert().values(name=name, title=title.strip(), basis=basis,
                                                          updated_at=now, updated_by=caller.actor))
            conn.execute(benchmark_group_members.insert(), [{"group_name": name, "org": m} for m in members])
            audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="benchmark.group.set",
                         target=name, detail={"title": title, "members": sorted(members)})
            return memberships(conn)[name]

    def remove(self, name: str, caller: Principal) -> None:
        if not caller.is_admin:
            raise Forbidden("family groups are set by the hub's admin")
        with db.write_transaction(self.engine) as conn:
            if conn.execute(delete(benchmark_groups).where(benchmark_groups.c.name == name)).rowcount == 0:
                raise NotFound(f"no family group {name}")
            conn.execute(delete(benchmark_group_members).where(benchmark_group_members.c.group_name == name))
            audit.append(conn, at=self.clock(), actor=caller.actor, org=caller.org, action="benchmark.group.removed",
                         target=name)
