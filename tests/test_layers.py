"""Imports run one way: every module's imports, read from its source (nothing is
imported), against the layer order that docs/ARCHITECTURE.md states.

A module may import its own layer or any layer below, never one above, and no chain
of imports may come back to where it started. Imports inside functions count too: a
lazy import still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("common", "flow", "matte", "faces", "dctnet", "app")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("common",),
    ("flow",),
    ("matte",),
    ("faces",),
    ("dctnet",),
    ("app", "app.frames", "app.handoff", "app.workers", "app.paths", "app.interrupts",
     "app.process_setup", "app.fix_it"),
    ("app.media",),
    ("app.compositing", "app.pipeline"),
    ("app.files",),
    ("app.chain_builder",),
    ("app.live",),
    ("app.obs",),
    ("app.gui",),
    ("app.commands",),
    ("app.entry",),
)
"""Lowest first; a module belongs to the layer of its longest listed prefix."""


def module_files() -> dict[str, Path]:
    files = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            files[name] = path
    return files


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """Our modules that ``name`` imports. ``from P import m`` counts m when m is a module,
    P itself only when a name it imports is not one (the parent packages that Python
    runs on the way are left out: they hold no code the importer uses)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                submodule = f"{source}.{alias.name}"
                found.add(submodule if submodule in known else source)
    return {module for module in found if module in known and module != name}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {name: imports_of(name, path, set(files)) for name, path in files.items()}


def layer_of(module: str) -> int:
    best, level = -1, None
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best:
                best, level = len(prefix), index
    assert level is not None, f"{module} is in no layer: add it to LAYERS (and to docs/ARCHITECTURE.md)"
    return level


def test_the_graph_reads_real_imports() -> None:
    """The reader itself: a few edges known to exist, so an empty graph cannot pass."""
    graph = import_graph()
    assert len(graph) > 100
    assert "flow.estimate" in graph["flow.stabilize"]
    assert "app.interrupts" in graph["app.files.video_out"]  # from app import interrupts
    assert "app.gui.settings_store" in graph["app.gui.window"]  # from app.gui import settings_store
    assert "app.gui" not in graph["app.gui.window"]


def test_no_import_runs_upward() -> None:
    graph = import_graph()
    upward = {(module, target) for module, targets in graph.items() for target in targets
              if layer_of(target) > layer_of(module)}
    assert upward == set(), "imports of a higher layer"


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
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
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_one() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []
