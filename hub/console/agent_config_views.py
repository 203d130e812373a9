"""A hub-managed agent's configuration page: the versions, the one in force, what the agent
applied and when (or why it refused one), the diff between any two versions, and the form
that writes a new version (in force at once for the agent's own org's ops staff, a proposal
from the hub operator's ops staff and admins) or decides a proposal.

hub.agentconfig.service decides who may: the same rules as for an API key of the same org and role.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from hub.errors import InvalidContent, TooLarge

from .blueprint import OPERATORS, console, requires, services, staff

STARTER = """tasks:
  - name: gazetteer
    direction: publish
    dataset: gazetteer-address
    connector:
      kind: spreadsheet
      options: {folder: /srv/shares/gazetteer/to-causeway, pattern: "*.csv"}
    mapping:
      fields:
        uprn: {from: UPRN, required: true}
    schedule: {interval_seconds: 300}
"""


def _configs():
    return services().agent_config


def _render(agent_id: str, source: str | None = None, note: str = "", problems=None, status: int = 200):
    principal = staff().principal
    overview = _configs().overview(principal, agent_id)
    versions = [v["version"] for v in overview["versions"]]
    shown = request.args.get("version", type=int) or overview["current_version"] or (versions[0] if versions else None)
    against = request.args.get("against", type=int)
    version = _configs().get_version(principal, agent_id, shown, against) if shown in versions else None
    if source is None:
        current = overview["current_version"]
        source = (_configs().get_version(principal, agent_id, current)["source"] if current else STARTER)
    return render_template("console/agent_configuration.html", config=overview, version=version,
                           diff_lines=(version["diff"].splitlines() if version else []), source=source, note=note,
                           problems=problems or [], all_versions=versions), status


@console.get("/agents/<agent_id>/configuration")
@requires(*OPERATORS)
def agent_configuration(agent_id: str):
    return _render(agent_id)


@console.post("/agents/<agent_id>/configuration")
@requires(*OPERATORS)
def save_agent_configuration(agent_id: str):
    source, note = request.form.get("source", ""), (request.form.get("note") or "").strip()
    try:
        made = _configs().create_version(staff().principal, agent_id, source, note or None)
    except (InvalidContent, TooLarge) as error:  # the API's checks, shown beside the text
        problems = error.details.get("errors") or [{"field": "", "message": error.detail}]
        return _render(agent_id, source, note, problems, 413 if isinstance(error, TooLarge) else 422)
    if made["status"] == "approved":
        flash(f"Version {made['version']} is in force; the agent takes it at its next heartbeat, checks it and "
              "reports here whether it applied it.", "success")
    else:
        flash(f"Version {made['version']} is proposed; it takes effect once the agent's organisation approves it.",
              "success")
    return redirect(url_for("console.agent_configuration", agent_id=agent_id, version=made["version"]))


@console.post("/agents/<agent_id>/configuration/<int:version>/decision")
@requires(*OPERATORS)
def decide_agent_configuration(agent_id: str, version: int):
    decision = request.form.get("decision", "")
    if decision not in ("approve", "decline"):
        abort(400, description="Choose approve or decline.")
    result = _configs().decide(staff().principal, agent_id, version, decision)
    flash(f"Version {version} is {result['status']}.", "success")
    return redirect(url_for("console.agent_configuration", agent_id=agent_id, version=version))
