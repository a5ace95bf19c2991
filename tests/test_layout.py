"""The code's layout rules that a reader relies on: no module (and no test) imports another
module's private names, so every seam a caller uses is a public one."""

from __future__ import annotations

import ast
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


def test_no_private_name_is_imported_across_modules() -> None:
    paths = [
        p for d in ("advisor", "tests", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))
    ]
    assert len(paths) > 50
    assert private_imports(paths) == []


def test_the_check_finds_a_private_import(tmp_path: Path) -> None:
    bad = tmp_path / "probe.py"
    bad.write_text("import advisor\nfrom advisor.cli import _hidden, app\n", encoding="utf-8")
    assert private_imports([bad], tmp_path) == ["probe.py: from advisor.cli import _hidden"]
