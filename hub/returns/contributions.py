"""Several staff working on one council's draft: rows added, changed and removed one at a time
(the console's row form, or the API), and the history of who changed what.

Every change to a set (a whole set sent or uploaded, or one row edited) is written down per
row: added, changed (with the fields whose values changed) or removed, by whom, when and how
(`upload`, `form`, `api`, `agent`). A row edit names the version of the row it was made from
(`base`, from `row_version`); when someone else changed the row in between, the edit is refused
with a conflict that says who changed it and when, so no one's work is silently lost.
"""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import Connection, Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Conflict, Invalid, InvalidContent, NotFound
from hub.timeutil import iso_utc

from .declaration import ReturnDeclaration
from .models import return_row_changes, return_rows, return_submissions
from .periods import Period
from .row_changes import current_rows, record_changes, row_version
from .rowsets import LOCKED, arrival_state, check_rows, submission_row


def _last_change(conn: Connection, submission_id: int, key: str):
    return conn.execute(select(return_row_changes).where(
        return_row_changes.c.submission_id == submission_id, return_row_changes.c.row_key == key)
        .order_by(return_row_changes.c.id.desc()).limit(1)).first()


def _stale(conn: Connection, submission_id: int, key: str, now_reads: str) -> Conflict:
    last = _last_change(conn, submission_id, key)
    who = f"{last.changed_by} {last.change} it at {iso_utc(last.changed_at)}" if last else "it was changed"
    return Conflict(f"row {key!r} changed while you were editing it ({who}); your change was not saved. "
                    f"The row {now_reads}: make your change again on top of it", slug="row-changed")


def edit_row(engine: Engine, declaration: ReturnDeclaration, period: Period, org: str, key: str,
             values: dict | None, base: str | None, caller: Principal, now: datetime, via: str) -> int:
    """Add a row (base None), change one (base: the version it was read at) or remove it (values None).
    The set becomes a draft again (or approved, where the council approves this return's sets as they
    arrive); returns the set's new revision."""
    if values is None and base is None:
        raise Invalid(f"say which version of row {key!r} you are removing (base)")
    if values is not None:
        problems = check_rows(declaration, [{"key": key, "values": values}])
        if problems:
            raise InvalidContent(f"row {key!r} was not saved: " + "; ".join(
                f"{p['path'] or 'row'}: {p['message']}" for p in problems), errors=problems)
    with db.write_transaction(engine) as conn:
        found = submission_row(conn, declaration.dataset, period.name, org)
        if found is not None and found.state in LOCKED:
            raise Conflict(f"the {period.name} return of {org} is {found.state}: it changes only once the "
                           "requesting org sends it back")
        before = current_rows(conn, found.id) if found is not None else {}
        if base is None and key in before:
            raise Conflict(f"there is already a row {key!r}: open it to change it", slug="row-exists")
        if base is not None and key not in before:
            raise _stale(conn, found.id, key, "was removed") if found is not None else NotFound(f"no row {key!r}")
        if base is not None and row_version(before[key]) != base:
            raise _stale(conn, found.id, key, "now holds their values")
        after = dict(before)
        if values is None:
            after.pop(key)
        else:
            after[key] = values
        state = arrival_state(conn, declaration.dataset, org, found, caller, now)
        if found is None:
            submission_id = conn.execute(return_submissions.insert().values(
                name=declaration.dataset, period=period.name, org=org, version=declaration.version, revision=1,
                first_submitted_at=now, last_submitted_at=now, submitted_by=caller.actor,
                **state)).inserted_primary_key[0]
            revision = 1
        else:
            submission_id, revision = found.id, found.revision + 1
            conn.execute(update(return_submissions).where(return_submissions.c.id == submission_id).values(
                version=declaration.version, revision=revision, last_submitted_at=now, submitted_by=caller.actor,
                **state))
        _write_row(conn, submission_id, key, values, key in before)
        record_changes(conn, submission_id, revision, before, after, caller.actor, now, via)
        audit.append(conn, at=now, actor=caller.actor, org=caller.org,
                     action="return.row.removed" if values is None else "return.row.saved",
                     target=f"{declaration.dataset}/{period.name}/{org}",
                     detail={"key": key, "revision": revision, "via": via, "state": state["state"]})
    return revision


def _write_row(conn: Connection, submission_id: int, key: str, values: dict | None, existed: bool) -> None:
    where = (return_rows.c.submission_id == submission_id, return_rows.c.row_key == key)
    if values is None:
        conn.execute(return_rows.delete().where(*where))
    elif existed:
        conn.execute(update(return_rows).where(*where).values(payload=json.dumps(values, sort_keys=True)))
    else:
        last = conn.execute(select(func.max(return_rows.c.position)).where(
            return_rows.c.submission_id == submission_id)).scalar()
        conn.execute(return_rows.insert().values(submission_id=submission_id, row_key=key, position=(last or 0) + 1,
                                                 payload=json.dumps(values, sort_keys=True)))
