"""Each org's secret calendar-feed address: an `.ics` URL Outlook (or any calendar) subscribes to.

A calendar client cannot send a bearer key, so the address itself is the credential:
`/api/v1/return-calendar/{org}/feed/{token}.ics`. The token is 256 random bits, shown once
when made; the hub keeps only its SHA-256 (a hash of a random secret that long cannot be
reversed or guessed, so no slow hash is needed) and compares it in constant time. Making it
again replaces the old one (rotation), deleting it revokes it; a wrong, old or revoked token
is answered 404, as for an org with no feed. The token never goes into a log line: the access
log's filter below writes the path with the token replaced.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine

from hub import db
from hub.audit import service as audit
from hub.auth import Principal
from hub.errors import Forbidden, NotFound
from hub.timeutil import iso_utc

from .models import return_calendar_feeds
from .scopes import scoped_returns

TOKEN_PREFIX = "calfeed_"
FEED_PATH = "/api/v1/return-calendar/{org}/feed/{token}.ics"
# Staff who may make or revoke their org's feed address (publisher and subscriber keys are machines').
FEED_ROLES = ("governance", "ops", "submitter")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def feed_status(engine: Engine, org: str) -> dict:
    with engine.connect() as conn:
        row = conn.execute(select(return_calendar_feeds).where(return_calendar_feeds.c.org == org)).first()
    if row is None:
        return {"org": org, "active": False, "created_at": None, "created_by": None}
    return {"org": org, "active": True, "created_at": iso_utc(row.created_at), "created_by": row.created_by}


def _require_feed_manager(engine: Engine, org: str, caller: Principal) -> None:
    caller.require(*FEED_ROLES)
    caller.require_org(org)
    with engine.connect() as conn:
        if scoped_returns(conn, caller) is not None:
            raise Forbidden("a submitter assigned to particular returns cannot make or revoke the org's "
                            "calendar feed: it lists every return asked of the org")


def make_feed(engine: Engine, org: str, caller: Principal, now: datetime, public_url: str) -> dict:
    """A new secret address for the org's feed (replacing any before); the only time it is shown."""
    _require_feed_manager(engine, org, caller)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with db.write_transaction(engine) as conn:
        replaced = conn.execute(delete(return_calendar_feeds).where(return_calendar_feeds.c.org == org)).rowcount
        conn.execute(return_calendar_feeds.insert().values(org=org, token_sha256=_digest(token), created_at=now,
                                                           created_by=caller.actor))
        audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.calendar_feed.made",
                     target=org, detail={"replaced": bool(replaced)})
    return {"org": org, "active": True, "created_at": iso_utc(now), "created_by": caller.actor,
            "url": public_url.rstrip("/") + FEED_PATH.format(org=org, token=token)}


def revoke_feed(engine: Engine, org: str, caller: Principal, now: datetime) -> dict:
    _require_feed_manager(engine, org, caller)
    with db.write_transaction(engine) as conn:
        revoked = conn.execute(delete(return_calendar_feeds).where(return_calendar_feeds.c.org == org)).rowcount
        if revoked:
            audit.append(conn, at=now, actor=caller.actor, org=caller.org, action="return.calendar_feed.revoked",
                         target=org)
    return {"org": org, "active": False, "created_at": None, "created_by": None}


def check_feed_token(engine: Engine, org: str, token: str) -> None:
    """Raise NotFound unless the token is the org's current one (the same answer whatever is wrong)."""
    with engine.connect() as conn:
        stored = conn.execute(select(return_calendar_feeds.c.token_sha256).where(
            return_calendar_feeds.c.org == org)).scalar()
    # Compared even when the org has no feed, so the time taken does not tell the two apart.
    if not hmac.compare_digest(_digest(token or ""), stored or "0" * 64) or stored is None:
        raise NotFound("no such calendar feed")


_TOKEN_IN_PATH = re.compile(r"(/return-calendar/[^/?#\s]+/feed/)[^/?#\s]+")


def redact_feed_tokens(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1[redacted].ics", text)


class FeedTokenFilter(logging.Filter):
    """Keeps feed tokens out of the access log (uvicorn's record args: client, method, path, ...)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, str) and "/feed/" in a for a in record.args):
            record.args = tuple(redact_feed_tokens(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and "/feed/" in record.msg:
            record.msg = redact_feed_tokens(record.msg)
        return True


def keep_feed_tokens_out_of_logs() -> None:
    for name in ("uvicorn.access", "uvicorn.error", "causeway.hub"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, FeedTokenFilter) for f in logger.filters):
            logger.addFilter(FeedTokenFilter())
