"""Prometheus metrics, one registry per app so tests can run many apps in one process."""
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self):
        self.registry = CollectorRegistry()
        self.records_accepted = Counter(
            "causeway_records_accepted", "Records accepted into the log", ["dataset", "org"], registry=self.registry)
        self.records_rejected = Counter(
            "causeway_records_rejected", "Records rejected at publish", ["dataset", "org"], registry=self.registry)
        self.records_duplicate = Counter(
            "causeway_records_duplicate", "Records answered duplicate at publish", ["org"], registry=self.registry)
        self.request_seconds = Histogram(
            "causeway_http_request_duration_seconds", "HTTP request latency", ["method", "route", "status"],
            registry=self.registry, buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))

    def count_publish(self, org: str, outcome) -> None:
        for dataset, count in outcome.accepted_by_dataset.items():
            self.records_accepted.labels(dataset, org).inc(count)
        for dataset, count in outcome.rejected_by_dataset.items():
            self.records_rejected.labels(dataset, org).inc(count)
        if outcome.duplicates:
            self.records_duplicate.labels(org).inc(outcome.duplicates)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
