"""docs/deployment.md names only commands the project has: each `causeway-hub ...` line in its
shell blocks parses with the real command line (and, for `serve`, is a combination of processes
PostgreSQL accepts), and each `python bench/...` line uses options its benchmark has."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "deployment.md").read_text(encoding="utf-8")
SHELL_BLOCK = re.compile(r"```sh\n(.*?)```", re.S)


def _command_lines(program: str) -> list[list[str]]:
    lines = []
    for block in SHELL_BLOCK.findall(DOC):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:len(program.split())] == program.split():
                lines.append(words)
    return lines


HUB_LINES = _command_lines("causeway-hub")
BENCH_LINES = _command_lines("python")


def test_the_doc_has_the_commands_of_a_multi_node_install():
    commands = {" ".join(words[1:2]) for words in HUB_LINES}
    assert {"init", "serve", "deliver", "mqtt", "subscription"} <= commands
    assert any("--workers" in words for words in HUB_LINES)
    assert {words[1] for words in BENCH_LINES} == {"bench/ingest.py", "bench/fanout.py"}


@pytest.mark.parametrize("words", HUB_LINES, ids=lambda words: " ".join(words[1:4]))
def test_each_hub_command_parses_with_the_real_command_line(words):
    from hub.cli import build_parser
    from hub.cli.serve import _process_counts

    try:
        args = build_parser().parse_args(words[1:])
    except SystemExit as refused:
        pytest.fail(f"`{' '.join(words)}` is not a command causeway-hub takes (exit {refused.code})")
    if args.command == "serve":  # the doc's database is PostgreSQL, where several processes may run
        args.db = "postgresql://causeway@db1.internal/causeway"
        _process_counts(args)


def test_each_benchmark_line_uses_options_the_benchmark_has():
    for script in sorted({words[1] for words in BENCH_LINES}):
        usage = subprocess.run([sys.executable, script, "--help"], cwd=REPO, capture_output=True, text=True,
                               timeout=120).stdout
        for words in BENCH_LINES:
            if words[1] == script:
                unknown = [w for w in words[2:] if w.startswith("--") and not re.search(rf"{w}\b", usage)]
                assert not unknown, f"{script} has no {unknown}"
