"""MQTT channel: each event as CloudEvents structured JSON, QoS 1, to
`causeway/v1/{recipient-org}/{subscription-id}` on the configured broker
(paho-mqtt 2, callback API version 2, MQTT 5). The cursor advances only after the
broker's PUBACK for every message; a broker that is down holds the cursor."""
from __future__ import annotations

import logging
import threading
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers
from paho.mqtt.reasoncodes import ReasonCode

from .channel import Message, Outcome, Target

log = logging.getLogger("causeway.delivery")

TOPIC_PREFIX = "causeway/v1"
# Unacknowledged publishes at most: Mosquitto's default Receive Maximum (EMQX's is 32). A broker
# may disconnect a client that sends more than it names, and paho looks through every publish
# in flight at each PUBACK, so a small window is also the cheaper one (63-68 against 80-105 us
# of CPU per publish with 1,000).
MAX_IN_FLIGHT = 20


def _utf8(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


class PublishProperties:
    """A PUBLISH's properties: the CloudEvents content type and the event's webhook-id.

    paho builds its property tables anew for every Properties object and packs by looking
    each name up again: together more than the publish itself. paho only ever packs a
    publish's properties, so each message carries just its webhook-id and packs from bytes
    made once (the same bytes paho's Properties give; a test pins it)."""

    __slots__ = ("webhook_id",)
    CONTENT_TYPE = "application/cloudevents+json"
    _FIXED = bytes([3]) + _utf8(CONTENT_TYPE) + bytes([38]) + _utf8("webhook-id")  # 3: ContentType, 38: UserProperty

    def __init__(self, webhook_id: str):
        self.webhook_id = webhook_id

    def pack(self) -> bytes:
        body = self._FIXED + _utf8(self.webhook_id)
        return VariableByteIntegers.encode(len(body)) + body

    def __repr__(self) -> str:  # paho's debug log names them
        return f"[ContentType: {self.CONTENT_TYPE!r}, UserProperty: [('webhook-id', {self.webhook_id!r})]]"


# A PUBACK that says success: Mosquitto sends the two bytes of its packet id alone, others may
# add a zero reason code and an empty property length (MQTT 5, 3.4.2.1).
_SUCCESS_TAILS = (b"", b"\x00", b"\x00\x00")
_PUBACK_SUCCESS = ReasonCode(PacketTypes.PUBACK)
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)


class PublishingClient(mqtt.Client):
    """paho's client, taking a successful PUBACK without decoding it into two ReasonCode and two
    Properties objects (each copying paho's name tables): a third of the channel's CPU per
    publish. Any other PUBACK, and PUBCOMP, is paho's own path (paho-mqtt pinned; a test sends
    real publishes through a broker)."""

    def _handle_pubackcomp(self, cmd):
        packet = self._in_packet["packet"]
        if cmd != "PUBACK" or self._protocol != mqtt.MQTTv5 or len(packet) < 2 or packet[2:] not in _SUCCESS_TAILS:
            return super()._handle_pubackcomp(cmd)
        mid = int.from_bytes(packet[:2], "big")
        with self._out_message_mutex:
            if mid in self._out_messages:
                return self._do_on_publish(mid, _PUBACK_SUCCESS, _NO_PROPERTIES)
        return mqtt.MQTT_ERR_SUCCESS


def topic(org: str, subscription_id: str) -> str:
    return f"{TOPIC_PREFIX}/{org}/{subscription_id}"


class _Awaited:
    """A deliver call's publishes not yet acknowledged: woken once, when the last PUBACK (or a
    refusal, or a lost connection) comes, rather than at every PUBACK of the page."""

    __slots__ = ("pending", "done")

    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.done = threading.Event()


class MqttChannel:
    name = "mqtt"

    def __init__(self, host: str, port: int = 1883, username: str | None = None, password: str | None = None,
                 retry_seconds: float = 5.0, ack_timeout: float = 10.0, client_id: str | None = None):
        self.retry_seconds = retry_seconds
        self.ack_timeout = ack_timeout
        self._acks: dict[int, object] = {}  # mid -> reason code, until its deliver call reads it
        self._awaited: dict[int, _Awaited] = {}  # mid -> the deliver call waiting for it
        self._abandoned: set[int] = set()  # mids given up on: a PUBACK that comes late is dropped
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = PublishingClient(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                       client_id=client_id or f"causeway-hub-{uuid.uuid4().hex[:12]}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=int(max(1, retry_seconds)))
        self.client.max_inflight_messages_set(MAX_IN_FLIGHT)  # the rest of a page waits in paho's queue
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            receive_maximum = getattr(properties, "ReceiveMaximum", 65535) if properties is not None else 65535
            if receive_maximum < MAX_IN_FLIGHT:  # paho cannot lower its window on an open connection
                log.warning("the MQTT broker takes %d unacknowledged publishes, fewer than the hub's %d: raise "
                            "its max_inflight_messages (Mosquitto) or receive maximum", receive_maximum,
                            MAX_IN_FLIGHT)
            self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._connected.clear()
        with self._lock:
            for awaited in self._awaited.values():
                awaited.done.set()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._lock:
            if mid in self._abandoned:
                self._abandoned.discard(mid)
                return
            self._acks[mid] = reason_code
            awaited = self._awaited.pop(mid, None)
            if awaited is not None:
                awaited.pending.discard(mid)
                if not awaited.pending or reason_code.is_failure:
                    awaited.done.set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def deliver(self, target: Target, messages: list[Message]) -> list[Outcome]:
        if not self._connected.wait(min(2.0, self.ack_timeout)):
            return [Outcome("failed", error="the MQTT broker is unreachable", retry_after=self.retry_seconds)]
        name = topic(target.org, target.id)
        mids = []
        for message in messages:
            info = self.client.publish(name, message.encoded(), qos=1, properties=PublishProperties(message.webhook_id))
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            mids.append(info.mid)
        awaited = _Awaited()
        with self._lock:  # a PUBACK may have come already: only those still to come are awaited
            awaited.pending.update(mid for mid in mids if mid not in self._acks)
            self._awaited.update((mid, awaited) for mid in awaited.pending)
        if awaited.pending and self._connected.is_set():
            awaited.done.wait(self.ack_timeout)
        outcomes = []
        with self._lock:
            for mid in mids:
                self._awaited.pop(mid, None)
            codes = [self._acks.pop(mid, None) for mid in mids]
            self._abandoned.update(mid for mid, code in zip(mids, codes) if code is None)
            for code in codes:
                if code is None:
                    outcomes.append(Outcome("failed", error="no PUBACK from the MQTT broker",
                                            retry_after=self.retry_seconds))
                    break
                if code.is_failure:
                    outcomes.append(Outcome("failed", error=f"the MQTT broker refused the message: {code}",
                                            retry_after=self.retry_seconds))
                    break
                outcomes.append(Outcome("ok"))
        if len(outcomes) < len(messages) and (not outcomes or outcomes[-1].done):
            outcomes.append(Outcome("failed", error="the MQTT broker connection was lost",
                                    retry_after=self.retry_seconds))
        return outcomes

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
