"""Hub-managed agents: an agent's tasks kept at the hub as numbered, immutable versions.

Who does what:

- the agent's own org's IT (`agent-admin` or `ops` credentials, console ops staff) reads the
  versions, writes a new one (in force at once) and approves or declines proposals;
- the hub operator's ops (and admin) read every agent's versions and write *proposals*,
  which take effect only once the agent's org approves them;
- the agent itself (its enrolled credential, for itself only) reads the newest approved
  version and reports whether it applied it or why it could not.

The hub checks what it can without the council's systems: YAML, the shape of the tasks
(schemas/formats/agent-config.json, as the agent does), and that no secret is written in
it (`hub.agentconfig.secrets`). The agent checks the rest exactly as `causeway-agent check`
does before it applies a version.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import datetime

import jsonschema_rs
import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from causeway_common.catalogue import load_format_schema
from hub import db
from hub.audit import service as audit
from hub.auth import Principal, has_operator_view
from hub.errors import Conflict, Forbidden, InvalidContent, TooLarge, not_found
from hub.timeutil import iso_utc

from .models import agent_config_reports, agent_config_versions
from .secrets import literal_secrets

EDITORS = ("agent-admin", "ops")  # of the agent's own org
MAX_SOURCE_BYTES = 256 * 1024
TOP_LEVEL_KEYS = ("tasks", "time_zone")
OUTCOMES = ("applied", "failed")
# Stand-ins for what the agent's own agent.yaml says, so the tasks are checked against the same schema.
_LOCAL_PART = {"hub": {"url": "https://hub.invalid"}, "state_dir": "state"}


class AgentConfigService:
    def __init__(self, engine: Engine, find_agent: Callable[[str], dict | None],
                 latest_report: Callable[[str], dict | None], clock: Callable[[], datetime] = db.utcnow,
                 hub_operator: str | None = None):
        self.engine = engine
        self._find_agent = find_agent  # agent id -> the enrolled agent (id, org, name, ...)
        self._latest_report = latest_report  # agent id -> its latest heartbeat
        self.clock = clock
        self.hub_operator = hub_operator
        self._validator = jsonschema_rs.validator_for(load_format_schema("agent-config"))

    # -- who may ------------------------------------------------------------
    def _agent_for(self, principal: Principal, agent_id: str) -> tuple[dict, bool]:
        """The agent and whether the caller is its own org's IT; refuses everyone else."""
        agent = self._find_agent(agent_id)
        own = agent is not None and principal.org == agent["org"]
        if agent is None or not (own or principal.is_admin or has_operator_view(principal, self.hub_operator)):
            raise not_found(f"agent {agent_id}")
        if own and principal.role not in EDITORS and not principal.is_admin:
            raise Forbidden(f"an agent's configuration is for its org's agent-admin or ops credentials; "
                            f"yours is {principal.role}")
        return agent, own

    @staticmethod
    def _require_agent_itself(principal: Principal, agent_id: str) -> None:
        if principal.agent_id is None:
            raise Forbidden("an agent's configuration is fetched by the agent itself; this credential is not an agent's")
        if principal.agent_id != agent_id:
            raise Forbidden(f"this agent's credential reads the configuration of agent {principal.agent_id} only")

    # -- reading ------------------------------------------------------------
    def overview(self, principal: Principal, agent_id: str) -> dict:
        agent, own = self._agent_for(principal, agent_id)
        with self.engine.connect() as conn:
            versions = conn.execute(select(agent_config_versions).where(agent_config_versions.c.agent_id == agent_id)
                                    .order_by(agent_config_versions.c.version.desc())).all()
            reports = conn.execute(select(agent_config_reports).where(agent_config_reports.c.agent_id == agent_id)
                                   .order_by(agent_config_reports.c.id.desc()).limit(50)).all()
        current = next((v.version for v in versions if v.status == "approved"), None)
        applied = next((r for r in reports if r.outcome == "applied"), None)
        failure = next((r for r in reports if r.outcome == "failed"
                        and (applied is None or r.id > applied.id)), None)
        heartbeat = self._latest_report(agent_id) or {}
        # The agent's error text can quote its org's systems (hosts, columns, rows): the hub
        # operator sees that a version was refused, not why (as with heartbeats' errors).
        shows_errors = own or principal.is_admin
        return {
            "agent_id": agent_id, "org": agent["org"], "name": agent["name"],
            "management": heartbeat.get("management"), "you_may": "edit" if own or principal.is_admin else "propose",
            "current_version": current,
            "applied_version": applied.version if applied else None,
            "applied_at": iso_utc(applied.reported_at) if applied else None,
            "last_failure": ({"version": failure.version, "reported_at": iso_utc(failure.reported_at),
                              "error": failure.error if shows_errors else None} if failure else None),
            "versions": [self._summary(v) for v in versions],
            "reports": [{"version": r.version, "outcome": r.outcome, "error": r.error if shows_errors else None,
                         "reported_at": iso_utc(r.reported_at)} for r in reports],
        }

    @staticmethod
    def _summary(row) -> dict:
        return {"version": row.version, "status": row.status, "note": row.note, "created_by": row.created_by,
                "created_at": iso_utc(row.created_at), "decided_by": row.decided_by,
                "decided_at": iso_utc(row.decided_at) if row.decided_at else None}

    def get_version(self, principal: Principal, agent_id: str, version: int, against: int | None = None) -> dict:
        self._agent_for(principal, agent_id)
        with self.engine.connect() as conn:
            row = self._version_row(conn, agent_id, version)
            if against is None:
                base = conn.execute(select(agent_config_versions).where(
                    agent_config_versions.c.agent_id == agent_id, agent_config_versions.c.version < version)
                    .order_by(agent_config_versions.c.version.desc()).limit(1)).first()
            else:
                base = self._version_row(conn, agent_id, against)
        return {**self._summary(row), "agent_id": agent_id, "source": row.source,
                "diff_against": base.version if base else None,
                "diff": diff(base.source if base else "", row.source, base.version if base else None, row.version)}

    @staticmethod
    def _version_row(conn, agent_id: str, version: int):
        row = conn.execute(select(agent_config_versions).where(agent_config_versions.c.agent_id == agent_id,
                                                               agent_config_versions.c.version == version)).first()
        if row is None:
            raise not_found(f"configuration version {version} of agent {agent_id}")
        return row

    # -- writing ------------------------------------------------------------
    def create_version(self, principal: Principal, agent_id: str, source: str, note: str | None = None) -> dict:
        """A new version: in force at once when the agent's own org writes it, a proposal otherwise."""
        agent, own = self._agent_for(principal, agent_id)
        check_source(source, self._validator)
        status = "approved" if own else "proposed"
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            latest = conn.execute(select(func.max(agent_config_versions.c.version))
                                  .where(agent_config_versions.c.agent_id == agent_id)).scalar()
            version = (latest or 0) + 1
            conn.execute(agent_config_versions.insert().values(
                agent_id=agent_id, version=version, org=agent["org"], source=source, status=status,
                note=(note or None), created_by=principal.actor, created_at=now,
                decided_by=principal.actor if own else None, decided_at=now if own else None))
            audit.append(conn, at=now, actor=principal.actor, org=agent["org"],
                         action="agent-config.version" if own else "agent-config.propose",
                         target=f"{agent_id}/v{version}", detail={"status": status})
            row = self._version_row(conn, agent_id, version)
        return self._summary(row)

    def decide(self, principal: Principal, agent_id: str, version: int, decision: str) -> dict:
        """The agent's org approves or declines a proposal (nobody else decides for it)."""
        agent, own = self._agent_for(principal, agent_id)
        if not own:
            raise Forbidden(f"a proposal is approved or declined by {agent['org']}'s agent-admin or ops, "
                            "the org that runs the agent")
        status = {"approve": "approved", "decline": "declined"}[decision]
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            row = self._version_row(conn, agent_id, version)
            if row.status != "proposed":
                raise Conflict(f"version {version} is {row.status}, not a proposal waiting for a decision")
            newer = conn.execute(select(func.max(agent_config_versions.c.version)).where(
                agent_config_versions.c.agent_id == agent_id, agent_config_versions.c.status == "approved")).scalar()
            if status == "approved" and newer is not None and newer > version:
                raise Conflict(f"version {newer} was approved after this proposal was made; "
                               "propose the change again on top of it")
            conn.execute(agent_config_versions.update().where(
                agent_config_versions.c.agent_id == agent_id, agent_config_versions.c.version == version)
                .values(status=status, decided_by=principal.actor, decided_at=now))
            audit.append(conn, at=now, actor=principal.actor, org=agent["org"], action=f"agent-config.{decision}",
                         target=f"{agent_id}/v{version}")
            row = self._version_row(conn, agent_id, version)
        return self._summary(row)

    # -- the agent's side -----------------------------------------------------
    def current_for_agent(self, principal: Principal, agent_id: str) -> dict:
        self._require_agent_itself(principal, agent_id)
        with self.engine.connect() as conn:
            row = conn.execute(select(agent_config_versions.c.version, agent_config_versions.c.source)
                               .where(agent_config_versions.c.agent_id == agent_id,
                                      agent_config_versions.c.status == "approved")
                               .order_by(agent_config_versions.c.version.desc()).limit(1)).first()
        return {"version": row.version if row else None, "source": row.source if row else None}

    def record_report(self, principal: Principal, agent_id: str, version: int, outcome: str,
                      error: str | None = None) -> dict:
        self._require_agent_itself(principal, agent_id)
        now = self.clock()
        with db.write_transaction(self.engine) as conn:
            row = self._version_row(conn, agent_id, version)
            if row.status != "approved":
                raise Conflict(f"version {version} is {row.status}; an agent applies approved versions only")
            conn.execute(agent_config_reports.insert().values(agent_id=agent_id, version=version, outcome=outcome,
                                                              error=error if outcome == "failed" else None,
                                                              reported_at=now))
            audit.append(conn, at=now, actor=principal.actor, org=principal.org, action=f"agent-config.{outcome}",
                         target=f"{agent_id}/v{version}")
        return {"agent_id": agent_id, "version": version, "outcome": outcome, "reported_at": iso_utc(now)}


def check_source(source: str, validator) -> None:
    """What the hub can check of a version: size, YAML, the tasks' shape, and no literal secret."""
    size = len(source.encode("utf-8"))
    if size > MAX_SOURCE_BYTES:
        raise TooLarge(f"the configuration is {size} bytes; at most {MAX_SOURCE_BYTES} are accepted",
                       limit_bytes=MAX_SOURCE_BYTES)
    try:
        document = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "somewhere"
        raise InvalidContent(f"the configuration is not valid YAML ({where}: {getattr(exc, 'problem', None) or exc})",
                             errors=[{"field": "", "message": f"{where}: not valid YAML"}]) from None
    if not isinstance(document, dict) or "tasks" not in document:
        raise InvalidContent("a hub-managed configuration is a YAML mapping with `tasks:` (and optionally "
                             "`time_zone:`); where the hub is and where the state lives stay in the agent's own "
                             "agent.yaml", errors=[{"field": "", "message": "expected a mapping with tasks"}])
    errors = [{"field": str(key), "message": f"{key}: not part of a hub-managed configuration (only "
                                             f"{', '.join(TOP_LEVEL_KEYS)}); it stays in the agent's own agent.yaml"}
              for key in document if key not in TOP_LEVEL_KEYS]
    for error in validator.iter_errors({**_LOCAL_PART, **{k: document[k] for k in TOP_LEVEL_KEYS if k in document}}):
        field = _where(list(error.instance_path))
        errors.append({"field": field, "message": f"{field}: {error.message}"})
    secrets = literal_secrets(document)
    if secrets:
        raise InvalidContent("the configuration holds a secret's value; secrets never leave the council: name the "
                             "environment variable (or local file) that holds it on the agent's server. "
                             + " ".join(s["message"] for s in secrets), slug="literal-secret",
                             errors=secrets + errors)
    if errors:
        raise InvalidContent("the configuration does not fit the agent configuration format: "
                             + "; ".join(e["message"] for e in errors[:5]), errors=errors)


def _where(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "top level"


def diff(before: str, after: str, before_version: int | None, after_version: int) -> str:
    """A unified diff of two versions' text (before None: everything is new)."""
    return "".join(difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True),
        fromfile=f"version {before_version}" if before_version else "nothing", tofile=f"version {after_version}"))
