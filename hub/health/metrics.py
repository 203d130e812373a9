"""Prometheus metrics, one registry per app so tests can run many apps in one process."""
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class _LagCollector:
    def __init__(self, read_lag):
        self.read_lag = read_lag

    def collect(self):
        records = GaugeMetricFamily("causeway_delivery_lag_records", "Records a subscription is behind the log",
                                    labels=["subscription", "channel"])
        seconds = GaugeMetricFamily("causeway_delivery_lag_seconds",
                                    "Age of the oldest record a subscription has not yet had",
                                    labels=["subscription", "channel"])
        try:
            rows = self.read_lag()
        except Exception:  # a scrape must answer even when the database does not
            rows = []
        for subscription, channel, behind, age in rows:
            records.add_metric([subscription, channel], behind)
            seconds.add_metric([subscription, channel], age)
        yield records
        yield seconds


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
        self.deliveries = Counter(
            "causeway_deliveries", "Events handed to subscribers, by outcome (delivered, refused, failed, denied)",
            ["subscription", "channel", "outcome"], registry=self.registry)
        self.delivery_retries = Counter(
            "causeway_delivery_retries", "Delivery attempts that failed and were scheduled again",
            ["subscription"], registry=self.registry)

    def count_delivery(self, subscription: str, channel: str, delivered: int, refused: int, failed: int,
                       denied: int) -> None:
        for outcome, count in (("delivered", delivered), ("refused", refused), ("failed", failed), ("denied", denied)):
            if count:
                self.deliveries.labels(subscription, channel, outcome).inc(count)

    def count_retry(self, subscription: str) -> None:
        self.delivery_retries.labels(subscription).inc()

    def watch_delivery_lag(self, read_lag) -> None:
        """read_lag() -> [(subscription, channel, records behind, seconds behind)], read at scrape time."""
        self.registry.register(_LagCollector(read_lag))

    def count_publish(self, org: str, outcome) -> None:
        for dataset, count in outcome.accepted_by_dataset.items():
            self.records_accepted.labels(dataset, org).inc(count)
        for dataset, count in outcome.rejected_by_dataset.items():
            self.records_rejected.labels(dataset, org).inc(count)
        if outcome.duplicates:
            self.records_duplicate.labels(org).inc(outcome.duplicates)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
