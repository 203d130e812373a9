"""The audit log as people read it: who acted (the staff account, the named API key or the
agent, not a credential id) and what the entry says, as labelled fields rather than JSON.
"""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from hub.orgs.models import agents, credentials

ROLE_WORDS = {"ops": "operations", "governance": "governance", "publisher": "publisher", "subscriber": "subscriber",
              "admin": "admin", "submitter": "submitter"}
_ACTOR = re.compile(r"^(?P<org>[^/]+)/(?P<role>[^/]+)/(?P<kind>key|agent):(?P<id>.+)$")


def _parse(actor: str) -> dict[str, str] | None:
    found = _ACTOR.match(actor or "")
    return found.groupdict() if found else None


def actor_names(engine: Engine, actors: set[str]) -> dict[str, str]:
    """Each actor string of a page of entries, as a person reads it."""
    parsed = {actor: _parse(actor) for actor in actors}
    key_ids = {p["id"] for p in parsed.values() if p and p["kind"] == "key" and not p["id"].startswith("console:")}
    agent_ids = {p["id"] for p in parsed.values() if p and p["kind"] == "agent"}
    with engine.connect() as conn:
        labels = {r.id: r.label for r in conn.execute(
            select(credentials.c.id, credentials.c.label).where(credentials.c.id.in_(key_ids)))} if key_ids else {}
        names = {r.id: r.name for r in conn.execute(
            select(agents.c.id, agents.c.name).where(agents.c.id.in_(agent_ids)))} if agent_ids else {}
    answer = {}
    for actor, p in parsed.items():
        if p is None:
            answer[actor] = _plain(actor)
            continue
        role = ROLE_WORDS.get(p["role"], p["role"])
        if p["id"].startswith("console:"):
            answer[actor] = f"{p['id'][len('console:'):]} ({p['org']} {role} staff, in the console)"
        elif p["kind"] == "agent":
            answer[actor] = f"agent {names.get(p['id'], p['id'])} ({p['org']})"
        else:
            label = labels.get(p["id"])
            answer[actor] = (f"the {p['org']} {role} key “{label}”" if label
                             else f"a {p['org']} {role} key ({p['id']})")
    return answer


def _plain(actor: str) -> str:
    if actor.startswith("console:"):
        return f"{actor[len('console:'):]} (in the console)"
    return {"hub": "the hub itself", "cli": "the command line on the hub's server"}.get(actor, actor)


def _text(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) if value else "none"
    if isinstance(value, dict):
        return "; ".join(f"{_label(k)}: {_text(v)}" for k, v in value.items()) if value else "none"
    return str(value)


def _label(key: str) -> str:
    words = str(key).replace("_", " ").replace("-", " ")
    return words[:1].upper() + words[1:]


def detail_fields(detail: Any) -> list[tuple[str, str]]:
    """An entry's detail as (label, text) pairs, in the order it was written."""
    if not isinstance(detail, dict):
        return [("Detail", _text(detail))] if detail not in (None, "") else []
    return [(_label(k), _text(v)) for k, v in detail.items()]
