"""Drafting a return in the console, in real headless Chromium against a real hub process: an
agency's governance drafts one in the form (a mistake is shown at its line, then fixed), sees the
returns that already collect such fields, the hub's admin approves it into force, a council's
rows come in and the submission page shows the hub's totals and the rule a school fails; the
agency sends it back, then accepts it sent again, and the grid and both calendars follow.
axe-core finds no accessibility violation on any of these pages."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from support.browser import PASSWORD, Console, ConsoleHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
NAME = "data-return.school-lunches"
PERIOD = "2026-Q3"  # ended: the hub keeps real time


def _axe_source() -> str:
    import axe_playwright_python

    return (Path(axe_playwright_python.__file__).parent / "axe.min.js").read_text(encoding="utf-8")


def assert_accessible(page, state: str) -> None:
    found = page.evaluate(_axe_source() + "\n;axe.run(document, {resultTypes: ['violations']})")
    violations = [f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(n['target'][0] for n in v['nodes'][:3])}"
                  for v in found["violations"]]
    assert violations == [], f"axe-core found violations on {state}:\n" + "\n".join(violations)


@pytest.fixture(scope="module")
def console_hub(tmp_path_factory):
    hub = ConsoleHub(tmp_path_factory.mktemp("definitions-console"))
    hub.prepare()
    subprocess.run([sys.executable, "-m", "hub.cli", "user", "add", "sue", "--org", "edinburgh", "--role", "submitter",
                    "--db", hub.db_url], check=True, capture_output=True, timeout=120,
                   env={**os.environ, "CAUSEWAY_USER_PASSWORD": PASSWORD})
    hub.start()
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def tabs(chromium, console_hub):
    opened = {}

    def tab(username):
        if username not in opened:
            opened[username] = Console(chromium, console_hub)
            opened[username].sign_in(username)
        return opened[username].page

    yield tab
    errors = [e for console in opened.values() for e in console.errors if "422" not in e]
    for console in opened.values():
        console.close()
    assert errors == [], "the browser reported errors"


FIELDS = """school | School | text
pupils_on_roll | Pupils on roll | integer
free_meals_registered | Registered for free meals | integer
fm_p1_p5 | Free meals P1-P5 | integer
fm_p6_s6 | Free meals P6-S6 | integer"""


def test_an_agency_drafts_a_return_the_admin_approves_it_and_a_councils_rows_are_checked(tabs, console_hub,
                                                                                          tmp_path_factory):
    page = tabs("sam")  # sds governance
    page.goto("/console/returns/")
    assert_accessible(page, "the returns list")
    page.click("#draft-return")
    page.fill("#name", NAME)
    page.fill("#title", "School lunches by school")
    page.fill("#due_days", "30")
    page.fill("#expected_publishers", "edinburgh, fife")
    page.fill("#introduced", "2026-01-01")
    page.fill("#guidance", "One row per school.")
    page.fill("#fields", FIELDS)
    page.fill("#rules", "Free meals within roll | fm_p1_p5 + fm_p6_s6 <= pupils_on_rol | high | row\n"
                        "Lunches | no comparison here")
    page.fill("#rates", "registered_percent | free_meals_registered / pupils_on_roll | 100")
    with page.expect_navigation():
        page.click("form.stacked button[type=submit]")
    summary = page.locator("#definition-errors").inner_text()
    assert "Rules, line 2" in summary and "comparison" in summary  # the form's own check, at its line
    assert_accessible(page, "the draft form with its mistakes")
    page.fill("#rules", "Free meals within roll | fm_p1_p5 + fm_p6_s6 <= pupils_on_rol | high | row")
    with page.expect_navigation():
        page.click("form.stacked button[type=submit]")
    assert "pupils_on_rol is not a number field" in page.locator("#definition-errors").inner_text()
    page.fill("#rules", "Free meals within roll | fm_p1_p5 + fm_p6_s6 <= pupils_on_roll | high | row")
    with page.expect_navigation():
        page.click("form.stacked button[type=submit]")
    assert page.url.endswith(f"/console/return-definitions/{NAME}"), page.url
    assert "Saved as draft version 1, applying from 2026-Q1" in page.locator(".notice-success").inner_text()
    similar = page.locator("#similar").inner_text()
    assert "data-return.school-meals" in similar and "free_meals_registered" in similar
    assert page.locator("#version-1 .status-draft").inner_text() == "draft"
    assert page.locator("#version-1 form").count() == 0  # only the admin approves
    assert_accessible(page, "a drafted return")

    admin = tabs("ada")
    admin.goto("/console/returns/")
    admin.click(f'#drafts a[href="/console/return-definitions/{NAME}"]')
    with admin.expect_navigation():
        admin.click("#version-1 form button")
    assert admin.locator("#version-1 .status-approved").inner_text() == "approved"
    assert_accessible(admin, "an approved return")

    submission = f"/console/returns/{NAME}/{PERIOD}/edinburgh"
    staff_member = tabs("sue")  # edinburgh's submitter
    staff_member.goto(submission)
    with staff_member.expect_download() as downloading:
        staff_member.click("#download-template")
    assert downloading.value.suggested_filename == f"{NAME}.xlsx"
    book = openpyxl.load_workbook(io.BytesIO(Path(downloading.value.path()).read_bytes()))
    sheet = book["Rows"]
    assert [c.value for c in sheet[1]] == ["key", "school", "pupils_on_roll", "free_meals_registered", "fm_p1_p5",
                                          "fm_p6_s6"]
    sheet.append(["Abbey", "Abbey", 200, 20, 15, 5])
    sheet.append(["Braes", "Braes", "a hundred", 50, 90, 40])  # row 3, column C: not a number
    filled = tmp_path_factory.mktemp("upload") / "lunches.xlsx"
    book.save(filled)
    staff_member.set_input_files("#file", str(filled))
    with staff_member.expect_navigation():
        staff_member.click("#upload-rows")
    problems = staff_member.locator("#upload-problems tbody tr")
    assert problems.count() == 1
    assert problems.first.locator("td").all_inner_texts()[:3] == ["Rows", "3", "C"]
    assert "1 of 2 rows kept as your draft" in staff_member.locator("#upload-result h2").inner_text()
    assert_accessible(staff_member, "an upload with a mistake located")
    sheet["C3"] = 100
    book.save(filled)
    staff_member.set_input_files("#file", str(filled))
    with staff_member.expect_navigation():
        staff_member.click("#upload-rows")
    assert "2 of 2 rows kept as your draft" in staff_member.locator("#upload-result h2").inner_text()

    page.goto(submission)  # the agency, before the council has approved: nothing
    assert page.locator("#sign-off-state").get_attribute("data-state") == "none"
    assert page.locator("#figures").count() == 0 and page.locator(".row-flags").count() == 0

    staff_member.goto(f"/console/returns/{NAME}?from={PERIOD}&to={PERIOD}")
    cell = staff_member.locator(f'td.cell[data-org="edinburgh"][data-period="{PERIOD}"]')
    assert cell.get_attribute("data-sign-off") == "draft"
    assert_accessible(staff_member, "a council's grid with a draft")
    cell.locator("a").click()
    assert staff_member.locator("#approve-return").count() == 0  # a submitter does not approve
    with staff_member.expect_navigation():
        staff_member.click("#submit-return")
    assert staff_member.locator("#sign-off-state").get_attribute("data-state") == "submitted"

    approver = tabs("gina")  # edinburgh's governance
    approver.goto(submission)
    with approver.expect_navigation():
        approver.click("#approve-return")
    assert approver.locator("#sign-off-state").get_attribute("data-state") == "approved"

    page.goto(f"/console/returns/{NAME}?from={PERIOD}&to={PERIOD}")
    page.click(f'td.cell[data-org="edinburgh"][data-period="{PERIOD}"] a')
    figures = page.locator("#figures").inner_text()
    assert "pupils_on_roll\t300" in figures and "registered_percent (rate)\t23.33" in figures
    flagged = page.locator(".row-flags").inner_text()
    assert "high: Free meals within roll" in flagged and "130 is not ≤ 100" in flagged
    assert_accessible(page, "a council's rows with a failing rule")
    page.fill("#comment", "Braes: free meals exceed the roll")
    with page.expect_navigation():
        page.click("#send-back-return")
    assert page.locator("#sign-off-state").get_attribute("data-state") == "sent_back"
    staff_member.goto(submission)
    assert staff_member.locator("#sent-back-comment").inner_text().endswith("Braes: free meals exceed the roll")
    assert staff_member.locator("#submit-return").count() == 1
    assert_accessible(staff_member, "a return sent back, as the council sees it")
    own_entry = f'#submits li.cal-entry[data-dataset="{NAME}"][data-period="{PERIOD}"]'
    staff_member.goto("/console/returns/calendar")
    assert staff_member.locator(own_entry).get_attribute("data-state") == "sent_back"

    # The council sends it again, its approver approves, and this time the agency accepts it.
    staff_member.goto(submission)
    with staff_member.expect_navigation():
        staff_member.click("#submit-return")
    approver.goto(submission)
    with approver.expect_navigation():
        approver.click("#approve-return")
    page.goto(submission)
    with page.expect_navigation():
        page.click("#accept-return")
    assert page.locator("#sign-off-state").get_attribute("data-state") == "accepted"
    page.goto(f"/console/returns/{NAME}?from={PERIOD}&to={PERIOD}")
    accepted = page.locator(f'td.cell[data-org="edinburgh"][data-period="{PERIOD}"]')
    assert accepted.get_attribute("data-sign-off") == "accepted"
    page.goto("/console/returns/calendar")
    asked = page.locator(f'#asks li.cal-entry[data-dataset="{NAME}"][data-period="{PERIOD}"]')
    assert asked.locator('li[data-org="edinburgh"]').get_attribute("data-state") == "accepted"
    assert asked.locator('li[data-org="fife"]').get_attribute("data-status") == "late"  # nothing sent, past due
    staff_member.goto("/console/returns/calendar")
    assert staff_member.locator(own_entry).get_attribute("data-state") == "accepted"

    page.goto("/console/returns/")
    page.click(f'#returns-in-force a[href="/console/return-definitions/{NAME}"]')
    page.click("text=Draft a new version")
    assert page.locator("#fields").input_value().startswith("school | School | text")
    assert "fm_p1_p5 + fm_p6_s6 <= pupils_on_roll | high | row" in page.locator("#rules").input_value()
