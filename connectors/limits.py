"""Caps that keep one hostile or broken file from exhausting the agent.

A drop folder takes whatever people and systems put in it: a workbook whose 500 KB
unpack to gigabytes, XML nested thousands deep, a CSV "line" of 200 MB. Each cap is a
connector option with a default that no ordinary file comes near; a file beyond a cap
is refused (a drop-folder file goes to failed/ with the reason, naming the option),
so memory stays flat whatever arrives.

Options (spreadsheet and files sources)
  max_row_kb            a CSV line longer than this is a row error, skipped (default 1024)
  max_field_kb          a CSV value longer than this is a row error (default 128)
  max_depth             files source: XML elements / JSON values nested deeper (default 64)
XLSX (spreadsheet source), checked from the zip directory before anything is unpacked
  max_unpacked_mb       all parts of a workbook together (default 1024)
  max_part_mb           any part other than a worksheet (shared strings, styles, ...),
                        which is held in memory whole (default 16); worksheets are streamed
  max_ratio             a part over 1 MiB unpacking to more than this many times its
                        packed size (default 200): the mark of a zip bomb
"""
from __future__ import annotations

import csv
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

from .errors import ConnectorError
from .options import Schema

KIB, MIB = 1024, 1024 * 1024
# Ratios are only meaningful for parts of some size; tiny parts compress wildly.
_RATIO_FLOOR_BYTES = MIB
# Python's csv reader has one process-wide field limit; it is raised (never lowered)
# only when a task asks for longer values than it allows.
_MAX_FIELD_KB_CEILING = 16 * 1024


def _cap(default: int, description: str, maximum: int | None = None) -> Schema:
    schema: Schema = {"type": "integer", "minimum": 1, "default": default, "description": description}
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


CSV_LIMIT_OPTIONS: dict[str, Schema] = {
    "max_row_kb": _cap(1024, "a CSV line longer than this is a row error, skipped"),
    "max_field_kb": _cap(128, "a CSV value longer than this is a row error", maximum=_MAX_FIELD_KB_CEILING),
}
XLSX_LIMIT_OPTIONS: dict[str, Schema] = {
    "max_unpacked_mb": _cap(1024, "all parts of a workbook together"),
    "max_part_mb": _cap(16, "any part other than a worksheet, which is held in memory whole"),
    "max_ratio": _cap(200, "a part over 1 MiB unpacking to more than this many times its packed size"),
}


@dataclass(frozen=True)
class CsvLimits:
    max_row_kb: int = 1024
    max_field_kb: int = 128

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> CsvLimits:
        limits = cls(options.get("max_row_kb", cls.max_row_kb), options.get("max_field_kb", cls.max_field_kb))
        if limits.max_field_kb * KIB > csv.field_size_limit():
            csv.field_size_limit(limits.max_field_kb * KIB)
        return limits

    @property
    def max_field_chars(self) -> int:
        return self.max_field_kb * KIB


@dataclass(frozen=True)
class XlsxLimits:
    max_unpacked_mb: int = 1024
    max_part_mb: int = 16
    max_ratio: int = 200

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> XlsxLimits:
        return cls(options.get("max_unpacked_mb", cls.max_unpacked_mb), options.get("max_part_mb", cls.max_part_mb),
                   options.get("max_ratio", cls.max_ratio))

    def check(self, path: Path) -> None:
        """Refuse a workbook whose parts would unpack beyond the caps, reading only the zip directory."""
        try:
            with zipfile.ZipFile(path) as archive:
                members = archive.infolist()
                streamed = _worksheet_parts(archive, members, self)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            raise ConnectorError(f"{path.name}: not a readable XLSX workbook ({exc})") from None
        total = 0
        for info in members:
            total += info.file_size
            self._check_part(path, info, held_whole=info.filename not in streamed)
        if total > self.max_unpacked_mb * MIB:
            raise ConnectorError(f"{path.name}: refused: the workbook unpacks to {total // MIB} MB, more than "
                                 f"max_unpacked_mb ({self.max_unpacked_mb})")

    def _check_part(self, path: Path, info: zipfile.ZipInfo, held_whole: bool) -> None:
        size = info.file_size
        if size > _RATIO_FLOOR_BYTES and size > self.max_ratio * max(info.compress_size, 1):
            raise ConnectorError(
                f"{path.name}: refused: part {info.filename} unpacks from {_size(info.compress_size)} to "
                f"{_size(size)}, more than max_ratio ({self.max_ratio}) times: the mark of a zip bomb")
        if held_whole and size > self.max_part_mb * MIB:
            raise ConnectorError(
                f"{path.name}: refused: part {info.filename} unpacks to {_size(size)}, more than max_part_mb "
                f"({self.max_part_mb} MB); it would be held in memory whole")


def _worksheet_parts(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], limits: XlsxLimits) -> set[str]:
    """The parts openpyxl streams (worksheets); every other part it reads whole. The shared
    strings part is whichever [Content_Types].xml names, so it never passes as a sheet."""
    shared_strings: set[str] = set()
    types = next((i for i in members if i.filename == "[Content_Types].xml"), None)
    if types is not None and types.file_size <= limits.max_part_mb * MIB:
        from openpyxl.packaging.manifest import Manifest
        from openpyxl.xml.constants import SHARED_STRINGS
        from openpyxl.xml.functions import fromstring

        try:
            # The stubs type from_tree's argument narrower than the element fromstring gives (which it takes).
            manifest = Manifest.from_tree(cast(Any, fromstring(archive.read(types))))
            overrides = manifest.Override if manifest is not None else []
            shared_strings = {t.PartName.lstrip("/") for t in overrides if t.ContentType == SHARED_STRINGS}
        except Exception:  # an unreadable manifest: openpyxl will say so when it opens the file
            pass
    return {i.filename for i in members
            if i.filename.startswith("xl/worksheets/") and i.filename.endswith(".xml")
            and i.filename not in shared_strings}


def _size(n: int) -> str:
    return f"{n / MIB:.1f} MB" if n >= MIB else f"{n / KIB:.0f} KB"


class LineTooLong(Exception):
    pass


class BoundedLines:
    """The lines of a text file, none longer than `limit` characters. A longer one is
    skipped in bounded pieces and reported once (LineTooLong), so one endless line
    never sits in memory; the reader then goes on with the next line."""

    def __init__(self, handle: TextIO, limit: int):
        self.handle = handle
        self.limit = limit

    def __iter__(self) -> BoundedLines:
        return self

    def __next__(self) -> str:
        line = self.handle.readline(self.limit + 1)
        if not line:
            raise StopIteration
        if len(line) > self.limit and not line.endswith(("\n", "\r")):
            while True:
                rest = self.handle.readline(MIB)
                if not rest or rest.endswith(("\n", "\r")):
                    break
            raise LineTooLong
        return line


def nested_deeper_than(value: object, limit: int) -> bool:
    """True when a JSON-like value nests dicts/lists more than `limit` levels (no recursion)."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[object]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
