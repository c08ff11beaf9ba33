"""The floors of the house, enforced on the source (no import needed, so nothing can hide).

Every ``import`` statement of every module counts, including those inside functions (a
function-local import is how a circle hides) and excluding only ``if TYPE_CHECKING:`` blocks.

* ``qsim`` imports nothing of ours and never torch (the simulator is the ground floor);
* ``hybrid`` and ``energy`` import only ``qsim`` below them, not each other, not ``bench``;
* ``bench`` may import everything below it;
* no module reaches a package of ours by an ``importlib`` string (a hidden edge);
* the module import graph of the whole project has no cycle.

Run it alone with ``python -m pytest tests/test_architecture.py -q``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("qsim", "hybrid", "bench", "energy")
#: package -> the packages of ours it may import (besides itself).
ALLOWED = {
    "qsim": set(),
    "hybrid": {"qsim"},
    "energy": {"qsim"},
    "bench": {"qsim", "hybrid", "energy"},
}
#: third-party modules a package must never import.
FORBIDDEN = {"qsim": {"torch"}, "energy": {"torch"}}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    t = node.test
    return (isinstance(t, ast.Name) and t.id == "TYPE_CHECKING") or (
        isinstance(t, ast.Attribute) and t.attr == "TYPE_CHECKING")


def _walk(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:``."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _resolve(module: str, path: Path, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(module: str) -> set[str]:
    """Dotted names ``module`` imports (a ``from pkg import sub`` counts as ``pkg.sub`` when ``sub`` is a module)."""
    path = MODULES[module]
    out: set[str] = set()
    for node in _walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(module, path, node)
            for a in node.names:
                sub = f"{target}.{a.name}"
                out.add(sub if sub in MODULES else target)
    return out


def _internal(name: str) -> str | None:
    """The module of ours that an import of ``name`` loads (longest known prefix)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        cand = ".".join(parts[:k])
        if cand in MODULES:
            return cand
    return None


def test_every_package_is_found():
    assert all(p in MODULES for p in PACKAGES)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_floors(module):
    pkg = module.split(".")[0]
    bad = []
    for name in imports_of(module):
        top = name.split(".")[0]
        if top in PACKAGES and top != pkg and top not in ALLOWED[pkg]:
            bad.append(name)
        if top in FORBIDDEN.get(pkg, ()):
            bad.append(name)
    assert not bad, f"{module} imports {sorted(bad)} above or beside its floor"


#: Modules whose computed ``import_module`` argument is not ours to follow, and why.
DYNAMIC_IMPORTS_ALLOWED = {
    "energy.circuits": "family_from_factory imports the 'package.module:function' the user names",
}


def _names_ours(arg: ast.AST, module: str) -> bool:
    """Whether an ``import_module`` argument may name a module of ours: a literal of ours, or
    anything computed (an f-string, a variable), which this test cannot follow; a module's own
    submodules (``f"{__name__}.x"``, lazy attributes) are its own business."""
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value.split(".")[0] in PACKAGES
    if (isinstance(arg, ast.JoinedStr) and arg.values and isinstance(arg.values[0], ast.FormattedValue)
            and isinstance(arg.values[0].value, ast.Name) and arg.values[0].value.id == "__name__"):
        return False
    return module not in DYNAMIC_IMPORTS_ALLOWED


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_hidden_imports(module):
    path = MODULES[module]
    hidden = []
    for node in _walk(ast.parse(path.read_text(), str(path))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
                and node.args and _names_ours(node.args[0], module)):
            hidden.append(ast.unparse(node.args[0]))
    assert not hidden, f"{module} imports {hidden} by string"


def _graph() -> dict[str, set[str]]:
    graph = {}
    for m in MODULES:
        deps = {_internal(n) for n in imports_of(m)} - {None, m}
        # a module importing a sibling through its package (``from . import x``) is resolved above;
        # importing a package pulls its __init__, which is an edge like any other
        graph[m] = deps
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a list of modules), or ``None``."""
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(u: str) -> list[str] | None:
        colour[u] = GREY
        stack.append(u)
        for v in sorted(graph[u]):
            if colour.get(v) == GREY:
                return stack[stack.index(v):] + [v]
            if colour.get(v) == WHITE:
                found = visit(v)
                if found:
                    return found
        stack.pop()
        colour[u] = BLACK
        return None

    for u in sorted(graph):
        if colour[u] == WHITE:
            found = visit(u)
            if found:
                return found
    return None





def test_no_import_cycles():
    cycle = find_cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
