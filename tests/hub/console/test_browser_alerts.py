"""The alerts page in real headless Chromium against a real hub process whose scheduler runs
the alert job: an Edinburgh agent that never reports opens an alert; Edinburgh's ops staff
find it, see its history, are told clearly what is wrong with a silence without a reason, and
silence it; Skills Development Scotland's ops staff neither see it nor reach it; governance
staff are refused the page."""
from __future__ import annotations

import pytest

from causeway_common.signing import generate_key, public_key_b64
from hub.alerts.registry import RULES
from hub.app import build_services
from hub.config import Settings
from support.browser import ConsoleHub
from support.waiting import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("console-alerts-hub"), env={
        "CAUSEWAY_ALERT_INTERVAL_SECONDS": "1",
        "CAUSEWAY_ALERT_DISABLED_RULES": ",".join(name for name in RULES if name != "agent-stale")})
    server.prepare()
    services = build_services(Settings(db_url=server.db_url))
    token = services.orgs.create_enrolment("edinburgh", 3600, actor="test")[0]
    services.orgs.enrol_agent(token, public_key_b64(generate_key()), "uniform-planning", "1.4.0")
    services.engine.dispose()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def alert(hub) -> dict:
    def found():
        answer = hub.api("GET", "/alerts", "edinburgh", "ops")
        assert answer.status_code == 200, answer.text
        return next(iter(answer.json()["alerts"]), None)
    return wait_until(found, timeout=30, interval=0.5)


def test_ops_find_an_alert_see_its_history_and_silence_it_with_a_reason(open_console, hub, alert):
    console = open_console()
    page = console.sign_in("omar")  # edinburgh ops
    nav = page.get_by_role("navigation", name="Console pages")
    with page.expect_navigation():
        nav.get_by_role("link", name="Alerts", exact=True).click()
    assert page.locator("#open-count").inner_text() == "1 open"
    row = page.locator(f"tr[data-alert='{alert['id']}']")
    assert row.get_attribute("data-state") == "open"
    assert "uniform-planning" in row.inner_text() and "edinburgh" in row.inner_text()
    console.screenshot("alerts")

    with page.expect_navigation():
        row.get_by_role("link").click()
    assert page.locator("#alert-state").inner_text() == "open"
    assert page.locator("#history li").first.get_attribute("data-event") == "opened"

    page.select_option("#minutes", "1440")
    with page.expect_navigation():
        page.get_by_role("button", name="Silence").click()  # no reason given
    assert "say why the alert is silenced" in page.locator("#silence-errors").inner_text()
    assert page.locator("#reason").get_attribute("aria-invalid") == "true"
    assert page.locator("#silenced").count() == 0
    console.assert_focus_on_error_summary()  # focus moved to the errors
    console.errors = [e for e in console.errors if "400" not in e]  # the refused silence's status, expected

    page.fill("#reason", "Council IT is replacing the server this week")
    with page.expect_navigation():
        page.get_by_role("button", name="Silence").click()
    assert "is silenced until" in page.get_by_role("status").inner_text()
    assert "Council IT is replacing the server this week" in page.locator("#silenced").inner_text()
    silenced = page.locator("#history li[data-event='silenced']")
    assert "edinburgh/ops/key:console:omar" in silenced.inner_text()
    console.screenshot("alert-silenced")
    audit = hub.api("GET", "/audit?action=alerts.silence", "edinburgh", "governance").json()
    assert [e["actor"] for e in audit["entries"]] == ["edinburgh/ops/key:console:omar"]


def test_another_orgs_ops_neither_see_nor_reach_the_alert_and_governance_is_refused(open_console, hub, alert):
    console = open_console()
    page = console.sign_in("otto")  # sds ops
    page.goto("/console/alerts")
    assert page.locator("#no-alerts").is_visible()
    answer = page.goto(f"/console/alerts/{alert['id']}")
    assert answer.status == 404
    page.goto("/console/alerts")
    token = page.evaluate("document.querySelector('input[name=csrf_token]').value")  # the sign-out form's
    refused = page.request.post(f"/console/alerts/{alert['id']}/silence",
                                form={"minutes": "60", "reason": "not mine", "csrf_token": token})
    assert refused.status == 404  # the same answer as for an alert that does not exist

    console.errors = [e for e in console.errors if "404" not in e]  # the refusals asserted above

    governance_console = open_console()
    governance = governance_console.sign_in("gina")
    assert governance.goto("/console/alerts").status == 403
    assert governance.get_by_role("link", name="Alerts", exact=True).count() == 0  # not in the navigation
    governance_console.errors = [e for e in governance_console.errors if "403" not in e]
