"""No import cycle in hub/: read from the source with ast, so an import hidden inside a
function (the usual way a cycle is dodged rather than removed) counts like any other.

An import of a package's submodule also runs the package's __init__, so it counts as an
import of that package too, except from inside the package itself (a submodule reaching
for its sibling does not re-enter its own package). Imports under `if TYPE_CHECKING:`
never run and do not count.
"""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "hub"


def module_names(root: Path) -> dict[str, Path]:
    found = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST):
    """Every Import / ImportFrom node, skipping `if TYPE_CHECKING:` bodies."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def imported_by(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The hub modules `name` imports (directly, or as the package of a submodule it imports)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
            base = ".".join(anchor + ([base] if base else []))
        for alias in node.names:
            submodule = f"{base}.{alias.name}"
            targets.add(submodule if submodule in modules else base)
    edges = set()
    for target in targets:
        parts = target.split(".")
        for cut in range(1, len(parts) + 1):
            ancestor = ".".join(parts[:cut])
            inside = name == ancestor or name.startswith(ancestor + ".")
            if ancestor in modules and ancestor != name and (cut == len(parts) or not inside):
                edges.add(ancestor)
    return edges


def import_graph(root: Path = REPO) -> dict[str, set[str]]:
    modules = module_names(root)
    return {name: imported_by(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_hub_has_no_import_cycle():
    assert cycles(import_graph()) == []


def test_the_walker_finds_a_cycle_hidden_in_a_function(tmp_path):
    """The check can fail: a lazy import that closes a loop is found."""
    package = tmp_path / PACKAGE / "pages"
    package.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (package / "__init__.py").write_text("from . import views, more_views\n")
    (package / "views.py").write_text("def page():\n    from .more_views import helper\n")
    (package / "more_views.py").write_text("from .views import page\n")
    (package / "typing_only.py").write_text("from typing import TYPE_CHECKING\n"
                                           "if TYPE_CHECKING:\n    from . import views\n")
    assert cycles(import_graph(tmp_path)) == [["hub.pages.more_views", "hub.pages.views"]]


def test_an_import_from_outside_a_package_runs_its_init(tmp_path):
    package = tmp_path / PACKAGE / "pages"
    package.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (tmp_path / PACKAGE / "models.py").write_text("from hub.pages import tables\n")
    (package / "__init__.py").write_text("from . import views\n")
    (package / "tables.py").write_text("")
    (package / "views.py").write_text("from hub import models\n")
    assert cycles(import_graph(tmp_path)) == [["hub.models", "hub.pages", "hub.pages.views"]]
