"""Integrity of catalogs/published_serving_runs.csv, the measured serving runs of issue #14.

Data checks only: the table loads with the validator's reader, is a superset of the shipped
published_benchmarks.csv, and its cells are consistent (sources, numbers, parallelism, units).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from advisor.catalog import shipped_catalog_dir
from advisor.validate import load_published

RUNS = shipped_catalog_dir() / "published_serving_runs.csv"

#: Mean prompt length of each MLPerf task (catalogs/SOURCES.md, "Dataset lengths").
MLPERF_MEAN_INPUT = {
    "llama-2-70b": 222.3,
    "llama-3.1-8b": 870.7,
    "llama-3.1-405b": 9428.6,
    "mixtral-8x7b": 427.4,
}


@pytest.fixture(scope="module")
def runs() -> pd.DataFrame:
    return load_published(RUNS)


def _num(v) -> float | None:
    if v is None or (isinstance(v, float) and math.isnan(v)) or str(v).strip() == "":
        return None
    return float(v)


def test_every_row_names_its_source(runs: pd.DataFrame) -> None:
    assert len(runs) > 62
    assert runs["source"].notna().all()
    assert (runs["source"].str.len() > 10).all()
    key = ["source", "model", "gpu", "num_gpus", "tp", "precision", "engine", "scenario"]
    key += ["input_tokens", "output_tokens", "request_rate_per_s", "concurrency"]
    assert not runs.duplicated(key).any()


def test_superset_of_the_shipped_table(runs: pd.DataFrame) -> None:
    shipped = load_published()
    for r in shipped.itertuples():
        same = runs[
            (runs["source"] == r.source) & (runs["model"] == r.model) & (runs["gpu"] == r.gpu)
        ]
        if r.suite.startswith("trtllm"):
            same = same[same["input_tokens"] == r.input_tokens]
            same = same[same["output_tokens"] == r.output_tokens]
        assert len(same) == 1, r.source
        assert same["output_tokens_per_s"].iloc[0] == pytest.approx(r.output_tokens_per_s)
        for col in ("num_gpus", "tp", "ttft_p99_ms", "tpot_p99_ms"):
            if _num(getattr(r, col)) is not None:
                assert _num(same[col].iloc[0]) == pytest.approx(_num(getattr(r, col))), col


def test_cells_are_consistent(runs: pd.DataFrame) -> None:
    assert (runs["output_tokens_per_s"].dropna() > 0).all()
    no_tput = runs[runs["output_tokens_per_s"].isna()]
    # latency-only rows: at a request rate, or a batch-1 first-token latency
    online = no_tput[no_tput["scenario"] == "online"]
    assert online["request_rate_per_s"].notna().all()
    batch = no_tput[no_tput["scenario"] != "online"]
    assert (batch["scenario"] == "static-batch").all() and batch["ttft_mean_ms"].notna().all()
    known = {"offline", "server", "interactive", "online", "static-batch", "closed-loop"}
    assert set(runs["scenario"]) <= known
    loads = runs[runs["scenario"].isin(["static-batch", "closed-loop"])]
    assert loads["concurrency"].notna().all() and (loads["concurrency"] >= 1).all()
    assert set(runs["interconnect"].dropna()) <= {"nvlink", "pcie", "xgmi"}
    for r in runs.itertuples():
        tp, pp, n = _num(r.tp), _num(r.pp) or 1.0, _num(r.num_gpus)
        if tp is not None and n is not None:
            assert n % (tp * pp) == 0, r.source
        for lo, hi in (("ttft_p50_ms", "ttft_p99_ms"), ("tpot_p50_ms", "tpot_p99_ms")):
            a, b = _num(getattr(r, lo)), _num(getattr(r, hi))
            if a is not None and b is not None:
                assert a <= b, r.source
        if r.scenario in ("server", "interactive") and r.suite.startswith("MLPerf"):
            assert _num(r.request_rate_per_s) and _num(r.ttft_limit_ms) and _num(r.tpot_limit_ms)
            assert _num(r.tpot_p99_ms) <= _num(r.tpot_limit_ms) * 1.05, r.source


def test_mlperf_rows_carry_the_dataset_mean_prompt(runs: pd.DataFrame) -> None:
    mlperf = runs[runs["suite"].str.startswith("MLPerf")]
    assert len(mlperf) > 400
    for r in mlperf.itertuples():
        if r.model in MLPERF_MEAN_INPUT:
            assert _num(r.input_tokens) == pytest.approx(MLPERF_MEAN_INPUT[r.model]), r.source
        else:  # another model on an MLPerf dataset (open division): its tokenizer differs
            assert _num(r.input_tokens) is None, r.source
        assert 50 < _num(r.output_tokens) < 1000, r.source
