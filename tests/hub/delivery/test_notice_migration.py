"""The migration that addresses notices finds the notices already in the log."""
from __future__ import annotations

from alembic import command
from sqlalchemy import select

from hub import db
from hub.migrate import _config, upgrade
from hub.policy.models import notice_recipients
from hub.policy.notices import append_notices, consent_withdrawn


def test_notices_already_in_the_log_are_addressed_after_the_upgrade(services):
    with db.write_transaction(services.engine) as conn:
        seqs = append_notices(conn, [consent_withdrawn("sds", "referral", "edinburgh", ["r1"], db.utcnow()),
                                     consent_withdrawn("sfrs", "referral", "edinburgh", ["r2"], db.utcnow())],
                              services.clock())
    config = _config()
    with services.engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002_policy")  # as before the notices were addressed
    upgrade(services.engine)
    with services.engine.connect() as conn:
        found = conn.execute(select(notice_recipients).order_by(notice_recipients.c.seq)).all()
    assert [(r.seq, r.recipient, r.dataset) for r in found] == [(seqs[0], "sds", "referral"), (seqs[1], "sfrs", "referral")]
