"""A hub-managed agent's configuration (agent.yaml says `managed_by: hub`).

The agent asks the hub for the newest approved version over its own outbound connection
(the hub never calls in), checks it exactly as `causeway-agent check` does (the same parse,
`agents.config.with_hub_configuration`, and the same task checks, `agents.checking`), and
only then saves it as the last good version and hands it to the runner; it reports to the
hub whether it applied the version or why not. A version that fails leaves the last good
one running; it is tried again after RETRY_FAILED_SECONDS (a database that was down may be
up again), and a newer version is tried at once.

Dry-run rows that would be rejected do not refuse a version: such rows are kept in rejects
with their source once it runs, as with a file-managed agent.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

from .checking import check_tasks
from .config import AgentConfig, ConfigError, with_hub_configuration
from .hub_client import HubClient, HubError, HubUnavailable
from .state import StateDir, StateError

log = logging.getLogger("causeway.agent.config")
RETRY_FAILED_SECONDS = 300
MAX_ERROR_CHARS = 10000  # the hub's contract bounds a report's error


class ManagedConfiguration:
    def __init__(self, local: AgentConfig, state: StateDir, hub: HubClient, agent_id: str):
        self.local = local
        self.state = state
        self.hub = hub
        self.agent_id = agent_id
        self.version: int | None = None  # the version running
        self.applied_at: float | None = None
        self._candidate: tuple[int, str] | None = None  # checked, not yet confirmed applied
        self._failed: tuple[int, float] | None = None  # (version, when) of the last failure
        self._unsent: tuple[int, str, str | None] | None = None  # a report the hub has not had yet

    def last_good(self) -> AgentConfig:
        """The version saved when it was last applied, so the agent runs while the hub is away
        (no tasks before the first)."""
        try:
            saved = self.state.load_hub_config()
            if saved is None:
                return self.local
            config = with_hub_configuration(self.local, saved["source"], saved["version"])
        except (StateError, ConfigError) as exc:
            log.error("the saved hub configuration cannot be used (%s); waiting for the hub's", exc)
            return self.local
        self.version, self.applied_at = saved["version"], saved.get("applied_at")
        return config

    def poll(self) -> AgentConfig | None:
        """A newer version from the hub, checked; None when there is none (or it failed its check)."""
        self._send_unsent()
        try:
            current = self.hub.agent_configuration(self.agent_id)
        except HubError as exc:
            log.info("could not ask the hub for configuration: %s", exc)
            return None
        version, source = current.get("version"), current.get("source")
        if version is None or version == self.version:
            return None
        if self._failed and self._failed[0] == version and time.monotonic() - self._failed[1] < RETRY_FAILED_SECONDS:
            return None
        try:
            candidate = with_hub_configuration(self.local, source, version)
            checked = check_tasks(candidate, self.hub, say=log.debug)
            if checked.failures:
                raise ConfigError(Path(f"hub configuration version {version}"), checked.failures)
        except Exception as exc:  # whatever is wrong with it, the last good version keeps running
            error = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
            log.error("configuration version %s not applied; still running %s: %s", version,
                      f"version {self.version}" if self.version else "no tasks", error)
            self._failed = (version, time.monotonic())
            self._report(version, "failed", error[:MAX_ERROR_CHARS])
            return None
        self._candidate = (version, source)
        return candidate

    def applied(self) -> None:
        """The runner now runs the version `poll` returned: keep it as the last good one, tell the hub."""
        if self._candidate is None:
            return
        version, source = self._candidate
        self._candidate, self._failed = None, None
        self.applied_at = time.time()
        self.state.save_hub_config(version, source, self.applied_at)
        self.version = version
        log.info("configuration version %s applied", version)
        self._report(version, "applied")

    def _report(self, version: int, outcome: str, error: str | None = None) -> None:
        self._unsent = (version, outcome, error)
        self._send_unsent()

    def _send_unsent(self) -> None:
        if self._unsent is None:
            return
        try:
            self.hub.report_configuration(self.agent_id, *self._unsent)
            self._unsent = None
        except HubUnavailable as exc:  # said again at the next poll
            log.info("could not report on configuration version %s yet: %s", self._unsent[0], exc)
        except HubError as exc:
            log.warning("the hub refused the report on configuration version %s: %s", self._unsent[0], exc)
            self._unsent = None
