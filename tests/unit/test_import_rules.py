"""The layering of genlab's assessment code, read from the source with ast.

``genlab.checks`` and ``genlab.grading`` import ``genlab.exercises`` (the one home of
each exercise's contract); nothing outside ``genlab/grading`` (and the CLI dispatcher)
imports ``genlab.grading``; no import cycle anywhere in genlab.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "genlab"

#: Modules outside genlab/grading allowed to import it: the CLI dispatcher, and the doctor, which
#: reports (lazily, inside one function) which grading sandbox this machine can run.
GRADING_IMPORTERS = {"genlab.cli", "genlab.doctor"}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _graph(top_level_only: bool) -> dict[str, set[str]]:
    """``module -> genlab modules it imports`` (``from x import y`` counts ``x.y`` when that is a module)."""
    modules = {_module_name(p): p for p in PKG.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        # imports under ``if TYPE_CHECKING:`` never run: they are annotations, not dependencies
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
                       for stmt in node.body for n in ast.walk(stmt)}
        nodes = tree.body if top_level_only else [n for n in ast.walk(tree) if id(n) not in typing_only]
        deps: set[str] = set()
        for node in nodes:
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                subs = [f"{mod}.{a.name}" for a in node.names]
                # ``from pkg import submodule`` imports the submodule; pkg itself only when a name is not one
                targets = subs + ([mod] if not all(t in modules for t in subs) else [])
            else:
                continue
            # a deferred import of a name the parent package re-exports runs after the package is
            # initialised: not a cycle at import time, so it only counts at the top level
            deps |= {t for t in targets if t in modules and t != name
                     and (top_level_only or node in tree.body or not name.startswith(t + "."))}
        graph[name] = deps
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state and (found := visit(m)):
                return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (found := visit(n)):
            return found
    return None


def _imports(graph: dict[str, set[str]], importer: str, target: str) -> bool:
    return any(d == target or d.startswith(target + ".") for m, ds in graph.items()
               if m == importer or m.startswith(importer + ".") for d in ds)


def test_checks_and_grading_read_the_exercises():
    graph = _graph(top_level_only=False)
    assert _imports(graph, "genlab.checks", "genlab.exercises")
    assert _imports(graph, "genlab.grading", "genlab.exercises")


def test_exercises_and_checks_do_not_import_the_grader():
    graph = _graph(top_level_only=False)
    outside = {m for m, ds in graph.items() if not m.startswith("genlab.grading")
               and any(d == "genlab.grading" or d.startswith("genlab.grading.") for d in ds)}
    assert outside <= GRADING_IMPORTERS, sorted(outside - GRADING_IMPORTERS)


def test_no_import_cycle_in_genlab():
    for top_level_only in (True, False):  # at import time, and counting imports inside functions too
        cycle = _cycle(_graph(top_level_only))
        assert cycle is None, " -> ".join(cycle)
