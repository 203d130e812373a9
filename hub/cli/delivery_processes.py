"""The delivery workers `serve --workers N` keeps beside its API processes: M `causeway-hub deliver`
processes, the very command an operator runs on other machines, started again if one dies and
stopped with SIGTERM (then SIGKILL after a grace period) when `serve` stops."""
from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time

log = logging.getLogger("causeway.hub.serve")

RESTART_CHECK_SECONDS = 1.0
MAX_RESTART_DELAY_SECONDS = 30.0  # a worker that keeps dying at once (database away) is retried less often


class DeliveryProcesses:
    def __init__(self, db_url: str, count: int, stop_timeout: float = 25.0):
        self.db_url = db_url
        # Worker ids name this machine and this `serve`, so leases and logs say whose process holds what.
        self.worker_ids = [f"{socket.gethostname()}-{os.getpid()}-d{n + 1}" for n in range(count)]
        self.stop_timeout = stop_timeout
        self.processes: dict[str, subprocess.Popen] = {}
        self._started: dict[str, float] = {}
        self._quick_deaths: dict[str, int] = {}
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._watcher = threading.Thread(target=self._keep_alive, name="delivery-processes", daemon=True)

    def _spawn(self, worker_id: str) -> subprocess.Popen:
        self._started[worker_id] = time.monotonic()
        return subprocess.Popen([sys.executable, "-m", "hub.cli", "deliver", "--db", self.db_url,
                                 "--worker-id", worker_id], stdin=subprocess.DEVNULL)

    def start(self) -> DeliveryProcesses:
        with self._lock:
            for worker_id in self.worker_ids:
                self.processes[worker_id] = self._spawn(worker_id)
        self._watcher.start()
        return self

    def _keep_alive(self) -> None:
        while not self._stopping.wait(RESTART_CHECK_SECONDS):
            with self._lock:
                if self._stopping.is_set():
                    return
                for worker_id, process in self.processes.items():
                    if process.poll() is None or not self._due(worker_id):
                        continue
                    # Its subscriptions pass to the others within a lease; a new one joins them.
                    log.warning("delivery worker %s exited with %s; starting it again", worker_id,
                                process.returncode)
                    self.processes[worker_id] = self._spawn(worker_id)

    def _due(self, worker_id: str) -> bool:
        """Whether a dead worker may start again now: at once after a long life, with a growing delay
        after each death within MAX_RESTART_DELAY_SECONDS of its start."""
        lived = time.monotonic() - self._started[worker_id]
        if lived > MAX_RESTART_DELAY_SECONDS:
            self._quick_deaths[worker_id] = 0
            return True
        deaths = self._quick_deaths.get(worker_id, 0)
        if lived < min(MAX_RESTART_DELAY_SECONDS, 2.0 ** deaths):
            return False
        self._quick_deaths[worker_id] = deaths + 1
        return True

    def stop(self) -> None:
        """SIGTERM to every worker (each finishes the batch in hand and releases its leases), then wait."""
        self._stopping.set()
        with self._lock:
            running = [p for p in self.processes.values() if p.poll() is None]
            for process in running:
                process.send_signal(signal.SIGTERM)
            for process in running:
                try:
                    process.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    log.warning("delivery worker %s did not stop within %s s; killed", process.pid,
                                self.stop_timeout)
                    process.kill()
                    process.wait()
