"""`causeway-agent check`: validates, tests connections, dry-runs, and never publishes."""
import pytest

from support.agents import GAZETTEER_MAPPING, enrol, gazetteer_task, run_agent, write_config, write_gazetteer_csv
from support.servers import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def enrolled(shared_hub, tmp_path):
    state = tmp_path / "state"
    enrol(shared_hub, state)
    return state


def test_check_prints_mapped_records_and_every_validation_error_without_publishing(shared_hub, enrolled, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    write_gazetteer_csv(drop / "export.csv", 3)
    with open(drop / "export.csv", "a") as out:
        out.write("906999999,8400001,1,High Street,Edinburgh,NOT A POSTCODE,320000,670000,A,2026-01-01\n")
    config = write_config(tmp_path / "agent.yaml", shared_hub.url, enrolled, [gazetteer_task(drop)])
    before = len(shared_hub.records("gazetteer-address"))

    result = run_agent(config, "check")
    assert result.returncode == 1, result.stdout
    assert "hub http" in result.stdout and "reachable" in result.stdout
    assert result.stdout.count("  ok   export.csv, row") == 3
    assert '"uprn": "906000000"' in result.stdout
    assert "BAD  export.csv, row 5: /payload/postcode" in result.stdout
    assert "3 of 4 rows would be published; nothing was sent" in result.stdout
    assert len(shared_hub.records("gazetteer-address")) == before
    assert (drop / "export.csv").exists()  # the file is still waiting for the real run


def test_check_names_a_column_the_mapping_needs_but_the_file_lacks(shared_hub, enrolled, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    write_gazetteer_csv(drop / "export.csv", 2)
    task = gazetteer_task(drop)
    task["mapping"] = {"fields": {**GAZETTEER_MAPPING["fields"], "street": "STREET_NAME"}}
    result = run_agent(write_config(tmp_path / "agent.yaml", shared_hub.url, enrolled, [task]), "check")
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "'STREET_NAME'" in result.stdout


def test_check_names_an_unreadable_workbook(shared_hub, enrolled, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "planning.xlsx").write_bytes(b"this is not a workbook")
    task = gazetteer_task(drop)
    task["connector"]["options"] = {"folder": str(drop), "settle_seconds": 0}
    result = run_agent(write_config(tmp_path / "agent.yaml", shared_hub.url, enrolled, [task]), "check")
    assert result.returncode == 1
    assert "planning.xlsx: not a readable XLSX workbook" in result.stdout


def test_check_names_an_unreachable_hub(enrolled, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    config = write_config(tmp_path / "agent.yaml", f"http://127.0.0.1:{free_port()}", enrolled, [gazetteer_task(drop)])
    result = run_agent(config, "check")
    assert result.returncode == 1
    assert "cannot reach the hub at http://127.0.0.1:" in result.stdout and "connection refused" in result.stdout


def test_check_names_a_bad_cron_expression_with_its_line(tmp_path):
    task = gazetteer_task(tmp_path)
    task["schedule"] = {"cron": "61 * * * *"}
    result = run_agent(write_config(tmp_path / "agent.yaml", "http://hub", tmp_path / "s", [task]), "check")
    assert result.returncode == 2
    assert "bad cron expression '61 * * * *'" in result.stderr
    assert "line " in result.stderr


def test_check_names_an_unknown_connector_option_with_its_line(tmp_path):
    task = gazetteer_task(tmp_path)
    task["connector"]["options"]["sheeet"] = "Return"
    result = run_agent(write_config(tmp_path / "agent.yaml", "http://hub", tmp_path / "s", [task]), "check")
    assert result.returncode == 2
    assert "unknown option 'sheeet'" in result.stderr
    assert "line " in result.stderr and "tasks[0].connector.options" in result.stderr


def test_check_names_a_database_it_cannot_open(shared_hub, enrolled, tmp_path):
    task = {"name": "cases", "direction": "publish", "dataset": "referral",
            "connector": {"kind": "sql", "options": {"url": f"sqlite:///{tmp_path / 'missing' / 'caselink.db'}",
                                                     "table": "cases", "key": "case_ref"}},
            "mapping": {"fields": {"referral_id": "case_ref"}}, "schedule": {"interval_seconds": 60}}
    result = run_agent(write_config(tmp_path / "agent.yaml", shared_hub.url, enrolled, [task]), "check")
    assert result.returncode == 1
    assert "caselink.db" in result.stdout and "FAIL" in result.stdout


def test_check_refuses_a_referral_task_of_a_version_naming_no_addressee(shared_hub, enrolled, tmp_path):
    task = {"name": "cases", "direction": "publish", "dataset": "referral", "schema_version": 1,
            "connector": {"kind": "sql", "options": {"url": f"sqlite:///{tmp_path / 'caselink.db'}",
                                                     "table": "cases", "key": "case_ref"}},
            "mapping": {"fields": {"referral_id": "case_ref"}}, "schedule": {"interval_seconds": 60}}
    result = run_agent(write_config(tmp_path / "agent.yaml", shared_hub.url, enrolled, [task]), "check")
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "schema version 1 of dataset referral names no addressee" in result.stdout
    assert "publish version 3" in result.stdout
