"""Validation rules declared with a return, in the manner of DHIS2's: a left side, an
operator and a right side, each side an arithmetic expression over a row's fields (or the
return's totals), e.g. `free_meals_p1_p5 + free_meals_p6_s6 <= roll`.

Expressions are parsed by the small recursive-descent parser below, never evaluated as
Python: field names, numbers, + - * /, unary minus and parentheses, nothing else. A rule
whose side names a field the row has no number for is skipped (DHIS2's "skip if any value
is missing"), as is one that would divide by zero: nothing can be said of it.
"""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass

OPERATORS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
             ">": operator.gt, ">=": operator.ge}
SYMBOLS = {"==": "=", "!=": "≠", "<": "<", "<=": "≤", ">": ">", ">=": "≥"}
IMPORTANCE = ("high", "medium", "low")
SCOPES = ("row", "totals")
MAX_EXPRESSION = 500
_TOKEN = re.compile(r"\s*(?:(?P<number>\d+(?:\.\d+)?)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<symbol>[-+*/()]))")


class RuleError(ValueError):
    """An expression that cannot be parsed, with the position of the mistake (1-based)."""


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Negate:
    operand: object


@dataclass(frozen=True)
class Binary:
    symbol: str
    left: object
    right: object


class _Missing(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str, int]]:
    found, at = [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at >= len(text):
            return found
        match = _TOKEN.match(text, at)
        if not match:
            raise RuleError(f"unexpected {text[at]!r} at character {at + 1}: "
                            "use field names, numbers, + - * / and brackets")
        kind = match.lastgroup
        found.append((kind, match.group(kind), match.start(kind) + 1))
        at = match.end()


class _Parser:
    def __init__(self, text: str):
        if len(text) > MAX_EXPRESSION:
            raise RuleError(f"an expression may be at most {MAX_EXPRESSION} characters")
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0

    def peek(self):
        return self.tokens[self.at] if self.at < len(self.tokens) else (None, None, None)

    def take(self):
        token = self.peek()
        self.at += 1
        return token

    def parse(self):
        if not self.tokens:
            raise RuleError("the expression is empty")
        tree = self.sum()
        kind, value, where = self.peek()
        if kind is not None:
            raise RuleError(f"unexpected {value!r} at character {where}")
        return tree

    def sum(self):
        tree = self.product()
        while self.peek()[1] in ("+", "-") and self.peek()[0] == "symbol":
            symbol = self.take()[1]
            tree = Binary(symbol, tree, self.product())
        return tree

    def product(self):
        tree = self.unary()
        while self.peek()[1] in ("*", "/") and self.peek()[0] == "symbol":
            symbol = self.take()[1]
            tree = Binary(symbol, tree, self.unary())
        return tree

    def unary(self):
        kind, value, where = self.take()
        if kind == "number":
            return Number(float(value))
        if kind == "name":
            return Field(value)
        if value == "-":
            return Negate(self.unary())
        if value == "(":
            self.depth += 1
            if self.depth > 20:
                raise RuleError("brackets are nested more than 20 deep")
            tree = self.sum()
            if self.take()[1] != ")":
                raise RuleError(f"the bracket opened at character {where} is not closed")
            self.depth -= 1
            return tree
        if kind is None:
            raise RuleError("the expression ends where a field name or number was expected")
        raise RuleError(f"unexpected {value!r} at character {where}: a field name or number was expected")


def parse_expression(text: str):
    return _Parser(text).parse()


def names_in(tree) -> set[str]:
    if isinstance(tree, Field):
        return {tree.name}
    if isinstance(tree, Negate):
        return names_in(tree.operand)
    if isinstance(tree, Binary):
        return names_in(tree.left) | names_in(tree.right)
    return set()


def evaluate(tree, values: dict) -> float:
    """The value of an expression over `values`; raises _Missing when a field has no number
    or a division is by zero."""
    if isinstance(tree, Number):
        return tree.value
    if isinstance(tree, Field):
        value = values.get(tree.name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _Missing(tree.name)
        return float(value)
    if isinstance(tree, Negate):
        return -evaluate(tree.operand, values)
    left, right = evaluate(tree.left, values), evaluate(tree.right, values)
    if tree.symbol == "+":
        return left + right
    if tree.symbol == "-":
        return left - right
    if tree.symbol == "*":
        return left * right
    if right == 0:
        raise _Missing("division by zero")
    return left / right


@dataclass(frozen=True)
class Rule:
    name: str
    left: str
    operator: str
    right: str
    importance: str = "medium"
    scope: str = "row"

    @property
    def text(self) -> str:
        return f"{self.left} {SYMBOLS[self.operator]} {self.right}"

    def as_dict(self) -> dict:
        return {"name": self.name, "left": self.left, "operator": self.operator, "right": self.right,
                "importance": self.importance, "scope": self.scope}

    def check(self, values: dict) -> dict | None:
        """None when the rule holds or cannot be judged; else what failed, in figures."""
        try:
            left = evaluate(parse_expression(self.left), values)
            right = evaluate(parse_expression(self.right), values)
        except _Missing:
            return None
        if OPERATORS[self.operator](round(left, 9), round(right, 9)):
            return None
        return {"check": "rule", "field": self.name, "rule": self.name, "importance": self.importance,
                "scope": self.scope, "left": _plain(left), "right": _plain(right),
                "message": f"{self.name}: {self.text} does not hold "
                           f"({_fmt(left)} is not {SYMBOLS[self.operator]} {_fmt(right)})"}


def _plain(value: float):
    return int(value) if float(value).is_integer() else round(value, 4)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def split_comparison(text: str) -> tuple[str, str, str]:
    """'a + b <= c' -> ('a + b', '<=', 'c'), for rules written on one line (the console)."""
    match = re.search(r"(==|!=|<=|>=|<|>|=|≤|≥|≠)", text)
    if not match:
        raise RuleError("write the rule as a comparison, e.g. free_meals_p1_p5 + free_meals_p6_s6 <= roll")
    symbol = {"=": "==", "≤": "<=", "≥": ">=", "≠": "!="}.get(match.group(1), match.group(1))
    return text[:match.start()].strip(), symbol, text[match.end():].strip()


def rule_from(entry: dict, numeric_fields: set[str], where: str) -> Rule:
    """A declared rule, checked: a parseable comparison over numeric fields of the return."""
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleError(f"{where}: a rule needs a name")
    symbol = entry.get("operator")
    if symbol not in OPERATORS:
        raise RuleError(f"{where} ({name}): operator {symbol!r} must be one of {', '.join(OPERATORS)}")
    importance = entry.get("importance", "medium")
    if importance not in IMPORTANCE:
        raise RuleError(f"{where} ({name}): importance {importance!r} must be one of {', '.join(IMPORTANCE)}")
    scope = entry.get("scope", "row")
    if scope not in SCOPES:
        raise RuleError(f"{where} ({name}): scope {scope!r} must be one of {', '.join(SCOPES)}")
    for side in ("left", "right"):
        text = entry.get(side)
        if not isinstance(text, str):
            raise RuleError(f"{where} ({name}): {side} must be an expression (text)")
        try:
            tree = parse_expression(text)
        except RuleError as exc:
            raise RuleError(f"{where} ({name}) {side} side {text!r}: {exc}") from None
        unknown = sorted(names_in(tree) - numeric_fields)
        if unknown:
            raise RuleError(f"{where} ({name}) {side} side: {', '.join(unknown)} "
                            f"{'is not a number field' if len(unknown) == 1 else 'are not number fields'} of the return "
                            f"(number fields: {', '.join(sorted(numeric_fields)) or 'none'})")
    return Rule(name.strip(), entry["left"], symbol, entry["right"], importance, scope)


def row_failures(key: str, values: dict, rules: tuple[Rule, ...]) -> list[dict]:
    return [{**found, "key": key} for rule in rules if rule.scope == "row"
            for found in [rule.check(values)] if found]


def totals_failures(totals: dict, rules: tuple[Rule, ...]) -> list[dict]:
    return [found for rule in rules if rule.scope == "totals" for found in [rule.check(totals)] if found]
