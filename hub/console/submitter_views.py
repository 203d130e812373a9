"""Which of a council's submitters send a return: its governance assigns them on the return's
page (a submitter with any assignment sees only the returns it is assigned; hub.returns.scopes)."""
from __future__ import annotations

from flask import abort, flash, redirect, request, url_for

from .blueprint import GOVERNANCE, console, requires, services, staff


@console.post("/returns/<dataset>/submitters")
@requires(*GOVERNANCE)
def returns_submitter_assign(dataset: str):
    username, choice = request.form.get("username", ""), request.form.get("assigned")
    if choice not in ("yes", "no"):
        abort(400, description="Choose whether to assign the submitter to this return or take the assignment away.")
    services().returns.assign_submitter(dataset, username, choice == "yes", staff().principal)
    flash(f"{username} {'now sends' if choice == 'yes' else 'no longer sends only'} this return.", "success")
    return redirect(url_for("console.returns_grid", dataset=dataset) + "#submitters")
