"""MQTT channel: each event as CloudEvents structured JSON, QoS 1, to
`causeway/v1/{recipient-org}/{subscription-id}` on the configured broker
(paho-mqtt 2, callback API version 2, MQTT 5). The cursor advances only after the
broker's PUBACK for every message; a broker that is down holds the cursor."""
from __future__ import annotations

import copy
import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties, VariableByteIntegers

from .channel import Message, Outcome, Target

TOPIC_PREFIX = "causeway/v1"


def _utf8(text: str) -> bytes:
    data = text.encode("utf-8")
    return len(data).to_bytes(2, "big") + data


class PublishProperties(Properties):
    """A PUBLISH's properties: the CloudEvents content type and the event's webhook-id.

    paho builds its property tables anew for every Properties object, checks each name set
    against them, and packs by looking each name up again: together more than the publish
    itself. Each message's properties here are a copy of one checked object with its own
    webhook-id, packed from bytes made once (the same bytes paho's pack gives; a test pins it)."""

    CONTENT_TYPE = "application/cloudevents+json"
    _FIXED = bytes([3]) + _utf8(CONTENT_TYPE) + bytes([38]) + _utf8("webhook-id")  # 3: ContentType, 38: UserProperty

    def pack(self) -> bytes:
        body = self._FIXED + _utf8(self.UserProperty[0][1])
        return VariableByteIntegers.encode(len(body)) + body


_PUBLISH_PROPERTIES = PublishProperties(PacketTypes.PUBLISH)
_PUBLISH_PROPERTIES.ContentType = PublishProperties.CONTENT_TYPE
_PUBLISH_PROPERTIES.UserProperty = [("webhook-id", "")]


def publish_properties(webhook_id: str) -> PublishProperties:
    properties = copy.copy(_PUBLISH_PROPERTIES)
    object.__setattr__(properties, "UserProperty", [("webhook-id", webhook_id)])
    return properties


def topic(org: str, subscription_id: str) -> str:
    return f"{TOPIC_PREFIX}/{org}/{subscription_id}"


class MqttChannel:
    name = "mqtt"

    def __init__(self, host: str, port: int = 1883, username: str | None = None, password: str | None = None,
                 retry_seconds: float = 5.0, ack_timeout: float = 10.0, client_id: str | None = None):
        self.retry_seconds = retry_seconds
        self.ack_timeout = ack_timeout
        self._acks: dict[int, object] = {}
        self._cond = threading.Condition()
        self._connected = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5,
                                  client_id=client_id or f"causeway-hub-{uuid.uuid4().hex[:12]}")
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=int(max(1, retry_seconds)))
        self.client.max_inflight_messages_set(1000)  # a page in flight at once; PUBACKs awaited together
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self.client.connect_async(host, port, keepalive=30)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if not reason_code.is_failure:
            self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties):
        self._connected.clear()
        with self._cond:
            self._cond.notify_all()

    def _on_publish(self, client, userdata, mid, reason_code, properties):
        with self._cond:
            self._acks[mid] = reason_code
            self._cond.notify_all()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def deliver(self, target: Target, messages: list[Message]) -> list[Outcome]:
        if not self._connected.wait(min(2.0, self.ack_timeout)):
            return [Outcome("failed", error="the MQTT broker is unreachable", retry_after=self.retry_seconds)]
        name = topic(target.org, target.id)
        mids = []
        for message in messages:
            info = self.client.publish(name, message.encoded(), qos=1, properties=publish_properties(message.webhook_id))
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                break
            mids.append(info.mid)
        outcomes = []
        deadline = time.monotonic() + self.ack_timeout
        with self._cond:
            for mid in mids:
                while mid not in self._acks and self._connected.is_set():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                code = self._acks.pop(mid, None)
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
