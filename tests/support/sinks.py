"""SinkProcess: a receiver program (receivers/smtp_sink.py or receivers/webhook_sink.py) in its
own process, appending what it receives to a JSON-lines file the test reads."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import python_env
from support.servers import free_port, wait_for_port

RECEIVERS = Path(__file__).parent / "receivers"


class SinkProcess:
    """A receiver process (SMTP or HTTP) that appends what it receives to a JSON-lines file."""

    def __init__(self, script: str, folder: Path):
        self.port = free_port()
        self.path = folder / f"{Path(script).stem}.jsonl"
        self.path.touch()
        self.proc = subprocess.Popen([sys.executable, str(RECEIVERS / script), str(self.port), str(self.path)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
                                     env=python_env())
        wait_for_port(self.port, timeout=60, proc=self.proc)

    def received(self) -> list[dict]:
        return [json.loads(line) for line in self.path.read_text(encoding="utf-8").splitlines() if line]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received()

    def clear(self) -> None:
        self.path.write_text("", encoding="utf-8")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


def sink_fixture(script: str, scope: str):
    """A pytest fixture running one sink program (`smtp_sink.py`, `webhook_sink.py`) for the scope."""
    @pytest.fixture(scope=scope)
    def sink(tmp_path_factory):
        process = SinkProcess(script, tmp_path_factory.mktemp(Path(script).stem))
        yield process
        process.stop()
    return sink
