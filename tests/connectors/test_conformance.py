"""Every built-in connector passes the conformance suite (connectors.testing), against real
files, real SQLite and PostgreSQL databases and a real HTTP server on 127.0.0.1."""
import csv
import json
from urllib.parse import parse_qs, urlsplit

import openpyxl
import pytest
import sqlalchemy as sa

import connectors
from connectors.testing import SinkSuite, SourceSuite
from support.local_http import JsonHandler, address, serving

ROWS = 25  # with chunk_rows 10: three chunks


def write_csv(path, rows=ROWS):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["UPRN", "STREET", "TOWN"])
        writer.writerows([f"9060{i:05d}", f"{i} High Street", "Edinburgh"] for i in range(1, rows + 1))


# ---------------------------------------------------------------- spreadsheet


class TestSpreadsheetDropFolderSource(SourceSuite):
    kind = "spreadsheet"
    bad_options = [
        {},
        {"path": "a.csv", "folder": "drop"},
        {"path": "a.csv", "format": "ods"},
        {"path": "a.csv", "encoding": "klingon"},
        {"path": "a.csv", "delimiter": ";;"},
        {"path": "a.csv", "sheeet": "Return"},
        {"path": "a.csv", "chunk_rows": 0},
        {"path": "a.csv", "whole_file": "yes"},
        {"path": "a.xlsx", "max_ratio": 0},
    ]

    @pytest.fixture
    def system(self, tmp_path):
        (tmp_path / "drop").mkdir()
        write_csv(tmp_path / "drop" / "gazetteer.csv")
        return tmp_path

    def source(self, system):
        return connectors.load_source(
            "spreadsheet", {"folder": "drop", "settle_seconds": 0, "chunk_rows": 10, "identity": "UPRN"}, system)

    def broken_source(self, system):
        return connectors.load_source("spreadsheet", {"folder": "no-such-folder"}, system)


class TestSpreadsheetWorkbookSource(SourceSuite):
    kind = "spreadsheet"

    @pytest.fixture
    def system(self, tmp_path):
        workbook = openpyxl.Workbook()
        sheet = workbook.active
        sheet.title = "Return"
        sheet.append(["School", "Meals"])
        for i in range(1, ROWS + 1):
            sheet.append([f"School {i}", i * 10])
        workbook.save(tmp_path / "meals.xlsx")
        return tmp_path

    def source(self, system):
        return connectors.load_source("spreadsheet", {"path": "meals.xlsx", "sheet": "Return", "chunk_rows": 10}, system)

    def broken_source(self, system):
        return connectors.load_source("spreadsheet", {"path": "meals.xlsx", "sheet": "Summary"}, system)


def _csv_files(folder):
    return {p.name: p.read_text(encoding="utf-8-sig") for p in sorted(folder.glob("*.csv"))}


class TestSpreadsheetCsvSink(SinkSuite):
    kind = "spreadsheet"
    bad_options = [{}, {"folder": "out", "format": "ods"}, {"folder": "out", "columns": []}, {"folder": "out", "nme": "x"}]

    @pytest.fixture
    def system(self, tmp_path):
        return tmp_path

    def sink(self, system):
        return connectors.load_sink("spreadsheet", {"folder": "out"}, system)

    def written(self, system):
        return _csv_files(system / "out")

    def broken_sink(self, system):
        (system / "taken").write_text("a file, not a folder")
        return connectors.load_sink("spreadsheet", {"folder": "taken"}, system)


class TestSpreadsheetXlsxSink(TestSpreadsheetCsvSink):
    def sink(self, system):
        return connectors.load_sink("spreadsheet", {"folder": "out", "format": "xlsx"}, system)

    def written(self, system):
        # Cell values, not bytes: a workbook records the moment it was saved.
        return {p.name: [list(row) for row in openpyxl.load_workbook(p).active.iter_rows(values_only=True)]
                for p in sorted((system / "out").glob("*.xlsx"))}


# ---------------------------------------------------------------- files


class TestFilesJsonSource(SourceSuite):
    kind = "files"
    bad_options = [
        {"path": "a.json", "format": "yaml"},
        {"path": "a.json", "fields": {"ref": 3}},
        {"path": "a.json", "max_depth": "deep"},
        {"path": "a.json", "max_field_kb": 100_000},
        {"folder": "drop", "recordpath": "data"},
    ]

    @pytest.fixture
    def system(self, tmp_path):
        records = [{"ref": f"24/{i:05d}/FUL", "site": {"postcode": "EH1 1AA"}} for i in range(1, ROWS + 1)]
        (tmp_path / "export.json").write_text(json.dumps({"data": {"items": records}}), encoding="utf-8")
        return tmp_path

    def source(self, system):
        return connectors.load_source("files", {
            "path": "export.json", "record_path": "data.items", "identity": "ref", "chunk_rows": 10,
            "fields": {"ref": "ref", "postcode": "site.postcode"}}, system)

    def broken_source(self, system):
        return connectors.load_source("files", {"path": "missing.json"}, system)


class TestFilesXmlDropFolderSource(SourceSuite):
    kind = "files"

    @pytest.fixture
    def system(self, tmp_path):
        (tmp_path / "drop").mkdir()
        records = "".join(f'<Application ref="{i}"><Site><Postcode>EH1 1AA</Postcode></Site></Application>'
                          for i in range(1, ROWS + 1))
        (tmp_path / "drop" / "uniform.xml").write_text(f"<Applications>{records}</Applications>", encoding="utf-8")
        return tmp_path

    def source(self, system):
        return connectors.load_source("files", {
            "folder": "drop", "settle_seconds": 0, "record_path": "Applications/Application", "identity": "@ref",
            "chunk_rows": 10}, system)


# ---------------------------------------------------------------- sql


class TestSqlSource(SourceSuite):
    kind = "sql"
    bad_options = [
        {"table": "cases", "key": "case_id"},
        {"url": "sqlite:///x.db", "table": "cases", "query": "SELECT 1", "key": "id"},
        {"url": "not a url", "table": "cases", "key": "id"},
        {"url": "sqlite:///x.db", "table": "cases", "key": "id", "password_env": "NOT_SET_ANYWHERE"},
        {"url": "sqlite:///x.db", "table": "cases", "key": "id", "deletes": {"method": "sometimes"}},
        {"url": "sqlite:///x.db", "table": "cases", "key": "id", "deletes": {"method": "keyset"}},  # no state_dir
        {"url": "sqlite:///x.db", "table": "cases", "key": "id", "deletes": {"method": "tombstone", "table": "gone"}},
        {"url": "sqlite:///x.db", "table": "cases", "key": "id", "cursr": "updated_at"},
    ]

    @pytest.fixture
    def system(self, case_db):
        admin, url, base = case_db
        with admin.begin() as conn:
            conn.execute(sa.text("CREATE TABLE cases (case_id INTEGER PRIMARY KEY, client_ref VARCHAR(20), "
                                 "updated_at TIMESTAMP NOT NULL)"))
            conn.execute(sa.text("INSERT INTO cases VALUES (:id, :ref, '2024-03-01 09:00:00')"),
                         [{"id": i, "ref": f"CL{i:05d}"} for i in range(1, ROWS + 1)])
        return url, base

    def source(self, system):
        url, base = system
        return connectors.load_source(
            "sql", {"url": url, "table": "cases", "key": "case_id", "cursor": "updated_at", "chunk_rows": 10}, base)

    def broken_source(self, system):
        url, base = system
        return connectors.load_source("sql", {"url": url, "table": "case", "key": "case_id"}, base)


class TestSqlScanSource(TestSqlSource):
    """Without a cursor every run scans the table again: harmless, because rows come as they were."""

    def source(self, system):
        url, base = system
        return connectors.load_source("sql", {"url": url, "table": "cases", "key": "case_id", "chunk_rows": 10}, base)


class TestSqlKeysetSource(TestSqlSource):
    """With key-set deletes, every run compares keys: nothing deleted, so nothing is sent."""

    def source(self, system):
        url, base = system
        return connectors.load_source("sql", {
            "url": url, "table": "cases", "key": "case_id", "cursor": "updated_at", "chunk_rows": 10,
            "deletes": {"method": "keyset", "interval_seconds": 0}, "state_dir": "keys"}, base)


class TestSqlSink(SinkSuite):
    kind = "sql"
    bad_options = [{"url": "sqlite:///x.db"}, {"url": "sqlite:///x.db", "table": "t", "key": "id"}]

    @pytest.fixture
    def system(self, case_db):
        return case_db

    def sink(self, system):
        _, url, base = system
        return connectors.load_sink("sql", {"url": url, "table": "addresses_in"}, base)

    def written(self, system):
        admin = system[0]
        with admin.connect() as conn:
            if not sa.inspect(conn).has_table("addresses_in"):
                return []
            return [dict(r._mapping) for r in conn.execute(sa.text("SELECT * FROM addresses_in ORDER BY record_key"))]

    def broken_sink(self, system):
        _, _, base = system
        return connectors.load_sink("sql", {"url": "sqlite:///no-such-folder/inbox.db", "table": "t"}, base)


# ---------------------------------------------------------------- http

RECORDS = [{"id": f"T{i:04d}", "tenant": f"tenancy {i}"} for i in range(1, ROWS + 1)]


class HousingSystem(JsonHandler):
    """A local system's JSON API: ten records a page by next link; POSTs to /inbox kept by event id."""

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path != "/tenancies":
            return self._send(404, {"title": "Not Found"})
        page = int(parse_qs(url.query).get("page", ["1"])[0])
        more = page * 10 < len(RECORDS)
        self._send(200, {"data": RECORDS[(page - 1) * 10: page * 10],
                         "next": f"/tenancies?page={page + 1}" if more else None})

    def do_POST(self):
        body = self._body()
        for event in body if isinstance(body, list) else [body]:
            self.server.received[event["id"]] = event  # a receiver de-duplicates by event id
        self._send(202, {})


@pytest.fixture
def housing():
    with serving(HousingSystem) as server:
        server.received = {}
        yield server


class TestHttpSource(SourceSuite):
    kind = "http"
    bad_options = [
        {},
        {"url": "ftp://example.org/"},
        {"url": "http://127.0.0.1/", "paging": "pages"},
        {"url": "http://127.0.0.1/", "since_param": "since"},
        {"url": "http://127.0.0.1/", "auth_env": "NOT_SET_ANYWHERE"},
        {"url": "http://127.0.0.1/", "timeout": 0},
    ]

    @pytest.fixture
    def system(self, housing, tmp_path):
        return housing, tmp_path

    def source(self, system):
        server, base = system
        return connectors.load_source("http", {"url": address(server, "/tenancies"), "records_path": "data"}, base)

    def broken_source(self, system):
        server, base = system
        return connectors.load_source("http", {"url": address(server, "/nowhere")}, base)


class TestHttpSink(SinkSuite):
    kind = "http"
    bad_options = [{"batch": True}, {"url": "file:///etc/passwd"}, {"url": "http://127.0.0.1/", "batch": "yes"}]

    @pytest.fixture
    def system(self, housing, tmp_path):
        return housing, tmp_path

    def sink(self, system):
        server, base = system
        return connectors.load_sink("http", {"url": address(server, "/inbox"), "batch": False}, base)

    def written(self, system):
        return dict(system[0].received)
