"""The package's layering: no import cycles, no import from a lower layer into a higher one.

The layer order is written once, in docs/architecture.md (the fenced block after `<!-- layer-order -->`, top
layer first); this test reads it from there. Every import counts, including the lazy ones inside functions.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "genrebench"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def layer_order(text: str) -> dict[str, int]:
    """{room: layer number} from the marked block: lines `N  name name ...`, top layer first."""
    match = re.search(r"<!-- layer-order -->\s*```[a-z]*\n(.*?)```", text, re.S)
    assert match, f"{ARCHITECTURE} has no fenced block after <!-- layer-order -->"
    layers = {}
    for line in match.group(1).splitlines():
        number, *names = line.split()
        for name in names:
            layers[name.strip(",")] = int(number)
    return layers


def module_name(path: Path, package: Path) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package: Path, modules: set[str]) -> set[str]:
    """Package modules that `path` imports anywhere in its body (relative imports resolved)."""
    this = module_name(path, package)
    here = this.split(".") if path.name == "__init__.py" else this.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # `from pkg.mod import name`: the module is pkg.mod
                target = target.rpartition(".")[0]
            if target and target != this and not this.startswith(target + "."):
                found.add(target)
    return found


def import_graph(package: Path) -> dict[str, set[str]]:
    files = {module_name(p, package): p for p in package.rglob("*.py")}
    return {name: imports_of(path, package, set(files)) for name, path in files.items()}


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward(graph: dict[str, set[str]], layers: dict[str, int]) -> list[str]:
    bad = []
    for src, targets in graph.items():
        for dst in targets:
            a, b = layers.get(room(src) or ""), layers.get(room(dst) or "")
            if a is not None and b is not None and b > a:
                bad.append(f"{src} (layer {a}) imports {dst} (layer {b})")
    return sorted(bad)


def test_every_room_has_a_layer():
    layers = layer_order(ARCHITECTURE.read_text(encoding="utf-8"))
    rooms = {room(m) for m in import_graph(PACKAGE)} - {None, "__main__"}
    assert rooms - set(layers) == set(), "rooms missing from the layer order in docs/architecture.md"


def test_no_import_cycles():
    assert cycles(import_graph(PACKAGE)) == []


def test_no_upward_imports():
    layers = layer_order(ARCHITECTURE.read_text(encoding="utf-8"))
    assert upward(import_graph(PACKAGE), layers) == []


@pytest.fixture
def broken_package(tmp_path) -> Path:
    """A package with a lazy upward import from `low` to `high` and a cycle between `a` and `b`."""
    pkg = tmp_path / "genrebench"
    (pkg / "low").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("def f():\n    from genrebench.high import g\n")
    (pkg / "high.py").write_text("from genrebench.low import f\n")
    (pkg / "a.py").write_text("from . import b\n")
    (pkg / "b.py").write_text("from genrebench.a import x\n")
    return pkg


def test_the_checks_catch_lazy_upward_imports_and_cycles(broken_package):
    graph = import_graph(broken_package)
    assert upward(graph, {"low": 0, "high": 1, "a": 2, "b": 2}) == [
        "genrebench.low (layer 0) imports genrebench.high (layer 1)"]
    assert sorted(cycles(graph)) == [["genrebench.a", "genrebench.b"], ["genrebench.high", "genrebench.low"]]

