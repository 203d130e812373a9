"""Conditions on a record: a tiny expression language, parsed and compiled once, never eval'd.

    payload.custodian == provider
    payload.status in ["approved", "provisional"]
    payload.benefit_duration_months >= 6 and not (payload.referring_org == "sds")

Names: `payload.<field>[.<field>...]`, `provider`, `recipient`, `purpose`, `dataset`.
Operators: == != < <= > >= in, not in, and, or, not, parentheses. Literals: strings in
single or double quotes, numbers, true, false, null, and lists of literals.
A missing field reads as null; an ordering between values of different types is false.
"""
from __future__ import annotations

import re
from typing import Callable

Evaluator = Callable[[dict | None, dict], object]

NAMES = ("provider", "recipient", "purpose", "dataset")

_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
  | (?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)*)
""", re.VERBOSE)

_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


class ConditionError(ValueError):
    def __init__(self, message: str, column: int):
        super().__init__(f"{message} (at column {column + 1})")
        self.column = column


def _tokens(text: str) -> list[tuple[str, str, int]]:
    found, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            raise ConditionError(f"unexpected character {text[pos]!r}", pos)
        kind = match.lastgroup
        if kind != "space":
            value = match.group(kind)
            if kind == "name" and value in _KEYWORDS:
                kind = "keyword"
            found.append((kind, value, pos))
        pos = match.end()
    found.append(("end", "", len(text)))
    return found


def _unquote(token: str) -> str:
    body = token[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _compare(op: str, left, right) -> bool:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op in ("in", "not in"):
        inside = isinstance(right, (list, tuple, str, frozenset)) and (
            isinstance(left, str) or not isinstance(right, str)) and left in right
        return inside if op == "in" else not inside
    try:
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.at = 0

    def peek(self):
        return self.tokens[self.at]

    def take(self):
        token = self.tokens[self.at]
        self.at += 1
        return token

    def expect(self, value: str):
        kind, got, pos = self.take()
        if got != value:
            raise ConditionError(f"expected {value!r} but found {got or 'the end'!r}", pos)

    def parse(self) -> Evaluator:
        evaluator = self.or_expr()
        kind, value, pos = self.peek()
        if kind != "end":
            raise ConditionError(f"unexpected {value!r}", pos)
        return evaluator

    def or_expr(self) -> Evaluator:
        parts = [self.and_expr()]
        while self.peek()[1] == "or" and self.peek()[0] == "keyword":
            self.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda p, e: any(part(p, e) for part in parts)

    def and_expr(self) -> Evaluator:
        parts = [self.not_expr()]
        while self.peek()[1] == "and" and self.peek()[0] == "keyword":
            self.take()
            parts.append(self.not_expr())
        if len(parts) == 1:
            return parts[0]
        return lambda p, e: all(part(p, e) for part in parts)

    def not_expr(self) -> Evaluator:
        if self.peek()[:2] == ("keyword", "not"):
            self.take()
            inner = self.not_expr()
            return lambda p, e: not inner(p, e)
        return self.comparison()

    def comparison(self) -> Evaluator:
        if self.peek()[1] == "(":
            self.take()
            inner = self.or_expr()
            self.expect(")")
            return inner
        left = self.operand()
        kind, value, pos = self.take()
        if kind == "op" and value in ("==", "!=", "<", "<=", ">", ">="):
            op = value
        elif kind == "keyword" and value == "in":
            op = "in"
        elif kind == "keyword" and value == "not" and self.peek()[:2] == ("keyword", "in"):
            self.take()
            op = "not in"
        else:
            raise ConditionError(f"expected a comparison (==, !=, <, <=, >, >=, in, not in) but found {value or 'the end'!r}", pos)
        right = self.operand()
        return lambda p, e: _compare(op, left(p, e), right(p, e))

    def operand(self) -> Evaluator:
        kind, value, pos = self.take()
        if kind == "string":
            text = _unquote(value)
            return lambda p, e: text
        if kind == "number":
            number = float(value) if "." in value else int(value)
            return lambda p, e: number
        if kind == "keyword" and value in ("true", "false", "null"):
            constant = {"true": True, "false": False, "null": None}[value]
            return lambda p, e: constant
        if value == "[":
            items = []
            if self.peek()[1] != "]":
                while True:
                    item_kind, item, item_pos = self.peek()
                    if item_kind not in ("string", "number") and item not in ("true", "false", "null"):
                        raise ConditionError(f"a list holds only literal values, not {item or 'the end'!r}", item_pos)
                    items.append(self.operand()(None, {}))
                    if self.peek()[1] == ",":
                        self.take()
                        continue
                    break
            self.expect("]")
            frozen = tuple(items)
            return lambda p, e: frozen
        if kind == "name":
            return self.name(value, pos)
        raise ConditionError(f"expected a value or a name but found {value or 'the end'!r}", pos)

    def name(self, dotted: str, pos: int) -> Evaluator:
        parts = dotted.split(".")
        root = parts[0]
        if root == "payload":
            path = parts[1:]
            if not path:
                raise ConditionError("name a field: payload.<field>", pos)
            if len(path) == 1:
                field = path[0]
                return lambda p, e: p.get(field) if p is not None else None

            def walk(p, e):
                value = p
                for step in path:
                    if not isinstance(value, dict):
                        return None
                    value = value.get(step)
                return value
            return walk
        if root in NAMES and len(parts) == 1:
            return lambda p, e: e.get(root)
        raise ConditionError(f"unknown name {dotted!r}: use payload.<field>, {', '.join(NAMES)}", pos)


def compile_condition(text: str) -> Evaluator:
    """Parse once; the result is called as evaluator(payload, {"provider": ..., ...})."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("a condition must be a non-empty expression", 0)
    return _Parser(text).parse()


def payload_fields(text: str) -> list[str]:
    """Top-level payload fields a condition reads (for checking them against the schema)."""
    return [name.split(".")[1] for kind, name, _ in _tokens(text)
            if kind == "name" and name.startswith("payload.") and len(name.split(".")) > 1]


_NAME_WORDS = {"provider": "the organisation that published it", "recipient": "the recipient",
               "purpose": "the purpose", "dataset": "the dataset"}
_OPERATOR_WORDS = {"==": "is", "!=": "is not", "<": "is less than", "<=": "is at most", ">": "is more than",
                   ">=": "is at least", "in": "is one of", "not in": "is not one of"}


def describe_condition(text: str) -> str:
    """A condition read aloud: 'payload.referring_org == provider' ->
    "its referring_org is the organisation that published it". The text as it is if it does not parse."""
    try:
        compile_condition(text)
        tokens = _tokens(text)
    except ConditionError:
        return text
    words: list[str] = []
    in_list: list[str] | None = None
    index = 0
    while index < len(tokens):
        kind, value, _ = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ("end", "", 0)
        index += 1
        if in_list is not None:
            if value == "]":
                words.append(" or ".join(in_list) if in_list else "nothing")
                in_list = None
            elif kind == "string":
                in_list.append(f"“{_unquote(value)}”")
            elif value != ",":
                in_list.append(value)
        elif value == "[":
            in_list = []
        elif kind == "string":
            words.append(f"“{_unquote(value)}”")
        elif kind == "name" and value.startswith("payload."):
            words.append("its " + value[len("payload."):].replace(".", " → "))
        elif kind == "name":
            words.append(_NAME_WORDS.get(value, value))
        elif kind == "keyword" and value == "not" and following[:2] == ("keyword", "in"):
            words.append(_OPERATOR_WORDS["not in"])
            index += 1
        elif kind == "keyword" and value == "not":
            words.append("not")
        elif value in _OPERATOR_WORDS:
            words.append(_OPERATOR_WORDS[value])
        elif kind == "keyword" and value in ("true", "false", "null"):
            words.append({"true": "true", "false": "false", "null": "empty"}[value])
        elif kind != "end":
            words.append(value)
    return " ".join(words).replace("( ", "(").replace(" )", ")")
