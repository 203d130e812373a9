"""The agreement page over HTTP in-process: sentences a governance officer reads (purposes by
their labels, conditions as words), what each status change will change, the reason that
suspending and retiring need, and the review date with its badge. Rendering only, so SQLite."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from support.agreements import GAZETTEER_SFRS, activate_agreement
from support.console import add_staff, csrf_from, sign_in

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def governance(client, services):
    add_staff(services, "gina", "edinburgh", "governance")
    assert sign_in(client, "gina").status_code == 302
    return client


def with_review(source: str, review: date, dpia: str = "CEC-DPIA-2025-117") -> str:
    return source + f"dpia_reference: {dpia}\nreview_date: '{review.isoformat()}'\n"


def test_the_summary_reads_as_sentences_with_the_purposes_label(governance, services):
    activate_agreement(services, GAZETTEER_SFRS, ["edinburgh", "glasgow", "sfrs"])
    html = governance.get("/console/agreements/gazetteer-to-sfrs").text
    assert "Why: Responding to emergencies (EmergencyResponse)." in html
    assert "Sent only when a record meets this: its custodian is the organisation that published it." in html
    assert "payload.custodian == provider" not in html.split('id="summary-heading"')[1].split("</section>")[0]
    assert "Scottish Fire and Rescue Service (<code>sfrs</code>)" in html  # names, with the code beside


def test_suspending_without_a_reason_is_refused_beside_the_field_and_changes_nothing(governance, services):
    activate_agreement(services, GAZETTEER_SFRS, ["edinburgh", "glasgow", "sfrs"])
    page = governance.get("/console/agreements/gazetteer-to-sfrs")
    assert "Scottish Fire and Rescue Service stops receiving" in page.text  # what suspending will change
    token = csrf_from(page.text)
    for reason in ("", "   "):
        refused = governance.post("/console/agreements/gazetteer-to-sfrs/status",
                                  data={"csrf_token": token, "to": "suspended", "version": "1", "reason": reason})
        assert refused.status_code == 400
        assert 'id="suspend-reason-error"' in refused.text and "give a reason for suspending" in refused.text
        assert 'id="agreement-status">active<' in refused.text
    done = governance.post("/console/agreements/gazetteer-to-sfrs/status", follow_redirects=True,
                           data={"csrf_token": token, "to": "suspended", "version": "1", "reason": "DPIA review"})
    assert 'id="agreement-status">suspended<' in done.text and "DPIA review" in done.text
    assert "Deliveries resume: Scottish Fire and Rescue Service receives" in done.text  # what activating will change


def test_activating_a_new_version_says_who_starts_and_stops_receiving_what(governance, services):
    from hub.auth import Principal

    activate_agreement(services, GAZETTEER_SFRS, ["edinburgh", "glasgow", "sfrs"])
    agreements = services.policy.agreements
    changed = GAZETTEER_SFRS.replace("recipients: [sfrs]", "recipients: [sds]").replace(
        "fields: [uprn, paon, street, town, postcode, status, custodian]", "fields: [uprn, street, town, custodian]")
    agreements.apply(changed, Principal(org="edinburgh", role="governance", credential_id="t"), mode="update",
                     expected_id="gazetteer-to-sfrs")
    for org in ("edinburgh", "glasgow", "sds"):
        agreements.transition("gazetteer-to-sfrs", "approved", Principal(org=org, role="governance", credential_id="t"))
    html = governance.get("/console/agreements/gazetteer-to-sfrs").text
    changes = html.split('id="changes-active"')[1].split("</ul>")[0]
    assert "Skills Development Scotland starts receiving" in changes
    assert "Scottish Fire and Rescue Service stops receiving" in changes
    assert "Version 1, in force now, is retired." in changes


@pytest.mark.parametrize("days, badge", [(45, None), (30, "review due in 30 days"), (1, "review due in 1 day"),
                                         (-2, "review overdue")])
def test_the_review_date_and_dpia_reference_show_with_a_badge_from_30_days_before(governance, services, days, badge):
    review = datetime.now(timezone.utc).date() + timedelta(days=days)
    activate_agreement(services, with_review(GAZETTEER_SFRS, review), ["edinburgh", "glasgow", "sfrs"])
    html = governance.get("/console/agreements/gazetteer-to-sfrs").text
    facts = html.split('id="review-date">')[1].split("</dd>")[0]
    assert f"{review.day} {review:%b %Y}" in facts
    assert (badge in facts) if badge else ('id="review-badge"' not in facts)
    assert 'id="dpia-reference">CEC-DPIA-2025-117<' in html
