"""The running agent: tasks on their schedules, the sender draining the outbox,
heartbeats. All connections go out; the agent listens on no port.

A task never runs beside itself (APScheduler max_instances=1); runs missed while
one was still going are merged into one (coalesce).
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler

from connectors import ConnectorError

from . import heartbeat
from .config import AgentConfig, TaskConfig
from .hub_client import HubClient, HubError, RequestsTransport, Transport
from .managed import ManagedConfiguration
from .outbox import Outbox
from .publisher import Publisher
from .schemas import SchemaCache, SchemaUnavailable
from .sender import Sender
from .state import Credential, StateDir
from .subscriber import Subscriber

log = logging.getLogger("causeway.agent")

# Errors whose message already tells a person what is wrong and where.
EXPLAINED_ERRORS = (HubError, ConnectorError, SchemaUnavailable)


class Agent:
    def __init__(self, config: AgentConfig, credential: Credential, transport: Transport | None = None,
                 accept_deletes_for: frozenset[str] = frozenset()):
        self.credential = credential
        self.state = StateDir(config.state_dir)
        self.started_at = time.time()
        transport = transport or RequestsTransport(proxy=config.proxy, ca_bundle=config.ca_bundle)
        self.hub = HubClient(config.hub_url, credential.api_key, transport, timeout=config.timeout_seconds)
        self.outbox = Outbox(self.state.outbox_path)
        self.schemas = SchemaCache(self.state.schemas_path, self.hub)
        self.sender = Sender(self.outbox, self.hub, credential.agent_id, credential.signing_key,
                             batch_size=config.batch_size, max_backoff=config.max_backoff_seconds,
                             warn_depth=config.warn_outbox_depth, in_flight=config.in_flight)
        self.accept_deletes_for = accept_deletes_for
        self.managed = (ManagedConfiguration(config, self.state, self.hub, credential.agent_id)
                        if config.managed_by == "hub" else None)
        self._use(self.managed.last_good() if self.managed else config)
        self._tasks_lock = threading.Lock()
        self.stop_event = threading.Event()
        self.scheduler: BackgroundScheduler | None = None
        self._sender_thread: threading.Thread | None = None

    def _use(self, config: AgentConfig) -> None:
        """Run these tasks from now on (a run already going finishes with the ones it started with)."""
        self.config = config
        self.publisher = Publisher(config, self.outbox, self.schemas, on_queued=self.sender.wake.set,
                                   accept_deletes_for=self.accept_deletes_for, wait_for_room=self.sender.wait_for_room)
        self.subscriber = Subscriber(config, self.outbox, self.hub)

    def refresh_configuration(self) -> bool:
        """Hub-managed: take a newer configuration version if the hub has one and it checks out."""
        if self.managed is None:
            return False
        candidate = self.managed.poll()
        if candidate is None:
            return False
        with self._tasks_lock:
            self._use(candidate)
            if self.scheduler is not None:
                for job in self.scheduler.get_jobs():
                    if job.id.startswith("task:"):
                        job.remove()
                self._schedule_tasks(datetime.now(timezone.utc))
        self.managed.applied()
        self.beat()  # the hub (and its console) learn at once which version runs
        return True

    def _schedule_tasks(self, now: datetime) -> None:
        assert self.scheduler is not None
        for task in self.config.tasks:
            first = now if "interval_seconds" in task.schedule else None  # intervals start at once
            self.scheduler.add_job(self.run_task, task.trigger(), args=[task], id=f"task:{task.name}",
                                   name=task.name, **({"next_run_time": first} if first else {}))

    # -- one task run -------------------------------------------------------
    def run_task(self, task: TaskConfig) -> bool:
        """Run a task once; failures are recorded (status, last error), never raised."""
        self.outbox.run_started(task.name)
        try:
            if task.direction == "publish":
                result = self.publisher.run(task, should_stop=self.stop_event.is_set)
                log.log(logging.INFO if result.rows_read else logging.DEBUG,
                        "task %s: read %d rows, queued %d records, rejected %d",
                        task.name, result.rows_read, result.queued, result.rejected)
            else:
                result = self.subscriber.run(task, should_stop=self.stop_event.is_set)
                log.log(logging.INFO if result.delivered else logging.DEBUG,
                        "task %s: wrote %d events, cursor now %d", task.name, result.delivered, result.cursor)
        except Exception as exc:  # a task's failure must not stop the others
            message = str(exc) if isinstance(exc, EXPLAINED_ERRORS) else f"{type(exc).__name__}: {exc}"
            log.error("task %s failed: %s", task.name, message)
            self.outbox.run_finished(task.name, "error", message)
            return False
        self.outbox.run_finished(task.name, "ok")
        return True

    def beat(self) -> bool:
        return heartbeat.send(self.hub, self.credential.agent_id,
                              heartbeat.report(self.config, self.outbox, self.started_at, self.sender,
                                               config_version=self.managed.version if self.managed else None))

    # -- modes --------------------------------------------------------------
    def run_once(self, tasks: list[str] | None = None) -> bool:
        """Every (or the named) task once, then drain the outbox; True when all went well.

        The sender drains alongside the reading, so a large first load streams to the hub."""
        self.refresh_configuration()
        sending = threading.Thread(target=self.sender.run, args=(self.stop_event,), name="sender", daemon=True)
        sending.start()
        ok = True
        try:
            for task in self.config.tasks:
                if tasks and task.name not in tasks:
                    continue
                ok = self.run_task(task) and ok
        finally:
            self.stop_event.set()
            self.sender.wake.set()
            sending.join()
            self.stop_event.clear()
        try:
            totals = self.sender.drain()
            if totals.batches:
                log.info("sent %d records in %d batches", totals.delivered + totals.rejected, totals.batches)
        except HubError as exc:
            log.error("%s; %d records stay in the outbox for the next run", exc, self.outbox.depth())
            ok = False
        self.beat()
        return ok

    def start(self) -> None:
        # a hub-managed agent's tasks change while it runs: room for more than it starts with
        workers = max(2, len(self.config.tasks)) if self.managed is None else max(8, len(self.config.tasks) + 2)
        self.scheduler = BackgroundScheduler(executors={"default": ThreadPoolExecutor(workers)},
                                             job_defaults={"max_instances": 1, "coalesce": True,
                                                           "misfire_grace_time": 3600},
                                             timezone=datetime.now().astimezone().tzinfo)
        now = datetime.now(timezone.utc)
        self._schedule_tasks(now)
        if self.managed is not None:  # asked over the agent's own outbound connection, as often as it beats
            self.scheduler.add_job(self.refresh_configuration, "interval", seconds=self.config.heartbeat_seconds,
                                   id="configuration", next_run_time=now)
        self.scheduler.add_job(self.beat, "interval", seconds=self.config.heartbeat_seconds, id="heartbeat",
                               next_run_time=now)
        self._sender_thread = threading.Thread(target=self.sender.run, args=(self.stop_event,), name="sender", daemon=True)
        self._sender_thread.start()
        self.scheduler.start()
        log.info("agent %s (%s-managed) running %d tasks; outbound to %s only", self.credential.agent_id,
                 self.config.managed_by, len(self.config.tasks), self.hub.base_url)

    def stop(self, timeout: float = 30) -> None:
        self.stop_event.set()
        self.sender.wake.set()
        if self.scheduler is not None:
            self.scheduler.shutdown(wait=True)
        if self._sender_thread is not None:
            self._sender_thread.join(timeout)
        self.outbox.close()


def open_hub(config: AgentConfig, api_key: str | None = None, transport: Transport | None = None) -> HubClient:
    transport = transport or RequestsTransport(proxy=config.proxy, ca_bundle=config.ca_bundle)
    return HubClient(config.hub_url, api_key, transport, timeout=config.timeout_seconds)
