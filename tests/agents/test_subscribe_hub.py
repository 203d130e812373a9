"""Must show, against a real hub: an agency's agent keeps a SQL table and an XLSX
folder current from a council's gazetteer, through a pull subscription."""
import sqlite3

import openpyxl
import pytest
import requests

from hub.app import build_services
from hub.config import Settings
from support.agents import enrol, gazetteer_task, run_agent, write_config, write_gazetteer_csv
from support.agreements import agreement_yaml

pytestmark = pytest.mark.e2e
PURPOSE = "PublicSafety"


def put_agreement_in_force(hub):
    """Edinburgh's gazetteer (uprn, town, postcode) to SFRS, approved by both and active."""
    services = build_services(Settings(db_url=hub.db_url))
    agreement_id = "test-gazetteer-sfrs"
    source = agreement_yaml(agreement_id, ["edinburgh"], ["sfrs"], purposes=[PURPOSE], title="Gazetteer to SFRS (test)",
                            datasets={"gazetteer-address": {"fields": ["uprn", "town", "postcode", "custodian"]}})
    edinburgh = services.orgs.authenticate(hub.key("edinburgh", "governance"))
    sfrs = services.orgs.authenticate(hub.key("sfrs", "governance"))
    services.policy.agreements.apply(source, edinburgh)
    services.policy.agreements.transition(agreement_id, "approved", edinburgh)
    services.policy.agreements.transition(agreement_id, "approved", sfrs)
    services.policy.agreements.transition(agreement_id, "active", edinburgh)
    services.engine.dispose()


def test_subscribe_tasks_write_what_the_council_publishes_into_a_table_and_a_folder(hub, tmp_path):
    put_agreement_in_force(hub)
    subscriber_key = hub.key("sfrs", "subscriber")

    def pull_subscription():  # one per task: the hub keeps one acknowledged position per subscription
        made = requests.post(f"{hub.url}/api/v1/subscriptions", timeout=10,
                             headers={"Authorization": f"Bearer {subscriber_key}"},
                             json={"dataset": "gazetteer-address", "channel": "pull", "purpose": PURPOSE,
                                   "start": "beginning"})
        assert made.status_code == 201, made.text
        return made.json()["id"]

    # Edinburgh's agent publishes its gazetteer export.
    drop, council_state = tmp_path / "drop", tmp_path / "council-state"
    drop.mkdir()
    enrol(hub, council_state, org="edinburgh", name="edinburgh-gazetteer")
    council = write_config(tmp_path / "council.yaml", hub.url, council_state, [gazetteer_task(drop)])
    write_gazetteer_csv(drop / "monday.csv", 40)
    assert run_agent(council, "run", "--once").returncode == 0

    # SFRS's agent writes what it is entitled to into its control-room database and a folder.
    table, folder, agency_state = tmp_path / "control-room.db", tmp_path / "inbox", tmp_path / "sfrs-state"
    enrol(hub, agency_state, org="sfrs", name="sfrs-control-room")
    agency = write_config(tmp_path / "sfrs.yaml", hub.url, agency_state, [
        {"name": "addresses-table", "direction": "subscribe", "subscription": pull_subscription(),
         "connector": {"kind": "sql", "options": {"url": f"sqlite:///{table}", "table": "addresses", "key_column": "uprn_key"}},
         "schedule": {"interval_seconds": 60}, "batch_size": 15},
        {"name": "addresses-xlsx", "direction": "subscribe", "subscription": pull_subscription(),
         "connector": {"kind": "spreadsheet", "options": {"folder": str(folder), "format": "xlsx"}},
         "schedule": {"cron": "0 * * * *"}},
    ])
    # The agent reads its org's pull subscriptions with its own enrolled credential.
    result = run_agent(agency, "run", "--once")
    assert result.returncode == 0, result.stderr[-2000:]

    rows = sqlite3.connect(table).execute("SELECT uprn_key, town, postcode FROM addresses").fetchall()
    assert len(rows) == 40 and {r[1] for r in rows} == {"Edinburgh"}
    columns = [c[1] for c in sqlite3.connect(table).execute("PRAGMA table_info(addresses)")]
    assert "street" not in columns  # only the fields the agreement allows ever arrive
    workbooks = list(folder.glob("*.xlsx"))
    delivered = sum(len(list(openpyxl.load_workbook(w, read_only=True).active.iter_rows())) - 1 for w in workbooks)
    assert delivered == 40

    # Later changes arrive, and nothing is written twice.
    write_gazetteer_csv(drop / "tuesday.csv", 5, start=100)
    assert run_agent(council, "run", "--once").returncode == 0
    assert run_agent(agency, "run", "--once").returncode == 0
    assert sqlite3.connect(table).execute("SELECT COUNT(*) FROM addresses").fetchone()[0] == 45
    delivered = sum(len(list(openpyxl.load_workbook(w, read_only=True).active.iter_rows())) - 1
                    for w in folder.glob("*.xlsx"))
    assert delivered == 45
