"""A council's return for a period as a set of rows, each with a row key inside the return.

Sending a set replaces the whole set for that period in one transaction: rows left out are
gone. A set is checked whole before anything is stored; every problem is named by row
(its position and key) and field, and a set with any problem stores nothing.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Connection, Engine

from causeway_common.catalogue import PayloadValidator
from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import InvalidContent

from .declaration import ReturnDeclaration
from .models import return_rows, return_submissions
from .periods import Period
from .submissions import Submission

MAX_ROWS = 20000
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
                 caller: Principal, now: datetime) -> int:
    """Store the set (replacing the one before); returns its revision."""
    problems = check_rows(declaration, rows)
    if problems:
        first = problems[0]
        raise InvalidContent(
            f"{len(problems)} problem{'s' if len(problems) > 1 else ''} in the rows, nothing was stored; "
            f"row {first['row']}{' (' + first['key'] + ')' if first['key'] else ''} {first['path'] or ''}: "
            f"{first['message']}", errors=problems)
    with db.write_transaction(engine) as conn:
        found = conn.execute(select(return_submissions).where(
            return_submissions.c.name == declaration.dataset, return_submissions.c.period == period.name,
            return_submissions.c.org == org)).first()
        if found is None:
            revision = 1
            submission_id = conn.execute(return_submissions.insert().values(
                name=declaration.dataset, period=period.name, org=org, version=declaration.version, revision=1,
                first_submitted_at=now, last_submitted_at=now, submitted_by=caller.actor)).inserted_primary_key[0]
        else:
            revision, submission_id = found.revision + 1, found.id
            conn.execute(update(return_submissions).where(return_submissions.c.id == submission_id).values(
                version=declaration.version, revision=revision, last_submitted_at=now, submitted_by=caller.actor))
            conn.execute(delete(return_rows).where(return_rows.c.submission_id == submission_id))
        if rows:
            conn.execute(return_rows.insert(), [
                {"submission_id": submission_id, "row_key": row["key"], "position": number,
                 "payload": json.dumps(row["values"], sort_keys=True)} for number, row in enumerate(rows, start=1)])
        audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.rows.submitted",
                     target=f"{declaration.dataset}/{period.name}/{org}",
                     detail={"rows": len(rows), "revision": revision, "version": declaration.version})
    return revision


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def read_row_submissions(conn: Connection, name: str) -> dict[tuple[str, str], Submission]:
    """(publisher, period) -> its current row set, as a Submission (a set with no rows is none)."""
    found: dict[tuple[str, str], Submission] = {}
    by_id = {}
    for row in conn.execute(select(return_submissions).where(return_submissions.c.name == name)):
        by_id[row.id] = found[row.org, row.period] = Submission(
            row.org, row.period, _aware(row.first_submitted_at), _aware(row.last_submitted_at), row.submitted_by,
            replaced=row.revision > 1, versions=row.revision)
    if by_id:
        query = (select(return_rows).where(return_rows.c.submission_id.in_(list(by_id)))
                 .order_by(return_rows.c.submission_id, return_rows.c.position))
        for row in conn.execute(query):
            by_id[row.submission_id].live[row.row_key] = {
                "payload": json.loads(row.payload), "id": f"{row.submission_id}/{row.position}", "seq": row.position}
    return {k: s for k, s in found.items() if s.live}
