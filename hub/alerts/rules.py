"""The built-in alert rules, one small function each (see hub.alerts.registry)."""
from __future__ import annotations

import json
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from hub.delivery.models import dead_letters, subscriptions
from hub.policy.models import agreement_versions
from hub.records.models import record_rejects, records
from hub.returns.periods import period_containing
from hub.returns.submissions import read_submissions

from .messages import readable
from .registry import Condition, Sources, rule


@rule("agent-stale", "an enrolled agent has stopped reporting")
def agent_stale(sources: Sources, now: datetime, settings) -> list[Condition]:
    found = []
    for agent in sources.agent_summaries().values():
        if agent["active"] and agent["status"] == "stale":
            last = agent["last_heartbeat_at"]
            found.append(Condition(
                "agent-stale", agent["id"], (agent["org"],),
                f"Agent {agent['name']} of {agent['org']} has stopped reporting"
                + (f" (last heartbeat {readable(last)})" if last else " (it has never reported)"),
                {"agent": agent["id"], "name": agent["name"], "last_heartbeat_at": last}))
    return found


@rule("subscription-failing", "a subscription's deliveries have failed for longer than allowed")
def subscription_failing(sources: Sources, now: datetime, settings) -> list[Condition]:
    query = select(subscriptions.c.id, subscriptions.c.org, subscriptions.c.dataset, subscriptions.c.attempts).where(
        subscriptions.c.attempts > 0, subscriptions.c.status != "disabled")
    with sources.engine.connect() as conn:
        rows = conn.execute(query).all()
    hold = timedelta(minutes=settings.subscription_failing_minutes)
    return [Condition("subscription-failing", row.id, (row.org,),
                      f"Subscription {row.id} of {row.org} to {row.dataset} has been failing for over "
                      f"{settings.subscription_failing_minutes:g} minutes",
                      {"subscription": row.id, "dataset": row.dataset}, hold=hold) for row in rows]


@rule("subscription-disabled", "a subscription was disabled (its endpoint answered 410 Gone, or by hand)")
def subscription_disabled(sources: Sources, now: datetime, settings) -> list[Condition]:
    query = select(subscriptions.c.id, subscriptions.c.org, subscriptions.c.dataset).where(
        subscriptions.c.status == "disabled")
    with sources.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Condition("subscription-disabled", row.id, (row.org,),
                      f"Subscription {row.id} of {row.org} to {row.dataset} is disabled",
                      {"subscription": row.id, "dataset": row.dataset}) for row in rows]


@rule("dead-letters", "a subscription holds more dead letters than allowed")
def too_many_dead_letters(sources: Sources, now: datetime, settings) -> list[Condition]:
    query = (select(subscriptions.c.id, subscriptions.c.org, subscriptions.c.dataset, func.count().label("dead"))
             .join(dead_letters, dead_letters.c.subscription_id == subscriptions.c.id)
             .where(dead_letters.c.state == "dead")
             .group_by(subscriptions.c.id, subscriptions.c.org, subscriptions.c.dataset)
             .having(func.count() > settings.dead_letters_max))
    with sources.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [Condition("dead-letters", row.id, (row.org,),
                      f"Subscription {row.id} of {row.org} to {row.dataset} holds {row.dead} dead letters "
                      f"(more than {settings.dead_letters_max})",
                      {"subscription": row.id, "dataset": row.dataset, "dead_letters": row.dead}) for row in rows]


@rule("reject-rate", "a council's rejected share of a dataset over the last hour is above the limit")
def reject_rate(sources: Sources, now: datetime, settings) -> list[Condition]:
    since = now - timedelta(hours=1)
    accepted_query = (select(records.c.publisher, records.c.dataset, func.count().label("n"))
                      .where(records.c.received_at >= since).group_by(records.c.publisher, records.c.dataset))
    # a record with several errors has several reject rows: count records, not errors
    rejected_records = (select(record_rejects.c.publisher, record_rejects.c.dataset)
                        .where(record_rejects.c.received_at >= since)
                        .group_by(record_rejects.c.publisher, record_rejects.c.dataset,
                                  record_rejects.c.batch_id, record_rejects.c.record_index).subquery())
    rejected_query = (select(rejected_records.c.publisher, rejected_records.c.dataset, func.count().label("n"))
                      .group_by(rejected_records.c.publisher, rejected_records.c.dataset))
    with sources.engine.connect() as conn:
        accepted = {(r.publisher, r.dataset): r.n for r in conn.execute(accepted_query)}
        rejected = {(r.publisher, r.dataset): r.n for r in conn.execute(rejected_query)}
    found = []
    for (org, dataset), bad in sorted(rejected.items()):
        total = bad + accepted.get((org, dataset), 0)
        percent = 100.0 * bad / total
        if total >= settings.reject_rate_min_records and percent > settings.reject_rate_percent:
            found.append(Condition("reject-rate", f"{org}/{dataset}", (org,),
                                   f"{org} had {percent:.1f} % of its {dataset} records rejected in the last hour "
                                   f"(above {settings.reject_rate_percent:g} %)",
                                   {"dataset": dataset, "rejected": bad, "records": total,
                                    "reject_rate_percent": round(percent, 1)}))
    return found


@rule("council-quiet", "a council has not published a dataset within its cadence and grace")
def council_quiet(sources: Sources, now: datetime, settings) -> list[Condition]:
    return [Condition("council-quiet", f"{cell['org']}/{cell['dataset']}", (cell["org"],),
                      f"{cell['org']} has not published {cell['dataset']} since {readable(cell['last_published_at'])} "
                      f"(quiet since {readable(cell['quiet_after'])})",
                      {"dataset": cell["dataset"], "last_published_at": cell["last_published_at"],
                       "quiet_after": cell["quiet_after"]})
            for cell in sources.coverage()["cells"] if cell["state"] == "quiet"]


@rule("agreement-review", "an active agreement is near its review date or its end")
def agreement_review(sources: Sources, now: datetime, settings) -> list[Condition]:
    query = select(agreement_versions.c.agreement_id, agreement_versions.c.version, agreement_versions.c.document) \
        .where(agreement_versions.c.status == "active")
    with sources.engine.connect() as conn:
        rows = conn.execute(query).all()
    today, notice = now.date(), timedelta(days=settings.agreement_notice_days)
    found = []
    for row in rows:
        document = json.loads(row.document)
        parties = tuple(sorted(set(document["providers"]) | set(document["recipients"])))
        for what, field_name in (("review", "review_date"), ("end", "valid_until")):
            day = day_of(document.get(field_name))
            if day is not None and day - notice <= today <= day:
                found.append(Condition(
                    "agreement-review", f"{row.agreement_id}/{what}", parties,
                    f"Agreement {row.agreement_id} (version {row.version}) is due for review on {day.isoformat()}"
                    if what == "review" else
                    f"Agreement {row.agreement_id} (version {row.version}) ends on {day.isoformat()}",
                    {"agreement": row.agreement_id, "version": row.version, field_name: day.isoformat(),
                     "days_left": (day - today).days}))
    return found


@rule("return-overdue", "a council has not sent a periodic return whose deadline has passed")
def return_overdue(sources: Sources, now: datetime, settings) -> list[Condition]:
    """The latest period of each return whose deadline has passed, for each expected publisher
    without a submission (the reminders keep going out as before; this is the alert)."""
    found = []
    with sources.engine.connect() as conn:
        for declaration in sources.returns.declarations():
            period = period_containing(declaration.frequency, now.date())
            while period.deadline(declaration.due_days) > now:
                period = period.previous()
            if period.last_day < declaration.introduced or (declaration.retired and period.first_day >= declaration.retired):
                continue
            submitted = set(read_submissions(conn, declaration))
            for org, _name in sources.returns.expected_publishers(conn, declaration):
                if (org, period.name) not in submitted:
                    due = period.due_date(declaration.due_days)
                    found.append(Condition(
                        "return-overdue", f"{declaration.dataset}/{period.name}/{org}", (org,),
                        f"{org}'s {declaration.title} for {period.name} was due on {due.isoformat()} and has not been received",
                        {"dataset": declaration.dataset, "period": period.name, "due_date": due.isoformat(),
                         "requesting_org": declaration.requesting_org}))
    return found


def day_of(value) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None
