"""Fan-out benchmark: records delivered to 10 webhook receivers and one MQTT subscriber.

Every part runs in its own process, as in production: the hub (`causeway-hub serve`
with its in-process delivery worker), 10 webhook receivers (the test suite's
receiver: it verifies every signature, de-duplicates by webhook-id and stores what
it gets; the tests' CloudEvents checks are left out, so the hub is what is
measured), a Mosquitto broker, and a publisher that goes through the HTTP API.

1. Throughput: N records (default 100,000) are published through the HTTP API;
   then 10 webhook subscriptions (batch mode) and one MQTT subscription (QoS 1) are
   made from the beginning of the log, and the hub fans the backlog out. Prints
   deliveries/s (webhook deliveries over the time until the last one arrived).
2. The floor, in the same run: the same receivers fed by a bare loop of HTTP posts
   (one thread per receiver, no database, no policy) of the very event bodies the
   hub delivered, in batches of the same size, signed the same way. Prints
   deliveries/s and the ratio hub/floor (aim: at least 0.75). Then the same posts
   again with the rest of the hub's work beside them: a bare paho client publishing
   the very MQTT messages the hub published (QoS 1, the same properties) to the same
   broker and subscriber. Prints that floor and the ratio against it too: what
   separates the hub from the same work done bare.
3. Latency: a publisher process publishes through the HTTP API at a steady, paced
   rate (default 500 records/s); each record carries the moment it was sent as its
   `occurred_at`, which reaches subscribers as the CloudEvent `time`. Prints
   publish-to-receipt latency p50/p99 over every webhook and MQTT delivery (aim:
   p99 under 200 ms), and the rate the publisher achieved.

    python bench/fanout.py [--records 100000] [--rate 500] [--seconds 30] [--db URL]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import requests
import yaml
from ingest import process_cpu_seconds
from results import record

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

RECEIVERS = 10
RECEIVER = ROOT / "tests" / "support" / "receivers" / "webhook_receiver.py"
HUB_MQTT_PASSWORD = "bench-hub-password"
BATCH = 100  # events per webhook batch: the hub's default batch_max_events
FIELDS = ["uprn", "paon", "street", "town", "postcode"]
AIM_RATIO = 0.75  # hub/floor (issue 18)
AIM_P99_MS = 200  # publish-to-receipt at the paced rate (issue 18)


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_time(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def make_records(count: int, start: int, occurred_at: str = "2026-11-02T09:30:00Z") -> list[dict]:
    from causeway_common.catalogue import load_catalogue

    example = load_catalogue()["gazetteer-address"].schemas[1]["examples"][0]
    made = []
    for n in range(start, start + count):
        payload = dict(example, uprn=str(100000000 + n), custodian="edinburgh")
        made.append({"id": str(uuid.uuid4()), "dataset": "gazetteer-address", "schema_version": 1,
                     "key": payload["uprn"], "op": "upsert", "occurred_at": occurred_at, "payload": payload})
    return made


def wait_for(total: int, count, timeout: float, interval: float = 0.2) -> float:
    started = time.perf_counter()
    while count() < total:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out: {count()} of {total} delivered")
        time.sleep(interval)
    return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


# -- the publisher process ----------------------------------------------------------------
def run_publisher(url: str, key: str, rate: int, seconds: float, start: int) -> None:
    """Publish at a steady rate through the HTTP API: every tick a batch of rate/10
    records, each stamped with the moment it was sent. Prints a JSON summary."""
    tick = 0.1
    per_tick = max(1, round(rate * tick))
    template = make_records(1, 0)[0]
    session = requests.Session()
    session.trust_env = False
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    sent, round_trips, n = 0, [], start
    t0 = time.perf_counter()
    ticks = 0
    while time.perf_counter() - t0 < seconds:
        stamp = now_iso()
        batch = []
        for _ in range(per_tick):
            payload = dict(template["payload"], uprn=str(100000000 + n))
            batch.append(dict(template, id=str(uuid.uuid4()), key=payload["uprn"], occurred_at=stamp, payload=payload))
            n += 1
        began = time.perf_counter()
        response = session.post(f"{url}/records", data=json.dumps({"records": batch}), headers=headers, timeout=60)
        round_trips.append(time.perf_counter() - began)
        response.raise_for_status()
        assert all(r["status"] == "accepted" for r in response.json()["results"])
        sent += len(batch)
        ticks += 1
        pause = t0 + ticks * tick - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    elapsed = time.perf_counter() - t0
    print(json.dumps({"sent": sent, "seconds": elapsed, "publish_p50": percentile(round_trips, 50),
                      "publish_p99": percentile(round_trips, 99)}), flush=True)


def spent_since(before: tuple[float, ...], now: tuple[float, ...]) -> tuple[float, ...]:
    """CPU seconds each part spent between two readings."""
    return tuple(after - earlier for after, earlier in zip(now, before))


# -- the parts ------------------------------------------------------------------------------
class Receivers:
    def __init__(self, workdir: Path):
        from support import python_env
        from support.servers import free_port, wait_for_port

        self.ports = [free_port() for _ in range(RECEIVERS)]
        self.procs = [subprocess.Popen([sys.executable, str(RECEIVER), "--port", str(port),
                                        "--state", str(workdir / f"receiver-{i}.db"),
                                        "--skip-event-checks"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=python_env())
                      for i, port in enumerate(self.ports)]
        for port, proc in zip(self.ports, self.procs):
            wait_for_port(port, timeout=20, proc=proc)

    def url(self, i: int, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[i]}/hook/{name}"

    def _get(self, i: int, path: str):
        return requests.get(f"http://127.0.0.1:{self.ports[i]}{path}", timeout=300).json()

    def control(self, i: int, **body) -> None:
        requests.post(f"http://127.0.0.1:{self.ports[i]}/control", json=body, timeout=10).raise_for_status()

    def count(self) -> int:
        return sum(self._get(i, "/count")["events"] for i in range(RECEIVERS))

    def arrivals(self, i: int, name: str) -> list:
        return self._get(i, f"/arrivals?name={name}")["arrivals"]

    def events(self, i: int, name: str) -> list[dict]:
        return [{k: v for k, v in e.items() if not k.startswith("_")} for e in self._get(i, f"/state?name={name}")["events"]]

    def cpu_seconds(self) -> float:
        return sum(process_cpu_seconds(proc.pid) for proc in self.procs)

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)


def start_broker(password_file: str, acl_file: str):
    """The suite's Mosquitto, holding every message for the bench's subscriber. The subscriber
    reads in the bench's own process, on a machine the hub keeps busy, and may fall behind the
    hub's publishing; at a broker's default queue (1,000 messages per client) the broker would
    drop the rest ("outgoing messages are being dropped"), and the bench wait for them forever."""
    from support.servers import MosquittoServer

    class Broker(MosquittoServer):
        def _write_config(self) -> None:
            super()._write_config()
            with open(self.conf_path, "a") as conf:
                conf.write("max_queued_messages 0\n")

    return Broker(password_file=password_file, acl_file=acl_file).start()


def run_mqtt_subscriber(port: int, password: str) -> None:
    """The subscriber process: takes every message of the recipient's topics (QoS 1) and answers on
    stdin/stdout: `count` (distinct events, every arrival), `dump FILE` (what it holds, pickled)."""
    import pickle

    import paho.mqtt.client as mqtt

    received: dict[str, tuple[float, str]] = {}  # event id -> (arrival, the event's time), first arrivals
    published: list[tuple[str, bytes, bytes]] = []  # (topic, payload, packed properties), as first received
    arrivals = 0  # every message, repeats and the floor's included
    lock = threading.Lock()
    ready = threading.Event()

    def on_message(client, userdata, msg):
        nonlocal arrivals
        at = time.time()
        event = json.loads(msg.payload)
        with lock:
            arrivals += 1
            if event["id"] not in received:
                received[event["id"]] = (at, event["time"])
                published.append((msg.topic, msg.payload, msg.properties))

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sds", protocol=mqtt.MQTTv5)
    client.username_pw_set("sds", password)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("causeway/v1/sds/#", qos=1)
    client.on_subscribe = lambda *a: ready.set()
    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert ready.wait(10), "MQTT subscriber could not subscribe"
    print("ready", flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "count":
            with lock:
                print(len(received), arrivals, flush=True)
        elif command == "dump":
            with lock:
                held = {"received": list(received.values()),
                        "published": [(topic, payload, properties.pack()) for topic, payload, properties in published]}
            with open(argument, "wb") as f:
                pickle.dump(held, f)
            print("ok", flush=True)
    client.disconnect()
    client.loop_stop()


class MqttSubscriber:
    """The recipient's MQTT subscriber, in a process of its own (as the receivers are), so that its
    work is on neither the hub's nor the floor's side of the measure."""

    def __init__(self, port: int, password: str, workdir: Path):
        from support import python_env

        self.workdir = workdir
        self.lock = threading.Lock()
        self.proc = subprocess.Popen([sys.executable, __file__, "--mqtt-subscriber", str(port), password],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=python_env())
        assert self._read() == "ready", "the MQTT subscriber did not start"

    def _read(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def _ask(self, line: str) -> str:
        assert self.proc.stdin is not None
        with self.lock:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            return self._read()

    def count(self) -> int:
        """Distinct events received."""
        return int(self._ask("count").split()[0])

    def arrived(self) -> int:
        """Every message received, repeats included."""
        return int(self._ask("count").split()[1])

    def held(self) -> dict:
        """{"received": [(arrival, event time)] in order of arrival, "published": [(topic, payload, properties)]}."""
        import pickle

        path = self.workdir / "mqtt-subscriber.pickle"
        assert self._ask(f"dump {path}") == "ok"
        with open(path, "rb") as f:
            return pickle.load(f)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class Hub:
    """`causeway-hub serve` (with its in-process delivery worker) in its own process."""

    def __init__(self, db_url: str, workdir: Path, env: dict):
        from support.servers import free_port

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1"
        self.log = open(workdir / "hub.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--db", db_url, "--port", str(self.port),
                                      "--no-access-log", "--log-level", "warning"],
                                     cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(600):
            try:
                if requests.get(f"{self.url}/health", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"the hub exited; see {workdir / 'hub.log'}")
            time.sleep(0.1)
        raise SystemExit("the hub did not start")

    def post(self, path: str, key: str, body) -> dict:
        response = requests.post(f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=120)
        if response.status_code >= 300:
            raise SystemExit(f"POST {path}: {response.status_code} {response.text}")
        return response.json()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self.log.close()


def prepare(db_url: str, workdir: Path) -> tuple[dict, dict]:
    """A migrated database with two orgs, their keys, an active agreement, and the broker's files."""
    from causeway_common.catalogue import load_catalogue
    from hub.app import build_services
    from hub.config import Settings
    from hub.db import make_engine
    from hub.delivery.mqtt_acl import write_broker_files
    from hub.migrate import upgrade
    from hub.records.service import sync_catalogue

    engine = make_engine(db_url)
    upgrade(engine)
    sync_catalogue(engine, load_catalogue())
    services = build_services(Settings(db_url=db_url), engine=engine)
    for slug, name, kind in (("edinburgh", "Edinburgh", "council"), ("sds", "SDS", "agency")):
        services.orgs.add_org(slug, name, kind)
    keys = {"publisher": services.orgs.issue_key("edinburgh", "publisher"),
            "subscriber": services.orgs.issue_key("sds", "subscriber")}
    gov_provider = services.orgs.authenticate(services.orgs.issue_key("edinburgh", "governance"))
    gov_recipient = services.orgs.authenticate(services.orgs.issue_key("sds", "governance"))
    document = {"id": "bench-gazetteer", "title": "bench", "providers": ["edinburgh"], "recipients": ["sds"],
                "purposes": ["PublicSafety"], "lawful_basis": "public-task", "valid_from": "2020-01-01",
                "valid_until": "2099-12-31", "retention_days": 30, "datasets": {"gazetteer-address": {"fields": FIELDS}}}
    agreements = services.policy.agreements
    agreements.apply(yaml.safe_dump(document), gov_provider)
    agreements.transition("bench-gazetteer", "approved", gov_provider)
    agreements.transition("bench-gazetteer", "approved", gov_recipient)
    agreements.transition("bench-gazetteer", "active", gov_provider)
    (workdir / "passwd").write_text("")
    passwords, _ = write_broker_files(services.engine, workdir / "passwd", workdir / "acl", "causeway-hub",
                                   HUB_MQTT_PASSWORD)
    services.engine.dispose()
    return keys, passwords


class PackedProperties:
    """A received message's properties packed once, as they came, for paho to send again."""

    def __init__(self, packed: bytes):
        self.packed = packed

    def pack(self) -> bytes:
        return self.packed


def run_bare_publisher(port: int, messages_file: str) -> None:
    """The bare MQTT publisher process: connects, says "ready", and at "go" on stdin publishes every
    message of the file (QoS 1, as many in flight as the broker takes) until all are acknowledged,
    with the hub's own MQTT client (so that the floor is not slower for its transport)."""
    import pickle

    import paho.mqtt.client as mqtt

    from hub.delivery.mqtt import MAX_IN_FLIGHT, PublishingClient  # the hub's transport and window

    with open(messages_file, "rb") as f:
        messages = [(topic, payload, PackedProperties(packed)) for topic, payload, packed in pickle.load(f)]
    connected = threading.Event()
    client = PublishingClient(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-bare-publisher", protocol=mqtt.MQTTv5)
    client.username_pw_set("causeway-hub", HUB_MQTT_PASSWORD)
    client.max_inflight_messages_set(MAX_IN_FLIGHT)
    client.max_queued_messages_set(0)
    client.on_connect = lambda c, u, f, rc, p: connected.set()
    client.connect("127.0.0.1", port)
    client.loop_start()
    assert connected.wait(10), "the bare publisher could not connect"
    print("ready", flush=True)
    sys.stdin.readline()
    for start in range(0, len(messages), 10_000):  # paho's packet ids wrap at 65,535
        infos = [client.publish(topic, payload, qos=1, properties=properties)
                 for topic, payload, properties in messages[start:start + 10_000]]
        for info in infos:
            info.wait_for_publish(120)
    sys.stdin.readline()  # until its CPU time has been read
    client.disconnect()
    client.loop_stop()


class BarePublisher:
    """The hub's MQTT messages published again by a bare paho client in a process of its own (as the
    hub's are), until the subscriber has them all."""

    def __init__(self, port: int, messages: list[tuple[str, bytes, bytes]], subscriber: MqttSubscriber,
                 workdir: Path):
        import pickle

        from support import python_env

        path = workdir / "mqtt-messages.pickle"
        with open(path, "wb") as f:
            pickle.dump(messages, f)
        self.subscriber, self.expected = subscriber, subscriber.arrived() + len(messages)
        self.cpu_seconds = 0.0
        self.proc = subprocess.Popen([sys.executable, __file__, "--bare-publisher", str(port), str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=python_env())
        assert self.proc.stdout is not None and self.proc.stdout.readline().strip() == "ready", \
            "the bare publisher did not start"

    def __call__(self) -> float:
        """Publish everything; seconds until the subscriber had it all."""
        assert self.proc.stdin is not None
        started = time.perf_counter()
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

        def arrived() -> int:
            if self.proc.poll() is not None:
                raise SystemExit(f"the bare MQTT publisher exited with {self.proc.returncode}")
            return self.subscriber.arrived()

        wait_for(self.expected, arrived, timeout=600, interval=0.05)
        elapsed = time.perf_counter() - started
        self.cpu_seconds = process_cpu_seconds(self.proc.pid)
        self.proc.stdin.close()
        if self.proc.wait(60) != 0:
            raise SystemExit("the bare MQTT publisher failed")
        return elapsed


def floor(receivers: Receivers, bodies: list[bytes], secrets: list[str], name: str = "floor",
          beside: Callable[[], float] | None = None) -> tuple[float, float | None]:
    """The same receivers fed the same signed batches by a bare loop of posts, one thread per receiver,
    with `beside` (the bare MQTT publishes) run alongside: seconds for the posts, and for `beside`."""
    failures = []
    beside_s: list[float] = []

    def feed(i: int) -> None:
        key = base64.b64decode(secrets[i].removeprefix("whsec_"))
        with requests.Session() as session:
            session.trust_env = False
            for n, body in enumerate(bodies):
                msg_id, ts = f"{name}_{n}", str(int(time.time()))
                mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
                response = session.post(receivers.url(i, name), data=body, timeout=15, headers={
                    "content-type": "application/cloudevents-batch+json", "webhook-id": msg_id,
                    "webhook-timestamp": ts, "webhook-signature": "v1," + base64.b64encode(mac).decode()})
                if response.status_code != 200:
                    failures.append(response.status_code)
                    return

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(RECEIVERS)]
    alongside = threading.Thread(target=lambda: beside_s.append(beside())) if beside is not None else None
    started = time.perf_counter()
    if alongside is not None:
        alongside.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    posts_s = time.perf_counter() - started
    if alongside is not None:
        alongside.join()
    if failures:
        raise SystemExit(f"the floor's posts failed: {failures}")
    if alongside is not None and not beside_s:
        raise SystemExit("the floor's MQTT publishes failed")
    return posts_s, beside_s[0] if beside_s else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=500, help="records/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=30, help="length of the latency phase")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    parser.add_argument("--detail", action="store_true", help="also print latency per second of publishing")
    parser.add_argument("--publisher", nargs=3, metavar=("URL", "KEY", "START"), help=argparse.SUPPRESS)
    parser.add_argument("--bare-publisher", nargs=2, metavar=("PORT", "FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--mqtt-subscriber", nargs=2, metavar=("PORT", "PASSWORD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_publisher:
        return run_bare_publisher(int(args.bare_publisher[0]), args.bare_publisher[1])
    if args.mqtt_subscriber:
        return run_mqtt_subscriber(int(args.mqtt_subscriber[0]), args.mqtt_subscriber[1])
    if args.publisher:
        url, key, start = args.publisher
        return run_publisher(url, key, args.rate, args.seconds, int(start))

    workdir = Path(tempfile.mkdtemp(prefix="causeway-fanout-"))
    db_url = args.db or f"sqlite:///{workdir / 'hub.db'}"
    # One key file seals secrets for the set-up here and the hub process alike.
    os.environ["CAUSEWAY_SECRETS_KEY_FILE"] = str(workdir / "secrets-key")
    keys, passwords = prepare(db_url, workdir)
    broker = start_broker(str(workdir / "passwd"), str(workdir / "acl"))
    receivers = Receivers(workdir)
    env = {**os.environ, "CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32",
           "CAUSEWAY_MQTT_HOST": "127.0.0.1", "CAUSEWAY_MQTT_PORT": str(broker.port),
           "CAUSEWAY_MQTT_PASSWORD": HUB_MQTT_PASSWORD, "CAUSEWAY_BATCH_MAX_EVENTS": str(BATCH)}
    hub = Hub(db_url, workdir, env)
    mqtt_sub = MqttSubscriber(broker.port, passwords["sds"], workdir)
    print(f"hub pid {hub.proc.pid}; work files in {workdir}", flush=True)
    try:
        print(f"publishing {args.records} records through the HTTP API ...", flush=True)
        for start in range(0, args.records, 1000):
            result = hub.post("/records", keys["publisher"], {"records": make_records(min(1000, args.records - start), start)})
            assert all(r["status"] == "accepted" for r in result["results"])

        # 1. Throughput: the subscriptions start at the beginning of the log.
        secrets = []
        def parts_cpu() -> tuple[float, ...]:
            return process_cpu_seconds(hub.proc.pid), receivers.cpu_seconds(), process_cpu_seconds(broker.proc.pid)

        cpu_before = parts_cpu()
        started = time.perf_counter()
        for i in range(RECEIVERS):
            sub = hub.post("/subscriptions", keys["subscriber"], {
                "dataset": "gazetteer-address", "purpose": "PublicSafety", "channel": "webhook",
                "url": receivers.url(i, "hub"), "batch": True, "start": "beginning"})
            receivers.control(i, secrets={"hub": sub["secret"], "floor": sub["secret"], "floor-mqtt": sub["secret"]})
            secrets.append(sub["secret"])
        hub.post("/subscriptions", keys["subscriber"], {"dataset": "gazetteer-address", "purpose": "PublicSafety",
                                                         "channel": "mqtt", "start": "beginning"})
        total = args.records * RECEIVERS
        webhook_s = time.perf_counter() - started + wait_for(total, receivers.count, timeout=3600)
        mqtt_s = time.perf_counter() - started + wait_for(args.records, mqtt_sub.count, timeout=3600)
        hub_rate = total / webhook_s
        hub_cpu, receivers_cpu, broker_cpu = spent_since(cpu_before, parts_cpu())
        print(f"hub:   {total} webhook deliveries in {webhook_s:.1f} s = {hub_rate:,.0f} deliveries/s "
              f"({args.records} MQTT deliveries done after {mqtt_s:.1f} s)", flush=True)
        # What separates the hub from the floor, in CPU: the machine's cores are shared by all of these.
        print(f"       CPU: hub {hub_cpu:.1f} s ({1e6 * hub_cpu / total:.0f} us per webhook delivery), "
              f"receivers {receivers_cpu:.1f} s, broker {broker_cpu:.1f} s; "
              f"{(hub_cpu + receivers_cpu + broker_cpu) / webhook_s:.2f} of {os.cpu_count()} cores busy", flush=True)

        # 2. The floor: the very bodies the hub delivered, batched as the hub batches them.
        events = sorted(receivers.events(0, "hub"), key=lambda e: int(e["sequence"]))
        bodies = [json.dumps(events[i:i + BATCH], separators=(",", ":"), ensure_ascii=False).encode("utf-8")
                  for i in range(0, len(events), BATCH)]
        cpu_before = time.process_time(), receivers.cpu_seconds()  # this process alone: its children are the parts
        floor_s, _ = floor(receivers, bodies, secrets)
        posting_cpu, receivers_cpu = spent_since(cpu_before, (time.process_time(), receivers.cpu_seconds()))
        floor_rate = len(events) * RECEIVERS / floor_s
        print(f"floor: {len(events) * RECEIVERS} deliveries by a bare loop of posts in {floor_s:.1f} s = "
              f"{floor_rate:,.0f} deliveries/s")
        print(f"       CPU: posting {posting_cpu:.1f} s ({1e6 * posting_cpu / (len(events) * RECEIVERS):.0f} us per "
              f"delivery), receivers {receivers_cpu:.1f} s; {(posting_cpu + receivers_cpu) / floor_s:.2f} of "
              f"{os.cpu_count()} cores busy", flush=True)
        print(f"ratio hub/floor: {hub_rate / floor_rate:.2f} (aim >= {AIM_RATIO})", flush=True)
        record("fan-out, 10 webhooks + 1 MQTT", hub_rate, "deliveries/s", floor=floor_rate, floor_label="bare posts",
               aim_ratio=AIM_RATIO)

        # 2b. The same posts with the MQTT subscription's publishes made bare beside them.
        published = mqtt_sub.held()["published"]
        bare = BarePublisher(broker.port, published, mqtt_sub, workdir)
        parts_before = receivers.cpu_seconds(), process_cpu_seconds(broker.proc.pid)
        cpu_before = time.process_time()
        both_s, bare_mqtt_s = floor(receivers, bodies, secrets, "floor-mqtt", bare)
        posting_cpu = time.process_time() - cpu_before
        receivers_cpu, broker_cpu = spent_since(parts_before, (receivers.cpu_seconds(),
                                                               process_cpu_seconds(broker.proc.pid)))
        both_rate = len(events) * RECEIVERS / both_s
        print(f"floor with the MQTT publishes beside it: {len(events) * RECEIVERS} deliveries in {both_s:.1f} s = "
              f"{both_rate:,.0f} deliveries/s ({len(published)} bare MQTT publishes done after {bare_mqtt_s:.1f} s)")
        print(f"       CPU: posting {posting_cpu:.1f} s, publishing {bare.cpu_seconds:.1f} s "
              f"({1e6 * bare.cpu_seconds / max(1, len(published)):.0f} us per publish), receivers "
              f"{receivers_cpu:.1f} s, broker {broker_cpu:.1f} s", flush=True)
        print(f"ratio hub/(floor with MQTT): {hub_rate / both_rate:.2f} (aim >= {AIM_RATIO})", flush=True)
        record("fan-out, against the same work done bare", hub_rate, "deliveries/s", floor=both_rate,
               floor_label="bare posts + bare MQTT publishes", aim_ratio=AIM_RATIO)

        # 3. Latency at a steady rate, published from its own process.
        before = receivers.count()
        publisher = subprocess.run([sys.executable, __file__, "--rate", str(args.rate), "--seconds", str(args.seconds),
                                    "--publisher", hub.url, keys["publisher"], str(args.records)],
                                   capture_output=True, text=True, check=True)
        summary = json.loads(publisher.stdout.strip().splitlines()[-1])
        sent = summary["sent"]
        wait_for(before + sent * RECEIVERS, receivers.count, timeout=600)
        wait_for(args.records + sent, mqtt_sub.count, timeout=600)
        samples = []  # (sent at, latency)
        for i in range(RECEIVERS):
            samples += [(parse_time(sent_at), at - parse_time(sent_at))
                        for _, at, sent_at in receivers.arrivals(i, "hub")[args.records:]]
        samples += [(parse_time(sent_at), at - parse_time(sent_at))
                    for at, sent_at in mqtt_sub.held()["received"][args.records:]]
        samples.sort()
        latencies = [latency for _, latency in samples]
        print(f"latency at {sent / summary['seconds']:,.0f} records/s published over {summary['seconds']:.0f} s "
              f"({len(latencies)} deliveries): p50 {percentile(latencies, 50) * 1000:.0f} ms, "
              f"p99 {percentile(latencies, 99) * 1000:.0f} ms (aim p99 < {AIM_P99_MS} ms); "
              f"publish round trip p50 {summary['publish_p50'] * 1000:.0f} ms, "
              f"p99 {summary['publish_p99'] * 1000:.0f} ms", flush=True)
        record("fan-out p99 latency", percentile(latencies, 99) * 1000, "ms", aim_max=AIM_P99_MS)
        if args.detail:
            by_second: dict[int, list[float]] = {}
            for sent_at, latency in samples:
                by_second.setdefault(int(sent_at - samples[0][0]), []).append(latency)
            for second, values in sorted(by_second.items()):
                print(f"  second {second:3d}: {len(values):5d} deliveries, p50 {percentile(values, 50) * 1000:5.0f} ms, "
                      f"p99 {percentile(values, 99) * 1000:5.0f} ms, max {max(values) * 1000:5.0f} ms")
    finally:
        hub.stop()
        mqtt_sub.close()
        broker.close()
        receivers.stop()


if __name__ == "__main__":
    main()
