"""The console in real headless Chromium against a real hub process.

Every test signs in through the form using the keyboard only, and fails if the
browser logs an error (a script error, a refused resource, a CSP violation).
Screenshots of each page are kept in test-artifacts/console/.
"""
from __future__ import annotations

import csv
import io

import pytest

from support.agreements import agreement_yaml
from support.browser import ConsoleHub
from support.factories import gazetteer_record

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("console-hub"))
    server.prepare()
    server.start()
    bad = gazetteer_record(9002)
    bad["payload"]["postcode"] = "not a postcode"
    server.publish("edinburgh", [gazetteer_record(9001), bad, gazetteer_record(9003)])
    yield server
    server.stop()


def test_sign_in_and_every_page_renders_without_browser_errors(open_console):
    console = open_console()
    page = console.page
    page.goto("/console/sign-in")
    console.screenshot("sign-in")
    console.sign_in("ada")
    assert page.get_by_text("Signed in as").is_visible()
    assert page.locator("h1").inner_text() == "Overview"
    nav = page.get_by_role("navigation", name="Console pages")
    labels = nav.get_by_role("link").all_inner_texts()
    assert {"Overview", "Data quality", "Data returns", "Catalogue", "Audit log"} <= set(labels)
    for label in labels:
        with page.expect_navigation():
            nav.get_by_role("link", name=label, exact=True).click()
        assert page.locator("h1").first.is_visible()
        assert page.title().endswith("Causeway console")
        assert nav.locator('a[aria-current="page"]').inner_text() == label
        console.screenshot(label.lower().replace(" ", "-"))
    page.goto("/console/catalogue/gazetteer-address")
    assert page.get_by_role("rowheader", name="uprn", exact=True).is_visible()
    console.screenshot("catalogue-dataset")


def test_the_overview_charts_records_and_counts_rejects(open_console):
    console = open_console()
    page = console.sign_in("gina")
    assert page.locator("#accepted-today").inner_text() == "2"
    assert page.locator("#rejects-today").inner_text() == "1"
    chart = page.get_by_role("figure", name="Records accepted per hour, by dataset (last 24 hours, UK time)")
    assert chart.is_visible()
    assert chart.locator("polyline").count() == 1
    assert "gazetteer-address (2)" in page.locator("figure.chart .legend").inner_text()


def test_wrong_password_shows_an_error_and_keeps_the_form_usable(open_console):
    console = open_console()
    page = console.sign_in("gina", "this is not the password")
    alert = page.get_by_role("alert")
    assert "do not match an account" in alert.inner_text()
    assert page.locator("#username").input_value() == "gina"
    # The browser logs the 401 response of the refused sign-in as a console error; that one is expected.
    console.errors = [e for e in console.errors if "401" not in e]


def test_a_post_without_the_csrf_token_is_refused(open_console):
    console = open_console()
    page = console.sign_in("gina")
    response = page.request.post("/console/audit/verify", form={"anything": "1"}, max_redirects=0)
    assert response.status == 403
    assert "did not come from the console" in response.text()
    forged = page.request.post("/console/audit/verify", form={"csrf_token": "forged"}, max_redirects=0)
    assert forged.status == 403


def test_verify_the_audit_chain_and_filter_the_log_from_the_keyboard(open_console):
    console = open_console()
    page = console.sign_in("omar")
    page.goto("/console/audit")
    page.get_by_role("button", name="Verify the whole chain").focus()
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "The audit chain is intact" in page.get_by_role("status").inner_text()
    page.focus("#f-action")
    page.select_option("#f-action", "records.publish")
    page.focus("#f-actor")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # submits the filter form
    assert "action=records.publish" in page.url
    actions = page.locator("table.audit tbody td:nth-child(3)").all_inner_texts()
    assert actions and set(actions) == {"records.publish"}
    console.screenshot("audit-filtered")


def test_the_quality_page_names_the_failing_field_and_downloads_the_daily_csv(open_console):
    console = open_console()
    page = console.sign_in("gina")
    page.goto("/console/quality")
    assert page.get_by_role("cell", name="/payload/postcode").first.is_visible()
    with page.expect_download(timeout=10_000) as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("quality-edinburgh-")
    rows = list(csv.DictReader(io.StringIO(open(download.path(), encoding="utf-8").read())))
    assert [(r["dataset"], r["accepted"], r["rejected"]) for r in rows] == [("gazetteer-address", "2", "1")]
    assert rows[0]["most_common_error_field"] == "/payload/postcode"


def test_sign_out_returns_to_the_sign_in_page(open_console):
    console = open_console()
    page = console.sign_in("gina")
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert "You have signed out" in page.get_by_role("status").inner_text()
    page.goto("/console/audit")
    assert "/console/sign-in" in page.url


def referral_agreement(agreement_id: str, **terms) -> str:
    """Edinburgh's referrals to Skills Development Scotland on consent, as governance writes it."""
    return agreement_yaml(
        agreement_id, ["edinburgh"], ["sds"], lawful_basis=terms.pop("lawful_basis", "consent"),
        title=f"Referrals from Edinburgh to Skills Development Scotland ({agreement_id})",
        datasets={"referral": {"fields": ["referral_id", "receiving_service", "reason_for_referral"],
                               "pseudonymise": ["personal_details_ref"]}}, **terms)


def _save_agreement(page, source: str):
    page.fill("#source", source)
    with page.expect_navigation():
        page.get_by_role("button", name="Save as draft").click()


def _press(page, button_name: str):
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name=button_name).click()


def test_an_agreement_edited_with_a_mistake_shows_the_inline_error(open_console):
    console = open_console()
    page = console.sign_in("gina")
    page.goto("/console/agreements/new")
    source = referral_agreement("mistake-shown", lawful_basis="because")
    _save_agreement(page, source)
    line = source.splitlines().index("lawful_basis: because") + 1
    summary = page.get_by_role("alert")
    assert "was not saved" in summary.inner_text()
    assert "lawful_basis" in summary.inner_text() and f"Line {line}" in summary.inner_text()
    assert page.locator("#source").get_attribute("aria-invalid") == "true"
    console.assert_focus_on_error_summary()  # focus moved to the errors
    assert "lawful_basis: because" in page.locator("#source").input_value()  # the text is kept for fixing
    console.screenshot("agreement-error")
    console.errors = [e for e in console.errors if "422" not in e]  # the refused save's status, expected


def test_approval_by_both_parties_makes_an_agreement_active(open_console):
    edinburgh, sds = open_console(), open_console()
    page = edinburgh.sign_in("gina")
    page.goto("/console/agreements/new")
    _save_agreement(page, referral_agreement("both-approve"))
    assert "Saved as draft version 1" in page.get_by_role("status").inner_text()
    assert "Edinburgh" in page.locator("ul.summary").inner_text()  # the plain-English summary
    assert "the data subject's consent" in page.locator("ul.summary").inner_text()
    _press(page, "Approve version 1 for edinburgh")
    assert "waits for approval by a governance credential of sds (recipient)" in page.get_by_role("status").inner_text()
    assert page.locator("#latest-status").inner_text() == "draft"
    assert page.get_by_role("button", name="Activate").count() == 0

    other = sds.sign_in("sam")
    other.goto("/console/agreements/both-approve")
    _press(other, "Approve version 1 for sds")
    assert other.locator("#latest-status").inner_text() == "approved"
    _press(other, "Activate")
    assert other.locator("#agreement-status").inner_text() == "active"
    sds.screenshot("agreement")
    other.goto("/console/agreements")
    assert other.locator("#status-active + table").get_by_text("both-approve", exact=True).is_visible()
    sds.screenshot("agreements")

    # An edit makes draft version 2 beside the active version 1, with a diff
    page.goto("/console/agreements/both-approve/edit")
    _save_agreement(page, referral_agreement("both-approve", retention_days=180))
    assert page.locator("#agreement-status").inner_text() == "active"
    page.get_by_role("link", name="Version history with changes").click()
    page.wait_for_url("**/versions")
    assert "+retention_days: 180" in page.locator("pre.diff").first.inner_text()
    edinburgh.screenshot("agreement-versions")


def test_the_decision_tester_gives_a_decision_and_its_reasons(open_console, hub):
    from support.factories import referral_record

    published = hub.publish("edinburgh", [referral_record("REF-DT-1", subject="subj-dt")])
    record_id = published["results"][0]["id"]
    console = open_console()
    page = console.sign_in("gina")
    page.goto("/console/agreements/decide")
    page.fill("#record_id", record_id)
    page.select_option("#recipient", "sds")
    page.fill("#purpose", "ServiceProvision")
    with page.expect_navigation():
        page.get_by_role("button", name="Decide").click()
    assert page.locator("#decision").inner_text() in ("allow", "deny")
    assert page.locator("#reasons li").count() >= 1
    console.screenshot("decision-tester")


def test_ops_cannot_edit_agreements_and_a_third_org_cannot_see_one_between_two_others(open_console, hub):
    gina = open_console().sign_in("gina")
    gina.goto("/console/agreements/new")
    _save_agreement(gina, referral_agreement("private-pair"))
    assert gina.locator("#agreement-status").inner_text() == "draft"

    ops_console = open_console()
    ops = ops_console.sign_in("omar")
    assert "Agreements" not in ops.get_by_role("navigation", name="Console pages").inner_text()
    for path in ("/console/agreements", "/console/agreements/new", "/console/agreements/private-pair/edit"):
        response = ops.goto(path)
        assert response.status == 403, path
        assert "for governance staff" in ops.get_by_role("alert").inner_text()
    token = ops.evaluate("document.querySelector('input[name=csrf_token]').value")
    refused = ops.request.post("/console/agreements/private-pair/edit",
                               form={"csrf_token": token, "source": referral_agreement("private-pair")})
    assert refused.status == 403
    ops_console.screenshot("ops-refused")
    ops_console.errors = [e for e in ops_console.errors if "403" not in e]

    fife_console = open_console()
    fife = fife_console.sign_in("fiona")
    fife.goto("/console/agreements")
    assert "private-pair" not in fife.content()
    response = fife.goto("/console/agreements/private-pair")
    assert response.status == 404
    response = fife.goto("/console/agreements/private-pair/versions")
    assert response.status == 404
    fife_console.errors = [e for e in fife_console.errors if "404" not in e]


def test_a_withdrawn_consent_shows_on_the_subjects_page_and_stops_the_next_disclosure(open_console, hub):
    from support.factories import referral_record

    source = referral_agreement("consent-flow")
    assert hub.api("POST", "/agreements", "edinburgh", "governance", json={"source": source}).status_code == 201
    for org in ("edinburgh", "sds"):
        assert hub.api("POST", "/agreements/consent-flow/transitions", org, "governance",
                       json={"to": "approved"}).status_code == 200
    assert hub.api("POST", "/agreements/consent-flow/transitions", "edinburgh", "governance",
                   json={"to": "active"}).json()["status"] == "active"

    console = open_console()
    page = console.sign_in("gina")
    page.goto("/console/subjects")
    page.fill("#c-subject", "subj-consent-1")
    page.fill("#c-purpose", "ServiceProvision")
    page.fill("#c-recipients", "sds")
    page.fill("#c-method", "signed form")
    page.fill("#c-evidence", "CASE-77")
    with page.expect_navigation():
        page.get_by_role("button", name="Record consent").click()
    assert "Consent recorded for subj-consent-1" in page.get_by_role("status").inner_text()
    assert "Current" in page.locator("#consents").inner_text()

    def feed(after):
        response = hub.api("GET", f"/feeds/referral?purpose=ServiceProvision&after={after}&limit=1000", "sds", "subscriber")
        assert response.status_code == 200, response.text
        return response.json()

    cursor = feed(0)["next"]
    hub.publish("edinburgh", [referral_record("REF-C-1", subject="subj-consent-1")])
    first = feed(cursor)
    assert [e["data"]["referral_id"] for e in first["events"] if e["dataset"] == "referral"] == ["REF-C-1"]

    page.reload()
    assert "Skills Development Scotland" in page.locator("#disclosures").inner_text()
    _press(page, "Withdraw consent for ServiceProvision")
    assert "Consent withdrawn" in page.get_by_role("status").inner_text()
    assert "Withdrawn" in page.locator("#consents").inner_text()
    console.screenshot("subjects")

    hub.publish("edinburgh", [referral_record("REF-C-2", subject="subj-consent-1")])
    second = feed(first["next"])
    assert [e for e in second["events"] if e["dataset"] == "referral"] == []

    with page.expect_navigation():
        page.get_by_role("link", name="Printable subject-access report").click()
    assert page.get_by_role("button", name="Print this report").is_visible()
    assert page.locator("table.data").first.get_by_text("Skills Development Scotland").count() >= 1
    console.screenshot("subject-report")


# -- coverage (the example orgs: 32 councils; edinburgh published the fixture's gazetteer records) --
def open_coverage(console, username):
    page = console.sign_in(username)
    with page.expect_navigation():
        page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Coverage", exact=True).click()
    return page


def test_coverage_shows_an_admin_every_council_with_totals_and_the_csv(open_console):
    console = open_console()
    page = open_coverage(console, "ada")
    assert page.locator("#coverage-totals li[data-dataset='gazetteer-address']").inner_text().startswith(
        "gazetteer-address: 1 of 32 live")
    assert page.locator("#coverage tbody tr").count() == 32
    edinburgh = page.locator("tr[data-org='edinburgh'] td[data-dataset='gazetteer-address']")
    assert edinburgh.get_attribute("data-state") == "live"
    assert "2 records, 33.3 % rejected" in edinburgh.inner_text()  # the fixture's bad postcode
    glasgow = page.locator("tr[data-org='glasgow'] td[data-dataset='gazetteer-address']")
    assert glasgow.get_attribute("data-state") == "never_published"
    assert glasgow.locator(".badge").inner_text() == "never published"
    console.screenshot("coverage")

    with page.expect_download() as download:
        page.locator("#coverage-csv").click()
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    gazetteer = {r["org"]: r for r in rows if r["dataset"] == "gazetteer-address"}
    assert len(gazetteer) == 32
    assert (gazetteer["edinburgh"]["state"], gazetteer["edinburgh"]["records_7d"]) == ("live", "2")
    assert gazetteer["glasgow"]["state"] == "never_published"


def test_coverage_shows_a_councils_staff_their_own_row_only(open_console):
    console = open_console()
    page = open_coverage(console, "omar")  # edinburgh ops
    assert [row.get_attribute("data-org") for row in page.locator("#coverage tbody tr").all()] == ["edinburgh"]
    assert page.locator("#coverage-totals li[data-dataset='gazetteer-address']").inner_text().startswith(
        "gazetteer-address: 1 of 1 live")


def test_coverage_tells_an_agencys_staff_it_is_about_councils(open_console):
    console = open_console()
    page = open_coverage(console, "sam")  # sds governance
    assert "sds is not a council" in page.locator("#not-a-council").inner_text()
    assert page.locator("#coverage").count() == 0
