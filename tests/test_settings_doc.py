"""The settings reference is complete: every CAUSEWAY_* variable the code reads is in
the docs (the hub's in docs/hub.md), and every option of `causeway-hub` is in docs/hub.md."""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CODE_PACKAGES = ("hub", "agents", "connectors", "causeway_common")
VARIABLE = re.compile(r"\bCAUSEWAY_[A-Z0-9_]*[A-Z0-9]\b")
HUB_DOC = (REPO / "docs" / "hub.md").read_text(encoding="utf-8")
ALL_DOCS = "\n".join(p.read_text(encoding="utf-8") for p in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))])


def _variables(package: str) -> set[str]:
    return {name for path in (REPO / package).rglob("*.py") for name in VARIABLE.findall(path.read_text(encoding="utf-8"))}


def _options(parser: argparse.ArgumentParser, command: str = "causeway-hub"):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _options(sub, f"{command} {name}")
        elif action.option_strings and action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction):
            yield command, max(action.option_strings, key=len)


def test_the_code_reads_variables_at_all():
    assert {"CAUSEWAY_DB", "CAUSEWAY_WEBHOOK_ALLOW_NETWORKS", "CAUSEWAY_LEASE_SECONDS"} <= _variables("hub")


@pytest.mark.parametrize("name", sorted(_variables("hub")))
def test_every_hub_variable_is_in_the_hub_settings_reference(name):
    assert f"`{name}`" in HUB_DOC, f"{name} is read by the hub but not described in docs/hub.md"


@pytest.mark.parametrize("name", sorted(set().union(*(_variables(p) for p in CODE_PACKAGES))))
def test_every_variable_the_code_reads_is_documented(name):
    assert name in ALL_DOCS, f"{name} is read by the code but no document names it"


def test_every_hub_command_line_option_is_in_docs_hub_md():
    from hub.cli import build_parser

    options = sorted(set(_options(build_parser())))
    assert len(options) > 30
    missing = [f"{command} {option}" for command, option in options if f"`{option}" not in HUB_DOC]
    assert not missing, f"options not in docs/hub.md: {missing}"


def test_serve_and_deliver_workers_are_explained():
    section = HUB_DOC[HUB_DOC.index("### Delivery workers"):]
    assert "one\ndelivery worker" in section and "**more workers**" in section
