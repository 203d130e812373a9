"""The alert rules: a small registry any domain adds to.

A rule is a function `(sources, now, settings) -> [Condition]` answering what is wrong at
`now`; the alert job turns each condition into an episode (hub.alerts.episodes). To add
one, decorate it with `@rule("name", "what it watches")` in a module that `hub.app`
imports (the built-in ones are in hub.alerts.rules).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine


@dataclass(frozen=True)
class Condition:
    """One thing wrong now. `key` names what is wrong (an agent, a subscription, ...) within
    its rule; `orgs` are the orgs concerned; `hold` is how long it must last before it is an
    alert (a failing subscription); `detail` is health metadata only (no payloads, subjects,
    error text or secrets: the hub operator reads it too)."""
    rule: str
    key: str
    orgs: tuple[str, ...]
    summary: str
    detail: dict = field(default_factory=dict)
    hold: timedelta = timedelta(0)


@dataclass
class Sources:
    """What rules read: the database, and the other domains' views they reuse."""
    engine: Engine
    agent_summaries: Callable[[], dict[str, dict]]
    coverage: Callable[[], dict]  # the coverage view of every council
    returns: Any  # hub.returns.service.ReturnService


RuleFunction = Callable[[Sources, datetime, Any], list[Condition]]


@dataclass(frozen=True)
class Rule:
    name: str
    title: str
    check: RuleFunction


RULES: dict[str, Rule] = {}


def rule(name: str, title: str) -> Callable[[RuleFunction], RuleFunction]:
    def register(check: RuleFunction) -> RuleFunction:
        RULES[name] = Rule(name, title, check)
        return check
    return register


def enabled_rules(disabled: tuple[str, ...] = ()) -> list[Rule]:
    return [r for name, r in sorted(RULES.items()) if name not in disabled]
