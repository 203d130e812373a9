"""Rejects in words a council's staff can act on: which rule of the dataset a record broke, said
from the dataset's own field titles and descriptions, never the schema's regular expression.

The hub keeps the validator's message per rejected field; the rule is read back from its form
(the messages are jsonschema's, one form per keyword), so one rule is one row however many
different values broke it."""
from __future__ import annotations

import re

RULE_FORMS = (  # (rule, the form of the validator's message)
    ("required", re.compile(r"is a required property$")),
    ("pattern", re.compile(r"does not match ")),
    ("type", re.compile(r'is not of type "(?P<type>[^"]+)"')),
    ("enum", re.compile(r"is not one of ")),
    ("format", re.compile(r'is not a "(?P<format>[^"]+)"$')),
    ("minLength", re.compile(r"is shorter than (?P<n>\d+) character")),
    ("maxLength", re.compile(r"is longer than (?P<n>\d+) character")),
    ("minimum", re.compile(r"is less than the minimum of (?P<n>\S+)")),
    ("maximum", re.compile(r"is greater than the maximum of (?P<n>\S+)")),
    ("additionalProperties", re.compile(r"\('(?P<name>[^']+)' (was|were) unexpected\)")),
)
TYPE_WORDS = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false",
              "array": "a list", "object": "a set of fields", "null": "empty"}
FORMAT_WORDS = {"date": "date (YYYY-MM-DD)", "date-time": "date and time (such as 2026-12-01T09:30:00Z)",
                "email": "e-mail address", "uri": "web address", "uuid": "UUID"}


def rule_of(message: str) -> tuple[str, dict]:
    """The rule a validator message reports ('pattern', 'required', ...) and what it names."""
    for rule, form in RULE_FORMS:
        found = form.search(message)
        if found:
            return rule, found.groupdict()
    return "other", {}


def _field_schema(dataset, path: str) -> tuple[str, dict]:
    """(field name, its schema) for a pointer such as /payload/postcode, from the newest schema version."""
    name = path.rsplit("/", 1)[-1] if path else ""
    if dataset is None or not path.startswith("/payload/"):
        return name, {}
    newest = dataset.schemas[max(dataset.schemas)] if dataset.schemas else {}
    return name, newest.get("properties", {}).get(name, {}) if path.count("/") == 2 else {}


def _first_sentence(text: str) -> str:
    """The first sentence of a schema description, without its Markdown code marks."""
    sentence = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return sentence.rstrip(".").replace("`", "")


def plain_message(dataset, path: str, message: str) -> str:
    """'"EH1" does not match "^[A-Z]{1,2}[0-9]..."' -> 'Postcode is not in the form the dataset expects: ...'."""
    rule, named = rule_of(message)
    name, schema = _field_schema(dataset, path)
    title = schema.get("title") or name or "The record"
    about = _first_sentence(schema.get("description", ""))
    what = dataset.title.lower() if dataset is not None and getattr(dataset, "title", None) else "record"
    if rule == "required":
        return f"{title} is missing: every {what} needs it." + (f" ({about}.)" if about else "")
    if rule == "pattern":
        return f"{title} is not written the way the dataset expects" + (f": {about}." if about else ".")
    if rule == "type":
        return f"{title} should be {TYPE_WORDS.get(named.get('type', ''), named.get('type', 'another kind of value'))}."
    if rule == "enum":
        allowed = schema.get("enum") or []
        return f"{title} is not one of the allowed values" + (f": {', '.join(map(str, allowed))}." if allowed else ".")
    if rule == "format":
        return f"{title} is not a valid {FORMAT_WORDS.get(named.get('format', ''), named.get('format', 'value'))}."
    if rule == "minLength":
        return f"{title} is empty or too short (at least {named['n']} character{'s' if named['n'] != '1' else ''})."
    if rule == "maxLength":
        return f"{title} is too long (at most {named['n']} characters)."
    if rule == "minimum":
        return f"{title} is below the lowest allowed value, {named['n']}."
    if rule == "maximum":
        return f"{title} is above the highest allowed value, {named['n']}."
    if rule == "additionalProperties":
        return f"The record has a field the dataset does not define: {named['name']} (remove it or map it to a defined field)."
    return message
