"""A webhook receiver, run as its own process, written as a subscriber would write one
(no hub code): it verifies every signature with the official Standard Webhooks library,
parses every event with the official CloudEvents SDK and validates it against the
CloudEvents JSON schema (support/cloudevents_check.py; an invalid event is answered 400
and listed in `bad_events`), de-duplicates by webhook-id, and keeps what it holds in a
SQLite file, so it survives its own restarts.

    PYTHONPATH=tests python tests/support/receivers/webhook_receiver.py --port 8123 --state held.db
        [--host 127.0.0.2] [--tls-cert C --tls-key K]
        [--skip-event-checks]   (benchmarks: signatures only, so the hub is what is measured)

POST /hook/<name>   a subscription's events (CloudEvents, single or batch)
POST /control       {"secrets": {name: [whsec_...]}, "fail_next": {name: n}, "retry_after": s,
                     "refuse": [event id], "accept": [event id], "delay": s, "gone": [name]}
                    (accept: stop refusing events refused before)
GET  /state         {"events": [...], "requests": [...], "bad_signatures": n, "bad_events": [reason]} (?name=...)
GET  /count         {"events": n}
GET  /arrivals      {"arrivals": [[event id, arrival time, event time], ...]}
POST /stop          stop the process
"""
from __future__ import annotations

import argparse
import json
import sqlite3
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from support.cloudevents_check import InvalidEvent, check_http


def verify(secrets: list[str], headers, body: bytes) -> bool:
    """Standard Webhooks, with the official library: any of the secrets (rotation) may match."""
    for secret in secrets:
        try:
            Webhook(secret).verify(body, dict(headers.items()), json_parse=False)
            return True
        except WebhookVerificationError:
            continue
    return False


class State:
    def __init__(self, path: str):
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS secrets (name TEXT, secret TEXT, PRIMARY KEY (name, secret));
            CREATE TABLE IF NOT EXISTS seen (webhook_id TEXT PRIMARY KEY, name TEXT, at REAL);
            CREATE TABLE IF NOT EXISTS events (ord INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, webhook_id TEXT,
                event TEXT, at REAL, published_at REAL);
            CREATE TABLE IF NOT EXISTS requests (ord INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, webhook_id TEXT,
                user_agent TEXT, started REAL, ended REAL, status INTEGER, duplicate INTEGER, host TEXT);
            CREATE TABLE IF NOT EXISTS bad_events (ord INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT, reason TEXT);
            CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER);
        """)
        # Counted as stored rather than with count(*) at each GET /count: a scan of every event
        # held, which a benchmark polling ten receivers five times a second would pay all run.
        (self.events_held,) = self.db.execute("SELECT count(*) FROM events").fetchone()
        self.lock = threading.Lock()
        self.fail_next: dict[str, int] = {}
        self.retry_after: int | None = None
        self.refuse: set[str] = set()
        self.gone: set[str] = set()
        self.delay = 0.0
        self.check_events = True

    def secrets(self, name: str) -> list[str]:
        with self.lock:
            return [r[0] for r in self.db.execute("SELECT secret FROM secrets WHERE name = ?", (name,))]

    def bump(self, counter: str) -> None:
        with self.lock:
            self.db.execute("INSERT INTO counters VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET value = value + 1",
                            (counter,))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # As real HTTP servers do: without TCP_NODELAY the body written after the headers waits for
    # the client's delayed ACK (about 40 ms a request), and every figure measured against this
    # receiver is that wait.
    disable_nagle_algorithm = True
    state: State = None
    server_version = "receiver"

    def log_message(self, *args):
        pass

    def _answer(self, status: int, payload=None, headers=None):
        body = json.dumps(payload if payload is not None else {}).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def do_GET(self):
        parts = urlsplit(self.path)
        st = self.state
        if parts.path == "/count":
            with st.lock:
                count = st.events_held
            return self._answer(200, {"events": count})
        if parts.path == "/arrivals":  # [event id, arrival time, event time] of every event held
            name = parse_qs(parts.query).get("name", [None])[0]
            where, args = ("WHERE name = ?", (name,)) if name else ("", ())
            with st.lock:
                found = st.db.execute(f"SELECT event, at FROM events {where} ORDER BY ord", args).fetchall()
            rows = []
            for event, at in found:
                event = json.loads(event)
                rows.append([event["id"], at, event.get("time")])
            return self._answer(200, {"arrivals": rows})
        if parts.path != "/state":
            return self._answer(404)
        name = parse_qs(parts.query).get("name", [None])[0]
        st = self.state
        with st.lock:
            where, args = ("WHERE name = ?", (name,)) if name else ("", ())
            events = [dict(json.loads(e), _webhook_id=w, _name=n, _at=a)
                      for n, w, e, a in st.db.execute(f"SELECT name, webhook_id, event, at FROM events {where} ORDER BY ord", args)]
            requests = [dict(zip(("name", "webhook_id", "user_agent", "started", "ended", "status", "duplicate", "host"),
                                 r))
                        for r in st.db.execute(f"SELECT name, webhook_id, user_agent, started, ended, status, duplicate, "
                                               f"host FROM requests {where} ORDER BY ord", args)]
            counters = dict(st.db.execute("SELECT name, value FROM counters"))
            bad_events = [r[0] for r in st.db.execute(f"SELECT reason FROM bad_events {where} ORDER BY ord", args)]
        self._answer(200, {"events": events, "requests": requests, "bad_signatures": counters.get("bad_signatures", 0),
                           "bad_events": bad_events})

    def do_POST(self):
        path = urlsplit(self.path).path
        body = self._body()
        st = self.state
        if path == "/stop":
            self._answer(200)
            threading.Thread(target=self.server.shutdown, daemon=True).start()
            return
        if path == "/control":
            control = json.loads(body)
            with st.lock:
                for name, secrets in control.get("secrets", {}).items():
                    for secret in ([secrets] if isinstance(secrets, str) else secrets):
                        st.db.execute("INSERT OR IGNORE INTO secrets VALUES (?, ?)", (name, secret))
                st.fail_next.update(control.get("fail_next", {}))
                st.retry_after = control.get("retry_after", st.retry_after)
                st.refuse.update(control.get("refuse", []))
                st.refuse.difference_update(control.get("accept", []))
                st.gone.update(control.get("gone", []))
                st.delay = control.get("delay", st.delay)
            return self._answer(200)
        if not path.startswith("/hook/"):
            return self._answer(404)
        name = path[len("/hook/"):]
        started = time.time()
        webhook_id = self.headers.get("webhook-id")
        status, duplicate, invalid, refused = 200, 0, None, None
        if not verify(st.secrets(name), self.headers, body):
            st.bump("bad_signatures")
            status = 401
        elif name in st.gone:
            status = 410
        else:
            with st.lock:
                failing = st.fail_next.get(name, 0)
                if failing:
                    st.fail_next[name] = failing - 1
            invalid = None
            if st.check_events:
                try:
                    check_http({k.lower(): v for k, v in self.headers.items()}, body)
                except (InvalidEvent, ValueError) as exc:
                    invalid = str(exc)
            if failing:
                status = 500
            elif invalid:
                status = 400
                with st.lock:
                    st.db.execute("INSERT INTO bad_events (name, reason) VALUES (?, ?)", (name, invalid))
            else:
                parsed = json.loads(body)
                events = parsed if isinstance(parsed, list) else [parsed]
                refused = next((e.get("id") for e in events if e.get("id") in st.refuse), None)
                if refused is not None:
                    status = 400
                else:
                    with st.lock:
                        st.db.execute("BEGIN")
                        fresh = st.db.execute("INSERT OR IGNORE INTO seen VALUES (?, ?, ?)",
                                              (webhook_id, name, started)).rowcount
                        if fresh:
                            st.db.executemany("INSERT INTO events (name, webhook_id, event, at) VALUES (?, ?, ?, ?)",
                                              [(name, webhook_id, json.dumps(e), started) for e in events])
                        st.db.execute("COMMIT")
                        if fresh:
                            st.events_held += len(events)
                    duplicate = 0 if fresh else 1
                    if st.delay:
                        time.sleep(st.delay)
        with st.lock:
            st.db.execute("INSERT INTO requests (name, webhook_id, user_agent, started, ended, status, duplicate, host) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (name, webhook_id, self.headers.get("user-agent"), started, time.time(), status, duplicate,
                           self.headers.get("host")))
        headers = {"retry-after": str(st.retry_after)} if status == 500 and st.retry_after is not None else None
        if status == 400 and not invalid and refused is not None:
            # As a receiver's framework often answers: a problem, a request id, a cookie and a
            # debug line quoting its own configuration (which the hub must not keep).
            return self._answer(400, {"title": "Event refused", "detail": f"event {refused}: postcode is not one we serve",
                                      "debug": "api_key=rcv-secret-value-12345"},
                                {"x-request-id": f"req-{webhook_id}", "set-cookie": "session=receiver-cookie"})
        self._answer(status, {"duplicate": bool(duplicate)}, headers)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM); needs --tls-key")
    parser.add_argument("--tls-key")
    parser.add_argument("--skip-event-checks", action="store_true")
    args = parser.parse_args()
    Handler.state = State(args.state)
    Handler.state.check_events = not args.skip_event_checks
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"listening on {args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
