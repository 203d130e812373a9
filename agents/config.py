"""agent.yaml: read, check against schemas/formats/agent-config.json, and name
the line of every mistake.

Line numbers come from the YAML node tree (yaml.compose keeps each node's
start mark), so an error in tasks[2].schedule points at that schedule's line.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jsonschema_rs
import yaml
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from causeway_common.catalogue import load_format_schema
from connectors import ConnectorError, connector_class, option_problems

DEFAULT_HEARTBEAT_SECONDS = 30
DEFAULT_TIME_ZONE = "Europe/London"  # naive source timestamps are local time here (BST in summer)


class ConfigError(Exception):
    """Mistakes in agent.yaml, each naming its line."""

    def __init__(self, path: Path, problems: list[str]):
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + ("\n  ".join([""] + problems) if len(problems) > 1 else problems[0]))


@dataclass
class TaskConfig:
    name: str
    direction: str  # publish | subscribe
    connector: str
    options: dict
    schedule: dict  # {interval_seconds} or {cron}
    line: int
    dataset: str | None = None
    schema_version: int | None = None
    mapping: dict | None = None
    subscription: str | None = None
    batch_size: int = 1000
    time_zone: str = DEFAULT_TIME_ZONE

    def trigger(self, timezone=None):
        if "cron" in self.schedule:
            return CronTrigger.from_crontab(self.schedule["cron"], timezone=timezone)
        return IntervalTrigger(seconds=self.schedule["interval_seconds"], timezone=timezone)


@dataclass
class AgentConfig:
    path: Path
    hub_url: str
    state_dir: Path
    tasks: list[TaskConfig]
    proxy: str | None = None
    ca_bundle: str | None = None
    timeout_seconds: float = 60.0
    passphrase_file: Path | None = None
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    batch_size: int = 500
    warn_outbox_depth: int = 100_000
    max_backoff_seconds: float = 300.0
    time_zone: str = DEFAULT_TIME_ZONE
    # file: the tasks are agent.yaml's; hub: they come from the hub (with_hub_configuration)
    managed_by: str = "file"
    raw: dict = field(default_factory=dict, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def task(self, name: str) -> TaskConfig:
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)


def _lines(node, path=(), found=None) -> dict[tuple, int]:
    """JSON path (tuple of keys and indexes) -> 1-based line of the node."""
    found = {} if found is None else found
    found[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _lines(value, path + (key.value,), found)
            found[path + (key.value,)] = key.start_mark.line + 1  # the key's line, not its value's
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _lines(item, path + (index,), found)
    return found


def _where(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def _resolve(base: Path, value: str | None) -> Path | None:
    if value is None:
        return None
    path = Path(value).expanduser()
    return path if path.is_absolute() else base / path


def _option_problems(raw: dict, task_path: tuple, line_of) -> list[tuple[int, str]]:
    """The task's connector options checked against the connector's own schema
    (its Source for a publish task, its Sink for a subscribe task), each mistake on its line."""
    connector = raw["connector"]
    role = "source" if raw["direction"] == "publish" else "sink"
    try:
        cls = connector_class(connector["kind"], role)
    except ConnectorError as exc:
        kind_path = task_path + ("connector", "kind")
        return [(line_of(kind_path), f"{_where(kind_path)}: {exc}")]
    options_path = task_path + ("connector", "options")
    return [(line_of(options_path + problem.path), f"{_where(options_path)}: {problem.message}")
            for problem in option_problems(cls.options_schema, connector.get("options"))]


def load_config(path: str | Path) -> AgentConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, ["file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(path, [f"cannot read it: {exc}"]) from None
    document, lines = _parse(text, path)
    if document.get("managed_by") == "hub" and "tasks" in document:
        raise ConfigError(path, [f"line {lines.get(('tasks',), 1)}: tasks: a hub-managed agent (managed_by: hub) takes "
                                 "its tasks from the hub; remove them from this file, or set managed_by: file"])
    return _build(document, lines, path, path)


def _parse(text: str, label: Path) -> tuple[dict, dict[tuple, int]]:
    """The YAML document and the line of each of its nodes."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # The context mark is where the broken construct starts (the problem mark is where the parser gave up).
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        raise ConfigError(label, [f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from None
    if node is None or not isinstance(document, dict):
        raise ConfigError(label, ["line 1: expected a mapping with hub, state_dir and tasks"])
    return document, _lines(node)


HUB_MANAGED_KEYS = ("tasks", "time_zone")


def with_hub_configuration(local: AgentConfig, source: str, version: int) -> AgentConfig:
    """The agent's own agent.yaml (hub, state, passphrase) with the tasks of a hub configuration
    version, checked by the same code as a file's tasks; mistakes name the version's lines."""
    label = Path(f"hub configuration version {version}")
    managed, managed_lines = _parse(source, label)
    extra = [key for key in managed if key not in HUB_MANAGED_KEYS]
    if extra:
        raise ConfigError(label, [f"line {managed_lines.get((key,), 1)}: {key}: not part of a hub-managed "
                                  f"configuration (only {', '.join(HUB_MANAGED_KEYS)})" for key in extra])
    own = {key: value for key, value in local.raw.items() if key not in ("managed_by", "tasks")}
    # Only the hub's part has lines worth naming: the agent's own part was checked when it started.
    lines = {path: line for path, line in managed_lines.items() if path and path[0] in HUB_MANAGED_KEYS}
    config = _build({**own, **managed}, lines, local.path, label)
    config.managed_by = "hub"
    config.raw = {**local.raw}
    return config


def _build(document: dict, lines: dict[tuple, int], path: Path, label: Path) -> AgentConfig:
    def line_of(json_path) -> int:
        json_path = tuple(json_path)
        while json_path not in lines and json_path:
            json_path = json_path[:-1]
        return lines.get(json_path, 1)

    problems: list[tuple[int, str]] = []
    # jsonschema-rs: the same validator the hub uses, and it starts fast (the agent is a CLI too).
    validator = jsonschema_rs.validator_for(load_format_schema("agent-config"))
    for error in validator.iter_errors(document):
        location = list(error.instance_path)
        problems.append((line_of(location), f"{_where(location)}: {error.message}"))

    def known_zone(json_path, name) -> bool:
        try:
            ZoneInfo(name)
            return True
        except (ZoneInfoNotFoundError, ValueError):
            problems.append((line_of(json_path), f"{_where(json_path)}: {name!r} is not a time zone "
                                                 "(an IANA name such as Europe/London or UTC)"))
            return False

    tasks: list[TaskConfig] = []
    agent_zone = document.get("time_zone", DEFAULT_TIME_ZONE)
    if not problems:
        known_zone(("time_zone",), agent_zone)
    if not problems and document.get("managed_by") != "hub":
        seen: dict[str, int] = {}
        subscriptions: dict[str, int] = {}
        for index, raw in enumerate(document["tasks"]):
            line = line_of(("tasks", index))
            if raw["name"] in seen:
                problems.append((line_of(("tasks", index, "name")),
                                 f"tasks[{index}].name: task name {raw['name']!r} is already used on line {seen[raw['name']]}"))
            seen[raw["name"]] = line
            if raw["direction"] == "subscribe" and raw.get("subscription"):
                if raw["subscription"] in subscriptions:
                    problems.append((line_of(("tasks", index, "subscription")),
                                     f"tasks[{index}].subscription: subscription {raw['subscription']!r} is already read by "
                                     f"the task on line {subscriptions[raw['subscription']]}; each subscribe task needs its own"))
                subscriptions[raw["subscription"]] = line
            schedule = raw["schedule"]
            if "cron" in schedule:
                try:
                    CronTrigger.from_crontab(schedule["cron"])
                except ValueError as exc:
                    problems.append((line_of(("tasks", index, "schedule", "cron")),
                                     f"tasks[{index}].schedule.cron: bad cron expression {schedule['cron']!r}: {exc} "
                                     "(five fields: minute hour day-of-month month day-of-week)"))
            if "time_zone" in raw:
                known_zone(("tasks", index, "time_zone"), raw["time_zone"])
            mapping = raw.get("mapping") or {}
            dataset = raw.get("dataset") or mapping.get("dataset")
            if raw["direction"] == "publish" and not dataset:
                problems.append((line, f"tasks[{index}]: a publish task needs a dataset (task dataset or mapping.dataset)"))
            elif raw.get("dataset") and mapping.get("dataset") and raw["dataset"] != mapping["dataset"]:
                problems.append((line_of(("tasks", index, "mapping", "dataset")),
                                 f"tasks[{index}].mapping.dataset: {mapping['dataset']!r} differs from the task's dataset {raw['dataset']!r}"))
            problems += _option_problems(raw, ("tasks", index), line_of)
            tasks.append(TaskConfig(
                name=raw["name"], direction=raw["direction"], connector=raw["connector"]["kind"],
                options=raw["connector"].get("options") or {}, schedule=schedule, line=line,
                dataset=dataset, schema_version=raw.get("schema_version") or mapping.get("schema_version"), mapping=raw.get("mapping"),
                subscription=raw.get("subscription"), batch_size=raw.get("batch_size", 1000),
                time_zone=raw.get("time_zone", agent_zone)))
    if problems:
        raise ConfigError(label, [f"line {line}: {message}" for line, message in sorted(problems)])

    base = path.resolve().parent
    hub = document["hub"]
    sender = document.get("sender") or {}
    return AgentConfig(
        path=path.resolve(),
        hub_url=hub["url"],
        proxy=hub.get("proxy"),
        ca_bundle=str(_resolve(base, hub["ca_bundle"])) if hub.get("ca_bundle") else None,
        timeout_seconds=hub.get("timeout_seconds", 60.0),
        state_dir=_resolve(base, document["state_dir"]),
        passphrase_file=_resolve(base, document.get("passphrase_file")),
        heartbeat_seconds=document.get("heartbeat_seconds", DEFAULT_HEARTBEAT_SECONDS),
        batch_size=sender.get("batch_size", 500),
        warn_outbox_depth=sender.get("warn_outbox_depth", 100_000),
        max_backoff_seconds=sender.get("max_backoff_seconds", 300.0),
        time_zone=agent_zone,
        tasks=tasks,
        managed_by=document.get("managed_by", "file"),
        raw=document,
    )
