"""A referral's timeline in real headless Chromium, for each side, against a real hub process:
Edinburgh's service manager sees the referral it sent, overdue, then declined with its reason;
the service it was addressed to sees the same journey from its side; a third service sees
nothing of it. Every page state passes axe-core with no violations."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from support import ROOT
from support.browser import ConsoleHub
from support.referrals import put_in_force, referral, status

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

AGREEMENT = "referrals-edinburgh-partners"
LATE = "EDI-WEB-LATE"
ON_TIME = "EDI-WEB-001"


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("referrals-console"))
    server.prepare()
    server.start()
    put_in_force(server, (ROOT / "policies" / f"{AGREEMENT}.yaml").read_text(encoding="utf-8"), AGREEMENT,
                 ["edinburgh", "sds", "fife"])
    server.publish("edinburgh", [referral(LATE, "sds", datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)),
                                 referral(ON_TIME, "sds", receiving_team="Careers IAG Edinburgh")])
    server.publish("sds", [status(ON_TIME, "sds", "received"),
                           status(ON_TIME, "sds", "declined", decline_reason="not-eligible",
                                  note="Over the programme's age limit")])
    yield server
    server.stop()


def open_timeline(page, referral_id: str):
    with page.expect_navigation():
        page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Referrals").click()
    with page.expect_navigation():
        page.get_by_role("link", name=referral_id, exact=True).click()


def test_the_referrer_sees_the_timeline_overdue_and_declined_with_its_reason(open_console, hub):
    console = open_console()
    page = console.sign_in("gina")  # edinburgh governance: the referrer
    with page.expect_navigation():
        page.get_by_role("navigation", name="Console pages").get_by_role("link", name="Referrals").click()
    late_row = page.locator(f"#referrals tr[data-referral='{LATE}']")
    assert late_row.get_attribute("data-side") == "sent"
    assert "Overdue" in late_row.inner_text()
    console.assert_accessible("referrals, sent")
    page.get_by_label("Show").select_option("yes")
    with page.expect_navigation():
        page.get_by_role("button", name="Show").click()
    assert page.locator("#referrals tbody tr").count() == 1
    console.assert_accessible("referrals, overdue only")

    open_timeline(page, ON_TIME)
    steps = page.locator("#referral-timeline li")
    assert [steps.nth(n).get_attribute("data-step") for n in range(steps.count())] == ["referred", "received", "declined"]
    assert page.locator(".decline-reason").inner_text() == "not eligible"
    assert "declined" in page.locator("#referral-state").inner_text()
    console.screenshot("referral-timeline-referrer")
    console.assert_accessible("timeline, referrer")

    with page.expect_navigation():
        page.goto(f"/console/referrals/edinburgh/{LATE}")
    assert page.locator("#referral-overdue").is_visible()
    console.assert_accessible("timeline, referrer, overdue")


def test_the_addressee_sees_the_same_journey_and_a_third_service_sees_nothing(open_console, hub):
    console = open_console()
    page = console.sign_in("sam")  # sds governance: the addressee
    open_timeline(page, ON_TIME)
    assert "you received it" in page.locator("#referral-facts").inner_text()
    assert page.locator(".decline-reason").inner_text() == "not eligible"
    assert "Careers IAG Edinburgh" in page.locator("#referral-facts").inner_text()
    # the person is known to sds by the agreement's pseudonym, never Edinburgh's reference
    payload = page.locator("#referral-payload").inner_text()
    assert '"personal_details_ref": "ps_' in payload
    console.screenshot("referral-timeline-addressee")
    console.assert_accessible("timeline, addressee")

    with page.expect_navigation():
        page.goto(f"/console/referrals/edinburgh/{LATE}")
    assert page.locator("#referral-overdue").is_visible()  # overdue to both sides

    with page.expect_navigation():
        page.goto(f"/console/referrals/figures/{AGREEMENT}")
    assert page.get_by_role("heading", name="Referrals by quarter, provider and state").is_visible()
    assert "[c]" in page.locator("table.figures").first.inner_text()  # two referrals: hidden
    console.assert_accessible("partnership figures")

    third = open_console()
    fife = third.sign_in("fiona")  # fife governance: a party to the agreement, not the addressee
    with fife.expect_navigation():
        fife.get_by_role("navigation", name="Console pages").get_by_role("link", name="Referrals").click()
    assert fife.locator("#no-referrals").is_visible()
    third.assert_accessible("no referrals")
