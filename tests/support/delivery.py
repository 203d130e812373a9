"""Real processes for delivery tests: the webhook receiver, the delivery worker, and an
org's MQTT client."""
from __future__ import annotations

import base64
import json
import os
import queue
import signal
import ssl
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

from support import ROOT, python_env
from support.servers import free_port, wait_for_port

RECEIVER = Path(__file__).parent / "receivers" / "webhook_receiver.py"
SECRETS_KEY = base64.b64encode(b"k" * 32).decode()  # seals webhook secrets in the hubs tests start
HUB_MQTT_PASSWORD = "hub-broker-secret"
LEASE = 2.0  # seconds: delivery processes the tests start take over a dead one's subscriptions quickly


def worker_env(**extra) -> dict:
    """The environment of a hub or delivery process a delivery test starts: loopback webhooks
    allowed, the tests' secrets key, short leases, polls, retries and agreement re-checks."""
    env = {"CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32", "CAUSEWAY_SECRETS_KEY": SECRETS_KEY,
           "CAUSEWAY_LEASE_SECONDS": str(LEASE), "CAUSEWAY_POLL_SECONDS": "0.05",
           "CAUSEWAY_RETRY_SCHEDULE": "0.2,0.5", "CAUSEWAY_AGREEMENT_RECHECK_SECONDS": "0.2"}
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Receiver:
    """support/receivers/webhook_receiver.py in its own process, its state in a file that outlives it."""

    def __init__(self, state_path: Path, port: int | None = None, host: str = "127.0.0.1", tls: tuple | None = None):
        self.state_path = str(state_path)
        self.port = port or free_port()
        self.host = host
        self.tls = tls  # (certificate, key, CA) paths: serve HTTPS
        self.proc: subprocess.Popen | None = None

    def url(self, name: str) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}/hook/{name}"

    def start(self) -> "Receiver":
        extra = ["--tls-cert", str(self.tls[0]), "--tls-key", str(self.tls[1])] if self.tls else []
        self.proc = subprocess.Popen([sys.executable, str(RECEIVER), "--port", str(self.port),
                                      "--state", self.state_path, "--host", self.host, *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=python_env())
        wait_for_port(self.port, timeout=60, proc=self.proc, host=self.host)
        return self

    def _call(self, method: str, path: str, payload=None):
        data = json.dumps(payload).encode() if payload is not None else None
        request = urllib.request.Request(f"{'https' if self.tls else 'http'}://{self.host}:{self.port}{path}",
                                         data=data, method=method, headers={"content-type": "application/json"})
        context = ssl.create_default_context(cafile=str(self.tls[2])) if self.tls else None
        if context is not None:
            context.check_hostname = False  # the test talks to the address; the hub is what checks the name
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return json.loads(response.read() or b"{}")

    def control(self, **settings) -> None:
        self._call("POST", "/control", settings)

    def state(self, name: str | None = None) -> dict:
        return self._call("GET", f"/state?name={name}" if name else "/state")

    def events(self, name: str | None = None) -> list[dict]:
        state = self.state(name)
        # Every event must pass the CloudEvents SDK and schema: a test fails at once, naming why.
        assert state["bad_events"] == [], state["bad_events"]
        return state["events"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart(self) -> "Receiver":
        self.stop()
        return self.start()


class WorkerProcess:
    """`python -m hub.cli deliver` as its own process."""

    def __init__(self, db_url: str, worker_id: str, env: dict | None = None, log_path: Path | None = None):
        self.db_url = db_url
        self.worker_id = worker_id
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> "WorkerProcess":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "deliver", "--db", self.db_url,
                                      "--worker-id", self.worker_id], cwd=str(ROOT), env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        if self.log_path:
            log.close()
        return self

    def kill(self) -> None:
        """SIGKILL: no clean-up, no lease release."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class MqttSubscriber:
    """An org's MQTT client with a persistent session (so nothing is lost while it is away)."""

    def __init__(self, port, username, password, client_id):
        self.port, self.username, self.password, self.client_id = port, username, password, client_id
        self.messages: queue.Queue = queue.Queue()
        self.client = None

    def connect(self, topic: str):
        import paho.mqtt.client as mqtt
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        connected = threading.Event()
        subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id, protocol=mqtt.MQTTv5)
        self.client.username_pw_set(self.username, self.password)
        self.client.on_connect = lambda c, u, f, rc, p: (not rc.is_failure) and connected.set()
        self.client.on_subscribe = lambda c, u, mid, rcs, p: subscribed.set()
        self.client.on_message = lambda c, u, msg: self.messages.put(msg)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 300
        self.client.connect("127.0.0.1", self.port, clean_start=False, properties=props)
        self.client.loop_start()
        assert connected.wait(10), "no CONNACK"
        self.client.subscribe(topic, qos=1)
        assert subscribed.wait(10), "no SUBACK"

    def drain(self, wait: float = 0.2) -> list:
        got = []
        while True:
            try:
                got.append(self.messages.get(timeout=wait))
            except queue.Empty:
                return got

    def close(self):
        if self.client is not None:
            self.client.disconnect()
            self.client.loop_stop()
