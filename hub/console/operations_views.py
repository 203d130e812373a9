"""Operations pages: subscriptions and their deliveries (lag, errors, dead letters,
retry and replay) and agents with their connectors' tasks (heartbeats, history).

The delivery and health services decide who may see and do what, with the
signed-in user as the principal, exactly as for an API key of the same org and
role: governance and ops staff see their own org's subscriptions and agents, ops
staff act on their own org's deliveries, admins see and act on all. The hub
operator's ops staff also see every org's subscriptions and agents as health
metadata (no dead letters, error text, filters or URL paths) and act on none but
their own. Every action is audited by the delivery service with the user as the actor.
"""
from __future__ import annotations

from datetime import datetime, timezone

from flask import abort, flash, redirect, render_template, request, url_for

from . import queries
from .audit_reading import actor_names
from .blueprint import ALL_STAFF, OPERATORS, allowed, console, hub_wide, requires, services, staff
from .charts import line_chart
from .filters import LOCAL_TIME, local, uk_time
from .queries import by_severity, needs_attention

LETTERS_PER_PAGE = 25
ATTEMPTS_SHOWN = 20


def _delivery():
    return services().delivery


def _health():
    return services().health


def _subscription_statuses(org: str | None = None) -> list[dict]:
    return queries.subscription_statuses(_delivery(), staff().principal, org)


def _with_pauser_names(statuses: list[dict]) -> list[dict]:
    """A subscription paused by hand says by whom as a person reads it (the staff account or named key)."""
    names = actor_names(services().engine, {s["paused_by"] for s in statuses if s.get("paused_by")})
    for status in statuses:
        if status.get("paused_by"):
            status["status_reason"] = f"paused by {names[status['paused_by']]}"
    return statuses


def _own_or_admin(item: dict) -> bool:
    user = staff()
    return user.role == "admin" or item["org"] == user.org


# -- subscriptions -------------------------------------------------------------
@console.get("/subscriptions")
@requires(*ALL_STAFF)
def subscriptions():
    chosen_org = (request.args.get("org") or None) if hub_wide() else None
    statuses = _with_pauser_names(by_severity(_subscription_statuses(chosen_org)))
    counts = {name: sum(1 for s in statuses if s["status"] == name)
              for name in ("active", "failing", "paused", "awaiting-agreement", "disabled")}
    return render_template("console/subscriptions.html", statuses=statuses, counts=counts, chosen_org=chosen_org,
                           orgs=services().orgs.list_orgs() if hub_wide() else [], hub_wide=hub_wide(),
                           attention={s["id"]: needs_attention(s) for s in statuses})


@console.get("/subscriptions/<subscription_id>")
@requires(*ALL_STAFF)
def subscription(subscription_id: str):
    principal = staff().principal
    status = _with_pauser_names([_delivery().status(subscription_id, principal)])[0]
    own = _own_or_admin(status)  # otherwise the hub operator's metadata view: no dead letters, no actions
    reason = request.args.get("reason") or None
    after = request.args.get("after", type=int)
    letters, reasons = [], []
    if own:
        reasons = _delivery().dead_letter_reasons(subscription_id, principal)
        letters = _delivery().list_dead_letters(subscription_id, principal, reason=reason, after_seq=after,
                                                limit=LETTERS_PER_PAGE + 1)
    next_after = letters[LETTERS_PER_PAGE - 1]["seq"] if len(letters) > LETTERS_PER_PAGE else None
    letters = letters[:LETTERS_PER_PAGE]
    keys = queries.record_keys(services().engine, [letter["seq"] for letter in letters])
    for letter in letters:
        letter["key"] = keys.get(letter["seq"], "")
    attempts = _delivery().attempts(subscription_id, principal, ATTEMPTS_SHOWN)
    return render_template("console/subscription.html", sub=status, letters=letters, metadata_only=not own,
                           reasons=reasons, reason=reason, after=after, next_after=next_after, attempts=attempts,
                           attention=needs_attention(status), can_act=own and allowed(OPERATORS),
                           may_see_events=own and _may_see_events(status))


def _may_see_events(status: dict) -> bool:
    """Ops staff see the events of non-personal datasets; governance staff and admins all (the
    delivery service decides again when one is opened)."""
    known = services().catalogue.get(status["dataset"])
    return staff().role != "ops" or not (known is not None and known.personal)


@console.post("/subscriptions/<subscription_id>/dead-letters/<int(max=9223372036854775807):letter_id>/event")
@requires(*ALL_STAFF)
def dead_letter_event(subscription_id: str, letter_id: int):
    """The event as sent: a disclosure, so it is asked for by a form (never prefetched) and audited."""
    principal = staff().principal
    status = _delivery().status(subscription_id, principal)
    shown = _delivery().dead_letter_event(subscription_id, letter_id, principal)
    return render_template("console/dead_letter_event.html", sub=status, letter_id=letter_id, shown=shown)


@console.post("/subscriptions/<subscription_id>/pause")
@requires(*OPERATORS)
def pause(subscription_id: str):
    _delivery().pause(subscription_id, staff().principal)
    flash("Paused: nothing more is delivered to this subscription until it is resumed; its position is held.",
          "success")
    return redirect(url_for("console.subscription", subscription_id=subscription_id))


@console.post("/subscriptions/<subscription_id>/resume")
@requires(*OPERATORS)
def resume(subscription_id: str):
    _delivery().resume(subscription_id, staff().principal)
    flash("Resumed: delivery carries on from where it stopped.", "success")
    return redirect(url_for("console.subscription", subscription_id=subscription_id))


@console.post("/subscriptions/<subscription_id>/try-now")
@requires(*OPERATORS)
def try_now(subscription_id: str):
    _delivery().try_now(subscription_id, staff().principal)
    flash("The hub tries this subscription again now; reload the page to see what the receiver answered.",
          "success")
    return redirect(url_for("console.subscription", subscription_id=subscription_id))


@console.post("/subscriptions/<subscription_id>/dead-letters/<int(max=9223372036854775807):letter_id>/retry")
@requires(*OPERATORS)
def retry_dead_letter(subscription_id: str, letter_id: int):
    _delivery().retry_dead_letters(subscription_id, staff().principal, letter_id)
    flash(f"Dead letter {letter_id} is queued to be sent again; it leaves the list once the subscriber "
          "accepts it.", "success")
    return redirect(url_for("console.subscription", subscription_id=subscription_id))


@console.post("/subscriptions/<subscription_id>/dead-letters/retry")
@requires(*OPERATORS)
def retry_all_dead_letters(subscription_id: str):
    count = _delivery().retry_dead_letters(subscription_id, staff().principal)
    if count:
        flash(f"{count} dead letter{'s are' if count != 1 else ' is'} queued to be sent again; each leaves the "
              "list once the subscriber accepts it.", "success")
    else:
        flash("There were no dead letters waiting to be retried.", "info")
    return redirect(url_for("console.subscription", subscription_id=subscription_id))


def _replay_time(text: str) -> str:
    """A datetime-local field's value (UK local time, as the form says) as RFC 3339 in UTC."""
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        abort(400, description=f"{text} is not a date and time (use YYYY-MM-DD HH:MM, UK time).")
    if when.tzinfo is None:
        when = when.replace(tzinfo=LOCAL_TIME)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@console.post("/subscriptions/<subscription_id>/replay")
@requires(*OPERATORS)
def replay(subscription_id: str):
    how = request.form.get("from", "")
    from_seq = from_time = None
    if how == "seq":
        from_seq = request.form.get("from_seq", type=int)
        if from_seq is None or from_seq < 1:
            abort(400, description="Give the sequence number (1 or more) to deliver again from.")
    elif how == "time":
        from_time = _replay_time((request.form.get("from_time") or "").strip())
    else:
        abort(400, description="Replay from a sequence number or from a time.")
    result = _delivery().replay(subscription_id, staff().principal, from_seq, from_time)
    start = f"sequence {from_seq}" if from_seq is not None else uk_time(from_time)
    flash(f"Delivery starts again from {start} (the first record after sequence {result['cursor']}; "
          f"{result['moved_back']} record{'s' if result['moved_back'] != 1 else ''} to deliver again). "
          "Replayed events carry new webhook ids, so the subscriber takes them again.", "success")
    return redirect(url_for("console.subscription", subscription_id=subscription_id))


# -- agents --------------------------------------------------------------------
@console.get("/agents")
@requires(*ALL_STAFF)
def agents():
    listed = _health().list_agents(staff().principal)
    return render_template("console/agents.html", agents=listed, hub_wide=hub_wide(),
                           up=sum(1 for a in listed if a["status"] == "up"),
                           stale=sum(1 for a in listed if a["status"] == "stale"))


def history_chart(history: list[dict]):
    """Outbox depth and records published / rejected between heartbeats, oldest first."""
    beats = list(reversed(history))
    labels, depth, published, rejected = [], [], [], []
    before = None
    for beat in beats:
        report = beat["report"] or {}
        tasks = report.get("tasks") or []
        totals = (sum(t.get("published") or 0 for t in tasks), sum(t.get("rejected") or 0 for t in tasks))
        labels.append(local(beat["received_at"]).strftime("%H:%M"))
        depth.append(report.get("outbox_depth") or 0)
        if before is None:
            published.append(0)
            rejected.append(0)
        else:  # counters start again when the agent restarts: count from zero then
            published.append(totals[0] - before[0] if totals[0] >= before[0] else totals[0])
            rejected.append(totals[1] - before[1] if totals[1] >= before[1] else totals[1])
        before = totals
    return line_chart("Records published and rejected between heartbeats, and outbox depth", labels,
                      {"published": published, "rejected": rejected, "outbox depth": depth}, unit="records")


@console.get("/agents/<agent_id>")
@requires(*ALL_STAFF)
def agent(agent_id: str):
    found = _health().get_agent(staff().principal, agent_id, history=120)
    # Rejects quote what was wrong with the org's records: its own staff (and admins) only.
    own = _own_or_admin(found)
    rejected, rejects = queries.agent_rejects(services().engine, agent_id) if own else (0, [])
    return render_template("console/agent.html", agent=found, tasks=(found["report"] or {}).get("tasks") or [],
                           chart=history_chart(found["history"]), rejected=rejected, rejects=rejects, own=own)
