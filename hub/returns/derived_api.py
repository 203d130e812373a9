"""Thin handlers for returns derived from records: the lineage of a council's set, and computing it now."""
from hub.web import ok, principal, services


def lineage(dataset, period, org):
    return ok(services().derived_returns.lineage(dataset, period, org, principal()))


def derive(dataset, period, org, body):
    replace = bool(body.get("replace_edits", False))
    return ok(services().derived_returns.derive(dataset, period, org, replace, principal()))
