"""Returns drafted as data, in the console: the requesting org's governance drafts a return
(or the next version of one) in a form, sees which datasets and returns already collect such
fields, and the hub's admin approves it into force; the owner records reviews and retires it.
The returns service (hub.returns.definitions) decides who may do what, as for the API.
"""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from hub.errors import Conflict, Forbidden, Invalid
from hub.returns.periods import FREQUENCIES

from .blueprint import GOVERNANCE, RETURNS_STAFF, console, requires, services, staff
from .return_form import FormProblems, form_from_spec, spec_from_form

BLANK = {"name": "data-return.", "title": "", "frequency": "quarterly", "due_days": "30", "guidance": "",
         "expected_publishers": "all-councils", "fields": "", "rules": "", "rates": ""}


def _definitions():
    return services().returns.definitions


def _render_form(form: dict, problems=None, status: int = 200, name: str | None = None):
    return render_template("console/returns/definition_edit.html", form=form, problems=problems or [],
                           frequencies=FREQUENCIES, name=name), status


@console.route("/return-definitions/new", methods=["GET", "POST"])
@requires(*GOVERNANCE)
def returns_definition_new():
    if request.method == "GET":
        based_on = request.args.get("from")
        if based_on:
            found = _definitions().get(based_on, staff().principal)
            return _render_form(form_from_spec(based_on, found["versions"][-1]["spec"]), name=based_on)
        return _render_form(dict(BLANK))
    form = request.form.to_dict()
    try:
        spec = spec_from_form(form)
        found = _definitions().draft(spec, staff().principal)
    except FormProblems as error:
        return _render_form(form, error.problems, 422, form.get("based_on"))
    except (Invalid, Conflict, Forbidden) as error:
        located = error.details.get("errors") or [{"path": "", "message": error.detail}]
        problems = [{"field": (p.get("path") or "/").strip("/").split("/")[0] or None, "line": None,
                     "message": f"{p['path']}: {p['message']}" if p.get("path") else p["message"]} for p in located]
        return _render_form(form, problems, 422, form.get("based_on"))
    version = found["versions"][-1]
    flash(f"Saved as draft version {version['version']}, applying from {version['applies_from']}. "
          "The hub's admin approves it into force.", "success")
    return redirect(url_for("console.returns_definition", name=found["name"]))


@console.get("/return-definitions/<name>")
@requires(*RETURNS_STAFF)
def returns_definition(name: str):
    found = _definitions().get(name, staff().principal)
    user = staff()
    return render_template("console/returns/definition.html", d=found, is_admin=user.role == "admin",
                           is_owner=user.org == found["owner_org"] and user.role in ("governance", "admin"))


@console.post("/return-definitions/<name>/versions/<int:version>/approve")
@requires()  # admin only
def returns_definition_approve(name: str, version: int):
    _definitions().approve(name, version, staff().principal)
    flash(f"Version {version} of {name} is approved and in force.", "success")
    return redirect(url_for("console.returns_definition", name=name))


@console.post("/return-definitions/<name>/lifecycle")
@requires(*GOVERNANCE)
def returns_definition_lifecycle(name: str):
    action = request.form.get("action")
    day = (request.form.get("day") or "").strip()
    if action not in ("reviewed", "retired") or not day:
        abort(400, description="Choose whether the return was reviewed or is retired, and the day.")
    try:
        _definitions().set_lifecycle(name, {action: day}, staff().principal)
    except Invalid as error:
        flash(error.detail, "error")
        return redirect(url_for("console.returns_definition", name=name))
    flash(f"Recorded: {name} {'reviewed' if action == 'reviewed' else 'retired from'} {day}.", "success")
    return redirect(url_for("console.returns_definition", name=name))
