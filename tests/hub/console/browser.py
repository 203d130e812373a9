"""A real hub process and real headless Chromium for the console's browser tests.

The hub is started the way an operator starts it (causeway-hub init, org import,
user add, serve) on a private SQLite database and a free port; Chromium is the
system's Debian package, driven by Playwright (no browser is downloaded).
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from servers import free_port, wait_for_port

CHROMIUM = os.environ.get("CAUSEWAY_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts" / "console"
PASSWORD = "a long browser-test password"

# username, org, role
STAFF = [
    ("gina", "edinburgh", "governance"),
    ("sam", "sds", "governance"),
    ("fiona", "fife", "governance"),
    ("omar", "edinburgh", "ops"),
    ("ada", "scottish-government", "admin"),
]


@dataclass
class HubProcess:
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    keys: dict = field(default_factory=dict)

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.workdir / 'causeway.db'}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "hub.log"

    def cli(self, *args: str, env: dict | None = None) -> str:
        result = subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", self.db_url],
                                capture_output=True, text=True, timeout=120,
                                env={**os.environ, **(env or {})})
        if result.returncode != 0:
            raise RuntimeError(f"causeway-hub {' '.join(args)} failed: {result.stderr}")
        return result.stdout

    def prepare(self) -> None:
        self.cli("init")
        self.cli("org", "import")
        for username, org, role in STAFF:
            self.cli("user", "add", username, "--org", org, "--role", role, env={"CAUSEWAY_USER_PASSWORD": PASSWORD})

    def issue_key(self, org: str, role: str) -> str:
        if (org, role) not in self.keys:
            self.keys[org, role] = self.cli("key", "issue", org, "--role", role).strip().splitlines()[-1]
        return self.keys[org, role]

    def start(self) -> None:
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--db", self.db_url, "--port", str(self.port),
             "--no-access-log", "--log-level", "warning"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "CAUSEWAY_SECRET_KEY": ""})
        try:
            wait_for_port(self.port, timeout=60, proc=self.process)
        except Exception:
            self.stop()
            raise RuntimeError(f"the hub did not start:\n{self.log_path.read_text()[-3000:]}") from None

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)

    def api(self, method: str, path: str, org: str, role: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.issue_key(org, role)}"}
        return requests.request(method, self.base_url + "/api/v1" + path, headers=headers, timeout=30, **kwargs)

    def publish(self, org: str, records: list[dict]) -> dict:
        response = self.api("POST", "/records", org, "publisher", json={"records": records})
        response.raise_for_status()
        return response.json()


def wait_until(check, timeout: float = 10.0, interval: float = 0.1):
    """Poll check() until it returns something truthy, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(interval)
