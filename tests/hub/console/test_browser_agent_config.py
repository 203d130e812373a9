"""A hub-managed agent's configuration page in real headless Chromium, against a real hub
process: the version in force, what the agent applied and when, the version it refused and
why, the diff between two versions; a new version written through the form, one holding a
password refused beside the text, and a hub operator's proposal approved by the council."""
from __future__ import annotations

import subprocess
import sys

import pytest
import requests

from causeway_common.signing import generate_key, public_key_b64
from support.browser import ConsoleHub

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TASK = """tasks:
  - name: gazetteer
    direction: publish
    dataset: gazetteer-address
    connector:
      kind: spreadsheet
      options: {{folder: {folder}, pattern: "*.csv"}}
    mapping:
      fields:
        uprn: {{from: UPRN, required: true}}
    schedule: {{interval_seconds: {interval}}}
"""


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    server = ConsoleHub(tmp_path_factory.mktemp("agent-config-hub"), env={"CAUSEWAY_HUB_OPERATOR": "sds"})
    server.prepare()
    server.start()
    yield server
    server.stop()


def _enrol(hub) -> tuple[str, str]:
    result = subprocess.run([sys.executable, "-m", "hub.cli", "enrolment", "edinburgh", "--db", hub.db_url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    answer = requests.post(hub.base_url + "/api/v1/agents/enrol", timeout=30, json={
        "token": result.stdout.strip().splitlines()[-1], "public_key": public_key_b64(generate_key()),
        "name": "gazetteer-agent", "version": "0.1.0"})
    assert answer.status_code == 201, answer.text
    return answer.json()["agent_id"], answer.json()["api_key"]


def _as_agent(hub, agent_id: str, api_key: str, path: str, body: dict) -> None:
    answer = requests.post(f"{hub.base_url}/api/v1/agents/{agent_id}{path}", json=body, timeout=30,
                           headers={"Authorization": f"Bearer {api_key}"})
    assert answer.status_code == 202, answer.text


def test_the_configuration_page_shows_versions_applied_refused_and_the_diff(open_console, hub):
    agent_id, api_key = _enrol(hub)
    _as_agent(hub, agent_id, api_key, "/heartbeats", {"version": "0.1.0", "uptime_seconds": 5, "tasks": [],
                                                      "management": "hub", "config_version": None})
    path = f"/agents/{agent_id}/configuration/versions"
    for folder, interval in (("/srv/gazetteer", 300), ("/srv/gazetteer-new", 60)):
        assert hub.api("POST", path, "edinburgh", "agent-admin",
                       json={"source": TASK.format(folder=folder, interval=interval)}).status_code == 201
    _as_agent(hub, agent_id, api_key, "/configuration/reports", {"version": 1, "outcome": "applied"})
    _as_agent(hub, agent_id, api_key, "/configuration/reports", {
        "version": 2, "outcome": "failed",
        "error": "hub configuration version 2: task gazetteer: source unavailable: folder /srv/gazetteer-new does not exist"})

    console = open_console()
    page = console.sign_in("omar")  # edinburgh's ops staff
    page.goto(f"/console/agents/{agent_id}")
    with page.expect_navigation():
        page.locator("#agent-configuration-link").click()
    assert page.locator("#current-version").inner_text() == "version 2"
    assert page.locator("#applied").inner_text().startswith("version 1, ")
    assert "/srv/gazetteer-new does not exist" in page.locator("#failure-error").inner_text()
    assert "keeps running version 1" in page.locator("#last-failure").inner_text()
    assert page.locator("tr[data-version='1'] .badge").last.inner_text() == "applied"
    assert page.locator("tr[data-version='2'] .badge").last.inner_text() == "refused"
    diff = page.locator("#diff")
    assert "/srv/gazetteer-new" in diff.locator("ins").all_inner_texts()[0]
    assert any("/srv/gazetteer," in line for line in diff.locator("del").all_inner_texts())
    console.screenshot("agent-configuration")

    # a password in the text is refused beside it, and nothing is saved
    page.fill("#source", TASK.format(folder="/srv/gazetteer", interval=300).replace(
        'pattern: "*.csv"', 'pattern: "*.csv", password: hunter2'))
    with page.expect_navigation():
        page.get_by_role("button", name="Save and put in force").click()
    assert "tasks[0].connector.options.password" in page.locator("#source-errors").inner_text()
    assert "hunter2" not in page.locator("#source-errors").inner_text()
    assert page.locator("#versions tbody tr").count() == 2
    console.errors = [e for e in console.errors if "422" not in e]  # the refused form's own answer

    # a good one is version 3, in force at once
    page.fill("#source", TASK.format(folder="/srv/gazetteer", interval=120))
    page.fill("#note", "every two minutes")
    with page.expect_navigation():
        page.get_by_role("button", name="Save and put in force").click()
    assert page.locator("#current-version").inner_text() == "version 3"
    assert "every two minutes" in page.locator("tr[data-version='3']").inner_text()
    page.select_option("#against", "1")
    with page.expect_navigation():
        page.get_by_role("button", name="Show differences").click()
    assert page.locator("#diff").get_attribute("aria-label") == "Differences from version 1 to version 3"
    assert any("interval_seconds: 120" in line for line in page.locator("#diff ins").all_inner_texts())

    # the hub operator's ops staff propose; the council approves
    operator = open_console()
    operator_page = operator.sign_in("otto")  # sds runs this hub
    operator_page.goto(f"/console/agents/{agent_id}/configuration")
    operator_page.fill("#source", TASK.format(folder="/srv/gazetteer", interval=900))
    with operator_page.expect_navigation():
        operator_page.get_by_role("button", name="Propose").click()
    assert "waiting for edinburgh" in operator_page.locator("tr[data-version='4']").inner_text()
    assert operator_page.locator("#current-version").inner_text() == "version 3"

    page.goto(f"/console/agents/{agent_id}/configuration")
    with page.expect_navigation():
        page.locator("tr[data-version='4']").get_by_role("button", name="Approve").click()
    assert page.locator("#current-version").inner_text() == "version 4"

    # edinburgh's governance staff: not their page; an admin may look
    admin = open_console()
    assert admin.sign_in("ada").goto(f"/console/agents/{agent_id}/configuration").status == 200
    governance = open_console()
    assert governance.sign_in("gina").goto(f"/console/agents/{agent_id}/configuration").status == 403
    governance.errors = [e for e in governance.errors if "403" not in e]
