"""Thin handlers for /benchmarks and /benchmark-groups: JSON, or CSV with format=csv or Accept: text/csv."""
from flask import Response

from hub.web import csv_response, ok, principal, services, wants_csv

from .export import benchmark_csv


def list_benchmarks():
    return ok({"benchmarks": services().benchmarks.list(principal())})


def get_benchmark(dataset, period=None, org=None, periods=None, format=None):
    result = services().benchmarks.benchmark(dataset, period, org, periods, principal())
    if wants_csv(format):
        return csv_response(benchmark_csv(result), f"benchmarks-{dataset}-{result['period']}.csv")
    return ok(result)


def list_indicators(dataset):
    return ok({"indicators": services().benchmarks.indicators(dataset, principal())})


def set_indicator(dataset, name, body):
    return ok(services().benchmarks.set_indicator(dataset, name, body, principal()))


def remove_indicator(dataset, name):
    services().benchmarks.remove_indicator(dataset, name, principal())
    return Response(status=204)


def set_settings(dataset, body):
    return ok(services().benchmarks.set_named_figures(dataset, body["named_figures"], principal()))


def list_groups():
    return ok({"groups": services().benchmarks.groups.list(principal())})


def set_group(name, body):
    return ok(services().benchmarks.groups.set(name, body, principal()))


def remove_group(name):
    services().benchmarks.groups.remove(name, principal())
    return Response(status=204)
