"""Vendor export files arriving in a folder: CSV, JSON, JSON lines and XML.

Options
  path | folder     one file, or a drop folder (files moved to processed/ or failed/)
  pattern          drop-folder file pattern (default "*")
  settle_seconds   leave files younger than this alone (default 10)
  format           auto | csv | json | jsonl | xml (auto: by extension)
  record_path      JSON: dotted path to the array of records ("data.items"; default: the
                   top-level array). XML: element path to each record
                   ("Applications/Application"); namespaces are ignored.
  fields           {name: path} to pick fields; JSON paths are dotted ("site.postcode"),
                   XML paths are element paths ("Site/Postcode", "@ref", "Site/@uprn").
                   Default: the whole record (XML flattened to "Site/Postcode" keys).
  identity         field(s) identifying a record; default file name + record number
  snapshot, max_delete_percent   each file is the whole data set, as in the spreadsheet connector
  encoding, delimiter   for CSV, as in the spreadsheet connector
  chunk_rows       records per chunk (default 2000)
  max_depth        XML elements / JSON values nested deeper than this are refused (default 64):
                   in XML the file fails, in JSON the record is a row error
  max_row_kb, max_field_kb   CSV caps, as in the spreadsheet connector (connectors.limits)

Every format is streamed (JSON with ijson, XML with iterparse), so file size
does not decide memory use. XML goes through defusedxml: documents declaring
entities or referring to external resources are refused.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from xml.etree.ElementTree import Element

import ijson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, iterparse

from .base import Chunk, ConnectorError, RowError, SourceRow
from .base import Source as BaseSource
from .filesets import FILESET_OPTIONS, ONE_FILE_OR_FOLDER, FileSet
from .limits import CSV_LIMIT_OPTIONS, CsvLimits, nested_deeper_than
from .options import CHUNK_ROWS, content_version, names, options_schema, text_or_list
from .spreadsheet import CSV_OPTIONS, TableReader, csv_table, known_encoding

# (location, record) of each record in a file, or (location, RowError) for one that cannot be read.
Records = Iterator[tuple[dict[str, Any], "dict[str, Any] | RowError"]]

FORMATS_BY_SUFFIX = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".xml": "xml", ".csv": "csv", ".txt": "csv"}
_MISSING = object()


def json_path_value(record: Any, path: str) -> Any:
    value = record
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part, _MISSING)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
        if value is _MISSING:
            return None
    return value


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]  # "{urn:vendor}Site" -> "Site"


def xml_path_value(element: Element, path: str) -> str | None:
    if path.startswith("@"):
        return element.get(path[1:])
    if "/@" in path:
        element_path, attribute = path.rsplit("/@", 1)
        found = element.find(element_path)
        return None if found is None else found.get(attribute)
    found = element.find(path)
    if found is None:
        return None
    return (found.text or "").strip()


def xml_flatten(element: Element, prefix: str = "", into: dict[str, Any] | None = None) -> dict[str, Any]:
    """Attributes as "@name", leaf elements as "Parent/Child" text; repeated leaves become lists."""
    into = {} if into is None else into
    for name, value in element.attrib.items():
        into[f"{prefix}@{name}"] = value
    for child in element:
        key = prefix + child.tag
        if len(child) or child.attrib:
            xml_flatten(child, key + "/", into)
        text = (child.text or "").strip()
        if len(child) == 0:
            if key in into:
                previous = into[key]
                into[key] = (previous if isinstance(previous, list) else [previous]) + [text]
            else:
                into[key] = text
    return into


class Source(BaseSource):
    options_schema = options_schema({
        **FILESET_OPTIONS,
        "format": {"enum": ["auto", "csv", "json", "jsonl", "xml"], "default": "auto",
                   "description": "auto: by extension"},
        "record_path": {"type": "string", "default": "",
                        "description": "JSON: dotted path to the array of records; XML: element path to each record"},
        "fields": {"type": "object", "additionalProperties": {"type": "string", "minLength": 1},
                   "x-message": "must map each field name to a path",
                   "description": "{name: path} to pick fields; default: the whole record"},
        "identity": text_or_list("field(s) identifying a record; default file name + record number"),
        **CSV_OPTIONS,
        "chunk_rows": CHUNK_ROWS,
        "max_depth": {"type": "integer", "minimum": 1, "default": 64,
                      "description": "XML elements / JSON values nested deeper than this are refused"},
        **CSV_LIMIT_OPTIONS,
    }, ONE_FILE_OR_FOLDER, description="vendor export files: CSV, JSON, JSON lines and XML")

    def __init__(self, options: Mapping[str, Any] | None, base_dir: Path | str | None = None):
        super().__init__(options, base_dir)
        opts = self.options
        self.identity = names(opts.get("identity"))
        self.files = FileSet(self.what(), opts, self.base_dir, identity=self.identity)
        self.format: str = opts["format"]
        self.record_path: str = opts["record_path"]
        self.fields: dict[str, str] | None = opts.get("fields")
        self.encoding = known_encoding(self.what(), opts["encoding"])
        self.delimiter: str = opts["delimiter"]
        self.chunk_rows: int = opts["chunk_rows"]
        self.max_depth: int = opts["max_depth"]
        self.csv_limits = CsvLimits.from_options(opts)

    def _format_of(self, path: Path) -> str:
        if self.format != "auto":
            return self.format
        found = FORMATS_BY_SUFFIX.get(path.suffix.lower())
        if found is None:
            raise ConnectorError(f"{path.name}: cannot tell the format from the extension; set 'format'")
        return found

    def check(self) -> str:
        return f"files {self.files.check()}"

    def read(self, checkpoint: dict[str, Any] | None) -> Iterator[Chunk]:
        return self.files.read(checkpoint, self.read_items, self.chunk_rows)

    def read_items(self, path: Path) -> Iterator[SourceRow | RowError]:
        kind = self._format_of(path)
        if kind == "csv":
            yield from TableReader(path.name, None, 1, self.identity, excel=False, limits=self.csv_limits).items(
                csv_table(path, self.encoding, self.delimiter, self.csv_limits)
            )
            return
        records = {"json": self._json_records, "jsonl": self._jsonl_records, "xml": self._xml_records}[kind](path)
        for location, record in records:
            yield record if isinstance(record, RowError) else self._row(path, location, record)

    def _row(self, path: Path, location: dict[str, Any], data: dict[str, Any]) -> SourceRow | RowError:
        if self.identity:
            values = [data.get(f) if f in data else json_path_value(data, f) for f in self.identity]
            if any(v in (None, "") for v in values):
                return RowError(location, f"identity field(s) {', '.join(self.identity)} empty", data)
            identity = path.name + "#" + "|".join(str(v) for v in values)
        else:
            number = location.get("record") or location.get("line")
            identity = f"{path.name}#{number}"
        return SourceRow(data, location, identity, content_version(data))

    def _pick(self, record: Any, value_at: Callable[[Any, str], Any]) -> Any:
        if self.fields is None:
            return record
        return {name: value_at(record, path) for name, path in self.fields.items()}

    # -- JSON

    def _json_records(self, path: Path) -> Records:
        prefix = f"{self.record_path}.item" if self.record_path else "item"
        number = 0
        with open(path, "rb") as handle:
            try:
                for number, record in enumerate(ijson.items(handle, prefix, use_float=True), start=1):
                    location = {"file": path.name, "record": number}
                    if not isinstance(record, dict):
                        yield location, RowError(location, f"record is {type(record).__name__}, not an object")
                        continue
                    if nested_deeper_than(record, self.max_depth):
                        yield location, self._too_deep(location)
                        continue
                    yield location, self._pick(record, json_path_value)
            except ijson.JSONError as exc:
                raise ConnectorError(f"{path.name}: invalid JSON after record {number}: {exc}") from None
        if number == 0 and path.stat().st_size and not self._json_path_exists(path, prefix):
            raise ConnectorError(
                f"{path.name}: no array of records at {self.record_path or 'the top level'!r}"
                + ("" if self.record_path else " (set record_path, e.g. data.items)")
            )

    @staticmethod
    def _json_path_exists(path: Path, prefix: str) -> bool:
        array = prefix.removesuffix(".item") if prefix != "item" else ""
        with open(path, "rb") as handle:
            for found_prefix, event, _ in ijson.parse(handle):
                if found_prefix == array and event == "start_array":
                    return True
        return False

    def _jsonl_records(self, path: Path) -> Records:
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                location = {"file": path.name, "line": number}
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield location, RowError(location, f"invalid JSON: {exc.msg} at column {exc.colno}",
                                             {"text": line[:500]})
                    continue
                except RecursionError:
                    yield location, self._too_deep(location)
                    continue
                if not isinstance(record, dict):
                    yield location, RowError(location, f"line holds a {type(record).__name__}, not an object")
                    continue
                if nested_deeper_than(record, self.max_depth):
                    yield location, self._too_deep(location)
                    continue
                yield location, self._pick(record, json_path_value)

    def _too_deep(self, location: dict[str, Any]) -> RowError:
        return RowError(location, f"record is nested deeper than {self.max_depth} levels (max_depth)")

    # -- XML

    def _xml_records(self, path: Path) -> Records:
        wanted = [p for p in self.record_path.split("/") if p]
        if not wanted:
            raise ConnectorError("files source: XML needs 'record_path', e.g. Applications/Application")
        stack: list[Element] = []
        number = 0
        try:
            for event, element in iterparse(str(path), events=("start", "end")):
                if event == "start":
                    if len(stack) >= self.max_depth:
                        raise ConnectorError(
                            f"{path.name}: refused: elements are nested deeper than {self.max_depth} "
                            f"(max_depth) at record {number + 1}")
                    element.tag = _local(element.tag)
                    for name in [n for n in element.attrib if n.startswith("{")]:
                        element.attrib[_local(name)] = element.attrib.pop(name)
                    stack.append(element)
                    continue
                is_record = [e.tag for e in stack[-len(wanted):]] == wanted  # the path ends here
                stack.pop()
                if is_record:
                    number += 1
                    location = {"file": path.name, "record": number}
                    record = self._pick(element, xml_path_value) if self.fields else xml_flatten(element)
                    yield location, record
                    if stack:
                        stack[-1].remove(element)  # keep memory flat on huge files
        except DefusedXmlException as exc:
            raise ConnectorError(
                f"{path.name}: refused: the XML uses entity declarations or external references "
                f"({type(exc).__name__}), which can exhaust memory or read local files"
            ) from None
        except ParseError as exc:
            line = exc.position[0] if getattr(exc, "position", None) else "?"
            raise ConnectorError(f"{path.name}: not well-formed XML at line {line}: {exc}") from None
        if number == 0:
            raise ConnectorError(f"{path.name}: no elements at record_path {self.record_path!r}")
