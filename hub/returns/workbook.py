"""Spreadsheets for returns sent as row sets: a template workbook generated from the return
(headers, guidance, Excel data-validation lists for enumerations), and reading a filled XLSX
or CSV back into rows, naming every problem by sheet, row and column.

The template's first sheet, "Rows", has the row key in column A and one column per field
(its header is the field's name, so the hub can read it back whatever order columns end up
in); "Guidance" says what each column means. The workbook records which return it belongs to
(its document identifier), so a workbook from another return is named as such.
"""
from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from .declaration import ReturnDeclaration
from .rowsets import check_rows

ROWS_SHEET, GUIDANCE_SHEET, LISTS_SHEET = "Rows", "Guidance", "Lists"
KEY_HEADER = "key"
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_UPLOAD_ROWS = 20000
TEMPLATE_ROWS = 500  # rows the data-validation lists cover
IDENTIFIER_PREFIX = "causeway-return:"


@dataclass
class Upload:
    rows: list[dict]       # [{key, values}] of the good rows
    problems: list[dict]   # [{sheet, row, column, message}]
    rows_read: int = 0


def _properties(declaration: ReturnDeclaration) -> dict:
    return (declaration.schema or {}).get("properties") or {}


def _kind(spec: dict) -> str:
    if "enum" in spec:
        return "one of: " + ", ".join(str(v) for v in spec["enum"])
    return {"integer": "whole number", "number": "number"}.get(spec.get("type"), "text")


def template_workbook(declaration: ReturnDeclaration) -> bytes:
    properties = _properties(declaration)
    required = set((declaration.schema or {}).get("required", []))
    book = Workbook()
    sheet = book.active
    sheet.title = ROWS_SHEET
    headers = [KEY_HEADER, *properties]
    sheet.append(headers)
    sheet.freeze_panes = "A2"
    lists = book.create_sheet(LISTS_SHEET)
    lists.sheet_state = "hidden"
    list_column = 0
    for index, (name, spec) in enumerate(properties.items(), start=2):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = max(12, len(name) + 2)
        cells = f"{letter}2:{letter}{TEMPLATE_ROWS + 1}"
        if "enum" in spec:
            # The choices live on a hidden sheet: a list written inline may hold only 255 characters.
            list_column += 1
            list_letter = get_column_letter(list_column)
            for row, choice in enumerate(spec["enum"], start=1):
                lists.cell(row=row, column=list_column, value=str(choice))
            rule = DataValidation(type="list", formula1=f"{LISTS_SHEET}!${list_letter}$1:${list_letter}${len(spec['enum'])}",
                                  allow_blank=name not in required, showErrorMessage=True,
                                  errorTitle=name, error=f"Choose one of the values for {name}")
        elif spec.get("type") in ("integer", "number"):
            minimum = spec.get("minimum", -(2 ** 31))
            rule = DataValidation(type="whole" if spec["type"] == "integer" else "decimal", operator="greaterThanOrEqual",
                                  formula1=str(minimum), allow_blank=name not in required, showErrorMessage=True,
                                  errorTitle=name, error=f"{name} is a {_kind(spec)} of at least {minimum}")
        else:
            continue
        sheet.add_data_validation(rule)
        rule.add(cells)
    guide = book.create_sheet(GUIDANCE_SHEET)
    guide.append([declaration.title])
    guide.append([f"Return {declaration.dataset}, version {declaration.version}, {declaration.frequency}, due "
                  f"{declaration.due_days} days after the period ends"])
    guide.append([declaration.guidance])
    guide.append([])
    guide.append(["Column", "Meaning", "Type", "Required"])
    guide.append([KEY_HEADER, "The row's key: one per row, unique within the return (e.g. the school's name)",
                  "text", "yes"])
    for name, spec in properties.items():
        guide.append([name, spec.get("title", ""), _kind(spec), "yes" if name in required else "no"])
    if declaration.rules:
        guide.append([])
        guide.append(["Rule", "Must hold", "Importance", "Over"])
        for rule_ in declaration.rules:
            guide.append([rule_.name, rule_.text, rule_.importance, "each row" if rule_.scope == "row" else "totals"])
    book.properties.identifier = f"{IDENTIFIER_PREFIX}{declaration.dataset}"
    book.properties.title = declaration.title
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _convert(value, spec: dict):
    """A cell's value as the field's type (a spreadsheet keeps whole numbers as floats, and text
    cells may hold numbers); unchanged when it cannot be, so the schema names the mistake."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    kind = spec.get("type")
    if kind in ("integer", "number"):
        if isinstance(value, str):
            try:
                value = float(value.strip().replace(",", ""))
            except ValueError:
                return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value
    if kind == "string" and not isinstance(value, str):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return str(value)
    return value.strip() if isinstance(value, str) else value


def _read_table(sheet_name: str, table: list[list], declaration: ReturnDeclaration, upload: Upload) -> None:
    properties = _properties(declaration)
    problem = upload.problems.append
    if not table or all(v in (None, "") for v in table[0]):
        problem({"sheet": sheet_name, "row": 1, "column": None,
                 "message": f"the sheet is empty: row 1 must name the columns ({KEY_HEADER}, "
                            f"{', '.join(list(properties)[:4])}, ...)"})
        return
    by_header: dict[int, str] = {}
    for index, header in enumerate(table[0]):
        name = str(header).strip() if header is not None else ""
        if not name:
            continue
        lowered = {n.lower(): n for n in properties} | {KEY_HEADER: KEY_HEADER}
        titled = {str(s.get("title", "")).lower(): n for n, s in properties.items() if s.get("title")}
        field = lowered.get(name.lower()) or titled.get(name.lower())
        if field is None:
            problem({"sheet": sheet_name, "row": 1, "column": get_column_letter(index + 1),
                     "message": f"column {name!r} is not a field of {declaration.dataset}"})
            continue
        by_header[index] = field
    if KEY_HEADER not in by_header.values():
        problem({"sheet": sheet_name, "row": 1, "column": None,
                 "message": f"no {KEY_HEADER!r} column: each row needs its key (this may be a workbook of another return)"})
        return
    column_of = {field: get_column_letter(index + 1) for index, field in by_header.items()}
    candidates, where = [], []
    for number, cells in enumerate(table[1:], start=2):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in cells):
            continue
        upload.rows_read += 1
        if upload.rows_read > MAX_UPLOAD_ROWS:
            problem({"sheet": sheet_name, "row": number, "column": None,
                     "message": f"a return may have at most {MAX_UPLOAD_ROWS:,} rows; this file has more, "
                                "so nothing was kept: split it"})
            return
        key, values = None, {}
        for index, field in by_header.items():
            value = cells[index] if index < len(cells) else None
            if field == KEY_HEADER:
                key = _convert(value, {"type": "string"})
            else:
                converted = _convert(value, properties[field])
                if converted is not None:
                    values[field] = converted
        candidates.append({"key": key, "values": values})
        where.append(number)
    bad_rows = set()
    for found in check_rows(declaration, candidates):
        field = found["path"].split("/")[2] if found["path"].startswith("/values/") else (
            KEY_HEADER if found["path"] == "/key" else None)
        problem({"sheet": sheet_name, "row": where[found["row"] - 1], "column": column_of.get(field),
                 "message": f"{field}: {found['message']}" if field and field != KEY_HEADER else found["message"]})
        bad_rows.add(found["row"] - 1)
    upload.rows = [row for index, row in enumerate(candidates) if index not in bad_rows]


def read_upload(declaration: ReturnDeclaration, filename: str, data: bytes) -> Upload:
    """The good rows of an uploaded workbook or CSV, and every problem by sheet, row and column."""
    upload = Upload([], [])
    if len(data) > MAX_UPLOAD_BYTES:
        upload.problems.append({"sheet": None, "row": None, "column": None,
                                "message": f"the file is over {MAX_UPLOAD_BYTES // (1024 * 1024)} MB; split it"})
        return upload
    if filename.lower().endswith(".csv"):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            upload.problems.append({"sheet": "CSV", "row": None, "column": None,
                                    "message": "the CSV is not UTF-8 text: save it as 'CSV UTF-8'"})
            return upload
        _read_table("CSV", [list(r) for r in csv.reader(io.StringIO(text))], declaration, upload)
        return upload
    try:
        book = load_workbook(io.BytesIO(data), data_only=False)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        upload.problems.append({"sheet": None, "row": None, "column": None,
                                "message": "this is not an Excel workbook (.xlsx) or a CSV file"})
        return upload
    identifier = book.properties.identifier or ""
    if identifier.startswith(IDENTIFIER_PREFIX) and identifier != IDENTIFIER_PREFIX + declaration.dataset:
        upload.problems.append({"sheet": None, "row": None, "column": None,
                                "message": f"this workbook is the template of {identifier[len(IDENTIFIER_PREFIX):]}, "
                                           f"not of {declaration.dataset}: download this return's template"})
        return upload
    sheet = book[ROWS_SHEET] if ROWS_SHEET in book.sheetnames else book.worksheets[0]
    for merged in sheet.merged_cells.ranges:
        upload.problems.append({"sheet": sheet.title, "row": merged.min_row, "column": get_column_letter(merged.min_col),
                                "message": f"cells {merged.coord} are merged: unmerge them so each cell holds its own value"})
    table = []
    for cells in sheet.iter_rows():
        values = []
        for cell in cells:
            if cell.data_type == "f":
                upload.problems.append({"sheet": sheet.title, "row": cell.row, "column": cell.column_letter,
                                        "message": f"cell {cell.coordinate} holds a formula: enter its value instead"})
                values.append(None)
            else:
                values.append(cell.value)
        table.append(values)
    if upload.problems:
        return upload
    _read_table(sheet.title, table, declaration, upload)
    return upload
