"""What a record may hold, checked the same way by the agent (before its outbox)
and the hub (per record): numbers JSON keeps exactly, bounded nesting, and
subject pseudonyms where a schema marks a field as one.

The checks are JSON Schema compiled into each dataset validator, so they run in
the validator's own (Rust) pass over the payload, with no extra Python walk.
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jsonschema_rs import KeywordValidator

# Integers beyond this lose digits in an IEEE double, which is what most JSON
# parsers (JavaScript's, orjson's beyond 64 bits) turn them into; larger numbers
# and identifiers travel as text.
MAX_SAFE_INTEGER = 2**53 - 1
DEFAULT_MAX_DEPTH = 64

# The schema keyword marking a field that must hold a subject pseudonym, never a
# raw identifier: the keyed HMAC-SHA256 an agent mapping computes (lowercase hex).
PSEUDONYM_KEYWORD = "x-causeway-pseudonym"
PSEUDONYM_FORMAT = re.compile(r"[0-9a-f]{64}")
_DEPTH = "causeway-depth-"


def guarded(schema: dict[str, Any], max_depth: int) -> dict[str, Any]:
    """`schema` with the number range and nesting limit added (as $defs it refers to)."""
    defs = {
        f"{_DEPTH}{level}": {
            "minimum": -MAX_SAFE_INTEGER, "maximum": MAX_SAFE_INTEGER,
            "items": {"$ref": f"#/$defs/{_DEPTH}{level + 1}"},
            "additionalProperties": {"$ref": f"#/$defs/{_DEPTH}{level + 1}"},
        }
        for level in range(1, max_depth + 1)
    }
    defs[f"{_DEPTH}{max_depth + 1}"] = {"type": ["string", "number", "boolean", "null"],
                                        "minimum": -MAX_SAFE_INTEGER, "maximum": MAX_SAFE_INTEGER}
    return {**schema, "$defs": {**schema.get("$defs", {}), **defs},
            "allOf": [*schema.get("allOf", []), {"$ref": f"#/$defs/{_DEPTH}1"}]}


def number_message(value: object) -> str:
    return (f"{value} is outside the range of numbers JSON keeps exactly "
            f"(-{MAX_SAFE_INTEGER} to {MAX_SAFE_INTEGER}); send larger numbers and identifiers as text")


def depth_message(max_depth: int) -> str:
    return f"nested deeper than {max_depth} levels of objects and arrays, the limit for a record"


def guard_message(schema_path: list[str | int], kind_name: str, instance: object, max_depth: int) -> str | None:
    """The clear message for an error raised by the guard's $defs, else None."""
    if len(schema_path) < 2 or not str(schema_path[-2]).startswith(_DEPTH):
        return None
    if kind_name in ("minimum", "maximum"):
        return number_message(instance)
    return depth_message(max_depth)


def too_deep(value: object, max_depth: int) -> list[str | int]:
    """The path to the first object or array nested deeper than `max_depth` (iterative:
    only called for values too deep for the validator itself)."""
    stack: list[tuple[object, list[str | int]]] = [(value, [])]
    while stack:
        current, path = stack.pop()
        if isinstance(current, (dict, list)):
            if len(path) >= max_depth:
                return path
            items = current.items() if isinstance(current, dict) else enumerate(current)
            stack.extend((child, [*path, step]) for step, child in items)
    return []


class PseudonymKeyword:
    """`"x-causeway-pseudonym": true`: the value must be a subject pseudonym."""

    def __init__(self, parent_schema: dict[str, Any], value: Any, schema_path: list[str | int]) -> None:
        self.enabled = value is True

    def validate(self, instance: Any) -> None:
        if self.enabled and not (instance.__class__ is str and PSEUDONYM_FORMAT.fullmatch(instance)):
            raise ValueError("must be a subject pseudonym (the keyed HMAC-SHA256 of the person's id, 64 lowercase "
                             "hex characters, as an agent mapping field `{subject: true}` gives), never a raw identifier")


KEYWORDS: dict[str, type[KeywordValidator]] = {PSEUDONYM_KEYWORD: PseudonymKeyword}
