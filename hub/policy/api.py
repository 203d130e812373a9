"""Thin handlers for agreements, consent, objections, subject reports and dry-run decisions."""
from hub.errors import Invalid
from hub.timeutil import parse_iso
from hub.web import ok, principal, services


def _policy():
    return services().policy


def list_agreements():
    return ok({"agreements": _policy().agreements.list(principal())})


def create_agreement(body):
    return ok(_policy().agreements.apply(body["source"], principal(), mode="create"), 201)


def get_agreement(agreement_id):
    return ok(_policy().agreements.get(agreement_id, principal()))


def update_agreement(agreement_id, body):
    return ok(_policy().agreements.apply(body["source"], principal(), mode="update", expected_id=agreement_id))


def list_versions(agreement_id):
    return ok({"id": agreement_id, "versions": _policy().agreements.versions(agreement_id, principal())})


def transition(agreement_id, body):
    return ok(_policy().agreements.transition(agreement_id, body["to"], principal(),
                                              version=body.get("version"), reason=body.get("reason")))


def give_consent(body):
    return ok(_policy().consents.give(body, principal()), 201)


def withdraw_consent(consent_id):
    return ok(_policy().consents.withdraw(consent_id, principal()))


def import_consents(body):
    text = body.decode("utf-8-sig", errors="replace") if isinstance(body, bytes) else str(body)
    return ok(_policy().consents.import_csv(text, principal()))


def lodge_objection(body):
    return ok(_policy().consents.object(body, principal()), 201)


def withdraw_objection(objection_id):
    return ok(_policy().consents.withdraw_objection(objection_id, principal()))


def subject_consents(subject):
    return ok(_policy().consents.for_subject(subject, principal()))


def subject_disclosures(subject):
    return ok(_policy().subject_disclosures(subject, principal()))


def dry_run(body):
    at = services().clock()
    if body.get("at"):
        try:
            at = parse_iso(body["at"])
        except ValueError:
            raise Invalid(f"at: {body['at']!r} is not an RFC 3339 date-time with a time zone") from None
    return ok(_policy().dry_run(body, principal(), at))
