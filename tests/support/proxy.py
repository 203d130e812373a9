"""A forward proxy for tests, run as a process of its own (as a council's proxy is):
HTTPS through CONNECT tunnels, plain HTTP relayed, optionally only for a client
that sends Basic proxy credentials. It logs, one JSON line each, every request
line it was sent and every tunnel it closed with the bytes it carried, so a test
can prove the traffic went through it and that it only ever saw ciphertext.

    with ForwardProxy(folder) as proxy:        # python tests/proxy.py --log ... --port-file ...
        ... HTTPS_PROXY=proxy.url ...
        proxy.requests   # ["CONNECT 127.0.0.1:8443", "POST http://127.0.0.1:8000/api/v1/...", ...]
        proxy.tunnels    # [{"target": "127.0.0.1:8443", "up": 1234, "down": 5678}, ...]
"""
from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

_HOP_BY_HOP = ("proxy-connection", "connection", "host", "proxy-authorization", "keep-alive")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _log(self, **entry) -> None:
        with self.server.log_lock:
            self.server.log.write(json.dumps(entry) + "\n")
            self.server.log.flush()

    def _authorised(self) -> bool:
        if self.server.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(self.server.credentials.encode()).decode()
        if self.headers.get("Proxy-Authorization") == expected:
            return True
        self._log(request=f"{self.command} {self.path}", status=407)
        self.send_response(407, "Proxy Authentication Required")
        self.send_header("Proxy-Authenticate", 'Basic realm="council proxy"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True
        return False

    def do_CONNECT(self):
        if not self._authorised():
            return
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except (OSError, ValueError) as exc:
            self._log(request=f"CONNECT {self.path}", status=502, error=str(exc))
            self.send_error(502, f"cannot reach {self.path}")
            return
        self._log(request=f"CONNECT {self.path}", status=200)
        self.send_response(200, "Connection established")
        self.end_headers()
        up = down = 0
        client = self.connection
        client.settimeout(None)
        upstream.settimeout(None)
        try:
            while True:
                readable, _, _ = select.select([client, upstream], [], [], 120)
                if not readable:
                    break
                closed = False
                for side in readable:
                    data = side.recv(65536)
                    if not data:
                        closed = True
                        break
                    if side is client:
                        upstream.sendall(data)
                        up += len(data)
                    else:
                        client.sendall(data)
                        down += len(data)
                if closed:
                    break
        except OSError:
            pass
        finally:
            upstream.close()
            self._log(tunnel=self.path, up=up, down=down)
            self.close_connection = True

    def _relay(self):
        if not self._authorised():
            return
        self._log(request=f"{self.command} {self.path}", status=None)
        target = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.hostname, target.port or 80, timeout=30)
        try:
            upstream.request(self.command, target.path + (f"?{target.query}" if target.query else ""), body, headers)
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = _relay

    def log_message(self, *args):
        pass


def serve(log_path: Path, port_file: Path, credentials: str | None) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.log = open(log_path, "a", encoding="utf-8")
    server.log_lock = threading.Lock()
    server.credentials = credentials
    written = port_file.with_name(port_file.name + ".tmp")
    written.write_text(str(server.server_address[1]))
    os.replace(written, port_file)  # whole, or not there yet
    server.serve_forever()


class ForwardProxy:
    """The proxy process; `url` for HTTPS_PROXY or hub.proxy, `requests` and `tunnels` from its log."""

    def __init__(self, folder: Path | None = None, credentials: str | None = None):
        self.folder = Path(folder) if folder else Path(tempfile.mkdtemp(prefix="proxy-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = self.folder / "proxy.log"
        self.port_file = self.folder / "proxy.port"
        self.credentials = credentials
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _entries(self) -> list[dict]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text(encoding="utf-8").splitlines() if line]

    @property
    def requests(self) -> list[str]:
        return [e["request"] for e in self._entries() if "request" in e]

    @property
    def tunnels(self) -> list[dict]:
        return [{"target": e["tunnel"], "up": e["up"], "down": e["down"]} for e in self._entries() if "tunnel" in e]

    def start(self) -> "ForwardProxy":
        self.port_file.unlink(missing_ok=True)
        command = [sys.executable, __file__, "--log", str(self.log_path), "--port-file", str(self.port_file)]
        if self.credentials:
            command += ["--credentials-env", "PROXY_CREDENTIALS"]
        self.proc = subprocess.Popen(command, env={**os.environ, "PROXY_CREDENTIALS": self.credentials or ""},
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        while not self.port_file.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the test proxy did not start")
            time.sleep(0.05)
        self.port = int(self.port_file.read_text())
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--port-file", required=True, type=Path)
    parser.add_argument("--credentials-env", help="environment variable holding user:password to require")
    args = parser.parse_args()
    serve(args.log, args.port_file, os.environ.get(args.credentials_env) if args.credentials_env else None)
