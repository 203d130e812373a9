"""One row of a council's return at a time, in a form generated from the return's fields: add a
row, change one, remove one. Several staff can work on one draft: each edit names the version
of the row it started from, and an edit over someone else's is refused with who made it, the
row as it now reads and the user's own entries kept in the form. The returns service decides who
may send the council's rows (its submitters, publisher keys and admin), as for the API.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from hub.errors import Conflict, Invalid

from .blueprint import RETURNS_STAFF, console, requires, services, staff
from .row_form import FormProblems, form_fields, form_from_values, problems_from_errors, values_from_form


def _page(dataset: str, period: str, org: str, form: dict, base: str | None, problems=None, status: int = 200,
          current: dict | None = None):
    user = staff().principal
    schema = services().returns.row_schema(dataset, period, org, user)
    found = services().returns.submission(dataset, period, org, user)
    return render_template("console/returns/row_form.html", s=found, fields=form_fields(schema), form=form,
                           base=base, problems=problems or [], current=current,
                           guidance=found["guidance"]), status


def _row(found: dict, key: str) -> dict | None:
    return next((r for r in found["records"] if r["key"] == key), None)


@console.get("/returns/<dataset>/<period>/<org>/row")
@requires(*RETURNS_STAFF)
def returns_row(dataset: str, period: str, org: str):
    """The form: empty to add a row, or filled with the row named by ?key= to change it."""
    key = request.args.get("key")
    if key is None:
        return _page(dataset, period, org, {}, None)
    found = services().returns.submission(dataset, period, org, staff().principal)
    row = _row(found, key)
    if row is None:
        flash(f"There is no row {key!r} any more: someone may have removed it.", "error")
        return redirect(url_for("console.returns_submission", dataset=dataset, period=period, org=org))
    schema = services().returns.row_schema(dataset, period, org, staff().principal)
    return _page(dataset, period, org, form_from_values(key, row["payload"], schema), row["version"])


@console.post("/returns/<dataset>/<period>/<org>/row")
@requires(*RETURNS_STAFF)
def returns_row_save(dataset: str, period: str, org: str):
    form = request.form.to_dict()
    base = form.get("base") or None
    returns = services().returns
    try:
        key, values = values_from_form(returns.row_schema(dataset, period, org, staff().principal), form)
        returns.save_row(dataset, period, org, key, values, base, staff().principal, via="form")
    except FormProblems as error:
        return _page(dataset, period, org, form, base, error.problems, 422)
    except Conflict as error:
        if error.slug not in ("row-changed", "row-exists"):
            raise
        found = returns.submission(dataset, period, org, staff().principal)
        row = _row(found, (form.get("key") or "").strip())
        # The user's entries stay in the form; saving again now builds on the row as it reads.
        return _page(dataset, period, org, form, row["version"] if row else None,
                     [{"field": None, "line": None, "message": error.detail}], 409, row)
    except Invalid as error:
        located = error.details.get("errors") or [{"path": "", "message": error.detail}]
        return _page(dataset, period, org, form, base, problems_from_errors(located), 422)
    flash(f"Row {key} saved to the draft.", "success")
    return redirect(url_for("console.returns_submission", dataset=dataset, period=period, org=org) + "#history")


@console.post("/returns/<dataset>/<period>/<org>/row/remove")
@requires(*RETURNS_STAFF)
def returns_row_remove(dataset: str, period: str, org: str):
    key, base = request.form.get("key", ""), request.form.get("base") or None
    try:
        services().returns.save_row(dataset, period, org, key, None, base, staff().principal, via="form")
    except Conflict as error:
        flash(error.detail, "error")
    else:
        flash(f"Row {key} removed from the draft.", "success")
    return redirect(url_for("console.returns_submission", dataset=dataset, period=period, org=org))
