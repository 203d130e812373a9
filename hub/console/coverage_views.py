"""The coverage page: every council × every dataset with a cadence, live, quiet, stale agent
or never published, with totals and a CSV download.

The coverage service decides whose rows the signed-in user sees, exactly as for an API key
of the same org and role: admins and the hub operator's ops staff every council's, a
council's staff its own row.
"""
from __future__ import annotations

from flask import render_template

from hub.coverage.export import coverage_csv
from hub.errors import NotFound
from hub.web import csv_response

from .blueprint import ALL_STAFF, console, hub_wide, requires, services, staff


@console.get("/coverage")
@requires(*ALL_STAFF)
def coverage():
    try:
        view = services().coverage.coverage(staff().principal)
    except NotFound:  # an agency's staff: no row of their own
        return render_template("console/coverage.html", view=None, cells={}, hub_wide=False, not_a_council=True,
                               csv_endpoint="console.coverage_csv_download")
    cells = {(c["org"], c["dataset"]): c for c in view["cells"]}
    return render_template("console/coverage.html", view=view, cells=cells, hub_wide=hub_wide(),
                           not_a_council=False, csv_endpoint="console.coverage_csv_download")


@console.get("/coverage.csv")
@requires(*ALL_STAFF)
def coverage_csv_download():
    view = services().coverage.coverage(staff().principal)
    return csv_response(coverage_csv(view), f"coverage-{view['generated_at'][:10]}.csv")
