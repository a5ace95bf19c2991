"""Shared tiny inputs and checks for the adversarial suite: every case runs on a few hours of
one small workload, so the whole folder stays well under a minute."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from advisor.cli import app

WL = "llama-3.1-8b-interactive"
HEADER = "hour,workload,requests,input_tokens,output_tokens\n"
HOURS = [f"2026-01-05T0{i}:00:00Z" for i in range(4)]
#: Tiny demand: the API wins, a solve takes well under a second.
API_CSV = HEADER + "".join(
    f"{h},{WL},{n},,\n" for h, n in zip(HOURS, (100, 200, 150, 120), strict=True)
)
#: Enough demand that GPUs win (a pool, hourly replicas and API rows all appear).
GPU_CSV = HEADER + "".join(
    f"{h},{WL},{n},,\n" for h, n in zip(HOURS, (20000, 20000, 20000, 700000), strict=True)
)
FAST = ["--solver", "highs", "--time-limit", "30", "--quiet"]


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def invoke(*args: str):
    """Run the CLI in-process; the result has ``exit_code``, ``stdout``, ``stderr``."""
    return CliRunner().invoke(app, [str(a) for a in args])


def assert_clean(result, exit_code: int, *fragments: str) -> None:
    """The command's contract: this exit code, no traceback, the message names what it must."""
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), repr(exc)
    assert result.exit_code == exit_code, text
    for f in fragments:
        assert f in result.stderr, f"{f!r} not in stderr:\n{result.stderr}"


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for folders)."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
        for p in sorted(root.rglob("*"))
    }
