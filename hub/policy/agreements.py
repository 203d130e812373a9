"""Reading an agreement as governance staff write it (YAML), and checking it.

Every mistake is reported with the place it was made: the line of the YAML and a
dotted path such as `datasets.referral.fields[3]`, so the author can find it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterable

import jsonschema_rs
import yaml

from causeway_common.catalogue import load_format_schema
from hub.timeutil import parse_iso

from .conditions import ConditionError, compile_condition, payload_fields
from .vocabulary import NOTICE_DATASET, PUBLIC

# An agreement is a short document: these bound what parsing one may cost.
MAX_SOURCE_BYTES = 256 * 1024  # the default of Settings.agreement_source_max_bytes
MAX_DEPTH = 16  # mappings and lists inside each other; the format needs 5


@dataclass(frozen=True)
class AgreementProblem:
    path: str
    line: int | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        if self.line and self.column:
            where = f"line {self.line}, column {self.column}: "
        return f"{where}{self.path or '(document)'}: {self.message}"

    def as_dict(self) -> dict:
        found = {"path": self.path, "line": self.line, "message": self.message}
        if self.column is not None:
            found["column"] = self.column
        return found


class AgreementError(ValueError):
    def __init__(self, problems: list[AgreementProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


class _Loader(yaml.SafeLoader):
    """Dates stay as written (strings); the JSON Schema checks their form.

    Anchors and aliases are refused: an agreement has no use for them, and a few
    hundred bytes of nested aliases expand to gigabytes (the "billion laughs").
    Nesting is bounded, so composing cannot exhaust the stack."""

    _depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, f"an alias (*{event.anchor}) is not allowed in an agreement: write the value out",
                event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, f"an anchor (&{event.anchor}) is not allowed in an agreement: write the value out",
                event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested more than {MAX_DEPTH} levels deep; an agreement needs far fewer",
                    event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _dotted(parts: Iterable) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_of(node, parts: list) -> int | None:
    """The line (1-based) of the deepest node along `parts` that exists."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node, path: list) -> list[AgreementProblem]:
    found = []
    if isinstance(node, yaml.MappingNode):
        seen = set()
        for key, value in node.value:
            if key.value in seen:
                found.append(AgreementProblem(_dotted(path + [key.value]), key.start_mark.line + 1,
                                              f"{key.value!r} is given twice; say it once"))
            seen.add(key.value)
            found.extend(_duplicate_keys(value, path + [key.value]))
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            found.extend(_duplicate_keys(item, path + [index]))
    return found


def _place(source: str, index: int) -> tuple[int, int]:
    """(line, column), both 1-based, of a character index."""
    line_start = source.rfind("\n", 0, index) + 1
    return source.count("\n", 0, index) + 1, index - line_start + 1


def check_size(source: str, limit: int = MAX_SOURCE_BYTES) -> None:
    """AgreementSourceTooLarge when the source is longer than `limit` bytes of UTF-8."""
    # Cheap bounds first: a character is one to four bytes.
    if len(source) > limit or (len(source) * 4 > limit and len(source.encode("utf-8", "surrogatepass")) > limit):
        raise AgreementSourceTooLarge(limit)


class AgreementSourceTooLarge(ValueError):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"an agreement's YAML may be at most {limit} bytes (UTF-8); split the agreement "
                         "or shorten its descriptions")


def load_yaml(source: str):
    """(data, node tree); AgreementError with the line (and column) on bad YAML."""
    loader = None
    try:
        loader = _Loader(source)  # reading checks every character, so this can fail too
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.reader.ReaderError as exc:
        line, column = _place(source, exc.position)
        character = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise AgreementError([AgreementProblem(
            "", line, f"not valid YAML: the character {character!r} (U+{ord(character):04X}) is not "
                      "allowed: remove it or write it as an escape in a double-quoted string", column)]) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise AgreementError([AgreementProblem("", line, f"not valid YAML: {exc.problem or exc}", column)]) from None
    except yaml.YAMLError as exc:
        raise AgreementError([AgreementProblem("", None, f"not valid YAML: {exc}")]) from None
    except ValueError as exc:  # e.g. an integer of more digits than Python converts
        raise AgreementError([AgreementProblem("", None, f"not a value an agreement can hold: {exc}")]) from None
    finally:
        if loader is not None:
            loader.dispose()
    if not isinstance(data, dict):
        raise AgreementError([AgreementProblem("", 1, "an agreement is a YAML mapping (id: ..., title: ..., ...)")])
    duplicates = _duplicate_keys(node, [])
    if duplicates:
        raise AgreementError(duplicates)
    return data, node


_VALIDATOR = None


def _schema_validator():
    global _VALIDATOR
    if _VALIDATOR is None:
        _VALIDATOR = jsonschema_rs.validator_for(load_format_schema("agreement"), validate_formats=True)
    return _VALIDATOR


def moment(text: str, end_of_day: bool = False) -> datetime:
    """A date means that whole day in UTC: from its start, or (for an end) until its end."""
    if len(text) == 10:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=timezone.utc)
        return day + timedelta(days=1) if end_of_day else day
    return parse_iso(text)


def window(document: dict) -> tuple[datetime, datetime]:
    return moment(document["valid_from"]), moment(document["valid_until"], end_of_day=True)


# What each kind of value in the format must look like, in words (not the pattern itself).
FORM_WORDS = {
    "id": "lower-case letters, digits, dots and hyphens, 3 to 100 characters, such as referral-edinburgh-sds",
    "slug": "an org's id: lower-case letters, digits and hyphens, such as edinburgh",
    "field": "a field name: letters, digits, _ and -, starting with a letter or _",
    "moment": "a date (YYYY-MM-DD, such as 2026-01-01) or a date and time (2026-01-01T09:00:00Z)",
    "purposes": "a W3C DPV purpose name in PascalCase, such as ServiceProvision",
    "datasets": "a dataset name: lower-case letters, digits, dots and hyphens",
}


TYPE_WORDS = {"array": "a list, such as [a, b]", "string": "text", "integer": "a whole number",
              "number": "a number", "object": "a mapping of settings (name: value lines)", "boolean": "true or false"}


def _what_is_expected(error) -> str | None:
    """The words for the value an error's schema path describes, if there are some."""
    for name in reversed([str(p) for p in error.schema_path]):
        if name in FORM_WORDS:
            return FORM_WORDS[name]
    return None


def _schema_at(schema_path) -> dict:
    found = load_format_schema("agreement")
    for part in schema_path:
        found = found[part] if isinstance(found, dict) else found[int(part)]
    return found


def schema_problems(data, node) -> list[tuple[list, int | None, str]]:
    """(path, line, message) for each place the document breaks the format, one per place,
    in words; a missing setting is reported at the mapping that lacks it (no line for the
    top level: there is no line to point at, only one to add)."""
    found: dict[tuple, tuple[list, int | None, str]] = {}
    for error in _schema_validator().iter_errors(data):
        parts = list(error.instance_path)
        kind = type(error.kind).__name__
        if kind == "Required":
            missing = error.kind.property
            where = f"{_dotted(parts)} needs" if parts else "an agreement needs"
            entry = (parts + [missing], _line_of(node, parts) if parts else None,
                     f"missing: {where} {missing}; add a line '{missing}: ...'")
        elif kind == "AnyOf" and all(set(choice) == {"required"} for choice in _schema_at(list(error.schema_path))):
            # one of several settings is needed (fields, or aggregate): name them, at the mapping
            choices = [name for choice in _schema_at(list(error.schema_path)) for name in choice["required"]]
            entry = (parts + [choices[0]], _line_of(node, parts),
                     f"missing: {_dotted(parts) or 'an agreement'} needs {' or '.join(choices)}; "
                     f"add a line '{choices[0]}: ...'")
        elif kind == "AdditionalProperties":
            for key in error.kind.unexpected:
                known = sorted(_schema_at(list(error.schema_path)[:-1]).get("properties", {}))
                found.setdefault(tuple(parts + [key]), (parts + [key], _line_of(node, parts + [key]),
                                                        f"{key!r} is not a setting here (the settings: {', '.join(known)})"))
            continue
        elif kind == "Enum":
            value = error.instance
            choices = _schema_at(list(error.schema_path))  # the path ends at the enum's list
            entry = (parts, _line_of(node, parts), f"{value!r} is not one of the choices: {', '.join(map(str, choices))}")
        elif kind in ("Pattern", "AnyOf", "Format", "PropertyNames") and _what_is_expected(error):
            entry = (parts, _line_of(node, parts), f"{error.instance!r} is not {_what_is_expected(error)}")
        elif kind == "Type":
            wanted = _schema_at(list(error.schema_path))
            words = " or ".join(TYPE_WORDS.get(t, t) for t in ([wanted] if isinstance(wanted, str) else wanted))
            expected = _what_is_expected(error)
            entry = (parts, _line_of(node, parts),
                     f"should be {words}" + (f": {expected}" if expected else ""))
        else:
            entry = (parts, _line_of(node, parts), error.message)
        found.setdefault(tuple(entry[0]), entry)
    return sorted(found.values(), key=lambda e: (e[1] or 0, _dotted(e[0])))


def parse_agreement(source: str, *, dataset_of: Callable, org_exists: Callable[[str], bool]) -> dict:
    """Parse and check an agreement; returns its normalised document or raises AgreementError
    listing every problem found. `dataset_of(name)` gives a catalogue Dataset or None."""
    data, node = load_yaml(source)
    problems: list[AgreementProblem] = []

    def problem(parts: list, message: str):
        problems.append(AgreementProblem(_dotted(parts), _line_of(node, parts), message))

    # Every mistake at once: the form's, then the meaning of every part whose form is right.
    broken: list[tuple] = []
    for parts, line, message in schema_problems(data, node):
        problems.append(AgreementProblem(_dotted(parts), line, message))
        broken.append(tuple(parts))

    def sound(*parts) -> bool:
        """Whether the form of this part (and everything in it) is right, so its meaning can be checked."""
        return not any(b[:len(parts)] == parts or parts[:len(b)] == b for b in broken)

    for side in ("providers", "recipients"):
        for index, org in enumerate(data.get(side) if sound(side) else []):
            if org == PUBLIC:
                if side == "providers":
                    problem([side, index], "the public receives open data; it cannot provide it")
                continue
            if not org_exists(org):
                problem([side, index], f"unknown org {org!r} (add it first: causeway-hub org add {org} --name ...)")
    for index, contact in enumerate(data.get("contacts", []) if sound("contacts") else []):
        if not org_exists(contact["org"]):
            problem(["contacts", index, "org"], f"unknown org {contact['org']!r}")

    if sound("valid_from") and sound("valid_until"):
        try:
            starts, ends = window(data)
        except ValueError as exc:
            problem(["valid_from"], f"not a date or date-time: {exc}")
        else:
            if ends <= starts:
                problem(["valid_until"], f"ends ({data['valid_until']}) before it starts ({data['valid_from']})")

    datasets = {}
    for name, spec in (data["datasets"].items() if sound("datasets") else ()):
        at = ["datasets", name]
        if name == NOTICE_DATASET or name.startswith("causeway."):
            problem(at, f"{name} is made by the hub itself and cannot be shared by agreement")
            continue
        dataset = dataset_of(name)
        if dataset is None:
            problem(at, f"unknown dataset {name!r}")
            continue
        known = {}
        for version, schema in dataset.schemas.items():
            for field in schema.get("properties", {}):
                known.setdefault(field, version)
        spec = {"fields": list(spec.get("fields", [])), "pseudonymise": list(spec.get("pseudonymise", [])),
                "generalise": dict(spec.get("generalise", {})), "conditions": list(spec.get("conditions", [])),
                **({"cadence": dict(spec["cadence"])} if "cadence" in spec else {}),
                **({"aggregate": dict(spec["aggregate"])} if "aggregate" in spec else {}),
                **{setting: spec[setting] for setting in ("direction", "acknowledge_within", "article9_condition")
                   if setting in spec}}
        where: dict[str, str] = {}
        for setting in ("fields", "pseudonymise"):
            for index, field in enumerate(spec[setting]):
                if field not in known:
                    problem(at + [setting, index], f"{field!r} is not a field of dataset {name} "
                                                   f"(its fields: {', '.join(sorted(known))})")
                elif field in where:
                    problem(at + [setting, index], f"{field!r} is listed in both {where[field]} and {setting}: "
                                                   "a field is sent as it is, pseudonymised or generalised, not two of these")
                else:
                    where[field] = setting
        for field in spec["generalise"]:
            if field not in known:
                problem(at + ["generalise", field], f"{field!r} is not a field of dataset {name} "
                                                    f"(its fields: {', '.join(sorted(known))})")
            elif field in where:
                problem(at + ["generalise", field], f"{field!r} is listed in both {where[field]} and generalise: "
                                                    "a field is sent as it is, pseudonymised or generalised, not two of these")
            else:
                where[field] = "generalise"
        if "aggregate" in spec:
            _check_aggregate(spec, known, at, problem)
        elif dataset.key_field not in spec["fields"] and dataset.key_field not in spec["pseudonymise"]:
            problem(at + ["fields"], f"the key field {dataset.key_field!r} must be in fields or pseudonymise, "
                                     "so recipients can apply updates and deletions")
        for index, text in enumerate(spec["conditions"]):
            try:
                compile_condition(text)
            except ConditionError as exc:
                problem(at + ["conditions", index], f"condition {text!r}: {exc}")
                continue
            for field in payload_fields(text):
                if field not in known:
                    problem(at + ["conditions", index], f"condition {text!r} reads payload.{field}, "
                                                        f"which is not a field of dataset {name}")
        if sound("recipients") and PUBLIC in data["recipients"] and dataset.personal and "aggregate" not in spec:
            problem(at, f"{name} is personal data, so it cannot be published to the public; "
                        "publish counts of it instead (aggregate: {rows: ..., columns: ...}), "
                        "which the hub's disclosure control protects")
        if data.get("lawful_basis") == "consent" and not dataset.personal:
            problem(at, f"lawful basis consent needs records about a person, but {name} is not personal data: "
                        "choose another basis or another dataset")
        datasets[name] = spec
    if problems:
        raise AgreementError(sorted(problems, key=lambda p: (p.line or 0, p.path)))

    return {
        "id": data["id"],
        "title": data["title"],
        "description": data.get("description", ""),
        "providers": list(data["providers"]),
        "recipients": list(data["recipients"]),
        "datasets": datasets,
        "purposes": list(data["purposes"]),
        "lawful_basis": data["lawful_basis"],
        "valid_from": data["valid_from"],
        "valid_until": data["valid_until"],
        "retention_days": data["retention_days"],
        "contacts": list(data.get("contacts", [])),
        "dpia_reference": data.get("dpia_reference"),
        "review_date": data.get("review_date"),
    }


AGGREGATE_AXES = ("publisher", "quarter")  # besides payload fields


def _check_aggregate(spec: dict, known: dict, at: list, problem) -> None:
    """An aggregate publishes counts only, over two axes the dataset has."""
    for setting in ("fields", "pseudonymise", "generalise"):
        if spec[setting]:
            problem(at + [setting], f"an aggregate publishes counts only: leave out {setting}")
    aggregate = spec["aggregate"]
    for axis in ("rows", "columns"):
        value = aggregate[axis]
        if value not in AGGREGATE_AXES and value not in known:
            problem(at + ["aggregate", axis], f"{value!r} is neither a field of the dataset nor one of "
                                              f"{', '.join(AGGREGATE_AXES)}")
    if aggregate["rows"] == aggregate["columns"]:
        problem(at + ["aggregate", "columns"], "rows and columns must count by two different things")


def describe_changes(before: dict | None, after: dict) -> list[str]:
    """A readable list of what changed between two versions' documents."""
    if before is None:
        return ["first version"]
    changes: list[str] = []

    def walk(old, new, path: str):
        if old == new:
            return
        if isinstance(old, dict) and isinstance(new, dict):
            for key in sorted(set(old) | set(new), key=str):
                sub = f"{path}.{key}" if path else str(key)
                if key not in old:
                    changes.append(f"{sub}: added {_show(new[key])}")
                elif key not in new:
                    changes.append(f"{sub}: removed (was {_show(old[key])})")
                else:
                    walk(old[key], new[key], sub)
        elif isinstance(old, list) and isinstance(new, list) and all(
                not isinstance(v, (dict, list)) for v in old + new):
            added = [v for v in new if v not in old]
            removed = [v for v in old if v not in new]
            if added:
                changes.append(f"{path}: added {', '.join(map(_show, added))}")
            if removed:
                changes.append(f"{path}: removed {', '.join(map(_show, removed))}")
            if not added and not removed:
                changes.append(f"{path}: reordered")
        else:
            changes.append(f"{path}: {_show(old)} → {_show(new)}")

    walk(before, after, "")
    return changes


def _show(value) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()
    return str(value)
