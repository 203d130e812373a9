"""The spreadsheet connector on real CSV and XLSX files."""
import csv
import os
import re
import subprocess
import sys
import time
import zipfile
from datetime import date, datetime

import openpyxl
import pytest

import connectors
from agents.mapping import Mapper
from connectors import ConnectorError


def rows_of(chunks):
    return [row for chunk in chunks for row in chunk.rows]


def read_all(source, checkpoint=None):
    """Read like the agent does: commit each chunk, then call on_commit; return chunks and last checkpoint."""
    chunks = []
    for chunk in source.read(checkpoint):
        chunks.append(chunk)
        checkpoint = chunk.checkpoint
        if chunk.on_commit:
            chunk.on_commit()
    return chunks, checkpoint


def source(tmp_path, **options):
    return connectors.load_source("spreadsheet", {"settle_seconds": 0, **options}, tmp_path)


def make_workbook(path, formula_value):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "Summary"
    sheet["A1"] = "This sheet is a cover note"
    data = workbook.create_sheet("Returns")
    data.append(["Return for Fife Council, term 1"])  # a title row above the header
    data.append(["School", "Pupils", "Meals", "Return date", "Typed date"])
    data.append(["Kirkcaldy High", 1204, None, date(2024, 3, 1), "01/03/2024"])
    data["C3"] = "=B3*2"
    data.append(["Auchmuty High", 890, 1500, 45352, "02/03/2024"])
    workbook.save(path)
    # openpyxl writes formulas without a value; Excel always stores the last
    # calculated one, so put it in as Excel would.
    with zipfile.ZipFile(path) as original:
        parts = {name: original.read(name) for name in original.namelist()}
    sheet_xml = parts["xl/worksheets/sheet2.xml"].decode()
    sheet_xml, count = re.subn(r"<f>B3\*2</f><v\s*/>", f"<f>B3*2</f><v>{formula_value}</v>", sheet_xml)
    assert count == 1
    parts["xl/worksheets/sheet2.xml"] = sheet_xml.encode()
    with zipfile.ZipFile(path, "w") as rewritten:
        for name, content in parts.items():
            rewritten.writestr(name, content)


def test_xlsx_chosen_sheet_header_row_formula_and_dates(tmp_path):
    make_workbook(tmp_path / "meals.xlsx", 2408)
    src = source(tmp_path, path="meals.xlsx", sheet="Returns", header_row=2)
    assert "meals.xlsx" in src.check()
    assert src.columns() == ["School", "Pupils", "Meals", "Return date", "Typed date"]
    chunks, checkpoint = read_all(src)
    rows = rows_of(chunks)
    assert [r.data["School"] for r in rows] == ["Kirkcaldy High", "Auchmuty High"]
    first = rows[0]
    assert first.data["Meals"] == 2408  # the formula's value, not "=B3*2"
    assert first.data["Return date"] == datetime(2024, 3, 1)
    assert first.location == {"file": "meals.xlsx", "sheet": "Returns", "row": 3}
    assert checkpoint["complete"] and checkpoint["rows_done"] == 2

    mapper = Mapper({
        "dataset": "data-return.school-meals",
        "key": "school",
        "fields": {
            "school": {"from": "School"},
            "meals": {"from": "Meals", "convert": ["integer"]},
            "returned": {"from": "Return date", "convert": [{"date": ["%d/%m/%Y", "excel"]}]},
            "typed": {"from": "Typed date", "convert": ["date"]},
        },
    })
    mapped = [mapper.map(r)[0] for r in rows]
    assert mapped[0]["returned"] == "2024-03-01" and mapped[0]["typed"] == "2024-03-01"
    assert mapped[1]["returned"] == "2024-03-01"  # a date typed as a bare Excel serial
    assert mapped[1]["typed"] == "2024-03-02"


def test_xlsx_missing_sheet_is_named(tmp_path):
    make_workbook(tmp_path / "meals.xlsx", 2408)
    with pytest.raises(ConnectorError, match=r"meals.xlsx: no sheet named 'Data' \(sheets: Summary, Returns\)"):
        source(tmp_path, path="meals.xlsx", sheet="Data").check()


def test_xlsx_error_cell_is_reported_and_the_rest_still_come(tmp_path):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["School", "Pupils"])
    sheet.append(["A", 1])
    sheet.append(["B", "#DIV/0!"])
    sheet.append(["C", 3])
    workbook.save(tmp_path / "r.xlsx")
    chunks, _ = read_all(source(tmp_path, path="r.xlsx"))
    assert [r.data["School"] for r in rows_of(chunks)] == ["A", "C"]
    errors = [e for c in chunks for e in c.errors]
    assert errors[0].location == {"file": "r.xlsx", "sheet": "Sheet", "row": 3}
    assert "cell B3 (Pupils) holds the Excel error #DIV/0!" in errors[0].message


def test_cp1252_csv_with_pound_and_accents(tmp_path):
    text = "Name,Amount,Town\r\nRenée Müller,£1,250.00,Perth\r\nSeán Ó Briain,£75,Stirling\r\n"
    (tmp_path / "payments.csv").write_bytes(text.replace("£1,250.00", '"£1,250.00"').encode("cp1252"))
    rows = rows_of(read_all(source(tmp_path, path="payments.csv"))[0])
    assert [r.data["Name"] for r in rows] == ["Renée Müller", "Seán Ó Briain"]
    assert rows[0].data["Amount"] == "£1,250.00"
    assert rows[0].location == {"file": "payments.csv", "row": 2}  # header is row 1


def test_utf8_bom_does_not_leak_into_the_first_column_name(tmp_path):
    (tmp_path / "bom.csv").write_text("UPRN,Postcode\n906700000001,EH1 1YZ\n", encoding="utf-8-sig")
    src = source(tmp_path, path="bom.csv")
    assert src.columns() == ["UPRN", "Postcode"]
    assert rows_of(read_all(src)[0])[0].data == {"UPRN": "906700000001", "Postcode": "EH1 1YZ"}


def test_semicolon_delimiter_is_sniffed(tmp_path):
    (tmp_path / "semi.csv").write_text("UPRN;Street;Amount\n1;High Street;1,50\n2;Low Road;2,75\n", encoding="utf-8")
    rows = rows_of(read_all(source(tmp_path, path="semi.csv"))[0])
    assert rows[1].data == {"UPRN": "2", "Street": "Low Road", "Amount": "2,75"}


def test_bad_rows_are_reported_with_file_and_row_while_good_rows_still_come(tmp_path):
    (tmp_path / "mixed.csv").write_text(
        "UPRN,Street\n1,High Street\n2,Low Road,EXTRA\n\n3,Mill Lane\n", encoding="utf-8"
    )
    chunks, _ = read_all(source(tmp_path, path="mixed.csv", delimiter=","))
    assert [r.data["UPRN"] for r in rows_of(chunks)] == ["1", "3"]
    assert [r.location["row"] for r in rows_of(chunks)] == [2, 5]  # the blank row 4 still counts
    (error,) = [e for c in chunks for e in c.errors]
    assert error.location == {"file": "mixed.csv", "row": 3}
    assert "header names 2 columns" in error.message and "'EXTRA'" in error.message


def test_duplicate_header_is_refused_with_columns(tmp_path):
    (tmp_path / "dup.csv").write_text("Name,Town,Name\na,b,c\n", encoding="utf-8")
    with pytest.raises(ConnectorError, match=r"dup.csv row 1: column 'Name' appears twice in the header \(columns A and C\)"):
        list(source(tmp_path, path="dup.csv").read(None))


def test_single_file_resumes_from_checkpoint_and_skips_a_finished_file(tmp_path):
    lines = ["UPRN,Street"] + [f"{i},Street {i}" for i in range(1, 26)]
    (tmp_path / "g.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    src = source(tmp_path, path="g.csv", chunk_rows=10)
    chunks = list(src.read(None))
    assert [len(c.rows) for c in chunks] == [10, 10, 5]
    assert [c.checkpoint["complete"] for c in chunks] == [False, False, True]
    # a crash after the first chunk was committed: the re-run starts at row 12
    resumed = rows_of(src.read(chunks[0].checkpoint))
    assert [r.data["UPRN"] for r in resumed] == [str(i) for i in range(11, 26)]
    assert [r.identity for r in resumed] == [r.identity for r in rows_of(chunks[1:])]
    assert rows_of(src.read(chunks[-1].checkpoint)) == []  # nothing new
    # a changed file is read again; unchanged rows keep identity and version (so the same record ids)
    (tmp_path / "g.csv").write_text("\n".join(lines[:-1] + ["25,Street 25 changed"]) + "\n", encoding="utf-8")
    again = rows_of(src.read(chunks[-1].checkpoint))
    first = rows_of(chunks)
    assert len(again) == 25
    assert [(r.identity, r.version) for r in again[:24]] == [(r.identity, r.version) for r in first[:24]]
    assert again[24].version != first[24].version


def test_drop_folder_moves_files_to_processed_and_failed_with_reasons(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("Gazetteer extract\nUPRN,Street\n1,High Street\n2,Low Road,EXTRA\n", encoding="utf-8")
    time.sleep(0.01)
    (drop / "b.csv").write_text("", encoding="utf-8")  # empty: no header
    time.sleep(0.01)
    make_workbook(drop / "c.xlsx", 10)
    (drop / "~$c.xlsx").write_bytes(b"lock file Excel leaves open")
    src = source(tmp_path, folder="drop", sheet="Returns", header_row=2)
    assert "3 file(s) waiting" in src.check()

    chunks, _ = read_all(src)
    rows = rows_of(chunks)
    assert [(r.location["file"], r.location["row"]) for r in rows] == [("a.csv", 3), ("c.xlsx", 3), ("c.xlsx", 4)]
    assert sorted(p.name for p in (drop / "processed").iterdir()) == ["a.csv", "a.csv.errors.txt", "c.xlsx"]
    assert sorted(p.name for p in (drop / "failed").iterdir()) == ["b.csv", "b.csv.reason.txt"]
    assert "no header row" in (drop / "failed" / "b.csv.reason.txt").read_text()
    assert "row 4: row has 3 values" in (drop / "processed" / "a.csv.errors.txt").read_text()
    assert (drop / "~$c.xlsx").exists()  # never touched
    # each file is processed once
    assert rows_of(read_all(src)[0]) == []


def test_drop_folder_file_committed_but_not_moved_is_not_sent_again(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.csv").write_text("UPRN\n1\n2\n", encoding="utf-8")
    src = source(tmp_path, folder="drop")
    (chunk,) = list(src.read(None))  # committed, then the agent died before on_commit
    assert len(chunk.rows) == 2 and (drop / "a.csv").exists()
    chunks, _ = read_all(src, chunk.checkpoint)
    assert rows_of(chunks) == []
    assert (drop / "processed" / "a.csv").exists()


def test_drop_folder_leaves_files_that_are_still_arriving(tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "new.csv").write_text("UPRN\n1\n", encoding="utf-8")
    src = connectors.load_source("spreadsheet", {"folder": "drop", "settle_seconds": 60}, tmp_path)
    assert list(src.read(None)) == []
    old = time.time() - 120
    os.utime(drop / "new.csv", (old, old))
    assert len(rows_of(read_all(src)[0])) == 1


def test_whole_file_mode_gives_one_chunk_per_return(tmp_path):
    drop = tmp_path / "returns"
    drop.mkdir()
    for name in ("fife.csv", "perth.csv"):
        (drop / name).write_text("School,Meals\n" + "".join(f"S{i},{i}\n" for i in range(3000)), encoding="utf-8")
    chunks, _ = read_all(source(tmp_path, folder="returns", whole_file=True, chunk_rows=100))
    assert [(c.rows[0].location["file"], len(c.rows)) for c in chunks] == [("fife.csv", 3000), ("perth.csv", 3000)]


@pytest.mark.parametrize(
    "options, message",
    [
        ({}, "exactly one of 'path'"),
        ({"path": "a.csv", "folder": "x"}, "exactly one of 'path'"),
        ({"path": "a.csv", "format": "ods"}, "option 'format' must be one of"),
        ({"path": "a.csv", "encoding": "klingon"}, "unknown encoding"),
        ({"path": "a.csv", "sheeet": "x"}, "unknown option 'sheeet'"),
        ({"path": "a.csv", "chunk_rows": 0}, "'chunk_rows' must be at least 1"),
    ],
)
def test_option_mistakes_are_named(tmp_path, options, message):
    with pytest.raises(ConnectorError, match=message):
        connectors.load_source("spreadsheet", options, tmp_path)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConnectorError, match="not found"):
        source(tmp_path, path="absent.csv").check()


PEAK_MEMORY_SCRIPT = """
import resource, sys
import connectors
source = connectors.load_source("spreadsheet", {"path": sys.argv[1], "chunk_rows": 5000, "settle_seconds": 0})
count = sum(len(chunk.rows) for chunk in source.read(None))
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_addresses(path, uprns):
    path.write_text("UPRN,Street\n" + "".join(f"{u},High Street\n" for u in uprns), encoding="utf-8")


def test_snapshot_of_one_file_refuses_a_truncated_export_until_the_limit_is_raised(tmp_path):
    export = tmp_path / "gazetteer.csv"
    options = {"path": "gazetteer.csv", "identity": "UPRN", "snapshot": True, "state_dir": "state"}
    write_addresses(export, range(100, 120))
    chunks, checkpoint = read_all(source(tmp_path, **options))
    assert len(rows_of(chunks)) == 20 and chunks[-1].checkpoint["complete"]

    write_addresses(export, range(100, 115))  # five of twenty gone: 25 %
    sent, checkpoint_seen = [], checkpoint
    with pytest.raises(ConnectorError, match=r"gazetteer.csv: refused as a snapshot: it would delete 5 of the 20 "
                                             r"keys sent before \(25.0%\).*raise max_delete_percent"):
        for chunk in source(tmp_path, **options).read(checkpoint):
            sent += chunk.rows
            checkpoint_seen = chunk.checkpoint
            if chunk.on_commit:
                chunk.on_commit()
    assert sent == [] and not checkpoint_seen.get("complete")  # unchanged rows are not sent, nothing deleted

    chunks, checkpoint = read_all(source(tmp_path, max_delete_percent=25, **options), checkpoint_seen)
    deleted = [(r.op, r.data) for r in rows_of(chunks)]
    assert deleted == [("delete", {"UPRN": str(u)}) for u in range(115, 120)]
    assert checkpoint["complete"]
    assert rows_of(read_all(source(tmp_path, **options), checkpoint)[0]) == []


def test_snapshot_keys_rows_by_identity_alone_across_file_names(tmp_path):
    options = {"folder": ".", "pattern": "*.csv", "identity": "UPRN", "snapshot": True, "state_dir": "state"}
    write_addresses(tmp_path / "monday.csv", [1, 2, 3])
    first = rows_of(read_all(source(tmp_path, **options))[0])
    write_addresses(tmp_path / "tuesday.csv", [1, 2, 3, 4])
    second = rows_of(read_all(source(tmp_path, **options))[0])
    assert [r.identity for r in second] == ['["4"]'] and first[0].identity == '["1"]'


@pytest.mark.parametrize("options, message", [
    ({"snapshot": True, "state_dir": "s"}, "option 'snapshot' needs 'identity'"),
    ({"snapshot": True, "identity": "UPRN"}, "option 'snapshot' needs 'state_dir'"),
    ({"max_delete_percent": 50}, "option 'max_delete_percent' applies only with snapshot: true"),
])
def test_snapshot_option_mistakes_are_named(tmp_path, options, message):
    write_addresses(tmp_path / "a.csv", [1])
    with pytest.raises(ConnectorError, match=re.escape(message)):
        source(tmp_path, path="a.csv", **options)


def peak_memory_reading(path):
    result = subprocess.run([sys.executable, "-c", PEAK_MEMORY_SCRIPT, str(path)], capture_output=True, text=True, check=True)
    count, peak_kb = result.stdout.split()
    return int(count), int(peak_kb)


@pytest.mark.e2e
def test_a_million_row_csv_streams_in_bounded_memory(tmp_path):
    def write(path, rows):
        with open(path, "w", encoding="cp1252", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(["UPRN", "Street", "Town", "Amount"])
            for i in range(rows):
                writer.writerow([906700000000 + i, f"{i} High Street", "Dunfermline", "£12.50"])

    write(tmp_path / "small.csv", 10_000)
    write(tmp_path / "big.csv", 1_000_000)  # about 50 MB
    small_count, small_peak = peak_memory_reading(tmp_path / "small.csv")
    big_count, big_peak = peak_memory_reading(tmp_path / "big.csv")
    assert (small_count, big_count) == (10_000, 1_000_000)
    # a hundred times the rows costs no more than a few chunks' worth of memory
    assert big_peak - small_peak < 25 * 1024, f"peak grew from {small_peak} kB to {big_peak} kB"


def test_sink_writes_csv_and_xlsx_atomically_and_idempotently(tmp_path):
    events = [  # the hub sends sequence zero-padded; files and cells show the number
        {"type": "uk.causeway.record.upsert", "subject": "1", "sequence": "00000000000000000007", "time": "2024-03-01T10:00:00Z",
         "dataset": "gazetteer-address", "data": {"uprn": "1", "town": "Perth £"}},
        {"type": "uk.causeway.record.delete", "subject": "2", "sequence": "00000000000000000008",
         "time": "2024-03-01T10:01:00Z",
         "dataset": "gazetteer-address", "data": None},
    ]
    sink = connectors.load_sink("spreadsheet", {"folder": "out"}, tmp_path)
    assert "out" in sink.check()
    sink.write(events)
    sink.write(events)  # re-delivery replaces the same file
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == ["gazetteer-address-7-8.csv"]
    with open(tmp_path / "out" / files[0], encoding="utf-8-sig", newline="") as handle:
        assert list(csv.reader(handle)) == [
            ["op", "key", "sequence", "time", "uprn", "town"],
            ["upsert", "1", "7", "2024-03-01T10:00:00Z", "1", "Perth £"],
            ["delete", "2", "8", "2024-03-01T10:01:00Z", "", ""],
        ]
    xlsx = connectors.load_sink("spreadsheet", {"folder": "out", "format": "xlsx", "columns": ["town"]}, tmp_path)
    xlsx.write(events)
    sheet = openpyxl.load_workbook(tmp_path / "out" / "gazetteer-address-7-8.xlsx").active
    assert [c.value for c in sheet[1]] == ["op", "key", "sequence", "time", "town"]
    assert sheet["E2"].value == "Perth £"
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]
