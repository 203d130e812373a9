"""Declarative mapping from source rows to dataset payloads, one per task.

    mapping:
      dataset: gazetteer-address
      schema_version: 1
      key: uprn                       # target field holding the natural key
      subject: {from: client_id, hash_key_env: CAUSEWAY_SUBJECT_KEY}   # optional
      fields:
        uprn: {from: UPRN, convert: [trim]}
        easting: {from: X, convert: [number]}
        last_updated: {from: Updated, convert: [{date: ["%d/%m/%Y", excel]}]}
        status: {from: Status, convert: [trim, lower, {lookup: {a: approved}}], default: approved}
        custodian: {const: edinburgh}
        street: {concat: [Street1, Street2], sep: " "}
        case_ref: {template: "FIFE-REF-{REF_ID:06d}"}          # columns formatted into text
        period: {from: Quarter, convert: [{period: quarterly}]}  # "2026-27 Q3" -> 2026-Q4
        return_id: {template: "{@custodian}-{@period}"}          # @: another field's final value
        person_ref: {subject: true}   # the subject pseudonym below, in a payload field

The configuration is compiled once into plain functions, so mapping a row does
no configuration parsing. Empty values (None, or text that is only spaces)
become None; a field whose final value is None is left out of the payload
unless it has a `default`, or is `required` (then the row is refused).

A timestamp without an offset (a naive `datetime` cell, or text without a zone) is
local time in the task's `time_zone` (default Europe/London): it is sent as UTC with
a `Z`. A local time the clocks pass twice (01:30 on the last Sunday of October) is
taken the first time, in BST (PEP 495 fold=0); one they skip (01:30 on the last
Sunday of March) is taken with the offset before the change (GMT), i.e. 01:30Z.

The `subject` is an HMAC-SHA256 of the source value under a key held only by
the council (an environment variable), so raw client ids never leave it, and
the same client always gets the same reference. A field given as `{subject: true}`
carries that same pseudonym in the payload (for schema fields marked
`x-causeway-pseudonym`, which the hub refuses to take a raw identifier in).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import string
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from .periods import PeriodLabelError, period_converter

_MISSING = object()
EXCEL_EPOCH = datetime(1899, 12, 30)  # serial 1 = 1900-01-01, counting Excel's phantom 29/02/1900
DEFAULT_DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d", "excel"]
DEFAULT_DATETIME_FORMATS = ["%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "iso", "excel"]
TRUE_WORDS = frozenset({"y", "yes", "true", "t", "1"})
FALSE_WORDS = frozenset({"n", "no", "false", "f", "0"})
NUMBER_NOISE = re.compile(r"[£$€,\s]")
DEFAULT_TIME_ZONE = "Europe/London"


class MappingConfigError(ValueError):
    """The mapping configuration itself is wrong (found when the task is loaded)."""


class MappingError(ValueError):
    """One row cannot be mapped; says which target field, source column and value."""

    def __init__(self, message: str, field: str | None = None, column: str | None = None, value=None):
        self.field, self.column, self.value = field, column, value
        where = []
        if field:
            where.append(f"field {field!r}")
        if column:
            where.append(f"from column {column!r}")
        prefix = " ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class _ValueProblem(ValueError):
    """Raised by converters; turned into a MappingError naming field and column."""


# ---------------------------------------------------------------- converters


def _empty(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a spreadsheet number 1234.0 that is really an id
    return str(value)


def trim(value):
    return value.strip() if isinstance(value, str) else value


def _case(method: str):
    def convert(value):
        return getattr(_text(value), method)()

    convert.__name__ = method
    return convert


def _excel_serial(value) -> datetime:
    serial = float(value)
    if not 0 < serial < 2958466:  # 31/12/9999
        raise _ValueProblem(f"{value!r} is not an Excel date serial number")
    return EXCEL_EPOCH + timedelta(days=serial)


def _is_number_text(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _day_month_year(text: str) -> datetime | None:
    """dd/mm/yyyy without strptime (several times faster; the UK's commonest date)."""
    parts = text.split("/")
    if len(parts) != 3 or len(parts[2]) != 4 or not all(p.isdigit() for p in parts):
        return None
    try:
        return datetime(int(parts[2]), int(parts[1]), int(parts[0]))
    except ValueError:
        return None


def _parse_moment(value, formats: list[str], kind: str) -> datetime:
    """A datetime from a cell value: a datetime/date object, an Excel serial, or text in one of the formats."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    allow_excel = "excel" in formats
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        if allow_excel:
            return _excel_serial(value)
        raise _ValueProblem(f"{value!r} is a number, not a {kind} (add 'excel' to the formats for Excel serials)")
    text = str(value).strip()
    for fmt in formats:
        if fmt == "excel":
            if _is_number_text(text):
                return _excel_serial(text)
        elif fmt == "iso":
            try:
                return datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                pass
        elif fmt == "%d/%m/%Y":
            moment = _day_month_year(text)
            if moment is not None:
                return moment
        else:
            try:
                return datetime.strptime(text, fmt)
            except ValueError:
                pass
    shown = ", ".join("Excel serial" if f == "excel" else "ISO 8601" if f == "iso" else f for f in formats)
    raise _ValueProblem(f"{value!r} is not a {kind} in any of the formats {shown}")


def _date_converter(formats: list[str]):
    formats = [*formats]

    def convert(value):
        return _parse_moment(value, formats, "date").date().isoformat()

    return convert


def utc_text(moment: datetime, zone: tzinfo) -> str:
    """ISO 8601 in UTC with a Z; a naive moment is local time in `zone` (fold=0 when ambiguous)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(timezone.utc).replace(tzinfo=None).isoformat() + "Z"


def _datetime_converter(formats: list[str], zone: tzinfo):
    formats = [*formats]

    def convert(value):
        return utc_text(_parse_moment(value, formats, "date and time"), zone)

    return convert


def _local_day(value, zone: tzinfo) -> date:
    """The day a cell names; an aware timestamp counts in the task's time zone."""
    try:
        moment = _parse_moment(value, [*DEFAULT_DATE_FORMATS, "iso"], "date")
    except _ValueProblem as exc:
        raise ValueError(str(exc)) from None
    return (moment.astimezone(zone) if moment.tzinfo is not None else moment).date()


def _period_converter(frequency, zone: tzinfo):
    try:
        convert = period_converter(frequency, lambda value: _local_day(value, zone))
    except ValueError as exc:
        raise MappingConfigError(str(exc)) from None

    def period(value):
        try:
            return convert(value)
        except (PeriodLabelError, ValueError) as exc:
            raise _ValueProblem(str(exc)) from None

    return period


def number(value):
    if value.__class__ is str and value.isascii() and value.isdigit():
        return int(value)  # plain digits, the commonest cell: no clean-up or Decimal needed
    if isinstance(value, bool):
        raise _ValueProblem(f"{value!r} is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    text = NUMBER_NOISE.sub("", str(value))
    negative = text.startswith("(") and text.endswith(")")  # accounting style (1,234)
    if negative:
        text = text[1:-1]
    try:
        parsed = Decimal(text)
    except InvalidOperation:
        raise _ValueProblem(f"{value!r} is not a number") from None
    if not parsed.is_finite():
        raise _ValueProblem(f"{value!r} is not a number")
    if negative:
        parsed = -parsed
    return int(parsed) if parsed == parsed.to_integral_value() else float(parsed)


def integer(value):
    result = number(value)
    if not isinstance(result, int):
        raise _ValueProblem(f"{value!r} is not a whole number")
    return result


def boolean(value):
    if isinstance(value, bool):
        return value
    word = _text(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise _ValueProblem(f"{value!r} is not yes/no (Y/N, yes/no, true/false, 1/0)")


def _lookup_converter(spec):
    if isinstance(spec, dict) and set(spec) <= {"values", "default"} and isinstance(spec.get("values"), dict):
        table, fallback = spec["values"], spec.get("default", _MISSING)
    elif isinstance(spec, dict):
        table, fallback = spec, _MISSING
    else:
        raise MappingConfigError(f"lookup needs a table of values, not {spec!r}")
    table = {_text(k): v for k, v in table.items()}
    known = ", ".join(map(repr, table))

    def convert(value):
        found = table.get(_text(value), _MISSING)
        if found is not _MISSING:
            return found
        if fallback is not _MISSING:
            return fallback
        raise _ValueProblem(f"{value!r} is not in the lookup table (known: {known})")

    return convert


def _repeats(function):
    function.repeats = True  # results worth caching: values recur across rows
    return function


SIMPLE_CONVERTERS: dict[str, Callable] = {  # "datetime" is made per task: it needs the time zone
    "trim": trim,
    "upper": _case("upper"),
    "lower": _case("lower"),
    "title": _case("title"),
    "number": number,
    "integer": integer,
    "boolean": _repeats(boolean),
    "text": _text,
    "date": _repeats(_date_converter(DEFAULT_DATE_FORMATS)),
}
PARAMETRISED_CONVERTERS: dict[str, Callable] = {
    "date": lambda arg, zone: _repeats(_date_converter(_formats(arg, "date"))),
    "datetime": lambda arg, zone: _repeats(_datetime_converter(_formats(arg, "datetime"), zone)),
    "lookup": lambda arg, zone: _repeats(_lookup_converter(arg)),
    "period": lambda arg, zone: _repeats(_period_converter(arg, zone)),
}


def _formats(arg, name) -> list[str]:
    formats = [arg] if isinstance(arg, str) else arg
    if not isinstance(formats, list) or not formats or not all(isinstance(f, str) for f in formats):
        raise MappingConfigError(f"{name} needs a format or a list of formats, not {arg!r}")
    return formats


def compile_converter(spec, field: str, zone: tzinfo | None = None) -> Callable:
    zone = zone or ZoneInfo(DEFAULT_TIME_ZONE)
    if spec == "datetime":
        return _repeats(_datetime_converter(DEFAULT_DATETIME_FORMATS, zone))
    if isinstance(spec, str):
        if spec not in SIMPLE_CONVERTERS:
            known = sorted({*SIMPLE_CONVERTERS, "datetime", "lookup", "period"})
            raise MappingConfigError(f"field {field!r}: unknown converter {spec!r} (known: {', '.join(known)})")
        return SIMPLE_CONVERTERS[spec]
    if isinstance(spec, dict) and len(spec) == 1:
        (name, arg), = spec.items()
        if name in PARAMETRISED_CONVERTERS:
            try:
                return PARAMETRISED_CONVERTERS[name](arg, zone)
            except MappingConfigError as exc:
                raise MappingConfigError(f"field {field!r}: {exc}") from None
    raise MappingConfigError(f"field {field!r}: cannot understand converter {spec!r}")


# ---------------------------------------------------------------- reading source values


def _path_reader(path: str) -> Callable[[dict], object]:
    """Reads a column, or a dotted path into nested JSON (tried when no column has the whole name)."""
    parts = path.split(".")

    def read(data: dict):
        value = data.get(path, _MISSING)
        if value is not _MISSING or len(parts) == 1:
            return value
        value = data
        for part in parts:
            if isinstance(value, dict):
                value = value.get(part, _MISSING)
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                return _MISSING
            if value is _MISSING:
                return _MISSING
        return value

    return read


def _column_getter(column: str, field: str):
    if "." not in column:
        def get_column(data: dict):
            value = data.get(column, _MISSING)
            if value is _MISSING:
                raise MappingError("the source row has no such column", field, column)
            return value

        return get_column
    read = _path_reader(column)

    def get(data: dict):
        value = read(data)
        if value is _MISSING:
            raise MappingError("the source row has no such column", field, column)
        return value

    return get


def _column_reader(column: str, field: str) -> Callable[[dict, dict], object]:
    """A field's raw value read straight from its column: one call per field and row, the
    mapper's commonest case (the general form goes through a getter)."""
    if "." in column:
        get = _column_getter(column, field)
        return lambda data, payload: get(data)

    def read_column(data: dict, payload: dict):
        value = data.get(column, _MISSING)
        if value is _MISSING:
            raise MappingError("the source row has no such column", field, column)
        return value

    return read_column


# ---------------------------------------------------------------- fields


def _chain(converters: list[Callable], field: str, column: str):
    """One function applying the converters in turn; an empty result stops the chain."""
    if not converters:
        return None

    def chain(value):
        for convert in converters:
            try:
                value = convert(value)
            except _ValueProblem as exc:
                raise MappingError(str(exc), field, column, value) from None
            if value is None or (value.__class__ is str and not value.strip()):
                return None
        return value

    return chain


CACHE_LIMIT = 8192


def _cached(chain):
    """Remembers results for text values: dates, codes and flags repeat across rows,
    and converters are pure. Errors are not cached; the memory is bounded."""
    cache: dict = {}

    def cached(value):
        if value.__class__ is not str:
            return chain(value)
        found = cache.get(value, _MISSING)
        if found is _MISSING:
            found = chain(value)
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[value] = found
        return found

    return cached



FIELD_KEYS = {"from", "convert", "default", "required", "const", "concat", "sep", "subject", "template"}
SOURCES = ("from", "const", "concat", "template", "subject")
INTEGER_SPECS, NUMBER_SPECS = frozenset("bcdoxXn"), frozenset("eEfFgG%")


@dataclass
class Field:
    """A compiled target field: value_of(data, payload) -> value or None."""
    value_of: Callable[[dict, dict], object]
    columns: set[str]
    references: set[str] = dataclass_field(default_factory=set)  # other target fields a template reads
    # A field read straight from one column, for the mapper's shortcut with text cells (see Mapper.map):
    column: str | None = None
    chain: Callable | None = None  # its converters, applied to a cell that is not empty
    settle: Callable | None = None  # what follows the converters: the default for None, JSON text for a date


def _placeholder(name: str, placeholder: str, spec: str) -> tuple[Callable[[dict, dict], object], Callable]:
    """Reader of one {placeholder:spec} and the function formatting its value (errors name the column)."""
    kind = spec[-1:]
    shown = f"{{{placeholder}:{spec}}}" if spec else f"{{{placeholder}}}"
    numeric = kind in INTEGER_SPECS or kind in NUMBER_SPECS
    if not numeric and re.match(r"[<>=^]?0", spec) and not re.match(r".[<>=^]", spec):
        # Python pads text after the value with ':06' ('123' -> '123000'): never what a key wants.
        width = re.sub(r"\D", "", spec).lstrip("0") or "1"
        raise MappingConfigError(f"field {name!r}: template placeholder {shown}: write :0{width}d for a number "
                                 f"padded with zeros (123 -> {123:0{width}d}), or :0>{width} for text")
    try:
        format(0 if numeric else "", spec)
    except ValueError as exc:
        raise MappingConfigError(f"field {name!r}: template placeholder {shown}: {exc}") from None
    # A padded number needs a number: '123' from a CSV, 123.0 from a spreadsheet.
    prepare = integer if kind in INTEGER_SPECS else number if numeric else lambda value: _text(value).strip()
    if placeholder.startswith("@"):
        target = placeholder[1:]
        read = lambda data, payload: payload.get(target)  # noqa: E731
    else:
        get = _column_getter(placeholder, name)
        read = lambda data, payload: get(data)  # noqa: E731

    def formatted(value):
        try:
            return format(prepare(value), spec)
        except (_ValueProblem, ValueError) as exc:
            raise MappingError(f"template placeholder {shown}: {exc}", name, placeholder, value) from None

    return read, formatted


def _compile_template(name: str, template) -> tuple[Callable[[dict, dict], object], set[str], set[str]]:
    """'FIFE-REF-{REF_ID:06d}': columns (or @fields) formatted into text; empty if any value is empty."""
    if not isinstance(template, str) or not template:
        raise MappingConfigError(f"field {name!r}: template must be text such as \"FIFE-REF-{{REF_ID:06d}}\"")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise MappingConfigError(f"field {name!r}: template {template!r}: {exc} (write {{{{ and }}}} for braces)") from None
    pieces: list = []
    columns, references = set(), set()
    for literal, placeholder, spec, conversion in parsed:
        if literal:
            pieces.append(literal)
        if placeholder is None:
            continue
        if not placeholder or conversion or "{" in (spec or ""):
            raise MappingConfigError(f"field {name!r}: template {template!r}: each {{...}} names one column "
                                     "(or @field) with an optional format such as :06d")
        pieces.append(_placeholder(name, placeholder, spec or ""))
        if placeholder.startswith("@"):
            references.add(placeholder[1:])
        else:
            columns.add(placeholder)

    def value_of(data, payload):
        text = []
        for piece in pieces:
            if piece.__class__ is str:
                text.append(piece)
                continue
            read, formatted = piece
            value = read(data, payload)
            if _empty(value):
                return None
            text.append(formatted(value))
        return "".join(text)

    return value_of, columns, references


def _compile_field(name: str, spec, zone: tzinfo) -> Field:
    """The compiled target field and the source columns it uses."""
    if isinstance(spec, str):
        spec = {"from": spec}
    if not isinstance(spec, dict):
        raise MappingConfigError(f"field {name!r}: expected a mapping like {{from: Column}}, not {spec!r}")
    unknown = set(spec) - FIELD_KEYS
    if unknown:
        raise MappingConfigError(f"field {name!r}: unknown setting(s) {', '.join(sorted(unknown))}")
    sources = [k for k in SOURCES if k in spec]
    if len(sources) != 1:
        raise MappingConfigError(f"field {name!r}: give exactly one of {', '.join(SOURCES[:-1])} or subject")
    if "subject" in spec:
        if spec["subject"] is not True or len(spec) != 1:
            raise MappingConfigError(f"field {name!r}: a subject field is written {{subject: true}}, alone")
        return Field(SUBJECT_FIELD, set())

    if "const" in spec:
        constant = spec["const"]
        return Field(lambda data, payload: constant, set())

    converters = [compile_converter(c, name, zone) for c in (spec.get("convert") or [])]
    default = spec.get("default")
    required = bool(spec.get("required", False))
    references: set[str] = set()

    if "concat" in spec:
        columns = spec["concat"]
        if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
            raise MappingConfigError(f"field {name!r}: concat needs a list of columns")
        getters = [_column_getter(c, name) for c in columns]
        separator = str(spec.get("sep", ""))

        def raw(data, payload):
            parts = [_text(v).strip() for v in (g(data) for g in getters) if not _empty(v)]
            return separator.join(parts) if parts else None

        column_label, used = "+".join(columns), set(columns)
    elif "template" in spec:
        raw, used, references = _compile_template(name, spec["template"])
        column_label = "+".join(sorted(used)) or None
    else:
        column = spec["from"]
        if not isinstance(column, str) or not column:
            raise MappingConfigError(f"field {name!r}: 'from' must name a source column")
        raw = _column_reader(column, name)
        column_label, used = column, {column}

    chain = _chain(converters, name, column_label)
    if any(getattr(c, "repeats", False) for c in converters):
        chain = _cached(chain)

    def settle(value):
        if value is None:
            if default is None and required:
                raise MappingError("is required but the source value is empty", name, column_label)
            return default
        if isinstance(value, date):  # a date or timestamp cell taken as it is: JSON has no such type
            return utc_text(value, zone) if isinstance(value, datetime) else value.isoformat()
        return value

    def value_of(data, payload):
        value = raw(data, payload)
        if value is None or (value.__class__ is str and not value.strip()):
            return settle(None)
        return settle(value if chain is None else chain(value))

    plain_column = spec["from"] if "from" in spec and "." not in spec["from"] else None
    return Field(value_of, used, references, plain_column, chain, settle)


def SUBJECT_FIELD(data, payload):
    """Placeholder of a `{subject: true}` field: the mapper writes the pseudonym it computed."""
    return None


# ---------------------------------------------------------------- the mapper


class Mapper:
    """A task's compiled mapping. `map(row)` -> (payload, key, subject)."""

    def __init__(self, config: dict, environ=None, time_zone: str | tzinfo = DEFAULT_TIME_ZONE):
        environ = os.environ if environ is None else environ
        zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
        if not isinstance(config, dict):
            raise MappingConfigError("mapping must be a mapping with dataset, key and fields")
        missing = [k for k in ("dataset", "key", "fields") if k not in config]
        if missing:
            raise MappingConfigError(f"mapping lacks {', '.join(missing)}")
        self.dataset = config["dataset"]
        self.schema_version = int(config.get("schema_version", 1))
        self.key_field = config["key"]
        fields = config["fields"]
        if not isinstance(fields, dict) or not fields:
            raise MappingConfigError("mapping 'fields' must name at least one target field")
        if self.key_field not in fields:
            raise MappingConfigError(f"key field {self.key_field!r} is not among the mapped fields")
        self.source_columns: set[str] = set()
        compiled: dict[str, Field] = {}
        subject_fields = []
        for name, spec in fields.items():
            field = _compile_field(name, spec, zone)
            if field.value_of is SUBJECT_FIELD:
                subject_fields.append(name)
            else:
                compiled[name] = field
            self.source_columns |= field.columns
        if self.key_field in subject_fields:
            raise MappingConfigError(f"key field {self.key_field!r} cannot be the subject pseudonym")
        for name, field in compiled.items():
            for target in sorted(field.references):
                if target not in compiled or compiled[target].references:
                    raise MappingConfigError(
                        f"field {name!r}: template reads @{target}, which is not a field mapped from the source "
                        f"(fields it can read: {', '.join(sorted(n for n, f in compiled.items() if not f.references))})")
        # Templates reading other fields go last, when those fields are in the payload.
        ordered = sorted(compiled.items(), key=lambda item: bool(item[1].references))
        self._fields = tuple((name, field.column, field.chain, field.settle, field.value_of) for name, field in ordered)
        self.fields = tuple(fields)  # every target field, in the order written
        self._subject_fields = tuple(subject_fields)
        key_field = compiled[self.key_field]
        self._key_of = key_field.value_of
        self._key_needs = tuple((name, compiled[name].value_of) for name in sorted(key_field.references))
        self._subject_of = self._compile_subject(config.get("subject"), environ)
        if subject_fields and self._subject_of is None:
            raise MappingConfigError(f"field(s) {', '.join(map(repr, subject_fields))} carry the subject pseudonym, "
                                     "but the mapping has no subject: {from: <column>, hash_key_env: <variable>}")

    def _compile_subject(self, spec, environ):
        if spec is None:
            return None
        if not isinstance(spec, dict) or "from" not in spec or "hash_key_env" not in spec:
            raise MappingConfigError("subject needs {from: <column>, hash_key_env: <environment variable>}")
        variable = spec["hash_key_env"]
        secret = environ.get(variable)
        if not secret:
            raise MappingConfigError(
                f"subject: environment variable {variable!r} (the pseudonymisation key) is not set"
            )
        secret = secret.encode("utf-8")
        column = spec["from"]
        get = _column_getter(column, "subject")
        self.source_columns.add(column)

        def subject_of(data):
            value = get(data)
            if _empty(value):
                raise MappingError("the data-subject id is empty", "subject", column)
            # Normalised first, so ' ab123 ' and 'AB123' name the same person.
            text = _text(value).strip().upper()
            return hmac.new(secret, text.encode("utf-8"), hashlib.sha256).hexdigest()

        return subject_of

    def check_columns(self, columns) -> None:
        """Raise MappingError naming every mapped column the source does not have (None = unknown)."""
        if columns is None:
            return
        available = set(columns)
        missing = sorted(c for c in self.source_columns if c not in available and c.split(".")[0] not in available)
        if missing:
            raise MappingError(
                f"the mapping uses column(s) the source does not have: {', '.join(map(repr, missing))} "
                f"(the source has: {', '.join(map(repr, columns))})"
            )

    def map(self, row) -> tuple[dict | None, str, str | None]:
        """(payload, key, subject) for a SourceRow; payload is None for a delete."""
        data = row.data
        if row.op == "delete":
            return None, self._key(data), self._delete_subject(data)
        payload: dict = {}
        for name, column, chain, settle, value_of in self._fields:
            if column is not None:
                # A text cell that is not empty, the commonest case, without value_of's calls.
                value = data.get(column)
                if value.__class__ is str and value.strip():
                    if chain is not None:
                        value = chain(value)
                        if value is None or isinstance(value, date):
                            value = settle(value)
                            if value is None:
                                continue
                    payload[name] = value
                    continue
            value = value_of(data, payload)
            if value is not None:
                payload[name] = value
        key = payload.get(self.key_field)
        if _empty(key):
            raise MappingError("the key field is empty", self.key_field)
        subject = self._subject_of(data) if self._subject_of else None
        for name in self._subject_fields:
            payload[name] = subject
        return payload, _text(key), subject

    def _key(self, data) -> str:
        needed: dict = {}
        for name, value_of in self._key_needs:  # a key templated from other fields
            value = value_of(data, needed)
            if value is not None:
                needed[name] = value
        key = self._key_of(data, needed)
        if _empty(key):
            raise MappingError("the key field is empty", self.key_field)
        return _text(key)

    def _delete_subject(self, data):
        # A delete found by key comparison carries only the key columns.
        if self._subject_of is None:
            return None
        try:
            return self._subject_of(data)
        except MappingError:
            return None


def compile_mapping(config: dict, environ=None, time_zone: str | tzinfo = DEFAULT_TIME_ZONE) -> Mapper:
    return Mapper(config, environ, time_zone)
