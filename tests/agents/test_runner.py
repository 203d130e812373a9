"""The scheduler: tasks on their schedules, never beside themselves, failures recorded not fatal."""
import threading
import time

from agents.config import load_config
from agents.hub_client import Response, Transport
from agents.runner import Agent
from agents.state import Credential
from causeway_common.signing import generate_key
from connectors import Chunk, ConnectorError, Source
from support.agents import write_config
from support.waiting import wait_until


class QuietHub(Transport):
    def request(self, method, url, *, headers, body, timeout):
        return Response(202, b"{}", {})


class SlowSource(Source):
    """Takes a while to read and notes how many reads overlap (a fake: the point is the scheduler)."""

    def __init__(self, seconds):
        super().__init__({})
        self.seconds = seconds
        self.running = 0
        self.most_at_once = 0
        self.reads = 0
        self.lock = threading.Lock()

    def check(self):
        return "slow"

    def read(self, checkpoint):
        with self.lock:
            self.running += 1
            self.reads += 1
            self.most_at_once = max(self.most_at_once, self.running)
        time.sleep(self.seconds)
        with self.lock:
            self.running -= 1
        return iter([Chunk([], {"n": self.reads})])


def agent_with(tmp_path, tasks):
    config = load_config(write_config(tmp_path / "agent.yaml", "http://hub.invalid", tmp_path / "state", tasks))
    agent = Agent(config, Credential("http://hub.invalid", "a-1", "edinburgh", "t", "cw_x", generate_key()),
                  transport=QuietHub())
    return agent


def publish_task(name, interval):
    return {"name": name, "direction": "publish", "dataset": "gazetteer-address",
            "connector": {"kind": "spreadsheet", "options": {"folder": "unused"}},
            "mapping": {"fields": {"uprn": "UPRN"}}, "schedule": {"interval_seconds": interval}}


def test_a_task_due_again_while_still_running_waits_instead_of_running_twice(tmp_path):
    agent = agent_with(tmp_path, [publish_task("slow", 1)])
    source = SlowSource(1.6)
    agent.publisher._source_factory = lambda task: source
    agent.publisher.builder = lambda task: None
    agent.start()
    try:
        wait_until(lambda: source.reads >= 3, timeout=30, message="three runs")
    finally:
        agent.stop()
    assert source.most_at_once == 1


def test_a_failing_task_is_recorded_and_the_others_keep_running(tmp_path):
    agent = agent_with(tmp_path, [publish_task("broken", 1), publish_task("fine", 1)])
    fine = SlowSource(0)

    def factory(task):
        if task.name == "broken":
            raise ConnectorError("spreadsheet source: folder /srv/drop does not exist")
        return fine

    agent.publisher._source_factory = factory
    agent.publisher.builder = lambda task: None
    agent.start()
    try:
        wait_until(lambda: fine.reads >= 2, timeout=30, message="the healthy task to keep running")
    finally:
        agent.stop()
    from agents.outbox import Outbox

    stats = Outbox(tmp_path / "state" / "outbox.sqlite").task_stats()
    assert stats["broken"]["status"] == "error"
    assert stats["broken"]["last_error"] == "spreadsheet source: folder /srv/drop does not exist"
    assert stats["fine"]["status"] == "ok"
