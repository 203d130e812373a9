"""A derived return's lineage in the console: which of the council's records every figure of its
set came from, the records no figure counts, figures entered by hand, and newer figures kept
beside a set the council edited or has already submitted; with "compute again from the records".

Only the council's own staff and admins see it (the returns service decides, as for the API);
the requesting org sees the figures from approval on, never which records they count.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from .blueprint import RETURNS_STAFF, console, requires, services, staff


@console.get("/returns/<dataset>/<period>/<org>/lineage")
@requires(*RETURNS_STAFF)
def returns_lineage(dataset: str, period: str, org: str):
    found = services().derived_returns.lineage(dataset, period, org, staff().principal)
    title = services().returns.declaration(dataset).title
    return render_template("console/returns/lineage.html", l=found, title=title)


@console.post("/returns/<dataset>/<period>/<org>/derive")
@requires(*RETURNS_STAFF)
def returns_derive(dataset: str, period: str, org: str):
    replace = request.form.get("replace_edits") == "yes"
    found = services().derived_returns.derive(dataset, period, org, replace, staff().principal)
    flash(f"Computed from the records: {found['outcome']}.", "success")
    return redirect(url_for("console.returns_lineage", dataset=dataset, period=period, org=org))
