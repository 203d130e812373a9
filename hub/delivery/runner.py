"""Wiring a delivery worker from the hub's services: its channels and its metrics."""
from __future__ import annotations

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


def build_worker(services, worker_id: str | None = None, channels: dict | None = None) -> Worker:
    worker_id = worker_id or f"{socket.gethostname()}-{uuid.uuid4().hex[:8]}"
    worker = Worker(services.delivery, channels if channels is not None else build_channels(services.settings, worker_id),
                    metrics=services.metrics, worker_id=worker_id, clock=services.clock)
    records = getattr(services, "records", None)
    if records is not None:
        records.on_append(worker.wake)  # publishes in this process are delivered without waiting for the poll
    return worker
