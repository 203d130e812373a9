"""Data returns inside the console: the list of returns, a return's grid (periods by
publisher, coloured by status, with totals and CSV export) and one publisher's
submission for a period (status, flags, figures, guidance).

The returns service decides whose figures the signed-in user sees, with the user's
principal, exactly as for an API key of the same org: the requesting org and admins
see every publisher, a council its own, an agreement's recipient the providers it
covers; anyone else gets 404, as for a return that does not exist.
"""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for

from hub.returns.export import grid_csv

from .blueprint import RETURNS_STAFF, console, requires, services, staff


def _grid(dataset: str) -> dict:
    return services().returns.grid(dataset, request.args.get("from"), request.args.get("to"), staff().principal)


@console.get("/returns/")
@requires(*RETURNS_STAFF)
def returns():
    user, today = staff(), services().clock().date()
    declarations = services().returns.declarations_for(user.principal)
    # Due for review is shown to the return's owner and the hub's admin.
    due = {d.dataset for d in declarations if (user.role == "admin" or user.org == d.requesting_org)
           and d.due_for_review(today)}
    drafts = [(d, v) for d in services().returns.definitions.list(user.principal) for v in d["versions"]
              if v["status"] == "draft"]
    return render_template("console/returns/index.html", returns=declarations, due_for_review=due, drafts=drafts,
                           may_draft=user.role in ("governance", "admin"))


@console.get("/returns/<dataset>")
@requires(*RETURNS_STAFF)
def returns_grid(dataset: str):
    return render_template("console/returns/grid.html", grid=_grid(dataset),
                           submitters=services().returns.submitter_choices(dataset, staff().principal))


@console.get("/returns/<dataset>/export.csv")
@requires(*RETURNS_STAFF)
def returns_export(dataset: str):
    result = _grid(dataset)
    return Response(grid_csv(result), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{dataset}-{result["from"]}-to-{result["to"]}.csv"'})


@console.get("/returns/<dataset>/<period>/<org>")
@requires(*RETURNS_STAFF)
def returns_submission(dataset: str, period: str, org: str):
    found = services().returns.submission(dataset, period, org, staff().principal)
    user = staff()
    derived = (user.role == "admin" or user.org == org) and services().derived_returns.is_derived(dataset)
    return render_template("console/returns/submission.html", s=found, derived=derived)


@console.post("/returns/<dataset>/<period>/<org>/sign-off")
@requires(*RETURNS_STAFF)
def returns_sign_off(dataset: str, period: str, org: str):
    action = request.form.get("action", "")
    if action not in ("submit", "approve", "accept", "send_back"):
        abort(400, description="Choose submit, approve, accept or send back.")
    found = services().returns.sign_off(dataset, period, org, action, request.form.get("comment"), staff().principal)
    flash(f"The {period} return of {found['name']} is now {found['sign_off']['state'].replace('_', ' ')}.", "success")
    return redirect(url_for("console.returns_submission", dataset=dataset, period=period, org=org))


@console.get("/returns/<dataset>/template.xlsx")
@requires(*RETURNS_STAFF)
def returns_template(dataset: str):
    return Response(services().returns.template(dataset, staff().principal),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{dataset}.xlsx"'})


@console.post("/returns/<dataset>/<period>/<org>/upload")
@requires(*RETURNS_STAFF)
def returns_upload(dataset: str, period: str, org: str):
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        abort(400, description="Choose the filled workbook (.xlsx) or CSV file to upload.")
    result = services().returns.upload_rows(dataset, period, org, sent.filename, sent.read(), staff().principal)
    status = 200 if not result["problems"] else 422
    return render_template("console/returns/submission.html", s=result["submission"], upload=result), status
