"""Agreements pages: list by status, plain-English summary, YAML editing with inline
errors, version history with diffs, approve / activate / suspend / retire, and the
decision tester. Every rule (who may see, edit, approve) is the policy service's."""
from __future__ import annotations

import difflib
import json
from datetime import date

from flask import abort, flash, redirect, render_template, request, url_for

from hub.errors import Conflict, Forbidden, HubError, Invalid, InvalidContent, TooLarge, Unavailable
from hub.policy.vocabulary import KNOWN_PURPOSES, LAWFUL_BASES, STATUSES, purpose_label

from .agreement_words import org_name, plain_summary, what_changes
from .blueprint import GOVERNANCE, console, requires, services, staff


def _policy():
    return services().policy


def _located_problems(error: HubError) -> list[dict]:
    return error.details.get("problems") or [{"path": "", "line": None, "message": error.detail}]


# -- list and detail ---------------------------------------------------------
@console.get("/agreements")
@requires(*GOVERNANCE)
def agreements():
    listed = _policy().agreements.list(staff().principal)
    by_status = {status: [a for a in listed if a["status"] == status] for status in STATUSES}
    awaiting = [a for a in listed if a["latest_status"] in ("draft", "approved")]
    return render_template("console/agreements.html", by_status=by_status, awaiting=awaiting, total=len(listed))


@console.get("/agreements/<agreement_id>")
@requires(*GOVERNANCE)
def agreement(agreement_id: str):
    return _agreement_page(agreement_id)


REVIEW_WARNING_DAYS = 30  # the review badge shows from this many days before the review date


def review_state(review_date: str | None, today) -> str | None:
    """'overdue' once the review date has passed, 'due' from 30 days before it, else None."""
    if not review_date:
        return None
    try:
        due = date.fromisoformat(str(review_date)[:10])
    except ValueError:
        return None
    if today > due:
        return "overdue"
    return "due" if (due - today).days <= REVIEW_WARNING_DAYS else None


def _agreement_page(agreement_id: str, reason_error: dict | None = None, status: int = 200):
    found = _policy().agreements.get(agreement_id, staff().principal)
    latest = found["latest"] or {"version": found["version"], "status": found["status"],
                                 "approvals": found["approvals"], "document": found["document"]}
    user = staff()
    document = latest["document"]
    parties = set(document["providers"]) | set(document["recipients"])
    approved_by = {a["org"] for a in latest["approvals"]}
    waiting = sorted(parties - approved_by)
    in_force = found["document"] if found["status"] in ("active", "suspended") else None
    changes = {
        "approved": what_changes("approved", document, latest["status"], last_approval=waiting == [user.org]),
        "active": (what_changes("active", document, "approved", in_force if found["latest"] else None,
                                found["version"]) if latest["status"] == "approved"
                   else what_changes("active", found["document"], found["status"])),
        "suspended": what_changes("suspended", found["document"], found["status"]),
        "retired": what_changes("retired", found["document"], found["status"]),
    }
    review_date = found["document"].get("review_date")
    today = services().clock().date()
    return render_template(
        "console/agreement.html", agreement=found, latest=latest, summary=plain_summary(found["document"]),
        latest_summary=plain_summary(document) if found["latest"] else None,
        can_approve=(latest["status"] == "draft" and user.role == "governance"
                     and (user.org in parties) and user.org not in approved_by),
        # Every party named in the version approves it, each for itself.
        waiting_for=[f"{org_name(org)} ({'provider' if org in document['providers'] else 'recipient'})"
                     for org in waiting],
        changes=changes, reason_error=reason_error or {}, org_name=org_name, purpose_label=purpose_label,
        review_date=review_date, review=review_state(review_date, today),
        review_in_days=(date.fromisoformat(str(review_date)[:10]) - today).days if review_state(review_date, today) else None,
    ), status


@console.get("/agreements/<agreement_id>/versions")
@requires(*GOVERNANCE)
def agreement_versions(agreement_id: str):
    versions = _policy().agreements.versions(agreement_id, staff().principal)
    diffs = {}
    for before, after in zip(versions, versions[1:]):
        diffs[after["version"]] = list(difflib.unified_diff(
            before["source"].splitlines(), after["source"].splitlines(),
            fromfile=f"version {before['version']}", tofile=f"version {after['version']}", lineterm=""))
    return render_template("console/agreement_versions.html", agreement_id=agreement_id,
                           versions=list(reversed(versions)), diffs=diffs)


# -- editing -----------------------------------------------------------------
NEW_AGREEMENT_TEMPLATE = """\
id: {org}-to-recipient
title: What is shared, by whom, with whom
description: >-
  Why the records are shared and how the recipient uses them.
providers: [{org}]
recipients: [recipient-org]
purposes: [ServiceProvision]
lawful_basis: public-task
valid_from: 2026-01-01
valid_until: 2027-12-31
retention_days: 365
datasets:
  dataset-name:
    fields: [field_a, field_b]
"""


def _render_editor(source: str, agreement_id: str | None, problems=None, status: int = 200):
    problems = problems or []
    return render_template("console/agreement_edit.html", source=source, agreement_id=agreement_id,
                           problems=problems, problem_lines={p["line"] for p in problems if p.get("line")},
                           bases=LAWFUL_BASES, purposes=KNOWN_PURPOSES), status


@console.route("/agreements/new", methods=["GET", "POST"])
@requires(*GOVERNANCE)
def new_agreement():
    if request.method == "GET":
        return _render_editor(NEW_AGREEMENT_TEMPLATE.format(org=staff().org), None)
    return _save(request.form.get("source", ""), None)


@console.route("/agreements/<agreement_id>/edit", methods=["GET", "POST"])
@requires(*GOVERNANCE)
def edit_agreement(agreement_id: str):
    if request.method == "GET":
        versions = _policy().agreements.versions(agreement_id, staff().principal)
        return _render_editor(versions[-1]["source"], agreement_id)
    return _save(request.form.get("source", ""), agreement_id)


def _save(source: str, agreement_id: str | None):
    try:
        result = _policy().agreements.apply(source, staff().principal,
                                            mode="create" if agreement_id is None else "update",
                                            expected_id=agreement_id)
    except (Conflict, TooLarge, InvalidContent) as error:  # the API's checks, shown beside the text
        return _render_editor(source, agreement_id, _located_problems(error), 413 if isinstance(error, TooLarge) else 422)
    if result["changed"]:
        flash(f"Saved as draft version {result['version']}. Changes: {'; '.join(result['changes'])}.", "success")
    else:
        flash("Nothing changed: the text is the same as the latest version.", "info")
    return redirect(url_for("console.agreement", agreement_id=result["id"]))


@console.post("/agreements/<agreement_id>/status")
@requires(*GOVERNANCE)
def change_agreement_status(agreement_id: str):
    to = request.form.get("to", "")
    if to not in ("approved", "active", "suspended", "retired"):
        abort(400, description="Choose approve, activate, suspend or retire.")
    version = request.form.get("version", type=int)
    try:
        result = _policy().agreements.transition(agreement_id, to, staff().principal, version=version,
                                                 reason=(request.form.get("reason") or "").strip() or None)
    except Invalid as error:  # no reason: said beside the reason field, nothing changed
        if error.details.get("field") != "reason":
            raise
        return _agreement_page(agreement_id, reason_error={to: error.detail}, status=400)
    if to == "approved" and result["status"] == "draft":
        flash(f"Your approval of version {result['version']} is recorded; it now waits for "
              f"{result.get('waiting_for', 'the other side')}.", "success")
    else:
        flash(f"Version {result['version']} is now {result['status']}.", "success")
    return redirect(url_for("console.agreement", agreement_id=agreement_id))


# -- the decision tester -----------------------------------------------------
@console.route("/agreements/decide", methods=["GET", "POST"])
@requires(*GOVERNANCE)
def decision_tester():
    form = request.form if request.method == "POST" else {}
    values = {"record_id": form.get("record_id", "").strip(), "record": form.get("record", "").strip(),
              "recipient": form.get("recipient", "").strip(), "purpose": form.get("purpose", "").strip()}
    answer, errors = None, {}
    if request.method == "POST":
        body = {"recipient": values["recipient"], "purpose": values["purpose"]}
        if not values["recipient"]:
            errors["recipient"] = "Name the recipient org."
        if not values["purpose"]:
            errors["purpose"] = "Name the purpose."
        if values["record_id"]:
            body["record_id"] = values["record_id"]
        elif values["record"]:
            try:
                body["record"] = json.loads(values["record"])
            except json.JSONDecodeError as exc:
                errors["record"] = f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        else:
            errors["record_id"] = "Give a stored record's id, or paste a record below."
        if not errors:
            try:
                answer = _policy().dry_run(body, staff().principal, services().clock())
            except HubError as error:
                if isinstance(error, (Forbidden, Unavailable)):
                    raise
                errors["record_id" if values["record_id"] else "record"] = error.detail
    orgs = services().orgs.list_orgs()
    return render_template("console/decide.html", values=values, answer=answer, errors=errors, orgs=orgs,
                           purposes=KNOWN_PURPOSES), (422 if errors else 200)
