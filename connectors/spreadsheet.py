"""Spreadsheets kept by service teams: CSV and XLSX, as a source and as a sink.

Source options
  path | folder     one file, or a drop folder whose new files are each read once
                    and then moved to processed/ (or failed/ with <name>.reason.txt)
  pattern           drop-folder file pattern (default "*")
  settle_seconds    leave files younger than this alone: they may still be copying (default 10)
  format            csv | xlsx | auto (auto: by file extension)
  sheet             XLSX sheet name, or its position counting from 1 (default: the first)
  header_row        the row holding the column names, counted from 1 (default 1)
  encoding          CSV text encoding; auto = UTF-8 (with or without BOM), else cp1252
  delimiter         CSV delimiter; auto = sniffed among , ; tab |
  identity          column(s) identifying a row; default: file name + row number
  snapshot          true: each file is the whole data set; keys sent before and missing
                    from it become deletes (needs identity; connectors.snapshots)
  max_delete_percent  with snapshot: refuse a file that would delete more than this share
                    of the keys (default 10)
  whole_file        true: one chunk per file (one workbook = one data return)
  chunk_rows        rows per chunk (default 2000)
  max_row_kb, max_field_kb, max_unpacked_mb, max_part_mb, max_ratio
                    caps that keep a hostile file from exhausting memory (connectors.limits)

Rows are numbered as Excel shows them: the header is row `header_row` (1 by
default) and the first data row the one after it, for CSV files too (a quoted
value spanning lines still counts as one row).
"""
from __future__ import annotations

import codecs
import csv
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from xml.etree.ElementTree import ParseError

import openpyxl
from defusedxml import DefusedXmlException
from openpyxl.utils import get_column_letter

from causeway_common.cells import csv_row, xlsx_cell

from .base import Chunk, ConnectorError, RowError, SourceRow, event_sequence
from .base import Sink as BaseSink
from .base import Source as BaseSource
from .filesets import FileSet
from .limits import BoundedLines, CsvLimits, LineTooLong, XlsxLimits

DEFAULT_CSV_LIMITS = CsvLimits()
DEFAULT_XLSX_LIMITS = XlsxLimits()
from .options import Options, content_version

XLSX_SUFFIXES = (".xlsx", ".xlsm")
EXCEL_ERRORS = frozenset({"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#SPILL!", "#CALC!"})
SNIFF_BYTES = 64 * 1024


# ---------------------------------------------------------------- reading CSV


def detect_encoding(path: Path) -> str:
    """utf-8-sig when the whole file is valid UTF-8 (a BOM is dropped), else cp1252 as Excel writes it.

    The whole file is checked in blocks, because a cp1252 '£' may first appear
    a million rows in."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with open(path, "rb") as handle:
        try:
            for block in iter(lambda: handle.read(1 << 20), b""):
                decoder.decode(block)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


def sniff_delimiter(path: Path, encoding: str) -> str:
    with open(path, encoding=encoding, errors="replace", newline="") as handle:
        sample = handle.read(SNIFF_BYTES)
    if len(sample) == SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # a cut-off last line confuses the sniffer
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def csv_table(path: Path, encoding: str, delimiter: str,
              limits: CsvLimits = DEFAULT_CSV_LIMITS) -> Iterator[tuple[int, list]]:
    """(row number, values) for every record, numbered from 1 like spreadsheet rows.

    No line longer than max_row_kb is ever held: it becomes a row error and the next is read."""
    encoding = detect_encoding(path) if encoding == "auto" else encoding
    delimiter = sniff_delimiter(path, encoding) if delimiter == "auto" else delimiter
    with open(path, encoding=encoding, newline="") as handle:
        reader = csv.reader(BoundedLines(handle, limits.max_row_kb * 1024), delimiter=delimiter)
        number = 0
        while True:
            number += 1
            try:
                values = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError as exc:
                raise ConnectorError(f"{path.name}: row {number} cannot be decoded as {encoding}: {exc.reason}") from exc
            except LineTooLong:
                yield number, RowError({"file": path.name, "row": number},
                                       f"row is longer than {limits.max_row_kb} KB (max_row_kb); skipped")
                continue
            except csv.Error as exc:
                message = f"unreadable CSV row: {exc}"
                if "field larger than field limit" in str(exc):
                    message = f"a value is longer than {limits.max_field_kb} KB (max_field_kb)"
                yield number, RowError({"file": path.name, "row": number}, message)
                continue
            yield number, values


# ---------------------------------------------------------------- reading XLSX


# What a damaged workbook raises from deep inside zipfile, zlib and the XML parser.
DAMAGED_WORKBOOK = (zipfile.BadZipFile, zlib.error, EOFError)


def workbook_error(path: Path, exc: Exception) -> ConnectorError:
    if isinstance(exc, DAMAGED_WORKBOOK):
        return ConnectorError(f"{path.name}: the workbook is damaged ({type(exc).__name__}: {exc})")
    if isinstance(exc, ParseError):
        return ConnectorError(f"{path.name}: the workbook's XML is not well-formed ({exc})")
    if isinstance(exc, DefusedXmlException):
        return ConnectorError(f"{path.name}: refused: the workbook's XML declares entities or external references")
    return ConnectorError(f"{path.name}: not a readable XLSX workbook ({type(exc).__name__}: {exc})")


def open_sheet(path: Path, sheet, limits: XlsxLimits = DEFAULT_XLSX_LIMITS):
    limits.check(path)  # before anything is unpacked
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (*DAMAGED_WORKBOOK, ParseError, DefusedXmlException, KeyError, OSError, ValueError, TypeError,
            RecursionError) as exc:
        raise workbook_error(path, exc) from None
    names = workbook.sheetnames
    if sheet is None:
        return workbook, workbook.worksheets[0]
    if isinstance(sheet, int):
        if not 1 <= sheet <= len(names):
            workbook.close()
            raise ConnectorError(f"{path.name}: has {len(names)} sheet(s), so there is no sheet number {sheet}")
        return workbook, workbook.worksheets[sheet - 1]
    if sheet not in names:
        workbook.close()
        raise ConnectorError(f"{path.name}: no sheet named {sheet!r} (sheets: {', '.join(names)})")
    return workbook, workbook[sheet]


def _sheet_rows(path: Path, worksheet) -> Iterator[tuple[int, list]]:
    try:
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    except (*DAMAGED_WORKBOOK, ParseError, DefusedXmlException, KeyError, ValueError, TypeError,
            RecursionError) as exc:
        raise workbook_error(path, exc) from None


@contextmanager
def opened_table(path: Path, is_xlsx: bool, sheet, encoding: str, delimiter: str,
                 csv_limits: CsvLimits = DEFAULT_CSV_LIMITS, xlsx_limits: XlsxLimits = DEFAULT_XLSX_LIMITS):
    """(sheet name or None, iterator of (row number, values)) for a CSV file or an XLSX sheet.

    XLSX sheets stream in read-only mode; formula cells give the value Excel
    last calculated."""
    if not is_xlsx:
        table = csv_table(path, encoding, delimiter, csv_limits)
        try:
            yield None, table
        finally:
            table.close()
        return
    workbook, worksheet = open_sheet(path, sheet, xlsx_limits)
    try:
        yield worksheet.title, _sheet_rows(path, worksheet)
    finally:
        workbook.close()


# ---------------------------------------------------------------- rows from a table


def _header_columns(header: list, where: str) -> list[tuple[str, int]]:
    columns, seen = [], {}
    for index, raw in enumerate(header):
        name = "" if raw is None else str(raw).strip()
        if not name:
            continue  # an unnamed column is not data anyone described
        if name in seen:
            raise ConnectorError(
                f"{where}: column {name!r} appears twice in the header "
                f"(columns {get_column_letter(seen[name] + 1)} and {get_column_letter(index + 1)})"
            )
        seen[name] = index
        columns.append((name, index))
    if not columns:
        raise ConnectorError(f"{where}: the header row is empty")
    return columns


def _blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


class TableReader:
    """Turns (row number, values) into SourceRows or RowErrors, one per data row."""

    def __init__(self, file_name: str, sheet: str | None, header_row: int, identity: list[str] | None, excel: bool,
                 limits: CsvLimits = DEFAULT_CSV_LIMITS):
        self.limits = limits
        self.file_name = file_name
        self.sheet = sheet
        self.header_row = header_row
        self.identity = identity
        self.excel = excel
        self._identity_prefix = f"{file_name}#{sheet + '!' if sheet else ''}"

    def where(self, row: int | None = None) -> str:
        text = self.file_name + (f" sheet {self.sheet!r}" if self.sheet else "")
        return text + (f" row {row}" if row else "")

    def location(self, row: int) -> dict:
        location = {"file": self.file_name, "row": row}
        if self.sheet:
            location["sheet"] = self.sheet
        return location

    def items(self, table: Iterator[tuple[int, list]]) -> Iterator[SourceRow | RowError]:
        columns = None
        for number, values in table:
            if isinstance(values, RowError):
                if columns is not None:
                    yield values
                continue
            if number < self.header_row:
                continue
            if columns is None:
                columns = _header_columns(values, self.where(number))
                self._check_identity(columns, number)
                width = max(index for _, index in columns) + 1
                continue
            if self._is_blank(values):
                continue  # blank lines and Excel's trailing empty rows
            yield self._row(number, values, columns, width)
        if columns is None:
            raise ConnectorError(f"{self.where()}: no header row (the file has fewer than {self.header_row} row(s))")

    def _is_blank(self, values: list) -> bool:
        if self.excel:
            return all(_blank(v) for v in values)
        return not "".join(values).strip()  # CSV values are all text: one C-speed test

    def _check_identity(self, columns, number):
        if self.identity:
            names = {name for name, _ in columns}
            missing = [c for c in self.identity if c not in names]
            if missing:
                raise ConnectorError(
                    f"{self.where(number)}: identity column(s) {', '.join(map(repr, missing))} not in the header"
                )

    def _row(self, number: int, values: list, columns, width: int) -> SourceRow | RowError:
        if len(values) > width:
            extra = [v for v in values[width:] if not _blank(v)]
            if extra:
                return RowError(
                    self.location(number),
                    f"row has {len(values)} values but the header names {len(columns)} columns "
                    f"(extra value {extra[0]!r})",
                    {"values": [str(v) for v in values]},
                )
        elif len(values) < width:
            values = values + [None] * (width - len(values))
        data = {name: values[index] for name, index in columns}
        for name, index in columns:
            value = data[name]
            if isinstance(value, str) and len(value) > self.limits.max_field_chars:
                return RowError(self.location(number),
                                f"cell {get_column_letter(index + 1)}{number} ({name}) is longer than "
                                f"{self.limits.max_field_kb} KB (max_field_kb)")
        if self.excel:
            for name, index in columns:
                if isinstance(data[name], str) and data[name] in EXCEL_ERRORS:
                    return RowError(
                        self.location(number),
                        f"cell {get_column_letter(index + 1)}{number} ({name}) holds the Excel error {data[name]}",
                        _printable(data),
                    )
        if self.identity:
            identity = self.file_name + "#" + "|".join(str(data[c]) for c in self.identity)
        else:
            identity = self._identity_prefix + str(number)
        return SourceRow(data, self.location(number), identity, content_version(data))


def _printable(data: dict) -> dict:
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v)) for k, v in data.items()}


# ---------------------------------------------------------------- source


class Source(BaseSource):
    def __init__(self, options: dict, base_dir=None):
        super().__init__(options, base_dir)
        opts = Options("spreadsheet source", options, self.base_dir)
        self.identity = opts.str_list("identity", None)
        self.files = FileSet(opts, default_pattern="*", identity=self.identity)
        self.format = opts.choice("format", ("auto", "csv", "xlsx"), "auto")
        sheet = opts._get("sheet", None)
        if sheet is not None and (isinstance(sheet, bool) or not isinstance(sheet, (str, int))):
            raise opts.fail("sheet", f"must be a sheet name or number, not {sheet!r}")
        self.sheet = sheet
        self.header_row = opts.int("header_row", 1, minimum=1)
        self.encoding = opts.str("encoding", "auto")
        if self.encoding != "auto":
            try:
                codecs.lookup(self.encoding)
            except LookupError:
                raise opts.fail("encoding", f"names an unknown encoding {self.encoding!r}") from None
        self.delimiter = opts.str("delimiter", "auto")
        if self.delimiter != "auto" and len(self.delimiter) != 1:
            raise opts.fail("delimiter", f"must be one character or 'auto', not {self.delimiter!r}")
        self.whole_file = opts.bool("whole_file", False)
        self.chunk_rows = opts.int("chunk_rows", 2000, minimum=1)
        self.csv_limits = CsvLimits.from_options(opts)
        self.xlsx_limits = XlsxLimits.from_options(opts)
        opts.finish()

    def _table(self, path: Path):
        return opened_table(path, self._is_xlsx(path), self.sheet, self.encoding, self.delimiter,
                            self.csv_limits, self.xlsx_limits)

    def _is_xlsx(self, path: Path) -> bool:
        if self.format == "auto":
            return path.suffix.lower() in XLSX_SUFFIXES
        return self.format == "xlsx"

    def read_items(self, path: Path) -> Iterator[SourceRow | RowError]:
        with self._table(path) as (sheet_name, table):
            reader = TableReader(path.name, sheet_name, self.header_row, self.identity, excel=self._is_xlsx(path),
                                 limits=self.csv_limits)
            yield from reader.items(table)

    def columns(self) -> list[str] | None:
        """The header of the file (or the first waiting drop-folder file), for checking the mapping."""
        pending = self.files.pending()
        if not pending:
            return None
        path = pending[0]
        with self._table(path) as (sheet_name, table):
            where = path.name + (f" sheet {sheet_name!r}" if sheet_name else "")
            for number, values in table:
                if number == self.header_row and not isinstance(values, RowError):
                    return [name for name, _ in _header_columns(values, f"{where} row {number}")]
        raise ConnectorError(f"{path.name}: no header row (the file has fewer than {self.header_row} row(s))")

    def check(self) -> str:
        description = self.files.check()
        self.columns()  # opens the first file: a wrong sheet or an unreadable file shows now
        return f"spreadsheet {description}"

    def read(self, checkpoint: dict | None) -> Iterator[Chunk]:
        chunk_rows = 2**62 if self.whole_file else self.chunk_rows
        return self.files.read(checkpoint, self.read_items, chunk_rows)


# ---------------------------------------------------------------- sink


class Sink(BaseSink):
    """Writes each delivered batch as one CSV or XLSX file in a folder.

    Options: folder, format (csv | xlsx, default csv), columns (payload fields
    in order; default: every field seen in the batch, in first-seen order),
    name (file name pattern; default "{dataset}-{first}-{last}", sequences of
    the batch). A re-delivered batch gets the same name and replaces the file,
    so writing is idempotent; the file appears whole (temp file + os.replace).
    No cell is ever a formula: text is written as text, and text that a
    spreadsheet would run (=, +, -, @, tab, CR, LF first) is neutralised
    (causeway_common.cells)."""

    META_COLUMNS = ["op", "key", "sequence", "time"]

    def __init__(self, options: dict, base_dir=None):
        super().__init__(options, base_dir)
        opts = Options("spreadsheet sink", options, self.base_dir)
        self.folder = opts.path("folder")
        self.format = opts.choice("format", ("csv", "xlsx"), "csv")
        self.columns = opts.str_list("columns", None)
        self.name = opts.str("name", "{dataset}-{first}-{last}")
        opts.finish()

    def check(self) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        if not os.access(self.folder, os.W_OK):
            raise ConnectorError(f"spreadsheet sink: cannot write to {self.folder}")
        return f"spreadsheet sink writing {self.format.upper()} files to {self.folder}"

    def write(self, events: list[dict]) -> None:
        if not events:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        columns = self.columns or _payload_fields(events)
        header = self.META_COLUMNS + columns
        rows = [_event_row(event, columns) for event in events]
        sequences = [event_sequence(e) for e in events]
        name = self.name.format(
            dataset=events[0].get("dataset", "records"), first=sequences[0], last=sequences[-1]
        ) + "." + self.format
        target = self.folder / name
        handle, temp = tempfile.mkstemp(dir=self.folder, prefix=f".{name}.", suffix=".tmp")
        os.close(handle)
        try:
            if self.format == "csv":
                with open(temp, "w", encoding="utf-8-sig", newline="") as out:  # BOM: Excel then reads £ right
                    writer = csv.writer(out)
                    writer.writerow(csv_row(header))
                    writer.writerows(csv_row(row) for row in rows)
                    out.flush()
                    os.fsync(out.fileno())
            else:
                workbook = openpyxl.Workbook(write_only=True)
                sheet = workbook.create_sheet("records")
                for row in [header, *rows]:
                    sheet.append([xlsx_cell(sheet, value) for value in row])
                workbook.save(temp)
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise


def _payload_fields(events: list[dict]) -> list[str]:
    seen: dict[str, None] = {}
    for event in events:
        for name in event.get("data") or {}:
            seen.setdefault(name, None)
    return list(seen)


def _event_row(event: dict, columns: list[str]) -> list:
    op = "delete" if str(event.get("type", "")).endswith(".delete") else "upsert"
    data = event.get("data") or {}
    return [op, event.get("subject"), event_sequence(event), event.get("time")] + [
        _cell(data.get(name)) for name in columns
    ]


def _cell(value):
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value
