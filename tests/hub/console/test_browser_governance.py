"""Governance staff's console in real headless Chromium against a real hub process: the YAML
editor's mistakes at their lines, reasons and confirmations on status changes, the review date,
objections and consents, data quality in words, charts by keyboard, and every page state
checked by axe-core (0 violations) and at phone width (390 px, no sideways scrolling).

Every screenshot (support.browser.Console.screenshot) runs axe-core and the phone-width check;
the module shares one hub and the session's one browser."""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import pytest

from support.agreements import FIVE_MISTAKES, agreement_yaml
from support.browser import ConsoleHub
from support.factories import gazetteer_record, referral_record

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
PERSON = hashlib.sha256(b"browser test person").hexdigest()
REVIEW = datetime.now(timezone.utc).date() + timedelta(days=12)



def bad_postcode(uprn: int, postcode: str, custodian: str = "edinburgh") -> dict:
    record = gazetteer_record(uprn, custodian=custodian)
    record["payload"]["postcode"] = postcode
    return record


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("governance-hub"))
    server.prepare()
    server.start()
    server.publish("edinburgh", [bad_postcode(906700000001, "not a postcode"), bad_postcode(906700000002, "eh1"),
                                 gazetteer_record(906700000003), gazetteer_record(906700000004)])
    server.publish("glasgow", [bad_postcode(906800000001, "G1", custodian="glasgow"),
                               gazetteer_record(906800000002, custodian="glasgow")])
    source = agreement_yaml(
        "referrals-reviewed", ["edinburgh"], ["sds"], lawful_basis="public-task",
        title="Referrals from Edinburgh to Skills Development Scotland",
        datasets={"referral": {"fields": ["referral_id", "receiving_service"], "pseudonymise": ["personal_details_ref"],
                               "conditions": ["payload.referring_org == provider"]}}
    ) + f"dpia_reference: CEC-DPIA-2025-117\nreview_date: '{REVIEW.isoformat()}'\n"
    assert server.api("POST", "/agreements", "edinburgh", "governance", json={"source": source}).status_code == 201
    for org in ("edinburgh", "sds"):
        assert server.api("POST", "/agreements/referrals-reviewed/transitions", org, "governance",
                          json={"to": "approved"}).status_code == 200
    server.publish("edinburgh", [referral_record("REF-GOV-1", subject=PERSON)])
    yield server
    server.stop()


def expected_statuses(console, *codes):
    """The browser logs a page answered 4xx as a console error; these were the point of the test."""
    console.errors = [e for e in console.errors if not any(f"{code}" in e for code in codes) or e.startswith("axe")]


def test_the_yaml_editor_lists_five_mistakes_at_their_lines_and_jumps_to_them(open_console):
    console = open_console()
    page = console.sign_in("gina")
    page.goto("/console/agreements/new")
    page.fill("#source", FIVE_MISTAKES)
    with page.expect_navigation():
        page.get_by_role("button", name="Save as draft").click()
    summary = page.get_by_role("alert")
    assert "5 problems to fix" in summary.inner_text()
    items = page.locator("#source-errors li").all_inner_texts()
    assert [item.split(" ")[1] for item in items] == ["3", "6", "8", "12", "14"]
    assert "providers[1]" in items[0] and "unknown org 'atlantis'" in items[0]
    assert "lawful_basis" in items[1] and "one of the choices" in items[1]
    assert "valid_until" in items[2] and "goalz" in items[3] and "condition" in items[4]
    gutter = page.locator(".gutter span")
    assert gutter.count() == FIVE_MISTAKES.count("\n") + 1
    assert page.locator(".gutter span.problem-line").all_inner_texts() == ["3", "6", "8", "12", "14"]
    page.get_by_role("link", name="Line 12").click()
    assert page.evaluate("document.activeElement.id") == "source"
    start = page.evaluate("document.getElementById('source').selectionStart")
    assert FIVE_MISTAKES[start:].startswith("    fields: [referral_id, goalz]")
    console.screenshot("agreement-five-mistakes")
    expected_statuses(console, 422)


def test_activate_says_what_changes_and_suspend_is_refused_without_a_reason(open_console):
    console = open_console()
    page = console.sign_in("gina")
    page.goto("/console/agreements/referrals-reviewed")
    assert "Skills Development Scotland starts receiving" in page.locator("#changes-active").inner_text()
    assert "review due in 12 days" in page.locator("#review-badge").inner_text()
    assert page.locator("#dpia-reference").inner_text() == "CEC-DPIA-2025-117"
    summary = page.locator("ul.summary").inner_text()
    assert "Why: Providing a service to the person (ServiceProvision)." in summary
    assert "its referring_org is the organisation that published it" in summary
    console.screenshot("agreement-approved")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        page.get_by_role("button", name="Activate").click()
    assert "Skills Development Scotland starts receiving" in asked[0]
    assert page.locator("#agreement-status").inner_text() == "active"

    suspend = page.get_by_role("button", name="Suspend")
    assert page.locator("#suspend-reason").evaluate("e => e.required")  # the browser asks first ...
    page.locator("#suspend-reason").evaluate("e => e.removeAttribute('required')")  # ... and the hub too
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        suspend.click()
    assert "give a reason for suspending" in page.locator("#suspend-reason-error").inner_text()
    assert page.locator("#suspend-reason").get_attribute("aria-invalid") == "true"
    assert page.locator("#agreement-status").inner_text() == "active"
    console.screenshot("agreement-suspend-refused")
    page.fill("#suspend-reason", "DPIA review found a gap")
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        page.get_by_role("button", name="Suspend").click()
    assert "stops receiving" in asked[-1]
    assert page.locator("#agreement-status").inner_text() == "suspended"
    assert "DPIA review found a gap" in page.get_by_role("table").last.inner_text()
    expected_statuses(console, 400)


def test_objections_and_consents_are_recorded_and_an_unknown_reference_is_told_apart(open_console):
    console = open_console()
    page = console.sign_in("gina")
    page.goto(f"/console/subjects?subject={hashlib.sha256(b'nobody').hexdigest()}")
    assert "Unknown reference" in page.locator("#subject-unknown").inner_text()
    page.goto(f"/console/subjects?subject={PERSON}")
    assert "Known person, nothing on file" in page.locator("#subject-known").inner_text()
    page.fill("#o-purpose", "ServiceProvision")
    page.fill("#o-method", "letter")
    page.fill("#o-evidence", "CASE-41")
    page.fill("#o-lodged", "2026-07-01T10:30")
    with page.expect_navigation():
        page.get_by_role("button", name="Record objection").click()
    assert "Objection recorded" in page.get_by_role("status").first.inner_text()
    objections = page.locator("#objections")
    assert "Standing" in objections.inner_text() and "1 Jul 2026, 10:30" in objections.inner_text()
    page.fill("#c-purpose", "ServiceProvision")
    page.fill("#c-recipients", "sds")
    page.fill("#c-method", "signed form")
    page.fill("#c-evidence", "CASE-42")
    page.fill("#c-given", "2026-01-05T10:00")
    page.fill("#c-expires", "2027-01-05T10:00")
    with page.expect_navigation():
        page.get_by_role("button", name="Record consent").click()
    consents = page.locator("#consents").inner_text()
    assert "5 Jan 2026, 10:00" in consents and "5 Jan 2027, 10:00" in consents and "Skills Development Scotland" in consents
    console.screenshot("subject-objection")
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Withdraw objection to ServiceProvision").click()
    assert "Withdrawn" in page.locator("#objections").inner_text()
    with page.expect_navigation():
        page.get_by_role("link", name="Printable subject-access report").click()
    report = page.locator("main").inner_text()
    assert "Providing a service to the person" in report and "Skills Development Scotland" in report
    console.screenshot("subject-report-named")


def test_data_quality_in_words_with_the_uprn_and_the_charts_by_keyboard(open_console):
    console = open_console()
    page = console.sign_in("ada")
    page.goto("/console/quality")
    rule = page.locator("#quality-rules tbody tr").first
    assert "Postcode is not written the way the dataset expects" in rule.inner_text()
    assert "UPRN 9068" in rule.inner_text() or "UPRN 9067" in rule.inner_text()
    assert "^[A-Z]" not in page.locator("#quality-rules").inner_text()
    assert page.locator("#quality-rules tbody tr").count() == 1  # three values, one rule
    assert "50.0 %" in page.locator("#quality-totals").inner_text()

    chart = page.locator("#rejects-by-publisher-title").locator("xpath=..")
    lines = chart.locator("polyline")
    assert lines.count() == 2
    assert lines.nth(0).get_attribute("stroke-dasharray") != lines.nth(1).get_attribute("stroke-dasharray")
    first = chart.locator(".point").first
    first.focus()
    assert "edinburgh" in page.evaluate("document.activeElement.getAttribute('aria-label')")
    page.keyboard.press("ArrowDown")
    label = page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert label.startswith("glasgow, ")
    assert page.evaluate("getComputedStyle(document.activeElement.querySelector('.value')).visibility") == "visible"
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.getAttribute('data-col')") == "1"
    page.set_viewport_size({"width": 390, "height": 844})
    smallest = page.evaluate("""() => Math.min(...[...document.querySelectorAll('figure.chart svg text')]
        .map(t => parseFloat(getComputedStyle(t).fontSize) * t.getScreenCTM().a))""")
    assert smallest >= 11, smallest
    page.set_viewport_size({"width": 1280, "height": 720})
    console.screenshot("quality-words")


PAGES = {
    "ada": ["/console/", "/console/agreements", "/console/agreements/referrals-reviewed",
            "/console/agreements/referrals-reviewed/versions", "/console/agreements/decide",
            "/console/subscriptions", "/console/agents", "/console/coverage", "/console/quality",
            "/console/returns/", "/console/catalogue", "/console/catalogue/gazetteer-address", "/console/audit"],
    "gina": ["/console/", "/console/agreements", "/console/agreements/new", "/console/agreements/referrals-reviewed/edit",
             f"/console/subjects?subject={PERSON}", f"/console/subjects/report?subject={PERSON}",
             "/console/quality", "/console/coverage"],
    "omar": ["/console/", "/console/subscriptions", "/console/agents", "/console/audit", "/console/quality"],
}


@pytest.mark.parametrize("username", sorted(PAGES))
def test_every_page_passes_axe_core_and_reflows_at_phone_width(open_console, username):
    console = open_console()
    page = console.sign_in(username)
    for path in PAGES[username]:
        response = page.goto(path)
        assert response.status == 200, path
        console.screenshot(f"{username}{path.replace('/console', '').replace('/', '-').split('?')[0] or '-overview'}")
    assert len(console.checked) == len(PAGES[username])
    if username == "ada":  # a return's grid and one submission, as far as the example returns go
        page.goto("/console/returns/")
        grid = page.locator("main table a").first
        if grid.count():
            with page.expect_navigation():
                grid.click()
            console.screenshot("ada-returns-grid")


def test_the_axe_check_fails_a_page_state_with_a_violation(open_console):
    """The check every screenshot runs can fail: a button with no name is reported."""
    from support.browser import accessibility_violations, phone_width_overflow

    console = open_console()
    page = console.sign_in("gina")
    assert accessibility_violations(page) == []
    page.evaluate("document.querySelector('main').insertAdjacentHTML('beforeend', '<button></button>')")
    assert any(v.startswith("button-name") for v in accessibility_violations(page))
    page.set_viewport_size({"width": 390, "height": 844})
    assert phone_width_overflow(page) == 0
    page.evaluate("() => { const wide = document.createElement('div'); wide.style.width = '900px';"
                  " wide.textContent = 'wide'; document.querySelector('main').append(wide); }")
    assert phone_width_overflow(page) > 0
