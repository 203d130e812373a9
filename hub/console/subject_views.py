"""Subjects: look up a pseudonymous subject reference (consents, objections, disclosures),
print a subject-access report, record or withdraw consent. The policy service decides
who may see and change what (governance staff of the controller org; admins)."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from hub.errors import InvalidContent
from hub.policy.vocabulary import KNOWN_PURPOSES

from .blueprint import GOVERNANCE, console, requires, services, staff


def _subject_file(subject: str) -> dict:
    policy = services().policy
    found = policy.consents.for_subject(subject, staff().principal)
    found["disclosures"] = policy.subject_disclosures(subject, staff().principal)["disclosures"]
    return found


def _render(subject: str, consent_form: dict | None = None, errors: dict | None = None, status: int = 200):
    return render_template("console/subject.html", subject=subject,
                           found=_subject_file(subject) if subject else None,
                           form=consent_form or {"purpose": "ServiceProvision", "method": "", "recipients": "",
                                                 "evidence_ref": ""},
                           errors=errors or {}, purposes=KNOWN_PURPOSES, orgs=services().orgs.list_orgs()), status


@console.get("/subjects")
@requires(*GOVERNANCE)
def subjects():
    return _render(request.args.get("subject", "").strip()[:200])


@console.get("/subjects/report")
@requires(*GOVERNANCE)
def subject_report():
    subject = request.args.get("subject", "").strip()[:200]
    if not subject:
        return redirect(url_for("console.subjects"))
    return render_template("console/subject_report.html", subject=subject, found=_subject_file(subject),
                           generated_at=services().clock(), org=services().orgs.get_org(staff().org))


@console.post("/subjects/consents")
@requires(*GOVERNANCE)
def record_consent():
    form = {name: request.form.get(name, "").strip() for name in ("subject", "purpose", "method", "evidence_ref")}
    form["recipients"] = " ".join(request.form.getlist("recipients")) or request.form.get("recipients_text", "")
    body = {**form, "recipients": form["recipients"]}
    try:
        consent = services().policy.consents.give(body, staff().principal)
    except InvalidContent as invalid:
        errors = {}
        for error in invalid.details.get("errors", []):
            errors.setdefault(error["field"], []).append(error["message"])
        return _render(form["subject"], form, errors, 422)
    flash(f"Consent recorded for {consent['subject']}: {consent['purpose']} by "
          f"{', '.join(consent['recipients'])}.", "success")
    return redirect(url_for("console.subjects", subject=consent["subject"]))


@console.post("/subjects/consents/<consent_id>/withdraw")
@requires(*GOVERNANCE)
def withdraw_consent(consent_id: str):
    result = services().policy.consents.withdraw(consent_id, staff().principal)
    notified = sorted({n["recipient"] for n in result.get("notices", [])})
    flash("Consent withdrawn; no further records go out under it."
          + (f" Notified: {', '.join(notified)}." if notified else ""), "success")
    return redirect(url_for("console.subjects", subject=result["subject"]))
