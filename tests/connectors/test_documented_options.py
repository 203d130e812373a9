"""docs/connectors.md and the connectors' schemas say the same: every option a source's table
documents is one its schema takes, and every option a schema takes is documented."""
import re
from pathlib import Path

import pytest
import yaml

from connectors import connector_class, option_problems

DOC = (Path(__file__).resolve().parents[2] / "docs" / "connectors.md").read_text(encoding="utf-8")


def section(kind: str) -> str:
    return re.search(rf"^## {kind}\n(.*?)(?=^## )", DOC, re.S | re.M).group(1)


def table_options(text: str) -> set[str]:
    """The backticked names in the first column of the section's option table."""
    found = set()
    for line in text.splitlines():
        if line.startswith("| `"):
            found |= set(re.findall(r"`([a-z_]+)`", line.split("|")[1]))
    return found


@pytest.mark.parametrize("kind", ["spreadsheet", "sql", "files", "http"])
def test_the_documented_source_options_are_the_schema(kind):
    declared = set(connector_class(kind, "source").options_schema["properties"])
    documented = table_options(section(kind))
    assert documented - declared == set(), "documented but not accepted"
    assert declared - documented == set(), "accepted but not documented"


@pytest.mark.parametrize("kind", ["spreadsheet", "sql", "http"])
def test_every_sink_option_is_documented(kind):
    sink_text = section(kind).split("**Sink**", 1)[1]
    mentioned = set(re.findall(r"`([a-z_]+)", sink_text))
    declared = set(connector_class(kind, "sink").options_schema["properties"])
    shared = {"connect_timeout", "schema"} if kind == "sql" else set()  # as for the source
    assert declared - mentioned - shared == set()


def _documented_connectors():
    docs = Path(__file__).resolve().parents[2] / "docs"
    for name in ("agent.md", "connectors.md"):
        for block in re.findall(r"```yaml\n(.*?)```", (docs / name).read_text(encoding="utf-8"), re.S):
            yield from _connectors_in(yaml.safe_load(block), name)


def _connectors_in(node, where, direction=None):
    if isinstance(node, list):
        for item in node:
            yield from _connectors_in(item, where, direction)
    elif isinstance(node, dict):
        direction = node.get("direction", direction)
        connector = node.get("connector")
        if isinstance(connector, dict) and "kind" in connector:
            yield pytest.param(connector, "sink" if direction == "subscribe" else "source",
                               id=f"{where}:{connector['kind']}:{len(str(connector))}")
        for value in node.values():
            yield from _connectors_in(value, where, direction)


@pytest.mark.parametrize("connector, role", list(_documented_connectors()))
def test_every_documented_example_is_valid(connector, role):
    schema = connector_class(connector["kind"], role).options_schema
    assert option_problems(schema, connector.get("options")) == []
