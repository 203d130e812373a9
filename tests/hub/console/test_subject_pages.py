"""The subjects pages over HTTP in-process: an unknown reference told apart from a known person
with nothing on file, objections recorded and withdrawn, consent with given-at and expiry in UK
time, disclosures naming their record, and the report in names and labels. SQLite: rendering."""
from __future__ import annotations

import hashlib
import re

import pytest

from support.agreements import REFERRAL_PUBLIC_TASK, activate_agreement, publish, read_feed
from support.console import add_staff, csrf_from, sign_in
from support.factories import referral_record

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
PERSON = hashlib.sha256(b"a person with records").hexdigest()
STRANGER = hashlib.sha256(b"nobody's records carry this").hexdigest()


@pytest.fixture
def governance(client, services):
    add_staff(services, "gina", "edinburgh", "governance")
    assert sign_in(client, "gina").status_code == 302
    return client


def post(client, path, **form):
    token = csrf_from(client.get("/console/subjects").text)
    return client.post(path, data={"csrf_token": token, **form}, follow_redirects=True)


def test_an_unknown_reference_is_told_apart_from_a_known_person_with_nothing_on_file(governance, auth):
    publish(governance, auth("edinburgh", "publisher"), [referral_record("REF-K-1", subject=PERSON)])
    known = governance.get(f"/console/subjects?subject={PERSON}").text
    assert 'id="subject-known"' in known and "Known person, nothing on file" in known and "1 record from" in known
    unknown = governance.get(f"/console/subjects?subject={STRANGER}").text
    assert 'id="subject-unknown"' in unknown and "Unknown reference" in unknown
    assert "Check that it was computed with The City of Edinburgh Council's subject key" in unknown
    not_a_reference = governance.get("/console/subjects?subject=CLIENT-4411").text
    assert "64 lowercase hexadecimal characters" in not_a_reference  # a raw id, not its keyed hash


def test_an_objection_is_recorded_and_withdrawn(governance):
    recorded = post(governance, "/console/subjects/objections", subject=PERSON, purpose="ServiceProvision",
                    method="letter", evidence_ref="CASE-12", lodged_at="2026-07-01T10:30")
    assert "Objection recorded for" in recorded.text
    table = recorded.text.split('id="objections"')[1].split("</table>")[0]
    assert "Standing" in table and "Providing a service to the person" in table
    assert "2026-07-01T10:30:00+01:00" in table, re.findall(r"<time[^>]*>", table)  # typed in BST, kept as the same instant
    refused = post(governance, "/console/subjects/objections", subject=PERSON, method="", evidence_ref="x")
    assert refused.status_code == 422 and 'id="o-method-error"' in refused.text
    objection_id = recorded.text.split("/console/subjects/objections/")[1].split("/withdraw")[0]
    withdrawn = post(governance, f"/console/subjects/objections/{objection_id}/withdraw")
    assert "Objection withdrawn" in withdrawn.text
    assert "Standing" not in withdrawn.text.split('id="objections"')[1].split("</table>")[0]


def test_a_consent_takes_given_at_and_expiry_in_uk_time(governance, services):
    recorded = post(governance, "/console/subjects/consents", subject=PERSON, purpose="ServiceProvision",
                    recipients_text="sds", method="signed form", evidence_ref="CASE-9",
                    given_at="2026-01-05T10:00", expires_at="2027-06-30T17:00")
    assert "given 5 Jan 2026, 10:00 until 30 Jun 2027, 17:00" in recorded.text
    consent = services.policy.consents.for_subject(PERSON, _governance("edinburgh"))["consents"][0]
    assert (consent["given_at"], consent["expires_at"]) == ("2026-01-05T10:00:00.000000Z", "2027-06-30T16:00:00.000000Z")
    backwards = post(governance, "/console/subjects/consents", subject=PERSON, purpose="ServiceProvision",
                     recipients_text="sds", method="signed form", evidence_ref="CASE-9",
                     given_at="2026-01-05T10:00", expires_at="2025-01-01T00:00")
    assert backwards.status_code == 422 and "expires before the consent was given" in backwards.text


def _governance(org):
    from hub.auth import Principal

    return Principal(org=org, role="governance", credential_id="test")


def test_each_disclosure_names_its_record_and_the_report_uses_names_and_labels(governance, services, auth):
    activate_agreement(services, REFERRAL_PUBLIC_TASK, ["edinburgh", "glasgow"])
    publish(governance, auth("edinburgh", "publisher"), [referral_record("REF-D-7", subject=PERSON, to="glasgow")])
    assert read_feed(governance, auth("glasgow", "subscriber"), "referral", "ServiceProvision")["events"]
    page = governance.get(f"/console/subjects?subject={PERSON}").text
    row = page.split('id="disclosures"')[1].split("</table>")[0]
    assert "Glasgow City Council" in row and "REF-D-7" in row and "<code>referral</code>" in row
    assert "2 Nov 2026, 09:30" in row  # the record's own time (occurred_at), in UK time
    report = governance.get(f"/console/subjects/report?subject={PERSON}").text
    body = report.split("<h1>")[1]
    assert "Glasgow City Council" in body and "The City of Edinburgh Council" in body
    assert "Providing a service to the person" in body and "ServiceProvision" not in body
    assert ">glasgow<" not in body and ">edinburgh<" not in body
