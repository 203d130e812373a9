"""Fan-out benchmark: records delivered to 10 webhook receivers and one MQTT subscriber.

1. Throughput: N records (default 100,000) are in the log; a delivery worker process
   (`causeway-hub deliver`) fans them out, in webhook batch mode, to 10 receiver
   processes (the test suite's receiver: it verifies every signature, de-duplicates
   and stores what it gets) and, event by event at QoS 1, to one MQTT subscriber on
   a real Mosquitto. Prints deliveries/s.
2. The floor, in the same run: the same receivers fed by a bare loop of HTTP posts
   (one thread per receiver, the same signed batches, no database, no policy).
   Prints deliveries/s and the ratio hub/floor (aim: at least 0.5).
3. Latency: records published at a steady rate (default 500/s) while the worker
   runs; publish-to-receipt latency p50/p99 over every webhook and MQTT delivery
   (aim: p99 under 1 s).

    python bench/fanout.py [--records 100000] [--rate 500] [--seconds 20] [--db URL]
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from servers import MosquittoServer, free_port, wait_for_port  # noqa: E402

from causeway_common.catalogue import load_catalogue  # noqa: E402
from hub.app import build_services  # noqa: E402
from hub.auth import Principal  # noqa: E402
from hub.config import DeliverySettings, Settings  # noqa: E402
from hub.db import make_engine  # noqa: E402
from hub.migrate import upgrade  # noqa: E402
from hub.records.service import sync_catalogue  # noqa: E402

RECEIVERS = 10
RECEIVER = ROOT / "tests" / "hub" / "delivery" / "receiver.py"
HUB_MQTT_PASSWORD = "bench-hub-password"
SECRETS_KEY = base64.b64encode(os.urandom(32)).decode()
BATCH = 100


def records(count: int, start: int) -> list[dict]:
    example = load_catalogue()["gazetteer-address"].schemas[1]["examples"][0]
    made = []
    for n in range(start, start + count):
        payload = dict(example, uprn=str(100000000 + n), custodian="edinburgh")
        made.append({"id": str(uuid.uuid4()), "dataset": "gazetteer-address", "schema_version": 1,
                     "key": payload["uprn"], "op": "upsert", "occurred_at": "2026-11-02T09:30:00Z",
                     "payload": payload})
    return made


class Receivers:
    def __init__(self, workdir: Path):
        self.ports = [free_port() for _ in range(RECEIVERS)]
        self.procs = [subprocess.Popen([sys.executable, str(RECEIVER), "--port", str(port),
                                        "--state", str(workdir / f"receiver-{i}.db")],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                      for i, port in enumerate(self.ports)]
        for port, proc in zip(self.ports, self.procs):
            wait_for_port(port, timeout=20, proc=proc)

    def url(self, i: int, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[i]}/hook/{name}"

    def control(self, i: int, **body) -> None:
        requests.post(f"http://127.0.0.1:{self.ports[i]}/control", json=body, timeout=10).raise_for_status()

    def count(self, i: int) -> int:
        return requests.get(f"http://127.0.0.1:{self.ports[i]}/count", timeout=30).json()["events"]

    def arrivals(self, i: int) -> list:
        return requests.get(f"http://127.0.0.1:{self.ports[i]}/arrivals", timeout=120).json()["arrivals"]

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)


class MqttSubscriber:
    def __init__(self, port: int, password: str):
        import paho.mqtt.client as mqtt

        self.received: dict[str, float] = {}
        self.lock = threading.Lock()
        ready = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="bench-sds", protocol=mqtt.MQTTv5)
        self.client.username_pw_set("sds", password)
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe("causeway/v1/sds/#", qos=1)
        self.client.on_subscribe = lambda *a: ready.set()
        self.client.on_message = self._message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        assert ready.wait(10), "MQTT subscriber could not subscribe"

    def _message(self, client, userdata, msg):
        event_id = json.loads(msg.payload)["id"]
        with self.lock:
            self.received.setdefault(event_id, time.time())

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def grant(services, recipient: str) -> None:
    gov_provider = services.orgs.authenticate(services.orgs.issue_key("edinburgh", "governance"))
    gov_recipient = services.orgs.authenticate(services.orgs.issue_key(recipient, "governance"))
    document = {"id": "bench-gazetteer", "title": "bench", "providers": ["edinburgh"], "recipients": [recipient],
                "purposes": ["PublicSafety"], "lawful_basis": "public-task", "valid_from": "2020-01-01",
                "valid_until": "2099-12-31", "retention_days": 30,
                "datasets": {"gazetteer-address": {"fields": ["uprn", "paon", "street", "town", "postcode"]}}}
    services.policy.agreements.apply(yaml.safe_dump(document), gov_provider)
    services.policy.agreements.transition("bench-gazetteer", "approved", gov_provider)
    services.policy.agreements.transition("bench-gazetteer", "approved", gov_recipient)
    services.policy.agreements.transition("bench-gazetteer", "active", gov_provider)


def publish(services, principal, batch: list[dict]) -> None:
    outcome = services.records.publish({"records": batch}, principal)
    assert outcome.accepted == len(batch), outcome.results[:3]


def wait_for(total: int, count, timeout: float) -> float:
    started = time.perf_counter()
    while count() < total:
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out: {count()} of {total} delivered")
        time.sleep(0.2)
    return time.perf_counter() - started


def floor(receivers: Receivers, events: list[dict], secret: str) -> float:
    """The same receivers fed signed batches by a bare loop of posts, one thread per receiver."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    batches = [json.dumps(events[i:i + BATCH], separators=(",", ":")).encode() for i in range(0, len(events), BATCH)]

    def feed(i: int) -> None:
        with requests.Session() as session:
            for n, body in enumerate(batches):
                msg_id, ts = f"floor_{n}", str(int(time.time()))
                mac = hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
                session.post(receivers.url(i, "floor"), data=body, timeout=15, headers={
                    "content-type": "application/cloudevents-batch+json", "webhook-id": msg_id,
                    "webhook-timestamp": ts, "webhook-signature": "v1," + base64.b64encode(mac).decode(),
                }).raise_for_status()

    threads = [threading.Thread(target=feed, args=(i,)) for i in range(RECEIVERS)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100)[int(p) - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=500, help="records/s in the latency phase")
    parser.add_argument("--seconds", type=float, default=20, help="length of the latency phase")
    parser.add_argument("--db", help="database URL (default: a new SQLite file)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="causeway-fanout-"))
    db_url = args.db or f"sqlite:///{workdir / 'hub.db'}"
    engine = make_engine(db_url)
    upgrade(engine)
    sync_catalogue(engine, load_catalogue())
    engine.dispose()

    receivers = Receivers(workdir)
    (workdir / "passwd").write_text("")
    settings = Settings(db_url=db_url, delivery=DeliverySettings(
        webhook_allow=("127.0.0.1/32",), secrets_key=SECRETS_KEY, mqtt_host="127.0.0.1"))
    services = build_services(settings)
    for slug, name, kind in (("edinburgh", "Edinburgh", "council"), ("sds", "SDS", "agency")):
        services.orgs.add_org(slug, name, kind)
    from hub.delivery.mqtt_acl import write_broker_files

    passwords = write_broker_files(engine, workdir / "passwd", workdir / "acl", "causeway-hub", HUB_MQTT_PASSWORD)
    broker = MosquittoServer(password_file=str(workdir / "passwd"), acl_file=str(workdir / "acl")).start()
    settings.delivery.mqtt_port = broker.port
    grant(services, "sds")
    publisher = Principal("edinburgh", "publisher", "bench")
    subscriber = Principal("sds", "subscriber", "bench")
    secrets = []
    for i in range(RECEIVERS):
        sub = services.delivery.subscribe({"dataset": "gazetteer-address", "purpose": "PublicSafety",
                                           "channel": "webhook", "url": receivers.url(i, "hub"), "batch": True,
                                           "start": "beginning"}, subscriber)
        receivers.control(i, secrets={"hub": sub["secret"]})
        secrets.append(sub["secret"])
    services.delivery.subscribe({"dataset": "gazetteer-address", "purpose": "PublicSafety", "channel": "mqtt",
                                 "start": "beginning"}, subscriber)
    mqtt_sub = MqttSubscriber(broker.port, passwords["sds"])

    print(f"publishing {args.records} records into the log ...", flush=True)
    for start in range(0, args.records, 1000):
        publish(services, publisher, records(min(1000, args.records - start), start))

    env = {**os.environ, "CAUSEWAY_WEBHOOK_ALLOW_NETWORKS": "127.0.0.1/32", "CAUSEWAY_SECRETS_KEY": SECRETS_KEY,
           "CAUSEWAY_MQTT_HOST": "127.0.0.1", "CAUSEWAY_MQTT_PORT": str(broker.port),
           "CAUSEWAY_MQTT_PASSWORD": HUB_MQTT_PASSWORD, "CAUSEWAY_POLL_SECONDS": "0.02",
           "CAUSEWAY_BATCH_MAX_EVENTS": str(BATCH), "CAUSEWAY_DELIVERY_CONCURRENCY": "11"}
    worker = subprocess.Popen([sys.executable, "-m", "hub.cli", "deliver", "--db", db_url, "--worker-id", "bench"],
                              cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "worker.log", "wb"))
    try:
        total = args.records * RECEIVERS
        webhook_s = wait_for(total, lambda: sum(receivers.count(i) for i in range(RECEIVERS)), timeout=3600)
        mqtt_s = webhook_s + wait_for(args.records, mqtt_sub.count, timeout=3600)
        hub_rate = total / webhook_s
        print(f"hub:   {total} webhook deliveries in {webhook_s:.1f} s = {hub_rate:,.0f} deliveries/s "
              f"(+ {args.records} MQTT deliveries done after {mqtt_s:.1f} s = {args.records / mqtt_s:,.0f}/s)", flush=True)

        sample = [{"specversion": "1.0", "id": r["id"], "source": "/causeway/orgs/edinburgh", "type": "x",
                   "data": r["payload"]} for r in records(args.records, 0)]
        for i in range(RECEIVERS):
            receivers.control(i, secrets={"floor": secrets[0]})
        floor_s = floor(receivers, sample, secrets[0])
        floor_rate = total / floor_s
        print(f"floor: {total} deliveries by a bare loop of posts in {floor_s:.1f} s = {floor_rate:,.0f} deliveries/s")
        print(f"ratio hub/floor: {hub_rate / floor_rate:.2f} (aim >= 0.5)", flush=True)

        # Latency at a steady rate.
        published: dict[str, float] = {}
        step = 0.1
        per_step = max(1, int(args.rate * step))
        start_n = args.records
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < args.seconds:
            batch = records(per_step, start_n + n)
            now = time.time()
            publish(services, publisher, batch)
            for r in batch:
                published[r["id"]] = now
            n += per_step
            sleep = t0 + (n / args.rate) - time.perf_counter()
            if sleep > 0:
                time.sleep(sleep)
        achieved = n / (time.perf_counter() - t0)
        wait_for(total + n * RECEIVERS, lambda: sum(receivers.count(i) for i in range(RECEIVERS)), timeout=300)
        wait_for(args.records + n, mqtt_sub.count, timeout=300)
        latencies = []
        for i in range(RECEIVERS):
            latencies += [at - published[event_id] for event_id, at in receivers.arrivals(i) if event_id in published]
        with mqtt_sub.lock:
            latencies += [at - published[event_id] for event_id, at in mqtt_sub.received.items() if event_id in published]
        print(f"latency at {achieved:,.0f} records/s over {args.seconds:g} s ({len(latencies)} deliveries): "
              f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p99 {percentile(latencies, 99) * 1000:.0f} ms "
              f"(aim p99 < 1000 ms)")
    finally:
        worker.terminate()
        worker.wait(30)
        mqtt_sub.close()
        broker.close()
        receivers.stop()


if __name__ == "__main__":
    main()
