"""Console pages for returns: the grid (coloured by status), a submission with its flags, CSV export.

Until the console's sign-in wraps these pages, a caller is whoever the
console has signed in (`g.principal`) or else the bearer API key sent with
the request; without either the page is refused.
"""
from __future__ import annotations

from flask import Blueprint, Response, g, render_template, request

from hub.problems import Problem
from hub.web import services

from .export import grid_csv

blueprint = Blueprint("returns_console", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static")


def _caller():
    principal = g.get("principal")
    if principal is not None:
        return principal
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        principal = services().orgs.authenticate(header[len("Bearer "):].strip())
        if principal is not None:
            return principal
    raise Problem(401, "Unauthorized", "sign in to the console (or send an API key) to see returns")


@blueprint.get("/")
def index():
    _caller()
    return render_template("returns/index.html", returns=services().returns.declarations())


@blueprint.get("/<dataset>")
def grid(dataset):
    result = services().returns.grid(dataset, request.args.get("from"), request.args.get("to"), _caller())
    return render_template("returns/grid.html", grid=result)


@blueprint.get("/<dataset>/export.csv")
def export(dataset):
    result = services().returns.grid(dataset, request.args.get("from"), request.args.get("to"), _caller())
    return Response(grid_csv(result), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{dataset}-{result["from"]}-to-{result["to"]}.csv"'})


@blueprint.get("/<dataset>/<period>/<org>")
def submission(dataset, period, org):
    found = services().returns.submission(dataset, period, org, _caller())
    return render_template("returns/submission.html", s=found)
