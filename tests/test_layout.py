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
