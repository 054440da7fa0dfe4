"""The package's shape, checked from source text alone (nothing is imported, so it runs in milliseconds).

Every `import` counts as an edge wherever it stands — module level, inside a function, under
`if TYPE_CHECKING:` — because a lazy import hides a circle without removing it. A circle means no module
in it can be read, tested or replaced without the others; the remedy is to move what both sides need
one layer down.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "harness"
MAX_LINES = 400

Edges = dict[str, dict[str, int]]  # module -> {imported harness module: line of the first such import}


def _module_name(path: Path, package: Path) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources(package: Path = PACKAGE) -> dict[str, Path]:
    return {_module_name(path, package): path for path in sorted(package.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: set[str]) -> list[str]:
    """The harness modules one import statement loads: `from x import y` means x.y when that is a module."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            anchor = module.split(".")[: len(module.split(".")) - node.level + is_package]
            base = ".".join([*anchor, base] if base else anchor)
        names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
    found = []
    for name in names:
        while name and name not in known:  # `import harness.data.x.attr`-style names: the longest module prefix
            name = name.rpartition(".")[0]
        if name:
            found.append(name)
    return found


def import_graph(package: Path = PACKAGE) -> Edges:
    sources = _sources(package)
    known = set(sources)
    graph: Edges = {name: {} for name in sources}
    for name, path in sources.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(node, name, path.name == "__init__.py", known):
                    if target != name:
                        graph[name].setdefault(target, node.lineno)
    return graph


def strongly_connected(graph: Edges) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit to worry about)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(graph[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return components


def test_the_graph_sees_every_kind_of_import(tmp_path: Path):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("from pkg.sub import leaf\n")
    (package / "sub" / "leaf.py").write_text("from .. import top\n")
    (package / "typed.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.top import X\n")
    (package / "top.py").write_text("import os\n\ndef f():\n    import pkg.sub.leaf.name\n    from pkg.sub import VALUE\n")
    assert import_graph(package) == {
        "pkg": {}, "pkg.sub": {"pkg.sub.leaf": 1}, "pkg.sub.leaf": {"pkg.top": 1}, "pkg.typed": {"pkg.top": 3},
        "pkg.top": {"pkg.sub.leaf": 4, "pkg.sub": 5}}
    assert len(import_graph()) > 100  # the real package parses


def test_no_import_circles():
    graph = import_graph()
    circles = [component for component in strongly_connected(graph) if len(component) > 1]
    described = []
    for component in circles:
        members = set(component)
        edges = [f"  {a} -> {b} (line {graph[a][b]})" for a in component for b in sorted(graph[a]) if b in members]
        described.append("\n".join([f"circle of {len(component)} modules:", *edges]))
    assert not circles, "\n".join(described)


def test_no_module_is_over_the_line_limit():
    long = {name: n for name, path in _sources().items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by job): {long}"


def test_tarjan_finds_a_circle_and_its_members():
    graph: Edges = {"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}
    assert sorted(map(sorted, strongly_connected(graph))) == [["a", "b", "c"], ["d"]]
