"""The statements the delivery loop runs every round, built once.

Building a SQLAlchemy statement (its expressions, then its cache key) cost more than running
it, for the small statements a round runs per subscription. Each statement here is built
once with bound parameters, so SQLAlchemy compiles it once and keeps its cache key.
"""
from __future__ import annotations

from functools import lru_cache

from sqlalchemy import bindparam, select
from sqlalchemy.sql import Select, Update

from hub.policy.models import notice_recipients
from hub.records.models import records
from hub.records.service import live_records

from .models import dead_letters, subscriptions


@lru_cache(maxsize=64)
def held_update(names: frozenset[str]) -> Update:
    """UPDATE of the named columns of one subscription, only while this worker holds it at its
    epoch: parameters `w_id`, `w_owner`, `w_epoch` and one per column."""
    return subscriptions.update().where(
        subscriptions.c.id == bindparam("w_id"), subscriptions.c.lease_owner == bindparam("w_owner"),
        subscriptions.c.epoch == bindparam("w_epoch")).values({name: bindparam(name) for name in sorted(names)})


def held_params(sub_id: str, owner: str, epoch: int, values: dict) -> dict:
    return {"w_id": sub_id, "w_owner": owner, "w_epoch": epoch, **values}


SUBSCRIPTIONS_IN = select(subscriptions).where(subscriptions.c.id.in_(bindparam("ids", expanding=True)))
RETRYING_IN = select(dead_letters.c.subscription_id).where(
    dead_letters.c.subscription_id.in_(bindparam("ids", expanding=True)), dead_letters.c.state == "retrying").distinct()


@lru_cache(maxsize=4)
def own_page(upto: bool) -> Select:
    """Records of a dataset after `after` (up to `upto`), `limit` at most, in log order."""
    query = select(records).where(records.c.dataset == bindparam("dataset"), records.c.seq > bindparam("after"),
                                  live_records)
    if upto:
        query = query.where(records.c.seq <= bindparam("upto"))
    return query.order_by(records.c.seq).limit(bindparam("limit"))


@lru_cache(maxsize=4)
def notices_page(upto: bool) -> Select:
    """The notices addressed to `orgs` about a dataset after `after` (up to `upto`), `limit` at most."""
    addressed = select(notice_recipients.c.seq).where(
        notice_recipients.c.recipient.in_(bindparam("orgs", expanding=True)),
        notice_recipients.c.dataset == bindparam("dataset"), notice_recipients.c.seq > bindparam("after"))
    if upto:
        addressed = addressed.where(notice_recipients.c.seq <= bindparam("upto"))
    return select(records).where(records.c.seq.in_(addressed)).order_by(records.c.seq).limit(bindparam("limit"))
