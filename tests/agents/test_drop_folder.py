"""Must show: a drop folder with an XLSX and a cp1252 CSV holding a few bad
rows: the good rows reach the hub, the bad ones wait in rejects with file and row."""
import openpyxl
import pytest

from agents.outbox import Outbox
from support.agents import enrol, run_agent, write_config

pytestmark = pytest.mark.e2e

HEADER = ["UPRN", "USRN", "Flat", "Number", "Street", "Town", "Postcode", "X", "Y", "Status", "Updated"]
MAPPING = {
    "fields": {
        "uprn": {"from": "UPRN", "convert": ["text", "trim"], "required": True},
        "usrn": {"from": "USRN", "convert": ["text"]},
        "saon": "Flat",
        "paon": {"from": "Number", "convert": ["text"]},
        "street": "Street",
        "town": "Town",
        "postcode": {"from": "Postcode", "convert": ["trim", "upper"]},
        "easting": {"from": "X", "convert": ["number"]},
        "northing": {"from": "Y", "convert": ["number"]},
        "status": {"from": "Status", "convert": ["trim", "lower", {"lookup": {"a": "approved", "p": "provisional"}}]},
        "custodian": {"const": "edinburgh"},
        "last_updated": {"from": "Updated", "convert": [{"date": ["%d/%m/%Y", "excel"]}]},
    }
}


def write_drop_folder(folder):
    folder.mkdir()
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Addresses"
    sheet.append(HEADER)
    sheet.append([906423117, 8401327, None, 253, "High Street", "Edinburgh", "EH1 1YJ", 325835, 673630, "A", "14/02/2026"])
    sheet.append([906423118, 8401327, "Flat 2", 255, "High Street", "Edinburgh", "NOT A CODE", 325840, 673631, "A", "14/02/2026"])  # row 3: bad postcode
    sheet.append([906423119, 8401327, None, 257, "High Street", "Edinburgh", "EH1 1YJ", 325850, 673632, "P", "01/03/2026"])
    workbook.save(folder / "north.xlsx")

    lines = [",".join(HEADER)]
    lines.append("906500001,8402001,,12,St Mary’s Street,Edinburgh,EH1 1SU,326000,673500,A,02/01/2026")
    lines.append("906500002,8402001,,14,St Mary’s Street,Edinburgh,EH1 1SU,about here,673500,A,02/01/2026")  # row 3: easting
    lines.append(",8402001,,16,St Mary’s Street,Edinburgh,EH1 1SU,326010,673500,A,02/01/2026")  # row 4: no UPRN
    lines.append("906500004,8402001,,18,Canongate Café Close,Edinburgh,EH8 8BN,326020,673500,A,02/01/2026")
    (folder / "south.csv").write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def test_good_rows_reach_the_hub_and_bad_rows_wait_in_rejects_with_file_and_row(hub, tmp_path):
    drop = tmp_path / "drop"
    write_drop_folder(drop)
    state = tmp_path / "state"
    enrol(hub, state)
    config = write_config(tmp_path / "agent.yaml", hub.url, state, [{
        "name": "gazetteer", "direction": "publish", "dataset": "gazetteer-address",
        "connector": {"kind": "spreadsheet", "options": {"folder": str(drop), "settle_seconds": 0}},
        "mapping": MAPPING, "schedule": {"interval_seconds": 300}}])

    result = run_agent(config, "run", "--once")
    assert result.returncode == 0, result.stdout + result.stderr

    current = hub.current("gazetteer-address")
    assert set(current) == {"906423117", "906423119", "906500001", "906500004"}
    assert current["906500001"]["street"] == "St Mary’s Street"  # cp1252 read as cp1252
    assert current["906500004"]["street"] == "Canongate Café Close"
    assert current["906423119"]["status"] == "provisional"

    outbox = Outbox(state / "outbox.sqlite")
    rejects = {(r["location"]["file"], r["location"]["row"]): r for r in outbox.rejects()}
    assert set(rejects) == {("north.xlsx", 3), ("south.csv", 3), ("south.csv", 4)}
    assert rejects["north.xlsx", 3]["location"]["sheet"] == "Addresses"
    assert rejects["north.xlsx", 3]["errors"][0]["path"] == "/payload/postcode"
    assert "'about here' is not a number" in rejects["south.csv", 3]["errors"][0]["message"]
    assert rejects["south.csv", 4]["errors"][0]["path"] == "/payload/uprn"
    assert rejects["south.csv", 3]["data"]["X"] == "about here"  # the row as read, to fix it
    assert outbox.depth() == 0
    outbox.close()

    # Both files are done with: the folder is ready for tomorrow's drop.
    assert sorted(p.name for p in (drop / "processed").iterdir() if not p.name.endswith(".txt")) == ["north.xlsx", "south.csv"]
    assert not (drop / "north.xlsx").exists()

    status = run_agent(config, "status", "--rejects")
    assert status.returncode == 0, status.stderr
    assert "south.csv, row 4: /payload/uprn" in status.stdout
    assert "north.xlsx, sheet Addresses, row 3: /payload/postcode" in status.stdout

    # A second run finds nothing new and sends nothing twice.
    assert run_agent(config, "run", "--once").returncode == 0
    assert len(hub.records("gazetteer-address")) == 4
