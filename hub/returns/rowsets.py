"""A council's return for a period as a set of rows, each with a row key inside the return.

Sending a set replaces the whole set for that period in one transaction: rows left out are
gone. A set is checked whole before anything is stored; every problem is named by row
(its position and key) and field, and a set with any problem stores nothing.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine

from causeway_common.catalogue import PayloadValidator
from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, InvalidContent, NotFound
from hub.timeutil import iso_utc

from .declaration import ReturnDeclaration
from .models import return_auto_approve, return_rows, return_submissions
from .periods import Period
from .received import Submission
from .row_changes import current_rows, record_changes

MAX_ROWS = 20000
# Sign-off: action -> (states it may start from, state it leads to)
STEPS = {"submit": (("draft", "sent_back"), "submitted"), "approve": (("submitted",), "approved"),
         "accept": (("approved",), "accepted"), "send_back": (("approved", "accepted"), "sent_back")}
PAST = {"submit": "submitted", "approve": "approved", "accept": "accepted", "send_back": "sent back"}
LOCKED = ("approved", "accepted")  # rows change only after the agency sends them back
# The requesting org (and an agreement's recipients) see a set's figures from the council's approval on.
DISCLOSED = ("approved", "accepted", "sent_back")
MAX_KEY = 200


def check_rows(declaration: ReturnDeclaration, rows: list) -> list[dict]:
    """Every problem in a row set: [{row, key, path, message}] (row counts from 1)."""
    validator = PayloadValidator(declaration.schema or {"type": "object"}, prefix="")
    problems, seen = [], {}
    for number, row in enumerate(rows, start=1):
        key = row.get("key") if isinstance(row, dict) else None
        if not isinstance(row, dict):
            problems.append({"row": number, "key": None, "path": "", "message": "a row is an object with key and values"})
            continue
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
            problems.append({"row": number, "key": None, "path": "/key",
                             "message": f"each row needs a key (text, 1 to {MAX_KEY} characters) naming it within the return"})
            key = None
        elif key in seen:
            problems.append({"row": number, "key": key, "path": "/key",
                             "message": f"key {key!r} is also row {seen[key]}'s: each row has its own key"})
        else:
            seen[key] = number
        values = row.get("values")
        if not isinstance(values, dict):
            problems.append({"row": number, "key": key, "path": "/values", "message": "values must be an object of fields"})
            continue
        for error in validator.errors(values):
            problems.append({"row": number, "key": key, "path": "/values" + error.path, "message": error.message})
    return problems


def replace_rows(engine: Engine, declaration: ReturnDeclaration, period: Period, org: str, rows: list,
                 caller: Principal, now: datetime,
                 also: Callable[[Connection, object, int, int], None] | None = None, via: str = "api") -> int:
    """Store the set (replacing the one before) as a draft, or approved where the council
    approves this return's sets as they arrive; returns its revision. `also(conn, the set before
    or None, its id, the new revision)` runs in the same transaction (a derived return checks and
    records its lineage there)."""
    problems = check_rows(declaration, rows)
    if problems:
        first = problems[0]
        raise InvalidContent(
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the rows, nothing was stored; "
            f"row {first['row']}{' (' + first['key'] + ')' if first['key'] else ''} {first['path'] or ''}: "
            f"{first['message']}", errors=problems)
    with db.write_transaction(engine) as conn:
        found = _submission(conn, declaration.dataset, period.name, org)
        if found is not None and found.state in LOCKED:
            raise Conflict(f"the {period.name} return of {org} is {found.state}: it changes only once the "
                           "requesting org sends it back")
        before = current_rows(conn, found.id) if found is not None else {}
        state = arrival_state(conn, declaration.dataset, org, found, caller, now)
        if found is None:
            revision = 1
            submission_id = conn.execute(return_submissions.insert().values(
                name=declaration.dataset, period=period.name, org=org, version=declaration.version, revision=1,
                first_submitted_at=now, last_submitted_at=now, submitted_by=caller.actor,
                **state)).inserted_primary_key[0]
        else:
            revision, submission_id = found.revision + 1, found.id
            conn.execute(update(return_submissions).where(return_submissions.c.id == submission_id).values(
                version=declaration.version, revision=revision, last_submitted_at=now, submitted_by=caller.actor,
                **state))
            conn.execute(delete(return_rows).where(return_rows.c.submission_id == submission_id))
        if rows:
            conn.execute(return_rows.insert(), [
                {"submission_id": submission_id, "row_key": row["key"], "position": number,
                 "payload": json.dumps(row["values"], sort_keys=True)} for number, row in enumerate(rows, start=1)])
        record_changes(conn, submission_id, revision, before, {row["key"]: row["values"] for row in rows},
                       caller.actor, now, via)
        if also is not None:
            also(conn, found, submission_id, revision)
        audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.rows.submitted",
                     target=f"{declaration.dataset}/{period.name}/{org}",
                     detail={"rows": len(rows), "revision": revision, "version": declaration.version,
                             "state": state["state"], "via": via})
    return revision


def arrival_state(conn: Connection, name: str, org: str, found, caller: Principal, now: datetime) -> dict:
    """The sign-off columns of a set just changed: a draft, or approved where the council approves
    this return's sets as they arrive."""
    auto = auto_approves(conn, name, org)
    state = {"state": "approved" if auto else "draft", "state_at": now,
             "state_by": "auto-approve" if auto else caller.actor, "comment": None}
    if auto and (found is None or found.first_approved_at is None):
        state["first_approved_at"] = now
    return state


def _submission(conn: Connection, name: str, period: str, org: str):
    return conn.execute(select(return_submissions).where(
        return_submissions.c.name == name, return_submissions.c.period == period,
        return_submissions.c.org == org)).first()


def sign_off(engine: Engine, name: str, period: str, org: str, action: str, comment: str | None,
             caller: Principal, now: datetime) -> str:
    """Move a row set one step on (the caller's right to take the step is checked by the service)."""
    with db.write_transaction(engine) as conn:
        found = _submission(conn, name, period, org)
        if found is None:
            raise NotFound(f"{org} has sent no rows for {period}")
        allowed_from, to = STEPS[action]
        if found.state not in allowed_from:
            raise Conflict(f"the {period} return of {org} is {found.state}; it can be {PAST[action]} only when "
                           f"{' or '.join(allowed_from)}")
        values = {"state": to, "state_at": now, "state_by": caller.actor,
                  "comment": comment if action == "send_back" else None}
        if to == "approved" and found.first_approved_at is None:
            values["first_approved_at"] = now
        conn.execute(update(return_submissions).where(return_submissions.c.id == found.id).values(**values))
        audit.append(conn, at=now, actor=caller.actor, org=caller.org, action=f"return.{to}",
                     target=f"{name}/{period}/{org}", detail={"from": found.state, "comment": comment} if comment
                     else {"from": found.state})
    return to


def set_auto_approve(engine: Engine, name: str, org: str, enabled: bool, caller: Principal, now: datetime) -> None:
    with db.write_transaction(engine) as conn:
        conn.execute(delete(return_auto_approve).where(return_auto_approve.c.name == name,
                                                       return_auto_approve.c.org == org))
        if enabled:
            conn.execute(return_auto_approve.insert().values(name=name, org=org, updated_at=now,
                                                             updated_by=caller.actor))
        audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.auto_approve",
                     target=f"{name}/{org}", detail={"enabled": enabled})


submission_row = _submission  # the set's row, for the modules beside this one (contributions, service)


def auto_approves(conn: Connection, name: str, org: str) -> bool:
    return conn.execute(select(return_auto_approve.c.org).where(
        return_auto_approve.c.name == name, return_auto_approve.c.org == org)).first() is not None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read_row_submissions(conn: Connection, name: str) -> dict[tuple[str, str], Submission]:
    """(publisher, period) -> its current row set, as a Submission (a set with no rows is none)."""
    found: dict[tuple[str, str], Submission] = {}
    by_id = {}
    for row in conn.execute(select(return_submissions).where(return_submissions.c.name == name)):
        # On time means approved by the council by the due date: the agency sees nothing sooner.
        first = row.first_approved_at or row.first_submitted_at
        by_id[row.id] = found[row.org, row.period] = Submission(
            row.org, row.period, _aware(first), _aware(row.last_submitted_at), row.submitted_by,
            replaced=row.revision > 1, versions=row.revision,
            sign_off={"state": row.state, "state_at": iso_utc(row.state_at), "state_by": row.state_by,
                      "comment": row.comment})
    if by_id:
        query = (select(return_rows).where(return_rows.c.submission_id.in_(list(by_id)))
                 .order_by(return_rows.c.submission_id, return_rows.c.position))
        for row in conn.execute(query):
            by_id[row.submission_id].live[row.row_key] = {
                "payload": json.loads(row.payload), "id": f"{row.submission_id}/{row.position}", "seq": row.position}
    return {k: s for k, s in found.items() if s.live}
