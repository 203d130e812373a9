"""MQTT delivery through a real Mosquitto started by the test, with the password file
and ACL written by `causeway-hub mqtt acl`."""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import uuid
from datetime import date
from pathlib import Path

import pytest

from support import ROOT
from support.cloudevents_check import check_event
from support.delivery import HUB_MQTT_PASSWORD as HUB_PASSWORD
from support.delivery import MqttSubscriber as Subscriber
from support.factories import gazetteer_record
from support.servers import MosquittoServer
from support.waiting import wait_until

mqtt = pytest.importorskip("paho.mqtt.client")

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(120)]


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
        # Through the real broker, each message says what it holds and carries an id to de-duplicate by:
        # the same event (sent again after the restart) keeps its id, different events never share one.
        assert all(m.properties.ContentType == "application/cloudevents+json" for m in got)
        pairs = {(json.loads(m.payload)["id"], dict(m.properties.UserProperty)["webhook-id"]) for m in got}
        assert len(pairs) == len({event for event, _ in pairs}) == len({webhook_id for _, webhook_id in pairs}) == 20
        assert all(webhook_id.startswith(f"msg_{sub['id'].replace('-', '')[:20]}_") for _, webhook_id in pairs)
        for event in events.values():  # each passes the official CloudEvents SDK and JSON schema
            check_event(event)
            assert event["dataschema"].startswith(("http://", "https://")) and len(event["sequence"]) == 20
            assert date.fromisoformat(event["retentionuntil"]) > date.today()
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


def _broker_user_exists() -> bool:
    import pwd

    try:
        pwd.getpwnam("mosquitto")
    except KeyError:
        return False
    return True


@pytest.mark.skipif(os.geteuid() != 0 or not _broker_user_exists(),
                    reason="the packaged broker drops from root to the mosquitto user (Debian's package makes it)")
def test_a_broker_started_the_packaged_way_reads_the_generated_files_and_keeps_orgs_apart(db_url, services):
    import pwd
    import stat
    import tempfile

    # Somewhere the broker's user can reach once it has dropped root (a test's tmp_path is 0700 root).
    folder = Path(tempfile.mkdtemp(prefix="causeway-broker-files-"))
    os.chmod(folder, 0o711)
    passwd, acl = folder / "passwd", folder / "acl"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "hub.cli", "mqtt", "acl", "--db", db_url, "--password-file", str(passwd),
             "--acl-file", str(acl)], cwd=str(ROOT), capture_output=True, text=True, timeout=60,
            env={**os.environ, "CAUSEWAY_MQTT_PASSWORD": HUB_PASSWORD})
        assert result.returncode == 0, result.stderr
        assert "cannot read" not in result.stderr
        passwords = dict(line.split() for line in result.stdout.splitlines() if line.startswith("  "))
        broker_account = pwd.getpwnam("mosquitto")
        for path in (passwd, acl):
            info = path.stat()
            assert (info.st_uid, info.st_gid) == (broker_account.pw_uid, broker_account.pw_gid), path
            assert stat.S_IMODE(info.st_mode) == 0o640, path  # nobody else reads the hashes
        server = MosquittoServer(password_file=str(passwd), acl_file=str(acl), packaged=True).start()
        try:
            with open(f"/proc/{server.proc.pid}/status") as status:
                uid = next(line.split()[1] for line in status if line.startswith("Uid:"))
            assert int(uid) == broker_account.pw_uid  # it really dropped to its own user
            sds = Subscriber(server.port, "sds", passwords["sds"], f"sds-{uuid.uuid4().hex[:6]}")
            sds.connect("causeway/v1/#")  # asks for everything; the ACL gives it only its own topics
            hub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="hub-pub", protocol=mqtt.MQTTv5)
            hub.username_pw_set("causeway-hub", HUB_PASSWORD)
            connected = threading.Event()
            hub.on_connect = lambda c, u, f, rc, p: (not rc.is_failure) and connected.set()
            hub.connect("127.0.0.1", server.port)
            hub.loop_start()
            try:
                assert connected.wait(10), server.log()
                for org in ("sfrs", "sds"):
                    hub.publish(f"causeway/v1/{org}/sub-1", org.encode(), qos=1).wait_for_publish(10)
                got = []
                wait_until(lambda: got.extend(sds.drain()) or got, timeout=10, message="sds's own message")
                got += sds.drain(wait=0.5)
                assert [(m.topic, m.payload) for m in got] == [("causeway/v1/sds/sub-1", b"sds")]
            finally:
                hub.disconnect()
                hub.loop_stop()
                sds.close()
            assert "Error" not in server.log(), server.log()
        finally:
            server.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("webhook_id", ["msg_0001", "é" * 70, "x" * 300])
def test_each_messages_properties_pack_to_the_bytes_paho_would_send(webhook_id):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from hub.delivery.mqtt import PublishProperties

    built_by_paho = Properties(PacketTypes.PUBLISH)
    built_by_paho.ContentType = "application/cloudevents+json"
    built_by_paho.UserProperty = [("webhook-id", webhook_id)]
    assert PublishProperties(webhook_id).pack() == built_by_paho.pack()


@pytest.mark.parametrize("tail", [b"", b"\x00", b"\x00\x00", b"\x10", b"\x87", b"\x00\x03\x1f\x00\x00"])
def test_every_puback_reaches_the_channel_as_paho_decodes_it(tail):
    """Success PUBACKs take the channel's short path; whatever it takes must come out as paho's
    own decoding would have it (no matching subscribers, not authorised, a reason string)."""
    from paho.mqtt import _packet

    from hub.delivery.mqtt import PublishingClient

    got = []
    client = PublishingClient(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_publish = lambda c, u, mid, reason, properties: got.append((mid, reason.value, reason.is_failure))
    message = mqtt.MQTTMessage(0x1234, b"causeway/v1/sds/sub")
    message.qos = 1
    client._out_messages[0x1234] = message
    client._inflight_messages = 1
    packet = bytearray(b"\x12\x34" + tail)
    client._in_packet = {"command": 0x40, "packet": packet}
    client._handle_pubackcomp("PUBACK")
    expected = _packet.decode_puback(0x40, packet, mqtt.MQTTv5).reason
    assert got == [(0x1234, expected.value, expected.is_failure)]
    assert message.info.is_published() and client._out_messages == {}


def test_a_page_of_publishes_is_acknowledged_together_and_a_refusal_ends_it(broker):
    from hub.delivery.channel import Message, Target
    from hub.delivery.mqtt import MqttChannel

    messages = [Message(f"msg_{n}", [{"id": str(n)}], [n]) for n in range(1, 501)]
    # With a subscriber, Mosquitto answers each publish with a bare success PUBACK (the channel's
    # short path); without one, with "no matching subscribers" (paho's): both are delivered.
    sds = Subscriber(broker.port, "sds", broker.passwords["sds"], f"sds-{uuid.uuid4().hex[:6]}")
    sds.connect("causeway/v1/sds/#")
    channel = MqttChannel("127.0.0.1", broker.port, "causeway-hub", HUB_PASSWORD, ack_timeout=30)
    try:
        assert channel.wait_connected(10)
        assert channel.client.max_inflight_messages == 20  # the Receive Maximum Mosquitto names
        outcomes = channel.deliver(Target("bulk", "sds"), messages)
        assert [o.kind for o in outcomes] == ["ok"] * 500
        assert channel._acks == {} and channel._awaited == {}  # nothing kept once answered
        wait_until(lambda: sds.messages.qsize() >= 500, timeout=20)
        received = sds.drain()
        assert [dict(m.properties.UserProperty)["webhook-id"] for m in received] == [m.webhook_id for m in messages]
        assert {m.properties.ContentType for m in received} == {"application/cloudevents+json"}
        sds.close()  # no subscriber now: the broker answers "no matching subscribers"
        outcomes = channel.deliver(Target("bulk", "sds"), messages[:50])
        assert [o.kind for o in outcomes] == ["ok"] * 50
    finally:
        sds.close()
        channel.close()
    # An org's own credentials may not publish into causeway/v1/sds: the broker refuses each one.
    channel = MqttChannel("127.0.0.1", broker.port, "sfrs", broker.passwords["sfrs"], ack_timeout=30)
    try:
        assert channel.wait_connected(10)
        outcomes = channel.deliver(Target("bulk", "sds"), messages)
        assert len(outcomes) == 1 and outcomes[0].kind == "failed" and "refused" in outcomes[0].error
    finally:
        channel.close()
