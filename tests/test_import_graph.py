"""The package's layers import each other in one direction only.

The graph is read from the source (the AST of every module in fwdcompile/),
not from ``sys.modules``, so it sees every import a module can make: at the
top of the file, inside functions (lazy imports) and under
``if TYPE_CHECKING``, relative or absolute.  A lazy import counts like any
other: importing late hides a cycle from Python but not from a reader, and
the layer above still depends on the one below.  The only exceptions are
listed in ``LAZY`` with the reason each one is deliberate.

Nodes are the layers: each subpackage (``fwdcompile.syntax``,
``fwdcompile.frontend``, ``fwdcompile.rules``, ``fwdcompile.transform``,
``fwdcompile.codegen``, ``fwdcompile.backends.llvm``, ``fwdcompile.runtime``,
``fwdcompile.distributed``) and each top-level
module (``fwdcompile.api``, ``fwdcompile.pipeline``, ...); imports inside one
subpackage are its own business.  ``fwdcompile.syntax``, the foundation,
imports nothing of the package but ``fwdcompile.errors``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "fwdcompile"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE
LAYERS = ("fwdcompile.syntax", "fwdcompile.frontend", "fwdcompile.rules",
          "fwdcompile.transform", "fwdcompile.codegen", "fwdcompile.backends.llvm",
          "fwdcompile.runtime", "fwdcompile.distributed")
FOUNDATION = "fwdcompile.syntax"
FOUNDATION_MAY_IMPORT = {"fwdcompile.errors"}

# (importing module, imported module) -> why this import is deliberately lazy
# and left out of the graph.  Empty: no lazy import closes a cycle today.
LAZY: dict[tuple[str, str], str] = {}


def _modules():
    """``{dotted module name: path}`` for every module of the package."""
    out = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(name, path, modules):
    """``[(imported module, line)]`` for every import of a package module in
    ``name`` (``from pkg import sub`` names the submodule when there is one)."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".")
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{alias.name}" if f"{module}.{alias.name}" in modules
                       else module for alias in node.names]
        else:
            continue
        for target in targets:
            if target == PACKAGE or target.startswith(PACKAGE + "."):
                while target not in modules:  # `import fwdcompile.a.b` of a name: its module
                    target = target.rpartition(".")[0]
                found.append((target, node.lineno))
    return found


def _layer(module):
    for layer in LAYERS:
        if module == layer or module.startswith(layer + "."):
            return layer
    return module


def import_graph():
    """``{layer: {imported layer: [(module, line), ...]}}``, lazy exceptions left out."""
    modules = _modules()
    graph: dict[str, dict[str, list]] = {}
    for name, path in modules.items():
        src = _layer(name)
        graph.setdefault(src, {})
        for target, line in _imports(name, path, modules):
            dst = _layer(target)
            if dst == src or (name, target) in LAZY:
                continue
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            graph[src].setdefault(dst, []).append(where)
    return graph


def find_cycle(graph):
    """One cycle as a list of layers (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_layers_import_without_a_cycle():
    graph = import_graph()
    cycle = find_cycle(graph)
    if cycle:
        lines = [f"{a} -> {b}: " + ", ".join(graph[a][b]) for a, b in zip(cycle, cycle[1:])]
        raise AssertionError("import cycle between layers:\n  " + "\n  ".join(lines))


def test_the_syntax_foundation_imports_only_errors():
    modules = _modules()
    bad = [f"{path.relative_to(ROOT.parent)}:{line} imports {target}"
           for name, path in modules.items() if _layer(name) == FOUNDATION
           for target, line in _imports(name, path, modules)
           if _layer(target) != FOUNDATION and target not in FOUNDATION_MAY_IMPORT]
    assert not bad, "\n".join(bad)


def test_the_reader_sees_every_kind_of_import(tmp_path):
    modules = _modules()
    path = tmp_path / "mod.py"
    path.write_text("import fwdcompile.syntax.trees\n"
                    "from fwdcompile.errors import UnsupportedSyntax\n"
                    "from . import nodes\n"
                    "from ..rules.registry import lookup\n"
                    "def f():\n"
                    "    from fwdcompile import runtime\n"
                    "import numpy\n")
    found = _imports("fwdcompile.syntax.mod", path, modules)
    assert sorted(found) == [("fwdcompile.errors", 2), ("fwdcompile.rules.registry", 4),
                             ("fwdcompile.runtime", 6), ("fwdcompile.syntax.nodes", 3),
                             ("fwdcompile.syntax.trees", 1)]
    graph = import_graph()
    assert "fwdcompile.backends.llvm" in graph["fwdcompile.native"]  # imported inside functions


def test_a_cycle_is_found():
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {}}) is None
