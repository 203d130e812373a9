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
from collections.abc import Generator, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, cast
from xml.etree.ElementTree import ParseError

import openpyxl
from defusedxml import DefusedXmlException
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from causeway_common.cells import csv_row, xlsx_cell

from .base import Chunk, ConnectorError, RowError, SourceRow, event_sequence
from .base import Sink as BaseSink
from .base import Source as BaseSource
from .filesets import FILESET_OPTIONS, ONE_FILE_OR_FOLDER, FileSet
from .limits import CSV_LIMIT_OPTIONS, XLSX_LIMIT_OPTIONS, BoundedLines, CsvLimits, LineTooLong, XlsxLimits
from .options import CHUNK_ROWS, Schema, content_version, names, options_schema, resolve_path, text_or_list

DEFAULT_CSV_LIMITS = CsvLimits()
DEFAULT_XLSX_LIMITS = XlsxLimits()

# (row number, cell values) of a table, or a RowError for a row that could not be read.
TableRow = tuple[int, "list[Any] | RowError"]
Table = Generator[TableRow, None, None]

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
              limits: CsvLimits = DEFAULT_CSV_LIMITS) -> Table:
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


def open_sheet(path: Path, sheet: str | int | None,
               limits: XlsxLimits = DEFAULT_XLSX_LIMITS) -> tuple[Workbook, ReadOnlyWorksheet]:
    limits.check(path)  # before anything is unpacked
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (*DAMAGED_WORKBOOK, ParseError, DefusedXmlException, KeyError, OSError, ValueError, TypeError,
            RecursionError) as exc:
        raise workbook_error(path, exc) from None
    names = workbook.sheetnames
    if sheet is None:
        found = workbook.worksheets[0]
    elif isinstance(sheet, int):
        if not 1 <= sheet <= len(names):
            workbook.close()
            raise ConnectorError(f"{path.name}: has {len(names)} sheet(s), so there is no sheet number {sheet}")
        found = workbook.worksheets[sheet - 1]
    elif sheet not in names:
        workbook.close()
        raise ConnectorError(f"{path.name}: no sheet named {sheet!r} (sheets: {', '.join(names)})")
    else:
        found = workbook[sheet]
    if not isinstance(found, ReadOnlyWorksheet):  # a chart sheet: no cells to read
        workbook.close()
        raise ConnectorError(f"{path.name}: sheet {found.title!r} holds no cells (a chart sheet?)")
    return workbook, found


def _sheet_rows(path: Path, worksheet: ReadOnlyWorksheet) -> Table:
    try:
        # The stubs declare ReadOnlyWorksheet.iter_rows as Worksheet's (it is borrowed, and works on both).
        rows: Iterator[tuple[Any, ...]] = cast(Any, worksheet).iter_rows(values_only=True)
        for number, values in enumerate(rows, start=1):
            yield number, list(values)
    except (*DAMAGED_WORKBOOK, ParseError, DefusedXmlException, KeyError, ValueError, TypeError,
            RecursionError) as exc:
        raise workbook_error(path, exc) from None


@contextmanager
def opened_table(path: Path, is_xlsx: bool, sheet: str | int | None, encoding: str, delimiter: str,
                 csv_limits: CsvLimits = DEFAULT_CSV_LIMITS,
                 xlsx_limits: XlsxLimits = DEFAULT_XLSX_LIMITS) -> Iterator[tuple[str | None, Table]]:
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


def _header_columns(header: list[Any], where: str) -> list[tuple[str, int]]:
    columns: list[tuple[str, int]] = []
    seen: dict[str, int] = {}
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


def _blank(value: object) -> bool:
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
        self._names: list[str] | None = None  # the header's names when it names every column, in order

    def where(self, row: int | None = None) -> str:
        text = self.file_name + (f" sheet {self.sheet!r}" if self.sheet else "")
        return text + (f" row {row}" if row else "")

    def location(self, row: int) -> dict[str, Any]:
        location: dict[str, Any] = {"file": self.file_name, "row": row}
        if self.sheet:
            location["sheet"] = self.sheet
        return location

    def items(self, table: Iterator[TableRow]) -> Iterator[SourceRow | RowError]:
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
                # Every column named, the commonest header: a row's dict is zipped at C speed.
                self._names = [name for name, _ in columns] if width == len(columns) else None
                continue
            if self._is_blank(values):
                continue  # blank lines and Excel's trailing empty rows
            yield self._row(number, values, columns, width)
        if columns is None:
            raise ConnectorError(f"{self.where()}: no header row (the file has fewer than {self.header_row} row(s))")

    def _is_blank(self, values: list[Any]) -> bool:
        if self.excel:
            return all(_blank(v) for v in values)
        return not "".join(values).strip()  # CSV values are all text: one C-speed test

    def _check_identity(self, columns: list[tuple[str, int]], number: int) -> None:
        if self.identity:
            names = {name for name, _ in columns}
            missing = [c for c in self.identity if c not in names]
            if missing:
                raise ConnectorError(
                    f"{self.where(number)}: identity column(s) {', '.join(map(repr, missing))} not in the header"
                )

    def _row(self, number: int, values: list[Any], columns: list[tuple[str, int]], width: int) -> SourceRow | RowError:
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
        data = dict(zip(self._names, values)) if self._names else {name: values[index] for name, index in columns}
        limit = self.limits.max_field_chars
        # CSV cells are all text (or None past a short row's end): one C-speed test clears most rows.
        for name, index in columns if self.excel or max(map(len, filter(None, values)), default=0) > limit else ():
            value = data[name]
            if isinstance(value, str) and len(value) > limit:
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


def _printable(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if isinstance(v, (str, int, float, bool)) or v is None else str(v)) for k, v in data.items()}


# ---------------------------------------------------------------- source


CSV_OPTIONS: dict[str, Schema] = {
    "encoding": {"type": "string", "minLength": 1, "default": "auto",
                 "description": "CSV text encoding; auto = UTF-8 (with or without BOM), else cp1252"},
    "delimiter": {"type": "string", "anyOf": [{"const": "auto"}, {"minLength": 1, "maxLength": 1}],
                  "default": "auto", "x-message": "must be one character or 'auto'",
                  "description": "CSV delimiter; auto = sniffed among , ; tab |"},
}


def known_encoding(what: str, encoding: str) -> str:
    if encoding != "auto":
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ConnectorError(f"{what}: option 'encoding' names an unknown encoding {encoding!r}") from None
    return encoding


class Source(BaseSource):
    options_schema = options_schema({
        **FILESET_OPTIONS,
        "format": {"enum": ["auto", "csv", "xlsx"], "default": "auto", "description": "auto: by file extension"},
        "sheet": {"type": ["string", "integer"], "minimum": 1, "x-message": "must be a sheet name or number",
                  "description": "XLSX sheet name, or its position counting from 1 (default: the first)"},
        "header_row": {"type": "integer", "minimum": 1, "default": 1,
                       "description": "the row holding the column names, counted from 1"},
        **CSV_OPTIONS,
        "identity": text_or_list("column(s) identifying a row; default: file name + row number"),
        "whole_file": {"type": "boolean", "default": False,
                       "description": "true: one chunk per file (one workbook = one data return)"},
        "chunk_rows": CHUNK_ROWS,
        **CSV_LIMIT_OPTIONS,
        **XLSX_LIMIT_OPTIONS,
    }, ONE_FILE_OR_FOLDER, description="CSV and XLSX files kept by service teams")

    def __init__(self, options: Mapping[str, Any] | None, base_dir: Path | str | None = None):
        super().__init__(options, base_dir)
        opts = self.options
        self.identity = names(opts.get("identity"))
        self.files = FileSet(self.what(), opts, self.base_dir, identity=self.identity)
        self.format: str = opts["format"]
        self.sheet: str | int | None = opts.get("sheet")
        self.header_row: int = opts["header_row"]
        self.encoding = known_encoding(self.what(), opts["encoding"])
        self.delimiter: str = opts["delimiter"]
        self.whole_file: bool = opts["whole_file"]
        self.chunk_rows: int = opts["chunk_rows"]
        self.csv_limits = CsvLimits.from_options(opts)
        self.xlsx_limits = XlsxLimits.from_options(opts)

    def _table(self, path: Path) -> AbstractContextManager[tuple[str | None, Table]]:
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

    def read(self, checkpoint: dict[str, Any] | None) -> Iterator[Chunk]:
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

    options_schema = options_schema({
        "folder": {"type": "string", "minLength": 1, "description": "where the files are written"},
        "format": {"enum": ["csv", "xlsx"], "default": "csv"},
        "columns": text_or_list("payload fields in order; default: every field seen in the batch"),
        "name": {"type": "string", "minLength": 1, "default": "{dataset}-{first}-{last}",
                 "description": "file name pattern: dataset and the batch's first and last sequence"},
    }, {"required": ["folder"]}, description="each delivered batch as one CSV or XLSX file")

    def __init__(self, options: Mapping[str, Any] | None, base_dir: Path | str | None = None):
        super().__init__(options, base_dir)
        self.folder = resolve_path(self.base_dir, self.options["folder"])
        self.format: str = self.options["format"]
        self.columns = names(self.options.get("columns"))
        self.name: str = self.options["name"]

    def check(self) -> str:
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # e.g. a file of that name is in the way
            raise ConnectorError(f"spreadsheet sink: cannot use {self.folder} as its folder ({exc.strerror})") from None
        if not os.access(self.folder, os.W_OK):
            raise ConnectorError(f"spreadsheet sink: cannot write to {self.folder}")
        return f"spreadsheet sink writing {self.format.upper()} files to {self.folder}"

    def write(self, events: list[dict[str, Any]]) -> None:
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


def _payload_fields(events: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for event in events:
        for name in event.get("data") or {}:
            seen.setdefault(name, None)
    return list(seen)


def _event_row(event: dict[str, Any], columns: list[str]) -> list[Any]:
    op = "delete" if str(event.get("type", "")).endswith(".delete") else "upsert"
    data = event.get("data") or {}
    return [op, event.get("subject"), event_sequence(event), event.get("time")] + [
        _cell(data.get(name)) for name in columns
    ]


def _cell(value: object) -> object:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value
