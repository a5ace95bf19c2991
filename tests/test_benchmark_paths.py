"""The benchmark script's output paths (the script itself runs outside the test suite)."""

from __future__ import annotations

from pathlib import Path

from benchmarks.run import out_paths


def test_out_names_the_report_or_a_folder_for_both(tmp_path: Path) -> None:
    report = tmp_path / "mine.md"
    assert out_paths(str(report)) == (report, tmp_path / "results.json")
    # an existing folder (this used to end in IsADirectoryError), or a new one with a slash
    assert out_paths(str(tmp_path)) == (tmp_path / "RESULTS.md", tmp_path / "results.json")
    new = tmp_path / "new"
    assert out_paths(f"{new}/") == (new / "RESULTS.md", new / "results.json")
