"""The console's form for one row of a council's return, generated from the return's JSON Schema
(the companion of return_form.py, which drafts the return itself).

Each field of the schema becomes one input: whole numbers and numbers as numeric text boxes
with their minimum and maximum, fixed values (`enum`) as a select, true/false as a select, text
as a text box; required fields are marked, and the field's title and description are its label
and hint. What comes back is turned into the row's values here, naming the field of every
mistake the form can see itself (a number that is not one, a value not on the list, a value
too long, a field the return does not have); the return's own checks (minimum, maximum,
rules) are then the hub's, mapped back onto their fields.
"""
from __future__ import annotations

import math
import re

from .return_form import FormProblems

PREFIX = "v_"  # form names of the row's values: v_<field>
MAX_VALUE = 1000  # characters in one field of the form
MAX_KEY = 200
WHOLE = re.compile(r"^[+-]?[0-9]{1,15}$")
DECIMAL = re.compile(r"^[+-]?([0-9]{1,15}(\.[0-9]{0,10})?|\.[0-9]{1,10})$")


def form_fields(schema: dict) -> list[dict]:
    """The inputs of the form, in the schema's order."""
    required = set(schema.get("required") or [])
    fields = []
    for name, spec in (schema.get("properties") or {}).items():
        kind = spec.get("type")
        if isinstance(kind, list):  # ["integer", "null"]: the first type that is not null
            kind = next((k for k in kind if k != "null"), "string")
        if "enum" in spec:
            kind = "choice"
        elif kind == "boolean":
            kind = "boolean"
        elif kind not in ("integer", "number"):
            kind = "text"
        fields.append({
            "name": name, "input": PREFIX + name, "label": spec.get("title") or name.replace("_", " ").capitalize(),
            "kind": kind, "choices": [str(c) for c in spec.get("enum", [])], "required": name in required,
            "minimum": spec.get("minimum"), "maximum": spec.get("maximum"), "max_length": spec.get("maxLength"),
            "hint": _hint(spec, kind),
        })
    return fields


def _hint(spec: dict, kind: str) -> str:
    said = [str(spec["description"])] if spec.get("description") else []
    if kind in ("integer", "number"):
        bounds = [f"at least {spec['minimum']:g}" if "minimum" in spec else "",
                  f"at most {spec['maximum']:g}" if "maximum" in spec else ""]
        words = "A whole number" if kind == "integer" else "A number"
        said.append(" ".join([words] + [" and ".join(b for b in bounds if b)]).strip() + ".")
    return " ".join(said)


def values_from_form(schema: dict, form) -> tuple[str, dict]:
    """The row's key and values; FormProblems naming the field of each mistake."""
    problems: list[dict] = []
    fields = {f["name"]: f for f in form_fields(schema)}
    for name in form:
        if name.startswith(PREFIX) and name[len(PREFIX):] not in fields:
            problems.append({"field": None, "line": None,
                             "message": f"{name[len(PREFIX):][:60]!r} is not a field of this return"})
    key = (form.get("key") or "").strip()
    if not key:
        problems.append({"field": "key", "line": None, "message": "Enter the row's key (a name or code unique in the return)"})
    elif len(key) > MAX_KEY:
        problems.append({"field": "key", "line": None, "message": f"The key is at most {MAX_KEY} characters"})
    values: dict = {}
    for name, field in fields.items():
        raw = (form.get(field["input"]) or "").strip()
        if len(raw) > MAX_VALUE:
            problems.append({"field": name, "line": None,
                             "message": f"{field['label']} is at most {MAX_VALUE} characters"})
            continue
        if not raw:
            if field["required"]:
                verb = "Choose" if field["kind"] in ("choice", "boolean") else "Enter"
                problems.append({"field": name, "line": None, "message": f"{verb} {field['label'].lower()}"})
            continue
        value, mistake = _convert(field, raw)
        if mistake:
            problems.append({"field": name, "line": None, "message": mistake})
        else:
            values[name] = value
    if problems:
        raise FormProblems(problems)
    return key, values


def _convert(field: dict, raw: str):
    label = field["label"]
    if field["kind"] == "integer":
        return (int(raw), None) if WHOLE.match(raw) else (None, f"{label} must be a whole number, like 12")
    if field["kind"] == "number":
        if not DECIMAL.match(raw) or not math.isfinite(float(raw)):
            return None, f"{label} must be a number, like 12.5"
        return float(raw), None
    if field["kind"] == "choice":
        return (raw, None) if raw in field["choices"] else (None, f"Choose {label.lower()} from the list")
    if field["kind"] == "boolean":
        if raw not in ("yes", "no"):
            return None, f"Choose yes or no for {label.lower()}"
        return raw == "yes", None
    return raw, None


def problems_from_errors(errors: list[dict]) -> list[dict]:
    """The hub's row problems ({path: /values/<field>, message}) as the form's, on their fields."""
    found = []
    for error in errors:
        parts = (error.get("path") or "").strip("/").split("/")
        field = parts[1] if len(parts) > 1 and parts[0] == "values" else ("key" if parts[0] == "key" else None)
        found.append({"field": field, "line": None, "message": error["message"]})
    return found


def form_from_values(key: str, values: dict, schema: dict) -> dict:
    """What the form shows for a stored row."""
    shown = {"key": key}
    for field in form_fields(schema):
        value = values.get(field["name"])
        if value is None:
            continue
        if field["kind"] == "boolean":
            shown[field["input"]] = "yes" if value else "no"
        elif isinstance(value, float) and value.is_integer():
            shown[field["input"]] = str(int(value)) if field["kind"] == "integer" else f"{value:g}"
        else:
            shown[field["input"]] = str(value)
    return shown
