"""Connector options as data.

Every Source and Sink declares its options as a JSON Schema (2020-12) in the
class attribute `options_schema`, the way singer-sdk taps declare
`config_jsonschema`. The schema is the single statement of what a connector
accepts: the agent checks a task's options against it when it loads agent.yaml
(so `causeway-agent check` names the line of a misspelt or wrong option), and
the connector checks them again when it is built, with the same messages.

Messages name the option and what was expected ("option 'chunk_rows' must be
at least 1, not 0"); an unknown option is refused, so a typo is never ignored.
A schema node may carry "x-message": the text to show when that node fails,
for rules the generic wording says badly ("give exactly one of 'path' or 'folder'").
"""
from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from .errors import ConnectorError

Schema = dict[str, Any]
OptionPath = tuple[str | int, ...]

# What a JSON type is called in a message.
_TYPE_WORDS = {
    "string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
    "object": "a mapping", "array": "a list", "null": "empty",
}


@dataclass(frozen=True)
class OptionProblem:
    """One mistake in a connector's options: where (path into the options) and what."""

    path: OptionPath
    message: str  # a whole sentence without the connector's name: "option 'format' must be one of ..."


def options_schema(properties: Mapping[str, Schema], *rules: Schema, description: str = "") -> Schema:
    """A connector's options: these properties and no others, and every rule (a schema
    over the whole mapping, e.g. "exactly one of path or folder") holding."""
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": dict(properties)}
    if description:
        schema["description"] = description
    if rules:
        schema["allOf"] = list(rules)
    return schema


def exactly_one_of(*names: str, message: str) -> Schema:
    """A rule: exactly one of these options is given."""
    return {"oneOf": [{"required": [name]} for name in names], "x-message": message}


CHUNK_ROWS: Schema = {"type": "integer", "minimum": 1, "default": 2000, "description": "rows per chunk"}


def text_or_list(description: str) -> Schema:
    """A name, or a non-empty list of names (a column or a compound key)."""
    return {
        "type": ["string", "array"], "minLength": 1, "minItems": 1,
        "items": {"type": "string", "minLength": 1},
        "x-message": "must be a name or a non-empty list of names",
        "description": description,
    }


def names(value: str | list[str] | None) -> list[str] | None:
    """An option written as `text_or_list`, as a list."""
    if value is None:
        return None
    return [value] if isinstance(value, str) else list(value)


@lru_cache(maxsize=64)
def _validator(schema_text: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json.loads(schema_text))


def _compiled(schema: Schema) -> jsonschema_rs.Validator:
    """Compiled once per schema (schemas are class attributes, so a handful per process)."""
    return _validator(json.dumps(schema, sort_keys=True))


def _node(schema: Schema, schema_path: list[str | int]) -> Any:
    node: Any = schema
    for part in schema_path:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _dotted(path: OptionPath) -> str:
    return ".".join(str(part) for part in path)


def _type_words(types: Any) -> str:
    listed = types if isinstance(types, list) else [types]
    return " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in listed)


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def _shown(value: object) -> str:
    """A refused value as a message may show it: short, and a URL's user and password hidden."""
    text = repr(value)
    text = _USERINFO.sub("***@", text)
    return text if len(text) <= 80 else text[:77] + "..."


def _sentence(schema: Schema, error: jsonschema_rs.ValidationError) -> tuple[OptionPath, str]:
    path: OptionPath = tuple(error.instance_path)
    kind = error.kind
    value = _shown(error.instance)
    node = _node(schema, list(error.schema_path)[:-1])
    custom = node.get("x-message") if isinstance(node, dict) else None
    subject = f"option {_dotted(path)!r}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        unexpected = sorted(kind.unexpected)
        known = sorted((node or {}).get("properties", {})) if isinstance(node, dict) else []
        where = f" of {_dotted(path)!r}" if path else ""
        noun = "option" if not path else "key"
        plural = "s" if len(unexpected) > 1 else ""
        return path + (unexpected[0],), (
            f"unknown {noun}{plural} {', '.join(map(repr, unexpected))}{where}; known {noun}s: {', '.join(known)}")
    if custom:
        return path, f"{subject} {custom}, not {value}" if path else str(custom)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        missing = _dotted(path + (kind.property,))
        return path, f"option {missing!r} is required"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        return path, f"{subject} must be one of {', '.join(map(repr, kind.options))}, not {value}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        return path, f"{subject} must be {_type_words(kind.types)}, not {value}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Minimum):
        return path, f"{subject} must be at least {kind.limit}, not {value}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Maximum):
        return path, f"{subject} must be at most {kind.limit}, not {value}"
    return path, f"{subject}: {error.message}" if path else error.message


def option_problems(schema: Schema, options: Mapping[str, Any] | None) -> list[OptionProblem]:
    """Every mistake in `options` against `schema`, in the order of the options."""
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        return [OptionProblem((), f"options must be a mapping, not {type(options).__name__}")]
    found = []
    for error in _compiled(schema).iter_errors(_present(schema, options)):
        path, message = _sentence(schema, error)
        found.append(OptionProblem(path, message))
    return found


def _present(schema: Schema, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options without known ones left empty (`sheet:` with no value means the default)."""
    known = schema.get("properties", {})
    return {name: value for name, value in options.items() if not (value is None and name in known)}


def validated_options(what: str, schema: Schema, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The options checked against the schema, with the schema's defaults filled in;
    ConnectorError naming every mistake otherwise."""
    problems = option_problems(schema, options)
    if problems:
        raise ConnectorError(f"{what}: " + "; ".join(p.message for p in problems))
    checked = _present(schema, options or {})
    for name, spec in schema.get("properties", {}).items():
        if name not in checked and isinstance(spec, dict) and "default" in spec:
            checked[name] = spec["default"]
    return checked


def resolve_path(base_dir: Path, value: str) -> Path:
    """A path option; a relative path is taken from the agent's base directory."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path


def optional_path(base_dir: Path, value: str | None) -> Path | None:
    return None if value is None else resolve_path(base_dir, value)


def env_secret(what: str, name: str, variable: str | None) -> str | None:
    """The value of the environment variable an option names (the secret itself never sits in config)."""
    if variable is None:
        return None
    value = os.environ.get(variable)
    if not value:
        raise ConnectorError(f"{what}: option {name!r} names environment variable {variable!r}, which is not set")
    return value


def content_version(data: Mapping[str, Any]) -> str:
    """A short hash of a row's content: changes exactly when the content changes.

    It hashes repr() of the items, which is deterministic for the values sources produce
    (text, numbers, dates, None, nested JSON) and several times faster than JSON. The
    hash must stay the same from one release to the next (it is part of each record id,
    and snapshots keep it to find changed rows), so rows of plain text, the commonest
    (every CSV row), are joined into that very text at C speed rather than repr()'d."""
    return hashlib.blake2b(_items_repr(data).encode("utf-8"), digest_size=16).hexdigest()


def _items_repr(data: Mapping[str, Any]) -> str:
    """repr(tuple(data.items())), faster when every name and value is text that repr() quotes as
    it is: no quote, no backslash, nothing unprintable (which repr() would escape)."""
    if len(data) > 1:  # one item's repr has a trailing comma
        try:
            text = "(('" + "'), ('".join(map("', '".join, data.items())) + "'))"
        except TypeError:  # a value that is not text (a number, a date, None)
            pass
        else:
            if text.count("'") == 4 * len(data) and "\\" not in text and text.isprintable():
                return text
    return repr(tuple(data.items()))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
