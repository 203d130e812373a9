"""Thin handlers for /returns: JSON by default, CSV with format=csv or Accept: text/csv."""
from hub.web import csv_response, ok, principal, services, wants_csv

from .export import grid_csv, period_csv


def list_returns():
    principal()
    return ok({"returns": services().returns.list_returns()})


def period_status(dataset, period=None, format=None):
    status = services().returns.period_status(dataset, period, principal())
    if wants_csv(format):
        return csv_response(period_csv(status), f"{dataset}-{status['period']}.csv")
    return ok(status)


def grid(dataset, format=None, **query):
    result = services().returns.grid(dataset, query.get("from_") or query.get("from"), query.get("to"), principal())
    if wants_csv(format):
        return csv_response(grid_csv(result), f"{dataset}-{result['from']}-to-{result['to']}.csv")
    return ok(result)


def submission(dataset, period, org):
    return ok(services().returns.submission(dataset, period, org, principal()))
