"""Every YAML example in README.md and docs/*.md is checked the way its reader will use it:
agent configurations (and the tasks, connectors and mappings shown on their own) by a real
`causeway-agent check` against a real hub process; agreements by the hub's agreement
validator; `periodic:` blocks by the hub's catalogue check.

An example that is deliberately a fragment is marked with `<!-- fragment: why -->` on the
line before its fence; it must still be YAML. Keep that rare.

`check` is run on the example as written, with only the hub's address, the state
directory and the passphrase file replaced by the test's. The examples name council
systems that do not exist here (a database server, a share, a subscription id), so the
only failures allowed are the ones `check` reports about the world rather than the file:
a source or sink it cannot reach, a subscription the hub does not know.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import yaml

from agents.config import load_config
from support import ROOT
from support.agents import enrol, run_agent

pytestmark = pytest.mark.e2e

DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```ya?ml\s*$")
FRAGMENT = re.compile(r"^<!--\s*fragment:\s*\S.*-->\s*$")
WORLD_FAILURES = re.compile(r"^  FAIL (source unavailable|sink unavailable|subscription unreadable): ")


@dataclasses.dataclass
class Example:
    document: Path
    line: int
    text: str
    fragment: bool

    @property
    def name(self) -> str:
        return f"{self.document.relative_to(ROOT)}:{self.line}"


def _examples() -> list[Example]:
    found = []
    for document in DOCUMENTS:
        lines = document.read_text(encoding="utf-8").splitlines()
        index = 0
        while index < len(lines):
            if FENCE.match(lines[index]):
                end = next(i for i in range(index + 1, len(lines)) if lines[i].startswith("```"))
                marked = index > 0 and bool(FRAGMENT.match(lines[index - 1]))
                found.append(Example(document, index + 1, "\n".join(lines[index + 1:end]) + "\n", marked))
                index = end
            index += 1
    return found


EXAMPLES = _examples()


def kind_of(document) -> str:
    if isinstance(document, list) and document and all(isinstance(t, dict) and "direction" in t for t in document):
        return "tasks"
    if not isinstance(document, dict):
        return "unknown"
    if "hub" in document and ("tasks" in document or document.get("managed_by") == "hub"):
        return "agent"
    if set(document) == {"connector"}:
        return "connector"
    if set(document) == {"mapping"}:
        return "mapping"
    if set(document) == {"periodic"}:
        return "periodic"
    if set(document) == {"cadence"}:
        return "cadence"
    if {"providers", "recipients", "datasets"} <= set(document):
        return "agreement"
    return "unknown"


def test_the_docs_have_examples_and_few_fragments():
    assert len(EXAMPLES) >= 10
    fragments = [e.name for e in EXAMPLES if e.fragment]
    assert len(fragments) <= 2, f"too many examples marked as fragments: {fragments}"


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.fragment], ids=lambda e: e.name)
def test_a_marked_fragment_is_still_yaml(example):
    yaml.safe_load(example.text)


# ---------------------------------------------------------------- agent configurations

def _secrets_named(value) -> dict:
    """A stand-in for every secret the example names by environment variable (password_env,
    auth_env, hash_key_env): the council sets those; the check must get past them."""
    found = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            if key.endswith("_env") and isinstance(inner, str):
                found[inner] = f"stand-in-secret-for-{inner.lower()}"
            found.update(_secrets_named(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(_secrets_named(inner))
    return found


def _task_around(extra: dict) -> dict:
    """A publish task with whatever the example does not show (the example's part wins)."""
    return {"name": "example", "direction": "publish", "dataset": "gazetteer-address",
            "connector": {"kind": "spreadsheet", "options": {"folder": "no-such-share"}},
            "mapping": {"fields": {"uprn": {"const": "906700000001"}}},
            "schedule": {"interval_seconds": 300}, **extra}


def _as_agent_config(kind: str, document) -> dict:
    if kind == "agent":
        return document
    if kind == "tasks":
        tasks = document
    elif kind == "connector":
        tasks = [_task_around(document)]
    else:
        tasks = [_task_around({**document, "dataset": document["mapping"].get("dataset", "gazetteer-address")})]
    return {"hub": {"url": "https://causeway.example.scot"}, "state_dir": "state", "tasks": tasks}


@pytest.fixture(scope="module")
def enrolled_state(shared_hub, tmp_path_factory):
    state = tmp_path_factory.mktemp("docs-agent") / "state"
    enrol(shared_hub, state)
    return state


AGENT_EXAMPLES = [e for e in EXAMPLES if not e.fragment
                  and kind_of(yaml.safe_load(e.text)) in ("agent", "tasks", "connector", "mapping")]


@pytest.mark.parametrize("example", AGENT_EXAMPLES, ids=lambda e: e.name)
def test_an_agent_example_passes_causeway_agent_check(example, shared_hub, enrolled_state, tmp_path):
    document = _as_agent_config(kind_of(yaml.safe_load(example.text)), yaml.safe_load(example.text))
    # First as written: the file's own settings (proxy, CA bundle, paths) must be valid.
    as_written = tmp_path / "as-written.yaml"
    as_written.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    config = load_config(as_written)
    # Then against the test's hub, with the test's state directory.
    document["hub"] = {"url": shared_hub.url, "timeout_seconds": 10}
    document["state_dir"] = str(enrolled_state)
    document.pop("passphrase_file", None)
    runnable = tmp_path / "agent.yaml"
    runnable.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    result = run_agent(runnable, "check", "--rows", "2", **_secrets_named(document))
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1), output
    if document.get("managed_by") == "hub":
        assert "valid, hub-managed" in result.stdout and "all checks passed" in result.stdout, output
    else:
        assert f"valid, {len(config.tasks)} task(s)" in result.stdout, output
    assert "hub http" in result.stdout and "reachable" in result.stdout, output
    problems = [line for line in result.stdout.splitlines() if "FAIL" in line and not WORLD_FAILURES.match(line)
                and not re.match(r"^  FAIL \d+ row\(s\) would be rejected", line)]
    assert not problems, output
    for task in config.tasks:
        if task.direction == "publish":
            assert f"task {task.name} " in result.stdout and "  mapping: " in result.stdout, output


# ---------------------------------------------------------------- hub formats

def test_every_example_is_of_a_kind_the_test_checks():
    unknown = [e.name for e in EXAMPLES if not e.fragment and kind_of(yaml.safe_load(e.text)) == "unknown"]
    assert not unknown, f"examples this test cannot check (give them a checked shape, or mark them): {unknown}"


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.fragment
                                     and kind_of(yaml.safe_load(e.text)) == "agreement"], ids=lambda e: e.name)
def test_an_agreement_example_passes_the_agreement_validator(example):
    from causeway_common.catalogue import load_catalogue
    from hub.policy.agreements import parse_agreement

    catalogue = load_catalogue()
    orgs = {org["slug"] for org in yaml.safe_load((ROOT / "policies" / "orgs.yaml").read_text(encoding="utf-8"))}
    document = parse_agreement(example.text, dataset_of=catalogue.get, org_exists=orgs.__contains__)
    assert document["datasets"]


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.fragment
                                     and kind_of(yaml.safe_load(e.text)) == "periodic"], ids=lambda e: e.name)
def test_a_periodic_example_passes_the_catalogue_check(example):
    from causeway_common.catalogue import DEFAULT_SCHEMAS_DIR, load_catalogue
    from hub.returns.declaration import validate_periodic

    catalogue = load_catalogue()
    block = yaml.safe_load(example.text)["periodic"]
    dataset = next(d for d in catalogue.values() if d.periodic)
    validate_periodic({dataset.name: dataclasses.replace(dataset, periodic=block)}, DEFAULT_SCHEMAS_DIR)


@pytest.mark.parametrize("example", [e for e in EXAMPLES if not e.fragment
                                     and kind_of(yaml.safe_load(e.text)) == "cadence"], ids=lambda e: e.name)
def test_a_cadence_example_passes_the_catalogue_check(example):
    from causeway_common.catalogue import _cadence

    assert _cadence("example", yaml.safe_load(example.text)["cadence"])
