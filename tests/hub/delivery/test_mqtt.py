"""MQTT delivery through a real Mosquitto started by the test, with the password file
and ACL written by `causeway-hub mqtt acl`."""
from __future__ import annotations

import json
import queue
import threading
import uuid

import pytest

from factories import gazetteer_record
from harness import HUB_MQTT_PASSWORD as HUB_PASSWORD, MqttSubscriber as Subscriber, wait_until

mqtt = pytest.importorskip("paho.mqtt.client")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


@pytest.fixture
def mqtt_worker(services, settings, broker, grant):
    from hub.delivery.runner import build_worker

    settings.delivery.mqtt_host, settings.delivery.mqtt_port = "127.0.0.1", broker.port
    settings.delivery.mqtt_username, settings.delivery.mqtt_password = "causeway-hub", HUB_PASSWORD
    worker = build_worker(services, worker_id="mqtt-test").start()
    yield worker
    worker.stop()


def test_mqtt_delivers_survives_a_broker_restart_and_keeps_orgs_apart(
        services, broker, mqtt_worker, subscribe, publish, grant):
    grant("sds", "gazetteer-address")
    grant("sfrs", "gazetteer-address")
    sub = subscribe(dataset="gazetteer-address", channel="mqtt", start="now")
    assert sub["topic"] == f"causeway/v1/sds/{sub['id']}"
    sds = Subscriber(broker.port, "sds", broker.passwords["sds"], f"sds-{uuid.uuid4().hex[:6]}")
    sfrs = Subscriber(broker.port, "sfrs", broker.passwords["sfrs"], f"sfrs-{uuid.uuid4().hex[:6]}")
    sds.connect("causeway/v1/sds/#")
    sfrs.connect("causeway/v1/sds/#")  # another org's topics: the ACL lets nothing through
    try:
        expected = publish([gazetteer_record(8000 + i) for i in range(10)])
        got = []
        wait_until(lambda: got.extend(sds.drain()) or len(got) >= 10, timeout=30, message="MQTT delivery")

        broker.stop()
        expected += publish([gazetteer_record(8100 + i) for i in range(10)])
        wait_until(lambda: services.delivery.status(sub["id"], _admin())["status"] == "failing", timeout=30,
                   message="the subscription to show the broker down")
        status = services.delivery.status(sub["id"], _admin())
        assert "unreachable" in status["last_error"] or "lost" in status["last_error"]
        assert status["lag"]["records"] == 10  # held, not skipped
        broker.start()
        sds.client.reconnect() if not sds.client.is_connected() else None
        wait_until(lambda: got.extend(sds.drain()) or len({json.loads(m.payload)["id"] for m in got}) >= 20,
                   timeout=60, message="delivery after the broker restart")
        events = {json.loads(m.payload)["id"]: json.loads(m.payload) for m in got}
        assert sorted(int(e["sequence"]) for e in events.values()) == expected
        assert all(m.topic == sub["topic"] and m.qos == 1 for m in got)
        assert sfrs.drain(wait=0.5) == []  # sfrs saw none of sds's messages
        wait_until(lambda: services.delivery.status(sub["id"], _admin())["status"] == "active", timeout=10,
                   message="the subscription to recover")
    finally:
        sds.close()
        sfrs.close()


def test_an_org_cannot_publish_into_another_orgs_topics(broker):
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="sfrs-pub", protocol=mqtt.MQTTv5)
    client.username_pw_set("sfrs", broker.passwords["sfrs"])
    acked = queue.Queue()
    client.on_publish = lambda c, u, mid, rc, p: acked.put(rc)
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        assert connected.wait(10)
        client.publish("causeway/v1/sds/forged", b"{}", qos=1)
        assert acked.get(timeout=10).value == 0x87  # Not authorized
    finally:
        client.disconnect()
        client.loop_stop()


def _admin():
    from hub.auth import Principal

    return Principal("hub", "admin", "test")
