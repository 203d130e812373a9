"""Thin handler for /coverage: JSON by default, CSV with format=csv or Accept: text/csv."""
from hub.web import csv_response, ok, principal, services, wants_csv

from .export import coverage_csv


def coverage(org=None, dataset=None, format=None):
    view = services().coverage.coverage(principal(), org, dataset)
    if wants_csv(format):
        return csv_response(coverage_csv(view), f"coverage-{view['generated_at'][:10]}.csv")
    return ok(view)
