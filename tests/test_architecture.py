"""The direction of dependencies inside lensbench, checked from the source's imports.

Every ``lensbench/**/*.py`` is parsed with :mod:`ast`; every ``import x`` and ``from x import y``
counts, at module level or inside a function, class or ``if`` block, and relative imports are
resolved against the importing module. The rules (see the design notes, "Dependencies point one
way"):

- core (physics, simulate, models, io, training, ssl, sbi, fit, and the modules metrics,
  attribution, scoring, execution, cache) never imports the orchestration layers (steps, report,
  spec, plan, runner, cli, tasks, papers);
- papers/ never imports steps, spec, plan, runner, cli or tasks;
- physics/ imports only numpy, scipy, torch, astropy, the standard library and itself;
- there are no import cycles between lensbench modules;
- ``lensbench.registry`` and ``lensbench.errors`` may be imported from anywhere.

A failure names the file, the line and the forbidden import.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "lensbench"
SOURCE = Path(__file__).resolve().parents[1] / PACKAGE

BASE_MODULES = ("lensbench.registry", "lensbench.errors")
CORE_PACKAGES = ("physics", "simulate", "models", "io", "training", "ssl", "sbi", "fit")
CORE_MODULES = ("metrics", "evaluation", "attribution", "scoring", "execution", "cache")
ORCHESTRATION = ("steps", "report", "spec", "plan", "runner", "cli", "tasks", "papers")
PAPERS_FORBIDDEN = ("steps", "spec", "plan", "runner", "cli", "tasks")
PHYSICS_THIRD_PARTY = ("numpy", "scipy", "torch", "astropy")


@dataclass(frozen=True)
class Import:
    """One import statement's target, resolved to an absolute module name.

    Attributes
    ----------
    importer : str
        Dotted name of the importing module (``lensbench.models`` for its ``__init__.py``).
    path : Path
        The importing file.
    line : int
        1-based line of the import statement.
    target : str
        Absolute dotted name of the imported module: for ``from pkg import name`` the submodule
        ``pkg.name`` when it is a module of the scanned package, ``pkg`` otherwise.
    """

    importer: str
    path: Path
    line: int
    target: str

    def where(self) -> str:
        """``lensbench/x.py:12`` relative to the repository root."""
        return f"{_display(self.path)}:{self.line}"


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(SOURCE.parent))
    except ValueError:
        return str(path)


def module_files(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every ``*.py`` under the package folder ``root``."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _base_package(importer: str, path: Path, level: int) -> str:
    """The package a relative import of ``level`` dots starts from."""
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def imports_of(importer: str, path: Path, known: set[str]) -> list[Import]:
    """Every import in the file ``path`` of module ``importer``, resolved against ``known`` modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(importer, path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = _base_package(importer, path, node.level)
                module = f"{base}.{module}" if module else base
            for alias in node.names:
                submodule = f"{module}.{alias.name}"
                found.append(Import(importer, path, node.lineno, submodule if submodule in known else module))
    return found


def collect_imports(root: Path) -> list[Import]:
    """Every import of every module under the package folder ``root``, in file order."""
    modules = module_files(root)
    known = set(modules)
    return [imp for name, path in modules.items() for imp in imports_of(name, path, known)]


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _violations(imports: list[Import], importers, forbidden) -> list[str]:
    """``file:line: <importer> imports <target>`` for imports from ``importers`` into ``forbidden``."""
    return list(dict.fromkeys(f"{imp.where()}: {imp.importer} imports {imp.target}" for imp in imports
                              if any(_within(imp.importer, p) for p in importers)
                              and any(_within(imp.target, p) for p in forbidden)
                              and not any(_within(imp.target, b) for b in BASE_MODULES)))


def _report(rule: str, violations: list[str]) -> str:
    return f"{rule} ({len(violations)} forbidden imports):\n  " + "\n  ".join(violations)


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of ``graph`` (Tarjan), each sorted, largest first."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            components.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10 * len(graph) + 100))
    try:
        for node in sorted(graph):
            if node not in index:
                visit(node)
    finally:
        sys.setrecursionlimit(limit)
    return sorted(components, key=lambda c: (-len(c), c))


def shortest_cycle(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """A shortest path ``start -> ... -> start`` through ``members`` (breadth first)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph[node] & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return list(reversed(path)) + [start]
                if nxt not in previous:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return []


def import_cycles(imports: list[Import]) -> list[str]:
    """One readable line per import cycle: each edge with the file and line that makes it."""
    graph: dict[str, set[str]] = {}
    first_edge: dict[tuple[str, str], Import] = {}
    for imp in imports:
        if _within(imp.target, PACKAGE) and imp.target != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.target)
            graph.setdefault(imp.target, set())
            first_edge.setdefault((imp.importer, imp.target), imp)
    lines = []
    for component in strongly_connected(graph):
        if len(component) < 2:
            continue
        cycle = shortest_cycle(graph, component[0], set(component))
        edges = [first_edge[a, b] for a, b in zip(cycle, cycle[1:])]
        registration = any(_within(e.target, e.importer) for e in edges)
        note = " [a package __init__ importing its own submodules]" if registration else ""
        steps = "\n    ".join(f"{e.where()}: {e.importer} imports {e.target}" for e in edges)
        lines.append(f"cycle among {len(component)} modules {component}{note}:\n    {steps}")
    return lines


@pytest.fixture(scope="module")
def imports() -> list[Import]:
    """Every import in lensbench."""
    return collect_imports(SOURCE)


def test_the_scan_sees_the_package(imports):
    files = {imp.path for imp in imports}
    assert len(module_files(SOURCE)) > 30 and len(files) > 30
    assert any(_within(imp.importer, "lensbench.physics") for imp in imports)


def test_core_never_imports_the_orchestration_layers(imports):
    core = [f"{PACKAGE}.{name}" for name in CORE_PACKAGES + CORE_MODULES]
    forbidden = [f"{PACKAGE}.{name}" for name in ORCHESTRATION]
    violations = _violations(imports, core, forbidden)
    assert not violations, _report("core imports steps/report/spec/plan/runner/cli/tasks/papers", violations)


def test_papers_never_import_steps_spec_plan_runner_cli_or_tasks(imports):
    forbidden = [f"{PACKAGE}.{name}" for name in PAPERS_FORBIDDEN]
    violations = _violations(imports, [f"{PACKAGE}.papers"], forbidden)
    assert not violations, _report("papers/ imports an orchestration layer", violations)


def test_physics_imports_only_numerics_and_the_standard_library(imports):
    def allowed(target: str) -> bool:
        top = target.split(".")[0]
        return (top in PHYSICS_THIRD_PARTY or top in sys.stdlib_module_names
                or any(_within(target, p) for p in ("lensbench.physics",) + BASE_MODULES))

    violations = list(dict.fromkeys(f"{imp.where()}: {imp.importer} imports {imp.target}" for imp in imports
                                    if _within(imp.importer, "lensbench.physics") and not allowed(imp.target)))
    assert not violations, _report("physics/ imports beyond numpy/scipy/torch/astropy/stdlib", violations)


def test_no_import_cycles(imports):
    cycles = import_cycles(imports)
    assert not cycles, f"{len(cycles)} import cycles between lensbench modules:\n  " + "\n  ".join(cycles)


# The scanner itself, on a small package written for the purpose.

def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_scanner_resolves_relative_function_level_and_from_imports(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "import os\nfrom . import b\nfrom .sub import c as see\n",
        "pkg/b.py": "def f():\n    from pkg.sub.c import thing\n    import numpy.linalg\n",
        "pkg/sub/__init__.py": "from .. import a\nfrom .c import thing\n",
        "pkg/sub/c.py": "if True:\n    from ..b import f\n",
    })
    found = {(imp.importer, imp.line, imp.target) for imp in collect_imports(root)}
    assert found == {
        ("pkg.a", 1, "os"), ("pkg.a", 2, "pkg.b"), ("pkg.a", 3, "pkg.sub.c"),
        ("pkg.b", 2, "pkg.sub.c"), ("pkg.b", 3, "numpy.linalg"),
        ("pkg.sub", 1, "pkg.a"), ("pkg.sub", 2, "pkg.sub.c"),
        ("pkg.sub.c", 2, "pkg.b"),
    }


def test_scanner_reports_a_cycle_with_its_files_and_lines(tmp_path):
    root = _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/a.py": "from pkg import b\n",
        "pkg/b.py": "\ndef f():\n    import pkg.c\n",
        "pkg/c.py": "from .a import x\n",
        "pkg/d.py": "import pkg.a\n",
    })
    imports = [Import(imp.importer.replace("pkg", PACKAGE, 1), imp.path, imp.line,
                      imp.target.replace("pkg", PACKAGE, 1)) for imp in collect_imports(root)]
    (cycle,) = import_cycles(imports)
    assert "cycle among 3 modules" in cycle
    assert "a.py:1: lensbench.a imports lensbench.b" in cycle
    assert "b.py:3: lensbench.b imports lensbench.c" in cycle
    assert "c.py:1: lensbench.c imports lensbench.a" in cycle
    assert "lensbench.d" not in cycle
