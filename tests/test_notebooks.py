"""The example notebooks run end to end, and are committed without outputs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from advisor.catalog import PRICES_ENV

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = ["compare_scenarios.ipynb", "sensitivity_sweep.ipynb"]


@pytest.fixture
def venv_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A "python3" kernelspec that runs this interpreter (the venv's), found first."""
    spec_dir = tmp_path / "jupyter" / "kernels" / "python3"
    spec_dir.mkdir(parents=True)
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (advisor venv)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    return "python3"


@pytest.mark.parametrize(
    ("name", "prices"),
    [
        *((name, "seeds") for name in NOTEBOOKS),
        # on a user's default prices too (sensitivity_sweep's cases are all-API there)
        ("compare_scenarios.ipynb", "default"),
    ],
)
def test_notebook_runs(
    name: str, prices: str, venv_kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the tests' seeds prices and on a user's default (the snapshot, where the shipped
    spiky week goes all to an API: compare_scenarios' fleet table once failed on it)."""
    if prices == "default":
        monkeypatch.delenv(PRICES_ENV)
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    before = {p.name for p in NOTEBOOK_DIR.iterdir()}
    client = nbclient.NotebookClient(
        nb,
        timeout=600,
        kernel_name=venv_kernel,
        resources={"metadata": {"path": str(NOTEBOOK_DIR)}},
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors, errors
    assert {p.name for p in NOTEBOOK_DIR.iterdir()} == before, "the notebook left files behind"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_committed_without_outputs(name: str) -> None:
    nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for c in code:
        assert c.get("outputs") == [], f"{name}: a cell has outputs; clear them before committing"
        assert c.get("execution_count") is None, f"{name}: a cell has an execution count"
