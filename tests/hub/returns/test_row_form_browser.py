"""Rows of a council's draft entered and edited in a form generated from the return's fields, in
real headless Chromium against a real hub process: hostile entries are named next to their
fields with an error summary (never a 500), two submitters edit one row at once and the second
is told whose change it would overwrite, the draft shows who changed what, a submitter scoped
to one return gets 404 for another, and the agency sees none of it before approval. Every page
state passes axe-core and reflows at 390 px."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from support.browser import PASSWORD, Console, ConsoleHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
NAME, OTHER = "data-return.school-clubs", "data-return.school-gardens"
PERIOD = "2026-Q3"  # ended: the hub keeps real time
SUBMISSION = f"/console/returns/{NAME}/{PERIOD}/edinburgh"
FIELDS = {"type": "object", "additionalProperties": False, "required": ["school", "pupils_on_roll", "sector"],
          "properties": {
              "school": {"type": "string", "title": "School", "maxLength": 120},
              "pupils_on_roll": {"type": "integer", "minimum": 0, "maximum": 5000, "title": "Pupils on roll",
                                 "description": "On the census date."},
              "breakfast_club": {"type": "integer", "minimum": 0, "title": "Breakfast club places"},
              "sector": {"enum": ["primary", "secondary", "special"], "title": "Sector"}}}


def spec(name: str) -> dict:
    return {"name": name, "title": f"School {name.rsplit('-', 1)[-1]} by school", "frequency": "quarterly",
            "due_days_after_period_end": 30, "expected_publishers": ["edinburgh"], "introduced": "2026-01-01",
            "guidance": "One row per school, as at the census date.", "fields": FIELDS}


@pytest.fixture(scope="module")
def console_hub(tmp_path_factory):
    hub = ConsoleHub(tmp_path_factory.mktemp("row-form-console"))
    hub.prepare()
    for username in ("sue", "tom"):
        subprocess.run([sys.executable, "-m", "hub.cli", "user", "add", username, "--org", "edinburgh",
                        "--role", "submitter", "--db", hub.db_url], check=True, capture_output=True, timeout=120,
                       env={**os.environ, "CAUSEWAY_USER_PASSWORD": PASSWORD})
    hub.start()
    for name in (NAME, OTHER):
        drafted = hub.api("POST", "/return-definitions", "sds", "governance", json=spec(name))
        assert drafted.status_code == 201, drafted.text
        assert hub.api("POST", f"/return-definitions/{name}/versions/1/approve", "scottish-government",
                       "admin").status_code == 200
    assigned = hub.api("PUT", f"/returns/{NAME}/submitters/sue", "edinburgh", "governance", json={"assigned": True})
    assert assigned.status_code == 200, assigned.text
    yield hub
    hub.stop()


@pytest.fixture(scope="module")
def tabs(chromium, console_hub):
    opened: dict[str, Console] = {}

    def tab(username) -> Console:
        if username not in opened:
            opened[username] = Console(chromium, console_hub)
            opened[username].sign_in(username)
        return opened[username]

    yield tab
    # Refused forms answer 409 or 422 and the scoped 404 is expected: the browser logs those loads.
    errors = [e for c in opened.values() for e in c.errors if not any(s in e for s in ("409", "422", "404"))]
    for console in opened.values():
        console.close()
    assert errors == [], "the browser reported errors, axe-core violations or sideways scrolling:\n" + "\n".join(errors)


def save(page):
    with page.expect_navigation():
        page.click("#save-row")


def test_a_row_is_entered_in_the_form_and_every_mistake_is_named_at_its_field(tabs):
    sue = tabs("sue")
    page = sue.page
    page.goto(SUBMISSION)
    page.click("#add-row")
    assert page.locator("label[for=v_sector]").inner_text() == "Sector"
    assert page.locator("label[for=v_breakfast_club]").inner_text() == "Breakfast club places (optional)"
    assert page.locator("#v_pupils_on_roll-hint").inner_text() == "On the census date. A whole number at least 0 and at most 5000."
    assert page.locator("#v_sector option").all_inner_texts() == ["Choose…", "primary", "secondary", "special"]
    sue.screenshot("row-form-empty")
    # Hostile entries: a word for a number, an oversized value, no sector, a field the return does not have.
    page.fill("#key", "Abbey")
    page.evaluate("() => { document.querySelector('#v_school').value = 'A'.repeat(3000); }")  # past maxlength
    page.fill("#v_pupils_on_roll", "lots")
    page.evaluate("""() => { const i = document.createElement('input'); i.type = 'hidden'; i.name = 'v_smuggled';
                             i.value = '1'; document.querySelector('#row-form').appendChild(i); }""")
    with page.expect_navigation() as answer:
        page.click("#save-row")
    assert answer.value.status == 422
    summary = page.locator("#row-errors li").all_inner_texts()
    assert summary == ["'smuggled' is not a field of this return", "School is at most 1000 characters",
                       "Pupils on roll must be a whole number, like 12", "Choose sector"]
    assert page.locator("#row-errors a[href='#v_pupils_on_roll']").count() == 1
    assert page.locator("#v_pupils_on_roll").get_attribute("aria-invalid") == "true"
    assert "whole number" in page.locator("#v_pupils_on_roll-error").inner_text()
    assert page.locator("#v_pupils_on_roll").input_value() == "lots"  # what was typed is kept
    assert page.title().startswith("Error: ")
    sue.screenshot("row-form-mistakes")
    # The return's own limits are the hub's, shown at the field too.
    page.fill("#v_school", "Abbey Primary")
    page.fill("#v_pupils_on_roll", "6000")
    page.select_option("#v_sector", "primary")
    with page.expect_navigation() as answer:
        page.click("#save-row")
    assert answer.value.status == 422
    assert "5000" in page.locator("#v_pupils_on_roll-error").inner_text()
    page.fill("#v_pupils_on_roll", "200")
    save(page)
    assert page.url.endswith(SUBMISSION + "#history"), page.url
    history = page.locator("#row-history tbody tr")
    assert history.count() == 1
    assert history.first.locator("td").all_inner_texts()[1:] == [
        "edinburgh/submitter/key:console:sue", "Abbey", "added", "pupils_on_roll, school, sector", "form"]
    assert page.locator("#sign-off-state").get_attribute("data-state") == "draft"


def test_two_submitters_edit_one_row_and_the_second_is_told_not_overwritten(tabs):
    sue, tom = tabs("sue").page, tabs("tom").page
    for page in (sue, tom):
        page.goto(SUBMISSION)
        page.click("a.change-row")
        assert page.locator("#key").get_attribute("readonly") is not None
    tom.fill("#v_pupils_on_roll", "210")
    save(tom)
    sue.fill("#v_breakfast_club", "30")
    with sue.expect_navigation() as answer:
        sue.click("#save-row")
    assert answer.value.status == 409
    said = sue.locator("#row-errors").inner_text()
    assert "console:tom changed it" in said and "your change was not saved" in said
    assert "pupils_on_roll\t210" in sue.locator("#current-row").inner_text()
    assert sue.locator("#v_breakfast_club").input_value() == "30"  # her entries are kept
    tabs("sue").screenshot("row-form-conflict")
    sue.fill("#v_pupils_on_roll", "210")  # she takes Tom's roll and saves her club on top of it
    save(sue)
    rows = sue.locator("#row-history tbody tr")
    assert [rows.nth(i).locator("td").all_inner_texts()[1:5] for i in range(rows.count())] == [
        ["edinburgh/submitter/key:console:sue", "Abbey", "changed", "breakfast_club"],
        ["edinburgh/submitter/key:console:tom", "Abbey", "changed", "pupils_on_roll"],
        ["edinburgh/submitter/key:console:sue", "Abbey", "added", "pupils_on_roll, school, sector"]]
    tabs("sue").screenshot("row-history")
    # A row added then removed is in the history too.
    tom.goto(SUBMISSION)
    tom.click("#add-row")
    tom.fill("#key", "Braes")
    tom.fill("#v_school", "Braes High")
    tom.fill("#v_pupils_on_roll", "900")
    tom.select_option("#v_sector", "secondary")
    save(tom)
    with tom.expect_navigation():
        tom.locator("h3:has-text('Braes') + .row-actions button.remove-row").click()
    assert tom.locator("#row-history tbody tr").first.locator("td").all_inner_texts()[2:4] == ["Braes", "removed"]
    assert tom.locator("h3", has_text="Braes").count() == 0


def test_the_agency_sees_no_rows_and_no_history_before_the_council_approves(tabs):
    agency = tabs("sam")  # sds governance, which asks for the return
    agency.page.goto(SUBMISSION)
    assert agency.page.locator("#row-history").count() == 0 and agency.page.locator("#no-history").count() == 1
    assert agency.page.locator("a.change-row, #add-row").count() == 0


def test_a_submitter_scoped_to_one_return_gets_404_for_another(tabs):
    sue, tom = tabs("sue").page, tabs("tom").page
    sue.goto("/console/returns/")
    listed = sue.locator("main").inner_text()
    assert NAME in listed and OTHER not in listed
    for path in (f"/console/returns/{OTHER}", f"/console/returns/{OTHER}/{PERIOD}/edinburgh",
                 f"/console/returns/{OTHER}/{PERIOD}/edinburgh/row", f"/console/returns/{OTHER}/template.xlsx"):
        assert sue.goto(path).status == 404, path
    sue.goto(SUBMISSION)
    token = sue.locator("input[name=csrf_token]").first.input_value()
    refused = sue.request.post(f"/console/returns/{OTHER}/{PERIOD}/edinburgh/row", form={
        "csrf_token": token, "key": "x", "v_school": "x", "v_pupils_on_roll": "1", "v_sector": "primary"})
    assert refused.status == 404  # with a good token too: nothing of the return is there for her
    assert tom.goto(f"/console/returns/{OTHER}/{PERIOD}/edinburgh/row").status == 200  # Tom is not scoped


def test_a_councils_governance_assigns_a_submitter_to_a_return_in_the_console(tabs):
    gina = tabs("gina")  # edinburgh's governance
    gina.page.goto(f"/console/returns/{OTHER}")
    choices = gina.page.locator("#submitter-choices tbody tr")
    assert {choices.nth(i).get_attribute("data-username"): choices.nth(i).locator("td").nth(1).inner_text()
            for i in range(choices.count())} == {"sue": "other returns only", "tom": "every return"}
    with gina.page.expect_navigation():
        gina.page.click("#submitter-choices tr[data-username=tom] button")
    assert gina.page.locator("#submitter-choices tr[data-username=tom] td").nth(1).inner_text() == "this return (assigned)"
    gina.screenshot("returns-grid-submitters")
    tom = tabs("tom").page
    assert tom.goto(SUBMISSION).status == 404  # now scoped to the other return only
    assert tom.goto(f"/console/returns/{OTHER}/{PERIOD}/edinburgh").status == 200
    assert tabs("sam").page.goto(f"/console/returns/{OTHER}").status == 200
    assert tabs("sam").page.locator("#submitter-choices").count() == 0  # the agency assigns no council's staff
