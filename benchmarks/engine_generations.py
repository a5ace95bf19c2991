"""Benchmark: how the serving model reads an older engine against a current one on Hopper.

The efficiency factors are fit on MLPerf submissions and TensorRT-LLM 1.0's ``trtllm-bench``
(current, tuned engines). ``catalogs/published_serving_runs.csv`` also holds NVIDIA's 2024
NIM runs on DGX H100 (closed loops of 1-250 clients, llama-3 8B and 70B, bf16 and fp8),
which no fit reads. This script prints the signed median of predicted / measured - 1 of the
output tokens/s:

* of the Hopper closed loops per precision, all client counts, 1-10 and 100 or more;
* of llama-3 8B at TP 1 per precision and client band (where fp8 differs most);
* of the offline runs of llama-3.1 8B on Hopper per suite (the current engines).

    .venv/bin/python benchmarks/engine_generations.py

Not a test: one pass of ``advisor validate`` (seconds).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this checkout's advisor, not an installed one


def bands(t: pd.DataFrame) -> str:
    """Signed median throughput error overall, at 1-10 clients and at 100 or more, with n."""
    parts = []
    for name, sel in (
        ("all", t),
        ("1-10 clients", t[t["batch"] <= 10]),
        ("100+ clients", t[t["batch"] >= 100]),
    ):
        parts.append(f"{name} {sel['throughput_error'].median():+.1%} ({len(sel)})")
    return ", ".join(parts)


def main() -> int:
    from advisor.catalog import load_catalog
    from advisor.validate import load_serving_runs, validate_serving

    rows = validate_serving(load_catalog(), load_serving_runs())["rows"]
    ok = rows[(rows["status"] == "ok") & (rows["family"] == "hopper")]
    loops = ok[(ok["scenario"] == "closed-loop") & ok["suite"].str.contains("DLI course")]
    print("Hopper closed loops (NIM 2024), signed median of predicted / measured - 1:")
    for prec, t in loops.groupby("precision"):
        print(f"  {prec}: {bands(t)}")
    small = loops[(loops["model"] == "llama-3-8b") & (loops["tp"] == 1)]
    print("  llama-3 8B at TP 1:")
    for prec, t in small.groupby("precision"):
        print(f"    {prec}: {bands(t)}")
    off = ok[(ok["scenario"] == "offline") & (ok["model"] == "llama-3.1-8b")]
    print("Hopper offline runs of llama-3.1 8B (current engines):")
    for suite, t in off.groupby("suite"):
        print(f"  {suite}: {t['throughput_error'].median():+.1%} ({len(t)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
