"""The demo's webhook receiver: a subscriber's endpoint as an agency would write one, run by
`causeway-hub demo` as its own process. Written with the standard library only (no hub code),
so it also shows what receiving takes: it checks each delivery's Standard Webhooks signature
(`webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the subscription's
`whsec_` secret), refuses stale or forged ones, and writes each event it accepts into a folder
as `<event id>.json` (writing the same event twice changes nothing: deliveries are at least once).

    python -m hub.demo_receiver --port 8090 --folder var/demo/subscriber/webhook --secret-file S

POST /hook/<name>   events for subscription <name> (one CloudEvent, or a JSON array of them)
POST /failing       always 503: the demo's failing subscription points here
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOLERANCE_SECONDS = 300


def verified(secret: str, headers, body: bytes) -> bool:
    webhook_id, timestamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    if not webhook_id or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body,
                                         hashlib.sha256).digest()).decode()
    given = [part.split(",", 1)[1] for part in headers.get("webhook-signature", "").split() if part.startswith("v1,")]
    return any(hmac.compare_digest(expected, signature) for signature in given)


def handler(folder: Path, secret_file: Path):
    class Receiver(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet: the folder is the record
            pass

        def _answer(self, status: int, text: str) -> None:
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path == "/failing":
                self._answer(503, "this endpoint is down (the demo's failing subscription)")
                return
            if not self.path.startswith("/hook/"):
                self._answer(404, "no such hook")
                return
            secrets = [s.strip() for s in secret_file.read_text(encoding="utf-8").split() if s.strip()]
            if not any(verified(secret, self.headers, body) for secret in secrets):
                self._answer(401, "bad or stale signature")
                return
            try:
                document = json.loads(body)
            except ValueError:
                self._answer(400, "not JSON")
                return
            events = document if isinstance(document, list) else [document]
            for event in events:
                name = "".join(c for c in str(event.get("id", "")) if c.isalnum() or c in "-_") or "event"
                temporary = folder / f".{name}.tmp"
                temporary.write_text(json.dumps(event, indent=2, ensure_ascii=False), encoding="utf-8")
                os.replace(temporary, folder / f"{name}.json")
            self._answer(204, "")

    return Receiver


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="The demo's webhook receiver")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--folder", required=True, help="where accepted events are written, one file each")
    parser.add_argument("--secret-file", required=True, help="the subscriptions' whsec_ secrets, one a line")
    args = parser.parse_args(argv)
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    server = ThreadingHTTPServer((args.host, args.port), handler(folder, Path(args.secret_file)))
    print(f"demo webhook receiver on http://{args.host}:{args.port}/hook/<name>, writing into {folder}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
