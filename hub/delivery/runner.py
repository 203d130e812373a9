"""Wiring a delivery worker from the hub's services: its channels and its metrics."""
from __future__ import annotations

import gc
import socket
import uuid

from .mqtt import MqttChannel
from .webhook import WebhookChannel
from .worker import Worker


def build_channels(settings, worker_id: str) -> dict:
    delivery = settings.delivery
    channels = {"webhook": WebhookChannel(allow=delivery.webhook_allow, timeout=delivery.webhook_timeout_seconds,
                                          user_agent=f"causeway-hub/0.1 ({worker_id})")}
    if delivery.mqtt_host:
        channels["mqtt"] = MqttChannel(delivery.mqtt_host, delivery.mqtt_port, delivery.mqtt_username,
                                       delivery.mqtt_password, retry_seconds=delivery.mqtt_retry_seconds,
                                       client_id=f"causeway-{worker_id}")
    return channels


# A delivery round allocates and frees some tens of objects per record and subscription; at the
# interpreter's default thresholds (700, 10, 10) the cycle collector ran a thousand times for
# 20,000 records to ten subscriptions, scanning the whole heap every few thousand records, and
# took a quarter of the worker's time. A process that delivers collects less often.
COLLECTOR_THRESHOLDS = (10_000, 20, 20)


def tune_collector() -> None:
    """Raise the cycle collector's thresholds to COLLECTOR_THRESHOLDS (never lowers them)."""
    gc.set_threshold(*(max(now, wanted) for now, wanted in zip(gc.get_threshold(), COLLECTOR_THRESHOLDS)))


def build_worker(services, worker_id: str | None = None, channels: dict | None = None) -> Worker:
    tune_collector()
    worker_id = worker_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    worker = Worker(services.delivery, channels if channels is not None else build_channels(services.settings, worker_id),
                    metrics=services.metrics, worker_id=worker_id, clock=services.clock)
    records = getattr(services, "records", None)
    if records is not None:
        records.on_append(worker.wake)  # publishes in this process are delivered without waiting for the poll
    return worker
