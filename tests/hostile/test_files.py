"""Poison files in a drop folder: a corrupt workbook, a workbook that explodes when
unpacked, XML nested 5,000 deep, a CSV line with no end. Each goes to failed/ with a
reason a person can act on, the next file is read, and the agent stays small."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

import connectors
from support import poison_files
from support.agents import GAZETTEER_MAPPING, AgentHub, enrol, start_agent, write_config
from support.waiting import wait_until

GOOD_ROWS = [f"{906100000 + n},8400001,{n + 1},Leith Walk,Edinburgh,EH6 8RG,326000,675000,A,2026-02-0{n % 9 + 1}"
             for n in range(20)]
GOOD_XML = ("<Applications><Application><Ref>B1</Ref><Site><Postcode>EH1 1YJ</Postcode></Site></Application>"
            "</Applications>")
MAX_AGENT_RSS_MB = 150


def good_csv(path: Path) -> Path:
    path.write_text(",".join(poison_files.HEADER) + "\n" + "\n".join(GOOD_ROWS) + "\n", encoding="utf-8")
    return path


def in_order(*paths: Path) -> None:
    """Give the files ascending modification times, which is the order a drop folder reads them."""
    start = time.time() - 3600
    for n, path in enumerate(paths):
        os.utime(path, (start + n, start + n))


def read_all(source):
    """Read like the agent: commit each chunk, then call on_commit."""
    chunks = []
    for chunk in source.read(None):
        chunks.append(chunk)
        if chunk.on_commit:
            chunk.on_commit()
    return chunks


def reason_of(drop: Path, name: str) -> str:
    return (drop / "failed" / f"{name}.reason.txt").read_text(encoding="utf-8")


XLSX_POISONS = {
    "corrupt.xlsx": (poison_files.corrupt_deflate_xlsx, "damaged"),
    "malformed.xlsx": (poison_files.malformed_xml_xlsx, "not well-formed"),
    "bomb.xlsx": (poison_files.shared_strings_bomb_xlsx, "refused: part xl/sharedStrings.xml"),
}


@pytest.mark.parametrize("name", sorted(XLSX_POISONS))
def test_unreadable_workbook_goes_to_failed_and_the_next_file_is_read(tmp_path, name):
    make, expected = XLSX_POISONS[name]
    drop = tmp_path / "drop"
    drop.mkdir()
    in_order(make(drop / name), good_csv(drop / "after.csv"))
    source = connectors.load_source("spreadsheet", {"folder": str(drop), "settle_seconds": 0}, tmp_path)

    chunks = read_all(source)

    assert sorted(p.name for p in (drop / "failed").iterdir()) == [name, f"{name}.reason.txt"]
    assert name in reason_of(drop, name) and expected in reason_of(drop, name)
    assert [p.name for p in (drop / "processed").iterdir()] == ["after.csv"]
    assert sum(len(c.rows) for c in chunks) == len(GOOD_ROWS)
    assert [e.location["file"] for c in chunks for e in c.errors] == [name]  # kept as a reject too


def test_workbook_members_are_checked_before_anything_is_unpacked(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    poison_files.shared_strings_bomb_xlsx(drop / "bomb.xlsx", expanded_mb=60)
    # The caps are options: a ratio cap catches the bomb even when the size caps would let it by.
    source = connectors.load_source("spreadsheet", {"folder": str(drop), "settle_seconds": 0,
                                                    "max_part_mb": 100, "max_ratio": 100}, tmp_path)
    read_all(source)
    reason = reason_of(drop, "bomb.xlsx")
    assert "xl/sharedStrings.xml" in reason and "max_ratio" in reason
    allowed = drop / "allowed"
    allowed.mkdir()
    poison_files.shared_strings_bomb_xlsx(allowed / "big.xlsx", expanded_mb=2)
    source = connectors.load_source("spreadsheet", {"folder": str(allowed), "settle_seconds": 0,
                                                    "max_ratio": 1000}, tmp_path)
    chunks = read_all(source)
    assert sum(len(c.rows) for c in chunks) == 50 and not (allowed / "failed").exists()


def test_xml_nested_too_deep_goes_to_failed_and_the_next_file_is_read(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    deep = poison_files.deep_xml(drop / "deep.xml")
    assert deep.stat().st_size < 41_000
    after = drop / "after.xml"
    after.write_text(GOOD_XML, encoding="utf-8")
    in_order(deep, after)
    source = connectors.load_source("files", {"folder": str(drop), "settle_seconds": 0,
                                              "record_path": "Applications/Application"}, tmp_path)
    chunks = read_all(source)
    reason = reason_of(drop, "deep.xml")
    assert "nested deeper than 64" in reason and "max_depth" in reason
    assert "1 row(s) before the problem were sent" in reason  # the good record before it
    assert [p.name for p in (drop / "processed").iterdir()] == ["after.xml"]
    assert [r.data["Ref"] for c in chunks for r in c.rows] == ["A1", "B1"]


@pytest.mark.parametrize("kind", ["json", "jsonl"])
def test_json_nested_too_deep_is_a_row_error_and_the_rest_come(tmp_path, kind):
    deep = "[" * 5000 + "]" * 5000
    path = tmp_path / f"deep.{kind}"
    if kind == "json":
        path.write_text(f'[{{"ref": "A1"}}, {{"ref": "A2", "x": {deep}}}, {{"ref": "A3"}}]', encoding="utf-8")
    else:
        path.write_text(f'{{"ref": "A1"}}\n{{"ref": "A2", "x": {deep}}}\n{{"ref": "A3"}}\n', encoding="utf-8")
    source = connectors.load_source("files", {"path": str(path)}, tmp_path)
    chunks = list(source.read(None))
    assert [r.data["ref"] for c in chunks for r in c.rows] == ["A1", "A3"]
    errors = [e for c in chunks for e in c.errors]
    assert len(errors) == 1 and "nested deeper than 64" in errors[0].message


def test_csv_line_without_end_is_a_row_error_and_the_rest_come(tmp_path):
    path = poison_files.endless_line_csv(tmp_path / "endless.csv", line_mb=3, good_rows=GOOD_ROWS[:3])
    source = connectors.load_source("spreadsheet", {"path": str(path)}, tmp_path)
    chunks = list(source.read(None))
    assert len([r for c in chunks for r in c.rows]) == 3
    (error,) = [e for c in chunks for e in c.errors]
    assert error.location == {"file": "endless.csv", "row": 2}
    assert "max_row_kb" in error.message


def test_csv_field_over_the_cap_is_a_row_error_naming_the_column(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("UPRN,NOTE\n1,short\n2," + "x" * 3000 + "\n3,short\n", encoding="utf-8")
    source = connectors.load_source("spreadsheet", {"path": str(path), "max_field_kb": 2}, tmp_path)
    chunks = list(source.read(None))
    assert [r.data["UPRN"] for c in chunks for r in c.rows] == ["1", "3"]
    (error,) = [e for c in chunks for e in c.errors]
    assert error.location["row"] == 3 and "NOTE" in error.message and "max_field_kb" in error.message


def test_caps_are_checked_options(tmp_path):
    with pytest.raises(connectors.ConnectorError, match="max_ratio"):
        connectors.load_source("spreadsheet", {"path": "x.xlsx", "max_ratio": 0}, tmp_path)
    with pytest.raises(connectors.ConnectorError, match="max_depth"):
        connectors.load_source("files", {"path": "x.xml", "max_depth": "deep"}, tmp_path)


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_a_real_agent_passes_every_poison_file_and_stays_small(tmp_path):
    hub = AgentHub(tmp_path / "hub").start()
    agent = None
    try:
        sheets, exports = tmp_path / "sheets", tmp_path / "exports"
        sheets.mkdir()
        exports.mkdir()
        poisons = [poison_files.corrupt_deflate_xlsx(sheets / "corrupt.xlsx"),
                   poison_files.malformed_xml_xlsx(sheets / "malformed.xlsx"),
                   poison_files.shared_strings_bomb_xlsx(sheets / "bomb.xlsx"),
                   poison_files.endless_line_csv(sheets / "endless.csv", line_mb=160)]
        in_order(*poisons, good_csv(sheets / "after.csv"))
        deep = poison_files.deep_xml(exports / "deep.xml")
        (exports / "after.xml").write_text(GOOD_XML, encoding="utf-8")
        in_order(deep, exports / "after.xml")

        state = tmp_path / "state"
        enrol(hub, state)
        config = write_config(tmp_path / "agent.yaml", hub.url, state, [
            {"name": "gazetteer", "direction": "publish", "dataset": "gazetteer-address",
             "connector": {"kind": "spreadsheet", "options": {"folder": str(sheets), "settle_seconds": 0}},
             "mapping": GAZETTEER_MAPPING,
             "schedule": {"interval_seconds": 2}},
            {"name": "applications", "direction": "publish", "dataset": "gazetteer-address",
             "connector": {"kind": "files", "options": {"folder": str(exports), "settle_seconds": 0,
                                                        "record_path": "Applications/Application"}},
             "mapping": {"fields": {"uprn": {"from": "Ref", "required": True}, "postcode": "Site/Postcode"}},
             "schedule": {"interval_seconds": 2}}])
        agent = start_agent(config, log_path=tmp_path / "agent.log")

        wait_until(lambda: len(hub.current("gazetteer-address")) >= len(GOOD_ROWS), timeout=240,
                   message="the good file after the poison files to reach the hub")
        wait_until(lambda: (exports / "processed" / "after.xml").exists(), timeout=60, message="the XML after the deep one")
        assert agent.poll() is None, (tmp_path / "agent.log").read_text()
        peak = peak_rss_mb(agent.pid)

        failed = sorted(p.name for p in (sheets / "failed").iterdir() if not p.name.endswith(".txt"))
        assert failed == ["bomb.xlsx", "corrupt.xlsx", "malformed.xlsx"]
        assert all((sheets / "failed" / f"{name}.reason.txt").exists() for name in failed)
        assert sorted(p.name for p in (sheets / "processed").iterdir()) == [
            "after.csv", "endless.csv", "endless.csv.errors.txt"]
        assert "max_row_kb" in (sheets / "processed" / "endless.csv.errors.txt").read_text()
        assert sorted(p.name for p in (exports / "failed").iterdir()) == ["deep.xml", "deep.xml.reason.txt"]
        assert peak < MAX_AGENT_RSS_MB, f"the agent peaked at {peak:.0f} MB"
        print(f"agent peak RSS {peak:.0f} MB")
    finally:
        if agent is not None and agent.poll() is None:
            agent.send_signal(signal.SIGTERM)
            agent.wait(timeout=30)
        hub.close()
