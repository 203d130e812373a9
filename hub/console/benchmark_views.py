"""Benchmarks inside the console: the returns the signed-in user may benchmark, and one return's
page: the council's figures beside the median and quartiles of every council and of its family
groups (a table), then a chart of each indicator and rate per 1,000 over the last periods, each with
its table. The benchmarks service decides what the user sees, with the user's principal, exactly as
for an API key of the same org. The hub's admin sets family groups here too."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for

from hub.benchmarks.export import benchmark_csv
from hub.errors import Invalid

from .blueprint import GOVERNANCE, RETURNS_STAFF, console, requires, services, staff
from .charts import line_chart
from .indicator_form import body_from, errors_by_field, posted_values, values_of

MAX_CHARTS = 12  # indicators first, then rates per 1,000; every measure is in the table above them


def _benchmark(dataset: str) -> dict:
    periods = request.args.get("periods", "")
    return services().benchmarks.benchmark(dataset, request.args.get("period") or None,
                                           request.args.get("org") or None,
                                           int(periods) if periods.isdigit() else None, staff().principal)


def _chart(result: dict, measure: dict):
    trend = measure["periods"]
    series: dict[str, list] = {}
    if result["org"]:
        series[result["org_name"]] = [p["own"] for p in trend]
    series["Median of councils"] = [p["scotland"]["median"] for p in trend]
    series["Lower quartile"] = [p["scotland"]["lower_quartile"] for p in trend]
    series["Upper quartile"] = [p["scotland"]["upper_quartile"] for p in trend]
    for index, group in enumerate(trend[-1]["family"] if trend else []):
        series[f"{group['title']} (median)"] = [p["family"][index]["median"] for p in trend]
    return line_chart(f"{measure['title']}, {result['periods'][0]} to {result['period']}", result["periods"], series,
                      unit=measure["unit"], totals=False)


@console.get("/benchmarks/")
@requires(*RETURNS_STAFF)
def benchmarks():
    user = staff()
    councils = []
    if user.role == "admin":
        councils = [o for o in services().orgs.list_orgs() if o["kind"] == "council"]
    return render_template("console/benchmarks/index.html", returns=services().benchmarks.list(user.principal),
                           groups=services().benchmarks.groups.list(user.principal), councils=councils)


@console.post("/benchmarks/groups")
@requires()  # the hub's admin only
def benchmarks_set_group():
    name = request.form.get("name", "").strip()
    body = {"title": request.form.get("title", ""), "basis": request.form.get("basis") or None,
            "members": request.form.getlist("members")}
    try:
        services().benchmarks.groups.set(name, body, staff().principal)
    except Invalid as exc:
        flash(f"Nothing was saved: {exc.detail}", "error")
    else:
        flash(f"Family group {name} saved with {len(body['members'])} councils.", "success")
    return redirect(url_for("console.benchmarks"))


def owns(requesting_org: str) -> bool:
    """Whether the signed-in user may set the return's indicators and named_figures in the console:
    its requesting org's governance (the hub's admin uses the API or the command line)."""
    user = staff()
    return user.role == "governance" and user.org == requesting_org


def benchmark_page(dataset: str, settings: dict | None = None, status: int = 200):
    """The benchmark page; `settings` (the owner's form values and errors) re-shows a form with its mistakes."""
    result = _benchmark(dataset)
    charted = [m for m in result["measures"] if m["kind"] == "indicator"]
    charted += [m for m in result["measures"] if m["kind"] == "per_1000"]
    charts = [(m, _chart(result, m)) for m in charted[:MAX_CHARTS]]
    named = sorted({c["org"] for m in result["measures"] for c in m["periods"][-1]["councils"]}
                   - ({result["org"]} if result["org"] else set()))
    owner = None
    if owns(result["requesting_org"]):
        indicators = services().benchmarks.indicators(dataset, staff().principal)
        # ?indicator=name opens the form on that indicator, to change it
        editing = next((i for i in indicators if i["name"] == request.args.get("indicator")), None)
        owner = {"indicators": indicators, "fields": [m for m in result["measures"] if m["kind"] == "total"],
                 "form": values_of(editing) if editing else {}, "editing": editing["name"] if editing else "",
                 "errors": {}, "problems": [], **(settings or {})}
    return render_template("console/benchmarks/return.html", b=result, charts=charts, named=named,
                           left_out=len(charted) - len(charts), owner=owner, here=_here()), status


@console.get("/benchmarks/<dataset>")
@requires(*RETURNS_STAFF)
def benchmarks_return(dataset: str):
    return benchmark_page(dataset)


@console.get("/benchmarks/<dataset>/export.csv")
@requires(*RETURNS_STAFF)
def benchmarks_export(dataset: str):
    result = _benchmark(dataset)
    return Response(benchmark_csv(result), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="benchmarks-{dataset}-{result["period"]}.csv"'})


# -- the return's owner: indicators and named_figures -----------------------------
def _here() -> dict:
    """The page's period, trend and council, carried through the owner's forms and back."""
    return {name: request.args[name] for name in ("period", "periods", "org") if request.args.get(name)}


def _back(dataset: str):
    return redirect(url_for("console.benchmarks_return", dataset=dataset, _anchor="benchmark-settings", **_here()))


def _owner_only(dataset: str) -> None:
    """Anyone but the return's owner is refused before anything is read from the form."""
    if not owns(services().returns.declaration(dataset).requesting_org):
        abort(403, description=f"Only the governance staff of the organisation that requests {dataset} "
                               "set its indicators and who sees councils by name.")


def _refused(dataset: str, error: Invalid, values: dict, editing: str = ""):
    errors = errors_by_field(error)
    return benchmark_page(dataset, {"form": values, "errors": errors, "editing": editing,
                                    "problems": list(errors.items())}, status=400)


@console.post("/benchmarks/<dataset>/indicators")
@requires(*GOVERNANCE)
def benchmarks_set_indicator(dataset: str):
    _owner_only(dataset)
    name = request.form.get("name", "").strip()
    try:
        services().benchmarks.set_indicator(dataset, name, body_from(request.form), staff().principal)
    except Invalid as error:
        return _refused(dataset, error, posted_values(request.form), editing=request.form.get("editing", ""))
    flash(f"Indicator {name} saved.", "success")
    return _back(dataset)


@console.post("/benchmarks/<dataset>/indicators/<name>/remove")
@requires(*GOVERNANCE)
def benchmarks_remove_indicator(dataset: str, name: str):
    _owner_only(dataset)
    services().benchmarks.remove_indicator(dataset, name, staff().principal)
    flash(f"Indicator {name} removed.", "success")
    return _back(dataset)


@console.post("/benchmarks/<dataset>/settings")
@requires(*GOVERNANCE)
def benchmarks_set_named_figures(dataset: str):
    _owner_only(dataset)
    try:
        services().benchmarks.set_named_figures(dataset, request.form.get("named_figures", ""), staff().principal)
    except Invalid as error:
        return _refused(dataset, error, {})
    flash("Who sees councils by name saved.", "success")
    return _back(dataset)
