"""The public's pages and downloads under /open: no sign-in, read-only, and nothing that an
agreement has not published to the public (every record came through the projector's
decision). HTML for people, CSV and JSON for downloads and feeds, JSON-LD for harvesters."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context

from causeway_common.cells import csv_row
from hub.console.charts import line_chart
from hub.errors import Invalid, NotFound, TooManyRequests

from . import dcat
from .service import MAX_PAGE, district_query

open_data = Blueprint("open_data", __name__, url_prefix="/open", template_folder="templates")
JSON_LD = "application/ld+json"
PAGE_ROWS = 50
CHART_PUBLISHERS = 6  # lines on a dataset page's chart; more publishers are drawn as one


def _services():
    return current_app.extensions["causeway"]


def _org_names() -> dict[str, str]:
    return {org["slug"]: org["name"] for org in _services().orgs.list_orgs()}


def _entry(name: str) -> dict:
    try:
        return _services().open_data.open_dataset(name)
    except NotFound:
        abort(404)


def _integer(name: str, default: int, low: int, high: int) -> int:
    text = request.args.get(name)
    if text is None:
        return default
    if not text.isdigit() or not low <= int(text) <= high:
        raise Invalid(f"{name} must be a whole number from {low} to {high}")
    return int(text)


@open_data.get("/")
def catalogue():
    entries = _services().open_data.open_datasets()
    return render_template("open/catalogue.html", entries=entries, names=_org_names(),
                           tables=_services().open_aggregates.tables())


@open_data.get("/catalog.jsonld")
def catalogue_dcat():
    document = dcat.catalogue_document(_services().open_data.open_datasets(), _base_url(), _org_names())
    return current_app.json.response(document), 200, {"Content-Type": JSON_LD}


@open_data.get("/<name>")
def dataset_page(name: str):
    entry = _entry(name)
    _services().open_data.count_use(name, "page")
    district = request.args.get("district", "").strip()
    error = None
    try:
        searched = district_query(district) if district else None
        after = _integer("after", 0, 0, 2**62)
        page = _services().open_data.page(name, after=after, limit=PAGE_ROWS, district=searched)
    except Invalid as exc:
        error, searched = str(exc), None
        page = _services().open_data.page(name, limit=PAGE_ROWS)
    dataset = entry["dataset"]
    columns = [field["name"] for field in dataset.fields()]
    names = _org_names()
    return render_template("open/dataset.html", entry=entry, dataset=dataset, page=page, columns=columns,
                           district=searched, error=error, names=names,
                           chart=_monthly_chart(name, names)), 400 if error else 200


def _monthly_chart(name: str, names: dict[str, str]):
    """Records per month by publisher (the biggest few; the rest together), drawn as the console draws charts."""
    labels, counts = _services().open_data.records_by_month(name)
    ranked = sorted(counts, key=lambda publisher: -sum(counts[publisher]))
    series = {names.get(p, p): counts[p] for p in ranked[:CHART_PUBLISHERS]}
    rest = ranked[CHART_PUBLISHERS:]
    if rest:
        series["Other publishers"] = [sum(counts[p][i] for p in rest) for i in range(len(labels))]
    return line_chart(f"Records by the month they occurred, {labels[0]} to {labels[-1]}", labels, series,
                      unit="records")


@open_data.get("/<name>.jsonld")
def dataset_dcat(name: str):
    entry = _entry(name)
    names = _org_names()
    document = dcat.dataset_document(entry, _base_url(), names.get(entry["dataset"].owner, entry["dataset"].owner))
    return current_app.json.response(document), 200, {"Content-Type": JSON_LD}


@open_data.get("/<name>.json")
def dataset_json(name: str):
    """A page of the dataset after the cursor `after`: the feed. With deleted=true, keys
    that went are included as op "delete", so a copy kept by a reader stays right."""
    _entry(name)
    _services().open_data.count_use(name, "api")
    deleted = request.args.get("deleted", "false")
    if deleted not in ("true", "false"):
        raise Invalid("deleted must be true or false")
    page = _services().open_data.page(
        name, after=_integer("after", 0, 0, 2**62), limit=_integer("limit", 100, 1, MAX_PAGE),
        district=request.args.get("district") or None, include_deleted=deleted == "true")
    return {"dataset": name, "records": page.rows, "next": page.next_after, "more": page.more}


@open_data.get("/<name>.csv")
def dataset_csv(name: str):
    """The whole dataset (or one district) as CSV, streamed a page at a time."""
    entry = _entry(name)
    district = request.args.get("district") or None
    if district is not None:
        district_query(district)
    columns = [field["name"] for field in entry["dataset"].fields()]
    service = _services().open_data
    service.count_use(name, "download")

    def lines() -> Iterator[str]:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["publisher", *columns])
        after = 0
        while True:
            page = service.page(name, after=after, limit=MAX_PAGE, district=district)
            for row in page.rows:
                payload = row["payload"] or {}
                writer.writerow(csv_row([row["publisher"], *("" if payload.get(c) is None else payload.get(c)
                                                             for c in columns)]))
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            if not page.more:
                return
            after = page.next_after

    filename = f"{name}{'-' + district.upper() if district else ''}.csv"
    return Response(stream_with_context(lines()), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def _base_url() -> str:
    return _services().settings.public_url.rstrip("/")


# -- residents' e-mail alerts ---------------------------------------------------------
@open_data.post("/<name>/alerts")
def ask_for_alert(name: str):
    entry = _entry(name)
    form = request.form
    try:
        _services().resident_alerts.request(form.get("email", ""), name, form.get("alert_district", ""),
                                            daily=form.get("daily") == "yes", client=request.remote_addr or "")
    except (Invalid, TooManyRequests) as exc:
        status = 429 if isinstance(exc, TooManyRequests) else 400
        return render_template("open/alert_result.html", dataset=entry["dataset"], error=str(exc),
                               title="Alert not set up"), status
    return render_template("open/alert_result.html", dataset=entry["dataset"], title="Check your e-mail",
                           message="If the address is right, a message with a link to confirm the alert is on "
                                   "its way. Nothing is sent until you follow it.")


@open_data.get("/alerts/confirm/<token>")
def confirm_alert(token: str):
    try:
        alert = _services().resident_alerts.confirm(token)
    except NotFound as exc:
        return render_template("open/alert_result.html", error=str(exc), title="Link not recognised"), 404
    return render_template("open/alert_result.html", title="Alert confirmed",
                           message=f"You will be told by e-mail of new records in {alert['district']}"
                                   f"{' once a day' if alert['daily'] else ''}. Every message has a link to stop them.")


@open_data.route("/alerts/unsubscribe/<token>", methods=["GET", "POST"])
def unsubscribe_alert(token: str):
    """GET shows a button (link checkers must not unsubscribe anyone); POST, from that
    button or a mail program's one-click unsubscribe (RFC 8058), deletes the alert."""
    alerts = _services().resident_alerts
    if request.method == "GET":
        try:
            alerts.alert_of(token, "unsubscribe")
        except NotFound as exc:
            return render_template("open/alert_result.html", error=str(exc), title="Link not recognised"), 404
        return render_template("open/unsubscribe.html", token=token)
    try:
        gone = alerts.unsubscribe(token)
    except NotFound as exc:
        return render_template("open/alert_result.html", error=str(exc), title="Link not recognised"), 404
    return render_template("open/alert_result.html", title="Unsubscribed",
                           message=f"No more e-mail about {gone['district']}; your address is deleted.")


# -- tables of counts (aggregates under disclosure control) -----------------------------
def _published_table(agreement_id: str, dataset: str) -> dict:
    try:
        return _services().open_aggregates.table(agreement_id, dataset)
    except NotFound:
        abort(404)


@open_data.get("/tables/<agreement_id>/<dataset>")
def table_page(agreement_id: str, dataset: str):
    published = _published_table(agreement_id, dataset)
    _services().open_data.count_use(dataset, "page")
    return render_template("open/table.html", published=published, table=published["table"],
                           names=_org_names())


@open_data.get("/tables/<agreement_id>/<dataset>.json")
def table_json(agreement_id: str, dataset: str):
    published = _published_table(agreement_id, dataset)
    _services().open_data.count_use(dataset, "api")
    return {"agreement_id": agreement_id, "dataset": dataset, "title": published["title"],
            "computed_at": published["computed_at"], **published["table"]}


@open_data.get("/tables/<agreement_id>/<dataset>.csv")
def table_csv(agreement_id: str, dataset: str):
    table = _published_table(agreement_id, dataset)["table"]
    _services().open_data.count_use(dataset, "download")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([table["rows_are"], *table["columns"], "total"])

    def shown(entry: dict) -> str:
        return "[c]" if entry["suppressed"] else str(entry["value"])

    for row in table["rows"]:
        writer.writerow(csv_row([row["row"], *(shown(cell) for cell in row["cells"]), shown(row["total"])]))
    writer.writerow(["total", *(shown(cell) for cell in table["column_totals"]), shown(table["grand_total"])])
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{agreement_id}-{dataset}.csv"'})
