"""HubProcess: a real hub process (`python -m hub.cli serve`) for end-to-end tests, the one
harness every test that needs a running hub starts (agents.AgentHub builds on it)."""
from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from support import ROOT
from support.servers import free_port


def hub_cli(db_url: str, *args: str, timeout: float = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a causeway-hub command (with `env` added to the environment); raises with its output if it fails."""
    result = subprocess.run([sys.executable, "-m", "hub.cli", *args, "--db", db_url],
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                            env={**os.environ, **env} if env else None)
    if result.returncode != 0:
        raise RuntimeError(f"causeway-hub {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


@functools.cache
def prepared_database(*commands: tuple[str, ...], env: tuple[tuple[str, str], ...] = ()) -> Path:
    """A SQLite database the causeway-hub `commands` made (each a tuple of arguments, run with
    `env`), once per test process: hubs that start that way copy it instead of running the
    commands again (a process start each, and every migration)."""
    path = Path(tempfile.mkdtemp(prefix="causeway-prepared-hub-")) / "hub.db"
    for args in commands:
        hub_cli(f"sqlite:///{path}", *args, env=dict(env))
    return path


def issue_key(db_url: str, org: str, role: str) -> str:
    return hub_cli(db_url, "key", "issue", org, "--role", role).stdout.strip().splitlines()[-1]


class HubProcess:
    def __init__(self, db_url: str, port: int | None = None, extra_args=(), env=None, log_path=None,
                 ca_bundle=None):
        """ca_bundle: the hub serves HTTPS (extra_args has --tls-cert/--tls-key) with a certificate it signs."""
        self.db_url = db_url
        self.ca_bundle = ca_bundle
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.env = {**os.environ, **(env or {})}
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ca_bundle else 'http'}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> "HubProcess":
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "serve", "--db", self.db_url, "--port", str(self.port),
             "--no-access-log", *self.extra_args],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        if self.log_path:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub exited with {self.process.returncode} while starting")
            try:
                if requests.get(f"{self.url}/api/v1/health", timeout=1, verify=self.ca_bundle or True).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"hub did not answer on {self.url} within {timeout} s")

    def kill(self) -> None:
        """SIGKILL: no shutdown handlers, no flushing."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
