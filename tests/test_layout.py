"""The code's layout rules that a reader relies on: no module (and no test) imports another
module's private names or reaches them through the module (``rental._set_starts``), so every
seam a caller uses is a public one."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def private_imports(paths: list[Path], root: Path = ROOT) -> list[str]:
    """``file: from module import _name`` for each private name imported from advisor."""
    found = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and (node.module or "").startswith("advisor")):
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(
                        f"{path.relative_to(root)}: from {node.module} import {alias.name}"
                    )
    return found


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def private_attributes(paths: list[Path], root: Path = ROOT) -> list[str]:
    """``file: module._name`` for each private name reached through an advisor module
    bound in the file (``import advisor.x as m``, ``from advisor import x``)."""
    found = []
    for path in paths:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        modules: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("advisor.") and a.asname:
                        modules[a.asname] = a.name
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("advisor"):
                for a in node.names:
                    if _is_module(f"{node.module}.{a.name}"):
                        modules[a.asname or a.name] = f"{node.module}.{a.name}"
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in modules
                and node.attr.startswith("_")
                and not node.attr.startswith("__")
            ):
                found.append(f"{path.relative_to(root)}: {modules[node.value.id]}.{node.attr}")
    return found


def test_no_private_name_is_imported_across_modules() -> None:
    paths = [
        p for d in ("advisor", "tests", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))
    ]
    assert len(paths) > 50
    assert private_imports(paths) == []
    assert private_attributes(paths) == []


def test_the_check_finds_a_private_import(tmp_path: Path) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text("import advisor\nfrom advisor.cli import _hidden, app\n", encoding="utf-8")
    assert private_imports([bad], tmp_path) == ["probe.py: from advisor.cli import _hidden"]


def test_the_check_finds_a_private_attribute(tmp_path: Path) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text(
        "import advisor.report as report\nfrom advisor.solve import rental\n"
        "rental._set_starts(1)\nreport.fig_capacity(1)\n",
        encoding="utf-8",
    )
    assert private_attributes([bad], tmp_path) == ["probe.py: advisor.solve.rental._set_starts"]


def module_imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Each advisor module's advisor imports at module level (the ones that run when it is
    imported; a function's own imports and ``if TYPE_CHECKING:`` blocks left out)."""
    names = {}
    for path in (root / "advisor").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        deps = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ImportFrom) and (node.module or "") in names:
                subs = {f"{node.module}.{a.name}" for a in node.names} & names.keys()
                deps |= subs or {node.module or ""}
            elif isinstance(node, ast.Import):
                deps |= {a.name for a in node.names} & names.keys()
        graph[name] = deps - {name}
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The module-level import cycles of ``graph`` (each as a path back to its start)."""
    cycles, done = [], set()

    def visit(node: str, path: list[str]) -> None:
        if node in path:
            cycles.append([*path[path.index(node) :], node])
            return
        if node in done:
            return
        for dep in sorted(graph.get(node, ())):
            visit(dep, [*path, node])
        done.add(node)

    for node in sorted(graph):
        visit(node, [])
    return cycles


def test_no_module_level_import_cycle() -> None:
    """``cli`` imported ``cli_sweep`` (to register its command) and ``cli_sweep`` imported
    ``cli`` (for the shared options): which of the two ran first depended on the entry point.
    The shared parts are in ``cli_base`` now, and the modules import one way."""
    assert import_cycles(module_imports()) == []


def test_the_cycle_check_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c", "a"]]
