"""What `causeway-agent check` checks of a configuration's tasks, as one function: the CLI
prints it, and a hub-managed agent runs it on every configuration version before applying it.

Each task: what agent.yaml decides (mapping, connector options) before what the world decides
(is the database up, does the folder exist), so one run names every mistake; then a dry run
of each publish task on its first rows. Nothing is sent, no file is moved, and connector
state goes to a scratch folder: a check leaves no trace.
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field

from connectors import ConnectorError

from .config import AgentConfig, ConfigError
from .hub_client import HubClient, HubError
from .outbox import Outbox
from .publisher import Publisher, describe_location, dry_run
from .schemas import SchemaCache, SchemaUnavailable
from .state import StateDir
from .subscriber import Subscriber


@dataclass
class TaskCheck:
    failures: list[str] = field(default_factory=list)  # mistakes in the configuration or its systems
    rows_rejected: int = 0  # rows of the dry runs that would be rejected (each kept with its source)
    tasks_rejecting: int = 0  # tasks with such rows


def check_tasks(config: AgentConfig, hub: HubClient, rows: int = 5, say: Callable[[str], None] = print) -> TaskCheck:
    result = TaskCheck()

    def fail(task_name: str, message: str) -> None:
        result.failures.append(f"task {task_name}: {message}")
        say(f"  FAIL {message}")

    state = StateDir(config.state_dir)
    with tempfile.TemporaryDirectory() as scratch:
        scratch_outbox = Outbox(os.path.join(scratch, "dry-run.sqlite"))
        schemas = SchemaCache(state.schemas_path if state.path.exists() else os.path.join(scratch, "schemas"), hub)
        publisher = Publisher(config, scratch_outbox, schemas, connector_state=os.path.join(scratch, "connectors"))
        subscriber = Subscriber(config, scratch_outbox, hub)
        for task in config.tasks:
            say(f"\ntask {task.name} ({task.direction}, {task.connector}, line {task.line}):")
            try:
                if task.direction == "subscribe":
                    sink = subscriber.sink(task)
                    try:
                        say(f"  sink: {sink.check()}")
                    except ConnectorError as exc:
                        fail(task.name, f"sink unavailable: {exc}")
                    try:
                        page = hub.feed(task.subscription, None, 1)
                    except HubError as exc:
                        fail(task.name, f"subscription unreadable: {exc}")
                        continue
                    say(f"  subscription {task.subscription}: readable"
                        + (f" ({page['status']}: {page.get('status_reason')})" if page.get("status") else ""))
                    continue
                schema = schemas.get(task.dataset, task.schema_version)
                say(f"  dataset {schema.dataset} schema version {schema.version} (key {schema.key_field})")
                builder = publisher.builder(task)
                say(f"  mapping: {len(builder.mapper.fields)} field(s), time zone {task.time_zone}")
                source = publisher.source(task)
                try:
                    say(f"  source: {source.check()}")
                except ConnectorError as exc:
                    fail(task.name, f"source unavailable: {exc}")
                    continue
                builder.mapper.check_columns(source.columns())
                outcomes = dry_run(publisher, task, rows=rows)
            except (ConnectorError, SchemaUnavailable, HubError, ConfigError, ValueError) as exc:
                fail(task.name, f"{exc}")
                continue
            if not outcomes:
                say("  no rows to read (nothing new, or an empty source)")
            bad = 0
            for outcome in outcomes:
                where = describe_location(outcome.location)
                if outcome.record is not None:
                    say(f"  ok   {where}: {json.dumps(outcome.record, ensure_ascii=False, default=str)}")
                else:
                    bad += 1
                    for error in outcome.reject.errors:
                        say(f"  BAD  {where}: {error.get('path') or 'row'}: {error.get('message')}")
            say(f"  dry run: {len(outcomes) - bad} of {len(outcomes)} rows would be published; nothing was sent")
            if bad:
                result.rows_rejected += bad
                result.tasks_rejecting += 1
                say(f"  FAIL {bad} row(s) would be rejected (kept in rejects with their source, the rest sent)")
        scratch_outbox.close()
    return result
