"""Sign-off for returns that agents publish as records (a dataset declared `periodic:` in a file).

An agent's submission for a period (the latest version of its records came from an agent) is a
draft that only its council sees until the council approves it, exactly as for a row set, unless
the council approves this return's submissions as they arrive (`return_auto_approve`). The state
is kept in `return_submissions` (with no rows: the records stay in the log) together with how many
record versions it was taken at; records that arrive after a step make the submission a draft
again, so nothing the council has not approved reaches the agency. Submissions sent with an API
key are read as before (no sign-off).
"""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.engine import Connection

from hub.timeutil import iso_utc

from .declaration import ReturnDeclaration
from .models import return_auto_approve, return_submissions
from .received import Submission


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def sent_by_agent(submission: Submission) -> bool:
    return submission.submitted_by.startswith("agent:")


def _effective(stored, submission: Submission, auto_since: datetime | None) -> dict:
    """The state as of the submission's latest record version: auto-approve applies to versions that
    arrived after the council turned it on (as for row sets, it is no retrospective approval)."""
    if stored is not None and stored.revision == submission.versions:
        return {"state": stored.state, "state_at": stored.state_at, "state_by": stored.state_by,
                "comment": stored.comment}
    auto = auto_since is not None and submission.last_received_at >= _aware(auto_since)
    return {"state": "approved" if auto else "draft", "state_at": submission.last_received_at,
            "state_by": "auto-approve" if auto else submission.submitted_by, "comment": None}


def attach(conn: Connection, declaration: ReturnDeclaration, submissions: dict[tuple[str, str], Submission]):
    """Give each agent's submission its sign-off state (the others keep none)."""
    agents = {k: s for k, s in submissions.items() if sent_by_agent(s)}
    if not agents:
        return submissions
    stored = {(r.org, r.period): r for r in conn.execute(
        select(return_submissions).where(return_submissions.c.name == declaration.dataset))}
    auto = {r.org: r.updated_at for r in conn.execute(select(return_auto_approve.c.org, return_auto_approve.c.updated_at)
                                                      .where(return_auto_approve.c.name == declaration.dataset))}
    for key, submission in agents.items():
        state = _effective(stored.get(key), submission, auto.get(submission.publisher))
        submission.sign_off = {**state, "state_at": iso_utc(state["state_at"])}
    return submissions


def settle(conn: Connection, declaration: ReturnDeclaration, submission: Submission, now: datetime) -> None:
    """Store the state the submission is in now (before a sign-off step moves it on)."""
    stored = conn.execute(select(return_submissions).where(
        return_submissions.c.name == declaration.dataset, return_submissions.c.period == submission.period,
        return_submissions.c.org == submission.publisher)).first()
    auto = conn.execute(select(return_auto_approve.c.updated_at).where(
        return_auto_approve.c.name == declaration.dataset,
        return_auto_approve.c.org == submission.publisher)).scalar()
    state = _effective(stored, submission, auto)
    values = {**state, "revision": submission.versions, "last_submitted_at": submission.last_received_at,
              "submitted_by": submission.submitted_by}
    if stored is None:
        conn.execute(return_submissions.insert().values(
            name=declaration.dataset, period=submission.period, org=submission.publisher,
            version=declaration.version, first_submitted_at=submission.first_received_at,
            first_approved_at=now if state["state"] == "approved" else None, **values))
    else:
        conn.execute(update(return_submissions).where(return_submissions.c.id == stored.id).values(**values))
