"""Thin handlers for /returns: JSON by default, CSV with format=csv or Accept: text/csv."""
from flask import Response, request

from hub.web import ok, principal, services

from .export import grid_csv, period_csv


def _wants_csv(fmt: str | None) -> bool:
    if fmt:
        return fmt == "csv"
    best = request.accept_mimetypes.best_match(["application/json", "text/csv"])
    return best == "text/csv"


def _csv(text: str, filename: str) -> Response:
    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def list_returns():
    principal()
    return ok({"returns": services().returns.list_returns()})


def period_status(dataset, period=None, format=None):
    status = services().returns.period_status(dataset, period, principal())
    if _wants_csv(format):
        return _csv(period_csv(status), f"{dataset}-{status['period']}.csv")
    return ok(status)


def grid(dataset, format=None, **query):
    result = services().returns.grid(dataset, query.get("from_") or query.get("from"), query.get("to"), principal())
    if _wants_csv(format):
        return _csv(grid_csv(result), f"{dataset}-{result['from']}-to-{result['to']}.csv")
    return ok(result)


def submission(dataset, period, org):
    return ok(services().returns.submission(dataset, period, org, principal()))
