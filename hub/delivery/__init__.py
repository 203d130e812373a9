"""Fan-out to subscribers: subscriptions as cursors into the record log, delivered
by webhook, MQTT or pull feed, with retries, dead letters and replay."""
