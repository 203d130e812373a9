"""docs/architecture.md names real code: every path exists and every dotted name imports."""
from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOC = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
CODE = re.findall(r"`([^`\s]+)`", DOC)
PATHS = sorted({c for c in CODE if re.fullmatch(r"[a-z_]+(/[\w.<>-]+)*/?", c) and ("/" in c or c.endswith(".py"))
                and "<" not in c})
DOTTED = sorted({c for c in CODE if re.fullmatch(r"(hub|agents|connectors|causeway_common)(\.\w+)+", c)})


@pytest.mark.parametrize("path", PATHS)
def test_every_path_it_names_exists(path):
    assert (REPO / path).exists() or any(REPO.glob(f"*/{path}")) or any(REPO.glob(f"*/*/{path}")), path


@pytest.mark.parametrize("name", DOTTED)
def test_every_dotted_name_it_names_imports(name):
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            target = getattr(target, attribute)
        return
    pytest.fail(f"{name} does not import")


def test_it_names_the_code_at_all():
    assert len(PATHS) > 20 and len(DOTTED) > 20
