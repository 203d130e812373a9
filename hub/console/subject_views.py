"""Subjects: look up a pseudonymous subject reference (consents, objections, disclosures),
print a subject-access report, record or withdraw consent and objections. The policy service
decides who may see and change what (governance staff of the controller org; admins)."""
from __future__ import annotations

import re
from datetime import datetime

from flask import flash, redirect, render_template, request, url_for

from hub.errors import InvalidContent
from hub.policy.vocabulary import KNOWN_PURPOSES, purpose_label

from .agreement_words import LAWFUL_BASIS_WORDS, org_name
from .blueprint import GOVERNANCE, console, requires, services, staff
from .filters import LOCAL_TIME, uk_time

SUBJECT_REFERENCE = re.compile(r"[0-9a-f]{64}")
TIME_FIELDS = ("given_at", "expires_at", "lodged_at")
EMPTY_CONSENT = {"purpose": "ServiceProvision", "method": "", "recipients": "", "evidence_ref": "", "given_at": "",
                 "expires_at": ""}
EMPTY_OBJECTION = {"purpose": "", "method": "", "evidence_ref": "", "lodged_at": ""}


def _subject_file(subject: str) -> dict:
    policy = services().policy
    found = policy.consents.for_subject(subject, staff().principal)
    found["disclosures"] = policy.subject_disclosures(subject, staff().principal)["disclosures"]
    found["records_on_file"] = policy.subject_records_on_file(subject, staff().principal)
    found["nothing_on_file"] = not (found["consents"] or found["objections"] or found["disclosures"])
    return found


def _render(subject: str, consent_form: dict | None = None, objection_form: dict | None = None,
            errors: dict | None = None, objection_errors: dict | None = None, status: int = 200):
    return render_template("console/subject.html", subject=subject,
                           found=_subject_file(subject) if subject else None,
                           looks_like_reference=bool(SUBJECT_REFERENCE.fullmatch(subject)),
                           form=consent_form or EMPTY_CONSENT, objection_form=objection_form or EMPTY_OBJECTION,
                           errors=errors or {}, objection_errors=objection_errors or {}, purposes=KNOWN_PURPOSES,
                           purpose_label=purpose_label, org_name=org_name,
                           orgs=services().orgs.list_orgs()), status


def _local_time_field(value: str) -> str:
    """A datetime-local field (UK local time, as the form says) as RFC 3339 with its offset; the
    text as it is when it is not one, so the policy service names the field in its answer."""
    if not value:
        return ""
    try:
        written = datetime.fromisoformat(value)
    except ValueError:
        return value
    return (written if written.tzinfo else written.replace(tzinfo=LOCAL_TIME)).isoformat()


def _errors_by_field(invalid: InvalidContent) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in invalid.details.get("errors", []):
        errors.setdefault(error["field"], []).append(error["message"])
    return errors


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
                           generated_at=services().clock(), org=services().orgs.get_org(staff().org),
                           org_name=org_name, purpose_label=purpose_label, basis_words=LAWFUL_BASIS_WORDS)


@console.post("/subjects/consents")
@requires(*GOVERNANCE)
def record_consent():
    form = {name: request.form.get(name, "").strip()
            for name in ("subject", "purpose", "method", "evidence_ref", "given_at", "expires_at")}
    form["recipients"] = " ".join(request.form.getlist("recipients")) or request.form.get("recipients_text", "")
    body = {**form, **{name: _local_time_field(form[name]) for name in ("given_at", "expires_at")}}
    try:
        consent = services().policy.consents.give(body, staff().principal)
    except InvalidContent as invalid:
        return _render(form["subject"], consent_form=form, errors=_errors_by_field(invalid), status=422)
    until = f" until {uk_time(consent['expires_at'])}" if consent.get("expires_at") else ""
    flash(f"Consent recorded for {consent['subject']}: {consent['purpose']} by "
          f"{', '.join(consent['recipients'])}, given {uk_time(consent['given_at'])}{until}.", "success")
    return redirect(url_for("console.subjects", subject=consent["subject"]))


@console.post("/subjects/consents/<consent_id>/withdraw")
@requires(*GOVERNANCE)
def withdraw_consent(consent_id: str):
    result = services().policy.consents.withdraw(consent_id, staff().principal)
    notified = sorted({n["recipient"] for n in result.get("notices", [])})
    flash("Consent withdrawn; no further records go out under it."
          + (f" Notified: {', '.join(notified)}." if notified else ""), "success")
    return redirect(url_for("console.subjects", subject=result["subject"]))


@console.post("/subjects/objections")
@requires(*GOVERNANCE)
def record_objection():
    form = {name: request.form.get(name, "").strip() for name in ("subject", "purpose", "method", "evidence_ref",
                                                                    "lodged_at")}
    body = {**form, "lodged_at": _local_time_field(form["lodged_at"]), "purpose": form["purpose"] or None}
    try:
        objection = services().policy.consents.object(body, staff().principal)
    except InvalidContent as invalid:
        return _render(form["subject"], objection_form=form, objection_errors=_errors_by_field(invalid), status=422)
    what = objection["purpose"] or "every purpose"
    flash(f"Objection recorded for {objection['subject']} ({what}): records under a public-task agreement "
          "stop going out for it at the next delivery.", "success")
    return redirect(url_for("console.subjects", subject=objection["subject"]))


@console.post("/subjects/objections/<objection_id>/withdraw")
@requires(*GOVERNANCE)
def withdraw_objection(objection_id: str):
    result = services().policy.consents.withdraw_objection(objection_id, staff().principal)
    flash("Objection withdrawn; records may go out again where an agreement allows.", "success")
    return redirect(url_for("console.subjects", subject=result["subject"]))
