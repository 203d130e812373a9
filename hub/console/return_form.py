"""The console's form for drafting a return, turned into the same settings the API takes
(and back, to start a new version from the one before). Fields, rules and rates are written
one a line, so governance staff need not write JSON:

  fields   pupils_on_roll | Pupils on roll | integer            (integer, number, text, one of: a, b, c;
           breakfast_club | Breakfast club places | integer | optional)
  rules    Free meals within roll | fm_p1_p5 + fm_p6_s6 <= pupils_on_roll | high | row
  rates    registered_percent | free_meals_registered / pupils_on_roll | 100
"""
from __future__ import annotations

import re

from hub.returns.rules import RuleError, split_comparison

TYPES = {"integer": {"type": "integer", "minimum": 0}, "number": {"type": "number"}, "text": {"type": "string"}}


class FormProblems(Exception):
    def __init__(self, problems: list[dict]):
        super().__init__("; ".join(p["message"] for p in problems))
        self.problems = problems  # [{field, line, message}]


def _lines(text: str):
    for number, line in enumerate((text or "").splitlines(), start=1):
        if line.strip():
            yield number, [part.strip() for part in line.split("|")]


def _fields(text: str, problems: list[dict]) -> dict:
    properties, required = {}, []
    for number, parts in _lines(text):
        if len(parts) < 3:
            problems.append({"field": "fields", "line": number,
                             "message": "write name | title | type (integer, number, text or one of: a, b)"})
            continue
        name, title, kind = parts[0], parts[1], parts[2]
        if kind.lower().startswith("one of:"):
            choices = [c.strip() for c in kind[len("one of:"):].split(",") if c.strip()]
            spec = {"type": "string", "enum": choices}
        elif kind.lower() in TYPES:
            spec = dict(TYPES[kind.lower()])
        else:
            problems.append({"field": "fields", "line": number,
                             "message": f"type {kind!r} must be integer, number, text or one of: a, b, c"})
            continue
        properties[name] = {**spec, "title": title} if title else spec
        if not (len(parts) > 3 and parts[3].lower() == "optional"):
            required.append(name)
    schema = {"type": "object", "additionalProperties": False, "properties": properties}
    return {**schema, "required": required} if required else schema


def _rules(text: str, problems: list[dict]) -> list[dict]:
    found = []
    for number, parts in _lines(text):
        if len(parts) < 2:
            problems.append({"field": "rules", "line": number,
                             "message": "write name | left side <= right side | importance | scope"})
            continue
        try:
            left, symbol, right = split_comparison(parts[1])
        except RuleError as exc:
            problems.append({"field": "rules", "line": number, "message": str(exc)})
            continue
        rule = {"name": parts[0], "left": left, "operator": symbol, "right": right}
        if len(parts) > 2 and parts[2]:
            rule["importance"] = parts[2].lower()
        if len(parts) > 3 and parts[3]:
            rule["scope"] = parts[3].lower()
        found.append(rule)
    return found


def _rates(text: str, problems: list[dict]) -> list[dict]:
    found = []
    for number, parts in _lines(text):
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*/\s*([A-Za-z_][A-Za-z0-9_]*)$", parts[1]) if len(parts) > 1 else None
        if not match:
            problems.append({"field": "rates", "line": number, "message": "write name | numerator / denominator | per"})
            continue
        rate = {"name": parts[0], "numerator": match.group(1), "denominator": match.group(2)}
        if len(parts) > 2 and parts[2]:
            try:
                rate["per"] = float(parts[2])
            except ValueError:
                problems.append({"field": "rates", "line": number, "message": f"per {parts[2]!r} must be a number"})
                continue
        found.append(rate)
    return found


def spec_from_form(form) -> dict:
    """The settings the form says (FormProblems naming the line of each mistake it can see itself)."""
    problems: list[dict] = []
    publishers = (form.get("expected_publishers") or "").strip()
    spec = {
        "name": (form.get("name") or "").strip(), "title": (form.get("title") or "").strip(),
        "frequency": form.get("frequency") or "", "guidance": form.get("guidance") or "",
        "expected_publishers": "all-councils" if publishers in ("", "all-councils")
        else [p.strip() for p in publishers.split(",") if p.strip()],
        "fields": _fields(form.get("fields", ""), problems),
    }
    try:
        spec["due_days_after_period_end"] = int(form.get("due_days") or "")
    except ValueError:
        problems.append({"field": "due_days", "line": None, "message": "the due day is a whole number of days"})
    for name in ("introduced", "reviewed", "applies_from"):
        if (form.get(name) or "").strip():
            spec[name] = form[name].strip()
    rules, rates = _rules(form.get("rules", ""), problems), _rates(form.get("rates", ""), problems)
    if rules:
        spec["rules"] = rules
    if rates:
        spec["rates"] = rates
    if problems:
        raise FormProblems(problems)
    return spec


def form_from_spec(name: str, spec: dict) -> dict:
    """The form's text for a stored version (to draft the next one from it)."""
    required = set(spec["fields"].get("required", []))
    lines = []
    for field, detail in (spec["fields"].get("properties") or {}).items():
        if "enum" in detail:
            kind = "one of: " + ", ".join(str(c) for c in detail["enum"])
        else:
            kind = {"integer": "integer", "number": "number"}.get(detail.get("type"), "text")
        lines.append(" | ".join([field, detail.get("title", ""), kind] + ([] if field in required else ["optional"])))
    publishers = spec["expected_publishers"]
    return {
        "name": name, "title": spec["title"], "frequency": spec["frequency"],
        "due_days": str(spec["due_days_after_period_end"]), "guidance": spec.get("guidance", ""),
        "expected_publishers": publishers if isinstance(publishers, str) else ", ".join(publishers),
        "fields": "\n".join(lines),
        "rules": "\n".join(f"{r['name']} | {r['left']} {r['operator']} {r['right']} | {r.get('importance', 'medium')} | "
                           f"{r.get('scope', 'row')}" for r in spec.get("rules", [])),
        "rates": "\n".join(f"{r['name']} | {r['numerator']} / {r['denominator']} | {r.get('per', 100):g}"
                           for r in spec.get("rates", [])),
    }
