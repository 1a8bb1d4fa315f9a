"""The package's layout: imports go one way, from the command down to the library.

The import graph is read from the source (every ``import`` statement,
including those inside functions, since a function-level import is as much
a dependency as a top-level one), not from what happens to be loaded.
Cross-cutting: it checks every module of abcref/. No package imports
another that imports it back, no modules import each other in a cycle, the
library never imports the applications or the command, and the two tiers
hold: the reference tier (ops, binarize, bitpack) imports nothing above it,
and the fast tier imports none of the layers, compiler, trainer,
applications or command built on it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "abcref"


def _modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of abcref."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _known(name: str) -> str | None:
    """The deepest module of abcref that ``import name`` loads (None if outside abcref)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str) -> set[str]:
    """The abcref modules ``module`` imports."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            # ``from pkg import name``: name is a submodule, or something defined in pkg.
            names = [
                f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names
            ]
        else:
            continue
        found.update(k for k in map(_known, names) if k is not None and k != module)
    return found


GRAPH = {module: _imports(module) for module in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on_stack, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _package(module: str) -> str:
    """``abcref.cli.train`` -> ``abcref.cli``; ``abcref._io`` -> itself."""
    return ".".join(module.split(".")[:2])


def _reachable(module: str) -> set[str]:
    """Every abcref module that importing ``module`` loads, directly or through others."""
    seen, todo = set(), [module]
    while todo:
        for dep in GRAPH[todo.pop()]:
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen - {module}


PACKAGES = sorted({_package(module) for module in MODULES})
REFERENCE_TIER = ("abcref.ops", "abcref.binarize", "abcref.bitpack")
ABOVE_FAST = ("abcref.nn", "abcref.compiler", "abcref.train", "abcref.apps", "abcref.cli")


def test_the_graph_is_read():
    assert "abcref.apps.sweep" in GRAPH["abcref.cli.sweep"]
    assert "abcref.cli._common" in GRAPH["abcref.cli.train"]
    assert "abcref.apps.results" in GRAPH["abcref.apps.sweep"]
    assert "abcref.bitpack.pack" not in GRAPH["abcref.compiler.packed"]
    assert "abcref.bitpack.pack" in _reachable("abcref.compiler.packed")  # through bitpack.conv
    assert {"abcref.ops", "abcref.cli", "abcref._checks", "abcref.viz"} <= set(PACKAGES)


def test_packages_import_one_way():
    """No two packages of abcref import each other, directly or through others."""
    graph = {}
    for module, deps in GRAPH.items():
        graph.setdefault(_package(module), set()).update(
            _package(d) for d in deps if _package(d) != _package(module)
        )
    assert _cycles(graph) == []


@pytest.mark.parametrize("package", PACKAGES)
def test_no_module_import_cycle(package):
    """No cycle of modules passes through any module of the package (every module of abcref)."""
    cycles = [c for c in _cycles(GRAPH) if any(_package(m) == package for m in c)]
    assert cycles == []


def test_the_library_never_imports_the_command_or_the_applications():
    upward = {
        (module, dep)
        for module, deps in GRAPH.items()
        if _package(module) not in ("abcref.cli", "abcref.apps", "abcref.__main__")
        for dep in deps
        if _package(dep) in ("abcref.cli", "abcref.apps")
    }
    assert upward == set()


def test_the_applications_never_import_the_command():
    upward = {
        (module, dep)
        for module, deps in GRAPH.items()
        if _package(module) == "abcref.apps"
        for dep in deps
        if _package(dep) == "abcref.cli"
    }
    assert upward == set()


@pytest.mark.parametrize(
    ("tier", "above"),
    [(package, ("abcref.fast", *ABOVE_FAST)) for package in REFERENCE_TIER]
    + [("abcref.fast", ABOVE_FAST)],
    ids=["ops", "binarize", "bitpack", "fast"],
)
def test_the_reference_and_fast_tiers_import_nothing_built_on_them(tier, above):
    """ops, binarize, bitpack import neither fast nor what is built on it; fast, no layer."""
    upward = {
        (module, dep)
        for module in MODULES
        if _package(module) == tier
        for dep in _reachable(module)
        if _package(dep) in above
    }
    assert upward == set()


def test_nothing_in_the_library_imports_the_exercise_checkers():
    """abcref.exercises serves the tutorials; no part of abcref depends on it."""
    users = {
        (module, dep)
        for module, deps in GRAPH.items()
        if _package(module) != "abcref.exercises"
        for dep in deps
        if _package(dep) == "abcref.exercises"
    }
    assert users == set()
