"""The overview (records per hour, today's totals, what needs attention), the catalogue,
the audit log (with its chain check) and data quality (rejects, failing fields, the
daily CSV report). Views stay thin: they call the domain services with the signed-in
user's principal, or the read-only queries in hub.console.queries, and render a template.
"""
from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta, timezone

from flask import Response, abort, flash, redirect, render_template, request, url_for

from causeway_common.cells import csv_cell
from hub.audit import service as audit

from . import queries
from .audit_reading import actor_names, detail_fields
from .blueprint import ALL_STAFF, GOVERNANCE, allowed, console, hub_wide, requires, services, staff, visible_org
from .charts import line_chart
from .filters import local, uk_date
from .quality_words import plain_message


def _parse_day(text: str | None, default: date | None = None) -> date | None:
    if not text:
        return default
    try:
        return date.fromisoformat(text)
    except ValueError:
        flash(f"{text!s} is not a date (use YYYY-MM-DD); it was ignored.", "error")
        return default


# -- overview ----------------------------------------------------------------
CHART_TITLES = {"minute": "Records accepted per minute, by dataset ({words}, UK time)",
                "hour": "Records accepted per hour, by dataset ({words}, UK time)",
                "day": "Records accepted per day, by dataset ({words})"}


def _chart_label(label: str, unit: str) -> str:
    """A bucket's label as people here read it: minutes and hours in UK local time (the
    buckets are whole UTC minutes and hours, which are whole local ones too); days as dates."""
    if unit == "day":
        return uk_date(label)[:-5]  # '1 Dec'
    bucket = datetime.strptime(label, "%Y-%m-%d %H:%M" if unit == "minute" else "%Y-%m-%d %H")
    return f"{local(bucket.replace(tzinfo=timezone.utc)):%H:%M}"


@console.get("/")
@requires(*ALL_STAFF, "submitter")
def overview():
    if staff().role == "submitter":  # council staff who send returns see only the returns
        return redirect(url_for("console.returns"))
    now = services().clock()
    engine = services().engine
    chosen = queries.RANGES.get(request.args.get("range") or "24h") or queries.RANGES["24h"]
    labels, series = queries.records_per_bucket(engine, visible_org(), now, chosen)
    chart = line_chart(CHART_TITLES[chosen.unit].format(words=chosen.words),
                       [_chart_label(label, chosen.unit) for label in labels], series, unit="records")
    today = queries.publish_totals(engine, visible_org(), queries.start_of_day(now.date()))
    in_range = queries.publish_totals(engine, visible_org(), chosen.since(now))
    awaiting = None
    if allowed(GOVERNANCE):
        awaiting = [a for a in services().policy.agreements.list(staff().principal)
                    if a["latest_status"] in ("draft", "approved")]
    agents = services().health.list_agents(staff().principal)
    statuses = queries.by_severity(queries.subscription_statuses(services().delivery, staff().principal))
    troubled = [(s, queries.needs_attention(s)) for s in statuses]
    troubled = [(s, reasons) for s, reasons in troubled if reasons]
    stale = [a for a in agents if a["status"] == "stale"]
    attention = len(troubled) + len(stale) + (1 if today.total_rejected else 0)
    provided = services().delivery.provider_deliveries(staff().principal) if staff().role != "admin" else []
    return render_template("console/overview.html", chart=chart, today=today, awaiting=awaiting,
                           agents_up=[a for a in agents if a["status"] == "up"], agents_stale=stale,
                           subscriptions_total=len(statuses), troubled=troubled, attention=attention,
                           ranges=queries.RANGES.values(), chosen=chosen, in_range=in_range, provided=provided,
                           refresh=request.args.get("refresh") == "on",
                           every=min(3600, max(5, request.args.get("every", type=int) or 60)))


# -- catalogue ---------------------------------------------------------------
@console.get("/catalogue")
@requires(*ALL_STAFF)
def catalogue():
    return render_template("console/catalogue.html", datasets=services().catalogue.all())


@console.get("/catalogue/<name>")
@requires(*ALL_STAFF)
def dataset(name: str):
    found = services().catalogue.get(name)
    if found is None:
        abort(404, description=f"There is no dataset called {name}.")
    version = request.args.get("version", type=int) or found.latest_version
    if version not in found.schemas:
        abort(404, description=f"Dataset {name} has no schema version {version}.")
    sharing = None
    if allowed(GOVERNANCE):
        sharing = [a for a in services().policy.agreements.list(staff().principal) if name in a["datasets"]]
    return render_template("console/dataset.html", dataset=found, version=version, sharing=sharing,
                           fields=found.fields(version), examples=found.schemas[version].get("examples", []))


# -- audit log ---------------------------------------------------------------
@console.get("/audit")
@requires(*ALL_STAFF)
def audit_log():
    args = request.args
    chosen = queries.AuditFilter(
        action=args.get("action") or None, actor=args.get("actor") or None, target=args.get("target") or None,
        actor_is=staff().principal.actor if args.get("mine") == "on" else None,
        org=(args.get("org") or None) if staff().role == "admin" else None,
        since=_parse_day(args.get("since")), until=_parse_day(args.get("until")),
        before=args.get("before", type=int))
    engine = services().engine
    entries, next_before = queries.audit_page(engine, visible_org(), chosen)
    names = actor_names(engine, {e["actor"] for e in entries})
    for entry in entries:
        entry["actor_name"] = names.get(entry["actor"], entry["actor"])
        entry["fields"] = detail_fields(entry["detail"])
    filters = {k: v for k, v in args.items() if k != "before" and v}
    return render_template("console/audit.html", entries=entries, next_before=next_before, chosen=chosen,
                           filters=filters, actions=queries.audit_actions(engine, visible_org()),
                           orgs=services().orgs.list_orgs() if staff().role == "admin" else [])


@console.post("/audit/verify")
@requires(*ALL_STAFF)
def verify_audit_chain():
    checked, broken = audit.verify(services().engine)
    if broken is None:
        flash(f"The audit chain is intact: all {checked} entries verified.", "success")
    else:
        flash(f"The audit chain is BROKEN at entry {broken.seq}: {broken.reason}. "
              f"{checked} entries before it verified.", "error")
    return redirect(url_for("console.audit_log"))


# -- data quality ------------------------------------------------------------
@console.get("/quality")
@requires(*ALL_STAFF)
def quality():
    today = services().clock().date()
    engine = services().engine
    since = queries.start_of_day(today - timedelta(days=13))
    # Reject counts and failing fields are health metadata (the hub operator sees every org's);
    # error messages quote values, so they stay with their own org.
    counted = None if hub_wide() else visible_org()
    labels, by_publisher = queries.rejects_per_day(engine, counted, today, by="publisher")
    _labels, by_dataset = queries.rejects_per_day(engine, counted, today, by="dataset")
    short = [uk_date(label).rsplit(" ", 1)[0] for label in labels]  # "18 Nov"
    return render_template(
        "console/quality.html", today=today,
        publisher_chart=line_chart("Rejected records per day, by publisher (last 14 days)", short, by_publisher,
                                   unit="rejected records"),
        dataset_chart=line_chart("Rejected records per day, by dataset (last 14 days)", short, by_dataset,
                                 unit="rejected records"),
        fields=queries.rejected_fields(engine, counted, since), hub_wide=hub_wide(),
        errors=_in_words(queries.common_errors(engine, visible_org(), since)),
        totals=_with_rates(queries.publish_totals(engine, counted, since)),
        orgs=services().orgs.list_orgs() if staff().role == "admin" else [])


def _in_words(errors: list[dict]) -> list[dict]:
    """Each broken rule in words, with the dataset's key field named for its example."""
    catalogue = services().catalogue
    for row in errors:
        dataset = catalogue.get(row["dataset"])
        row["plain"] = plain_message(dataset, row["path"], row["message"])
        key_field = dataset.key_field if dataset is not None else None
        key_schema = (dataset.schemas[max(dataset.schemas)].get("properties", {}).get(key_field, {})
                      if dataset is not None and dataset.schemas else {})
        row["key_title"] = key_schema.get("title") or key_field or "key"
    return errors


def _with_rates(totals) -> list[dict]:
    """Accepted, rejected and the reject rate per dataset (percent of the records sent)."""
    rows = []
    for dataset in sorted(set(totals.accepted) | set(totals.rejected)):
        accepted, rejected = totals.accepted.get(dataset, 0), totals.rejected.get(dataset, 0)
        sent = accepted + rejected
        rows.append({"dataset": dataset, "accepted": accepted, "rejected": rejected, "sent": sent,
                     "rate": f"{100 * rejected / sent:.1f}" if sent else "0.0"})
    return rows


@console.get("/quality/report.csv")
@requires(*ALL_STAFF)
def quality_report():
    day = _parse_day(request.args.get("day"), services().clock().date())
    org = visible_org() if staff().role != "admin" else (request.args.get("org") or None)
    rows = queries.daily_quality_report(services().engine, org, day)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=queries.QUALITY_REPORT_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: csv_cell(v) for k, v in row.items()})
    filename = f"quality-{org or 'all'}-{day.isoformat()}.csv"
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
