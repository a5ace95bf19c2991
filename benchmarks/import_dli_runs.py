"""Add the NVIDIA DLI course's measured runs to ``catalogs/published_serving_runs.csv``.

The two tables of NVIDIA's Deep Learning Institute course on sizing LLM inference systems, as
published with the course notebooks in ``wbing520/ai-performance-engineering`` (commit
0e25b2e2, folder ``code/ch10_inference/inference_gpu_cluster_sizing/dataset/``):

* ``trt_llm_0_9_0_dli.csv``: TensorRT-LLM 0.9.0 static batches (a batch sent at once and run
  to the end; fake weights, XQA and custom all-reduce on) at batch sizes 1-1,536, four
  input/output pairs, TP 1-8, on A100-SXM4-80GB, H100 80GB HBM3 (SXM), H100 NVL, H200, L40S
  (and GH200, L40): latency of the whole batch, first-token latency, token-to-token latency.
* ``nim.csv``: NIM (TensorRT-LLM backend) under GenAI-Perf at a fixed client concurrency
  (1-250, closed loop), six input/output pairs, TP 1-8, on a DGX A100 (A100-SXM4-80GB) and a
  DGX H100 (H100 80GB HBM3): mean TTFT, mean inter-token latency, output tokens/s.

Kept: the models and GPUs the catalog has (not Mixtral's static batches: see ``TRT_MODELS``),
runs with a measurement (the blank ones did not run, mostly out of memory), and the first of
two runs of the same NIM configuration. ``Mixed`` and ``fp16`` precision are 16-bit weights (read as
``bf16``: two bytes a weight and the same tensor peak; the peak memory the table records
matches). Llama 3 8B/70B have the shapes of Llama 3.1 8B/70B (``advisor.validate``'s
aliases). Rerunning replaces the rows this script wrote before:

    python benchmarks/import_dli_runs.py TRT_LLM_0_9_0_DLI_CSV NIM_CSV
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "catalogs" / "published_serving_runs.csv"
ORIGIN = (
    "wbing520/ai-performance-engineering@0e25b2e2 "
    "code/ch10_inference/inference_gpu_cluster_sizing/dataset/"
)
GPUS = {
    "A100-SXM4-80GB": "A100-80G",
    "H100 80GB HBM3": "H100-SXM",
    "H100_80GB_HBM3": "H100-SXM",
    "H100 NVL": "H100-NVL",
    "H200 141GB HBM3": "H200",
    "L40S": "L40S",
}
#: Mixtral 8x7B is in that table too, but with fake weights its router sends every token to
#: the same experts (its batch-8 step reads about a quarter of the weights, as at batch 1),
#: so its runs say nothing of a real mixture of experts: left out.
TRT_MODELS = {"LLaMA v2 70B": "llama-2-70b"}
NIM_MODELS = {"meta-llama3-8b-instruct": "llama-3-8b", "meta-llama3-70b-instruct": "llama-3-70b"}
PRECISION = {"FP8": "fp8", "fp8": "fp8", "Mixed": "bf16", "fp16": "bf16", "bf16": "bf16"}
NS_PER_MS = 1e6


def trt_rows(path: Path) -> pd.DataFrame:
    d = pd.read_csv(path)
    d = d[d["Model"].isin(TRT_MODELS) & d["GPU"].isin(GPUS) & d["Latency (ms)"].notna()]
    lengths = d["Input/Output Lengths"].str.split(",", expand=True).astype(int)
    out = pd.DataFrame(
        {
            "source": ORIGIN + "trt_llm_0_9_0_dli.csv",
            "suite": "TensorRT-LLM 0.9.0 static-batch runs (NVIDIA DLI course data)",
            "model": d["Model"].map(TRT_MODELS),
            "gpu": d["GPU"].map(GPUS),
            "num_gpus": d["Number of GPUs"],
            "tp": d["Tensor Model Parallel Size"],
            "precision": d["Precision"].map(PRECISION),
            "engine": "TensorRT-LLM 0.9.0",
            "scenario": "static-batch",
            "input_tokens": lengths[0],
            "output_tokens": lengths[1],
            "output_tokens_per_s": d["Throughput (tokens / sec)"],
            "ttft_mean_ms": d["1st Token Latency (ms)"],
            "tpot_mean_ms": d["Token-to-token Latency (ms)"],
            "pp": d["Pipeline Model Parallel Size"],
            "concurrency": d["Batch Size"],
            "notes": (
                "static batch of `concurrency` at fixed lengths; output_tokens_per_s = batch x "
                "output / 'Latency (ms)' "
                + d["Latency (ms)"].round(2).astype(str)
                + "; ttft_mean_ms = '1st Token Latency' (prefill of the batch), tpot_mean_ms = "
                "'Token-to-token Latency'; precision '"
                + d["Precision"]
                + "' on '"
                + d["GPU"]
                + "'; fake weights, XQA and custom all-reduce on; peak GPU memory "
                + d["GPU Peak Memory Usage (GB)"].astype(str)
                + " GB"
            ),
        }
    )
    return out


def nim_rows(path: Path) -> pd.DataFrame:
    d = pd.read_csv(path)
    d = d[d["task_inputs-model"].isin(NIM_MODELS) & d["task_inputs-GPU"].isin(GPUS)]
    d = d[d["output_token_throughput-avg"].notna()]
    # each series measures concurrency 5 twice (within 0.5%): the first run is kept
    series = ["task_inputs-model", "task_inputs-GPU", "task_inputs-n_gpus"]
    series += ["task_inputs-precision", "input_config-synthetic_input_tokens_mean"]
    series += ["input_config-output_tokens_mean", "input_config-concurrency"]
    d = d.drop_duplicates(subset=series, keep="first")
    out = pd.DataFrame(
        {
            "source": ORIGIN + "nim.csv",
            "suite": (
                "NIM (TensorRT-LLM) under GenAI-Perf at fixed concurrency (NVIDIA DLI course data)"
            ),
            "model": d["task_inputs-model"].map(NIM_MODELS),
            "gpu": d["task_inputs-GPU"].map(GPUS),
            "num_gpus": d["task_inputs-n_gpus"],
            "tp": d["task_inputs-n_gpus"],
            "precision": d["task_inputs-precision"].map(PRECISION),
            "engine": "NIM (TensorRT-LLM), older version",
            "scenario": "closed-loop",
            "input_tokens": d["num_input_token-avg"].round(1),
            "output_tokens": d["num_output_token-avg"].round(1),
            "output_tokens_per_s": d["output_token_throughput-avg"].round(2),
            "ttft_mean_ms": (d["time_to_first_token-avg"] / NS_PER_MS).round(2),
            "tpot_mean_ms": (d["inter_token_latency-avg"] / NS_PER_MS).round(3),
            "pp": 1,
            "concurrency": d["input_config-concurrency"],
            "notes": (
                "closed loop: `concurrency` clients each send the next request when the last "
                "ends; synthetic prompts of "
                + d["input_config-synthetic_input_tokens_mean"].astype(str)
                + " tokens (stddev 0), output forced to "
                + d["input_config-output_tokens_mean"].astype(str)
                + "; the model is split by TP over n_gpus (the course notebook); p95 TTFT "
                + (d["time_to_first_token-p95"] / NS_PER_MS).round(1).astype(str)
                + " ms, p95 inter-token "
                + (d["inter_token_latency-p95"] / NS_PER_MS).round(2).astype(str)
                + " ms; precision '"
                + d["task_inputs-precision"]
                + "' on '"
                + d["task_inputs-GPU"]
                + "'"
            ),
        }
    )
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    table = pd.read_csv(TABLE, dtype=str, keep_default_na=False)
    kept = table[~table["source"].str.startswith(ORIGIN)]
    new = pd.concat([trt_rows(Path(argv[0])), nim_rows(Path(argv[1]))], ignore_index=True)
    new = new.reindex(columns=table.columns)
    merged = pd.concat([kept, new.astype(object).where(new.notna(), "")], ignore_index=True)
    merged.to_csv(TABLE, index=False)
    print(f"{len(new)} rows written ({len(kept)} others kept) to {TABLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
