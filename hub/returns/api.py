"""Thin handlers for /returns: JSON by default, CSV with format=csv or Accept: text/csv."""
from hub.errors import Invalid
from hub.web import csv_response, ok, principal, services, wants_csv

from .export import grid_csv, period_csv


def list_returns():
    return ok({"returns": services().returns.list_returns(principal())})


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


def submit_rows(dataset, period, org, body):
    return ok(services().returns.submit_rows(dataset, period, org, body["rows"], principal()))


def edit_row(dataset, period, org, body):
    if body.get("remove"):
        if "values" in body:
            raise Invalid("a row edit either removes the row (remove: true) or gives its values, not both")
        values = None
    elif not isinstance(body.get("values"), dict):
        raise Invalid("give the row's values (an object of fields), or remove: true to remove it")
    else:
        values = body["values"]
    if values is None and not body.get("base"):
        raise Invalid("say which version of the row you are removing (base, the row's version)")
    return ok(services().returns.save_row(dataset, period, org, body["key"], values, body.get("base"), principal()))


def row_history(dataset, period, org):
    return ok(services().returns.history(dataset, period, org, principal()))


def list_submitters(dataset):
    return ok(services().returns.submitters(dataset, principal()))


def assign_submitter(dataset, username, body):
    return ok(services().returns.assign_submitter(dataset, username, body["assigned"], principal()))


def list_definitions():
    return ok({"definitions": services().returns.definitions.list(principal())})


def draft_definition(body):
    return ok(services().returns.definitions.draft(body, principal()), 201)


def get_definition(name):
    return ok(services().returns.definitions.get(name, principal()))


def approve_definition(name, version):
    return ok(services().returns.definitions.approve(name, version, principal()))


def set_definition_lifecycle(name, body):
    return ok(services().returns.definitions.set_lifecycle(name, body, principal()))


def sign_off(dataset, period, org, body):
    return ok(services().returns.sign_off(dataset, period, org, body["action"], body.get("comment"), principal()))


def set_auto_approve(dataset, org, body):
    return ok(services().returns.set_auto_approve(dataset, org, body["enabled"], principal()))


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def template(dataset):
    from flask import Response

    data = services().returns.template(dataset, principal())
    return Response(data, mimetype=XLSX, headers={"Content-Disposition": f'attachment; filename="{dataset}.xlsx"'})


def upload_rows(dataset, period, org, body):
    from flask import request

    name = "upload.csv" if (request.mimetype or "").startswith("text/csv") else "upload.xlsx"
    data = body if isinstance(body, bytes) else str(body).encode("utf-8")
    return ok(services().returns.upload_rows(dataset, period, org, name, data, principal()))
