"""Roofline throughput and latency of one serving replica. Pure functions, no I/O.

A *replica* is one copy of a model in one quantization on a tensor-parallel group of ``tp``
GPUs of one type. Everything here is per replica.

Model (seed 2, §30.3–30.4, refined with KV-cache traffic, tensor parallelism and memory):

* Weights occupy ``params × weight_bytes`` [B]; the KV cache ``2 × layers × kv_heads ×
  head_dim × kv_bytes`` [B] per token of context.
* Memory fit: ``weights + batch × context × kv_per_token ≤ usable_hbm_fraction × hbm × tp``
  gives the largest batch memory allows (context = prompt + completion, the end of a request).
* A decode step at batch ``B`` (continuous batching with chunked prefill) advances ``B``
  sequences by one token and, in steady state, also prefills ``B × prompt / completion``
  prompt tokens, so prefill keeps pace with completions. Its time is the larger of bytes
  moved — weights (for MoE, the experts the batch touches) plus KV cache read at the mean
  context — over ``tp × bandwidth × MBU`` and FLOPs (``2 × active_params`` per token plus
  attention) over ``tp × peak × MFU``, plus tensor-parallel all-reduces and a fixed
  per-step overhead. TPOT = step time.
* Throughput: ``B / step`` output tokens/s and ``B / (completion × step)`` requests/s.
* TTFT: the prompt's own prefill (compute- or memory-bound) plus one step of the running batch.
* Operating point: the largest batch that fits memory and meets the TPOT and TTFT SLOs;
  output tokens/s never falls as the batch grows, so that batch also maximizes throughput.
* MoE: FLOPs from active parameters, memory from total; a batch of ``B`` tokens touches
  ``E × (1 − (1 − k/E)^B)`` of the ``E`` experts per layer.

Efficiency factors (MBU, MFU, overheads) come from the catalog, one set per GPU family,
calibrated against measured runs (``advisor validate``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from advisor.catalog import GPU, Efficiency, ModelArch, Quantization
from advisor.units import (
    BYTES_PER_GB,
    MS_PER_S,
    gb_to_bytes,
    tb_per_s_to_bytes_per_s,
    tflops_to_flops,
)

#: Bytes per activation element exchanged in tensor-parallel all-reduces (bf16).
ACTIVATION_BYTES = 2.0
#: All-reduces per transformer layer in Megatron-style tensor parallelism.
ALLREDUCES_PER_LAYER = 2


# --- the seeds' closed forms (seed 2, §30.3) ------------------------------------------------


def decode_ceiling_tokens_per_s(hbm_tb_per_s: float, model_gb: float, batch: float) -> float:
    """Bandwidth-bound decode ceiling, ``bandwidth / model_size × batch`` [tokens/s].

    The seed's formula: it reads the weights once per step and ignores KV-cache traffic,
    compute and overheads, so it is an upper bound.
    """
    return hbm_tb_per_s * 1e3 / model_gb * batch


def prefill_ceiling_tokens_per_s(peak_tflops: float, params_b: float) -> float:
    """Compute-bound prefill ceiling, ``peak / (2 × params)`` [tokens/s]."""
    return tflops_to_flops(peak_tflops) / (2.0 * params_b * 1e9)


# --- sizes ----------------------------------------------------------------------------------


def weight_bytes(model: ModelArch, quant: Quantization) -> float:
    """Bytes of all weights [B] (total parameters, MoE included)."""
    return model.params * quant.weight_bytes_per_param


def kv_bytes_per_token(model: ModelArch, quant: Quantization) -> float:
    """KV-cache bytes per token of context [B/token]: ``2 × layers × kv_heads × head_dim``."""
    return 2.0 * model.layers * model.kv_heads * model.head_dim * quant.kv_bytes_per_element


def usable_bytes(gpu: GPU, eff: Efficiency, tp: int) -> float:
    """HBM usable for weights and KV cache across the TP group [B]."""
    return gb_to_bytes(gpu.hbm_gb) * eff.usable_hbm_fraction * tp


def max_batch_by_memory(
    model: ModelArch, gpu: GPU, quant: Quantization, eff: Efficiency, tp: int, context_tokens: float
) -> int:
    """Largest number of sequences of ``context_tokens`` whose KV cache fits beside the weights.

    Returns 0 when the weights alone do not fit, or not even one sequence does.
    """
    free = usable_bytes(gpu, eff, tp) - weight_bytes(model, quant)
    if free <= 0:
        return 0
    per_seq = max(context_tokens, 1.0) * kv_bytes_per_token(model, quant)
    return int(free // per_seq)


def min_tp_to_fit(model: ModelArch, gpu: GPU, quant: Quantization, eff: Efficiency) -> int | None:
    """Smallest power-of-two TP degree whose GPUs hold the weights, or None."""
    tp = 1
    while tp <= gpu.max_tp:
        if usable_bytes(gpu, eff, tp) > weight_bytes(model, quant):
            return tp
        tp *= 2
    return None


# --- step times -----------------------------------------------------------------------------


def _weights_read_bytes(model: ModelArch, quant: Quantization, tokens: np.ndarray) -> np.ndarray:
    """Weight bytes one forward pass over ``tokens`` tokens reads (MoE: touched experts)."""
    total = weight_bytes(model, quant)
    if not model.is_moe:
        return np.full_like(tokens, total, dtype=float)
    e, k = model.experts, model.experts_per_token
    expert_params = (model.params - model.active_params) * e / (e - k) if e > k else 0.0
    shared_params = model.params - expert_params
    touched = 1.0 - (1.0 - k / e) ** np.maximum(tokens, 1.0)
    return (shared_params + expert_params * touched) * quant.weight_bytes_per_param


def _tp_comm_s(model: ModelArch, gpu: GPU, eff: Efficiency, tp: int, tokens: np.ndarray):
    """Time of the tensor-parallel all-reduces of one forward pass over ``tokens`` [s]."""
    if tp <= 1:
        return np.zeros_like(tokens, dtype=float)
    ring = 2.0 * (tp - 1) / tp
    bytes_per = tokens * model.hidden_size * ACTIVATION_BYTES * ring
    link = gpu.interconnect_gb_per_s * BYTES_PER_GB
    n = ALLREDUCES_PER_LAYER * model.layers
    return n * (eff.allreduce_latency_us * 1e-6 + bytes_per / link)


def _peak_flops(gpu: GPU, quant: Quantization) -> float:
    return tflops_to_flops(gpu.peak_tflops[quant.compute_dtype])


def decode_step_parts_s(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    batch: np.ndarray | float,
    context_tokens: float,
    prefill_tokens_per_seq: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Memory time, compute time and fixed time (all-reduces + overhead) of a step [s]."""
    b = np.asarray(batch, dtype=float)
    tokens = b * (1.0 + prefill_tokens_per_seq)
    kv_read = b * context_tokens * kv_bytes_per_token(model, quant)
    mem_bytes = _weights_read_bytes(model, quant, tokens) + kv_read
    t_mem = mem_bytes / (tp * tb_per_s_to_bytes_per_s(gpu.hbm_tb_per_s) * eff.mbu)
    attn_per_token = 4.0 * model.layers * model.q_heads * model.head_dim * context_tokens
    flops = (2.0 * model.active_params + attn_per_token) * tokens
    t_cmp = flops / (tp * _peak_flops(gpu, quant) * eff.mfu)
    t_fixed = _tp_comm_s(model, gpu, eff, tp, tokens) + eff.step_overhead_ms / MS_PER_S
    return t_mem, t_cmp, t_fixed


def decode_step_s(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    batch: np.ndarray | float,
    context_tokens: float,
    prefill_tokens_per_seq: float = 0.0,
) -> np.ndarray:
    """Time of one decode step [s] at ``batch`` sequences of mean context ``context_tokens``.

    ``prefill_tokens_per_seq`` prompt tokens per sequence are prefilled in the same step
    (chunked prefill); 0 gives a pure decode step.
    """
    t_mem, t_cmp, t_fixed = decode_step_parts_s(
        model, gpu, quant, eff, tp, batch, context_tokens, prefill_tokens_per_seq
    )
    return np.maximum(t_mem, t_cmp) + t_fixed


def prefill_s(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    prompt_tokens: float,
    *,
    include_overhead: bool = True,
) -> float:
    """Time to prefill one prompt alone [s]: causal attention included."""
    p = np.asarray(float(prompt_tokens))
    flops = 2.0 * model.active_params * p + 2.0 * model.layers * model.q_heads * (
        model.head_dim * p * p
    )
    t_cmp = flops / (tp * _peak_flops(gpu, quant) * eff.mfu)
    t_mem = _weights_read_bytes(model, quant, p) / (
        tp * tb_per_s_to_bytes_per_s(gpu.hbm_tb_per_s) * eff.mbu
    )
    t = np.maximum(t_cmp, t_mem)
    if include_overhead:
        t = t + _tp_comm_s(model, gpu, eff, tp, p) + eff.step_overhead_ms / MS_PER_S
    return float(t)


# --- the operating point --------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicaPerformance:
    """One replica's operating point for a workload (all rates per replica)."""

    gpu: str
    quant: str
    tp: int
    fits: bool
    meets_slo: bool
    reason: str
    max_batch_memory: int
    batch: int
    tpot_ms: float
    ttft_ms: float
    requests_per_s: float
    input_tokens_per_s: float
    output_tokens_per_s: float
    decode_tokens_per_s: float
    prefill_tokens_per_s: float
    bound: str

    @property
    def feasible(self) -> bool:
        return self.fits and self.meets_slo

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def replica_performance(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    prompt_tokens: float,
    completion_tokens: float,
    tpot_slo_ms: float | None = None,
    ttft_slo_ms: float | None = None,
) -> ReplicaPerformance:
    """Find the largest batch that fits memory and meets the SLOs, and its throughput.

    Parameters
    ----------
    prompt_tokens, completion_tokens
        Mean request lengths [tokens].
    tpot_slo_ms, ttft_slo_ms
        Latency limits [ms]; None for no limit (offline throughput).
    """
    p, o = float(prompt_tokens), float(completion_tokens)
    base = {"gpu": gpu.name, "quant": quant.name, "tp": tp}
    context_max = p + o
    nothing = {
        "max_batch_memory": 0,
        "batch": 0,
        "tpot_ms": math.inf,
        "ttft_ms": math.inf,
        "requests_per_s": 0.0,
        "input_tokens_per_s": 0.0,
        "output_tokens_per_s": 0.0,
        "decode_tokens_per_s": 0.0,
        "prefill_tokens_per_s": 0.0,
        "bound": "-",
    }
    if context_max > model.max_context_tokens:
        return ReplicaPerformance(
            **base,
            fits=False,
            meets_slo=False,
            reason=f"prompt + completion {context_max:.0f} tokens exceeds the model's "
            f"{model.max_context_tokens}-token context",
            **nothing,
        )
    mem_batch = max_batch_by_memory(model, gpu, quant, eff, tp, context_max)
    if mem_batch < 1:
        need = weight_bytes(model, quant) / BYTES_PER_GB
        have = usable_bytes(gpu, eff, tp) / BYTES_PER_GB
        return ReplicaPerformance(
            **base,
            fits=False,
            meets_slo=False,
            reason=f"weights {need:.1f} GB + KV cache for one sequence do not fit "
            f"{have:.1f} GB usable on {tp}× {gpu.name}",
            **{**nothing, "max_batch_memory": mem_batch},
        )
    b_max = min(mem_batch, eff.max_batch)
    batches = np.arange(1, b_max + 1, dtype=float)
    ctx_mean = p + o / 2.0
    step = decode_step_s(model, gpu, quant, eff, tp, batches, ctx_mean, p / o)
    ttft = prefill_s(model, gpu, quant, eff, tp, p) + step
    ok = np.ones_like(batches, dtype=bool)
    if tpot_slo_ms is not None:
        ok &= step * MS_PER_S <= tpot_slo_ms
    if ttft_slo_ms is not None:
        ok &= ttft * MS_PER_S <= ttft_slo_ms
    meets = bool(ok.any())
    i = int(np.flatnonzero(ok)[-1]) if meets else 0
    b = float(batches[i])
    s = float(step[i])
    pure = float(decode_step_s(model, gpu, quant, eff, tp, b, ctx_mean)[()])
    t_pref = prefill_s(model, gpu, quant, eff, tp, p)
    t_mem, t_cmp, _ = decode_step_parts_s(model, gpu, quant, eff, tp, b, ctx_mean, p / o)
    bound = "memory" if float(t_mem) >= float(t_cmp) else "compute"
    reason = ""
    if not meets:
        reason = (
            f"at batch 1 TPOT is {step[0] * MS_PER_S:.1f} ms and TTFT {ttft[0] * MS_PER_S:.0f} ms"
            f" (limits {_fmt_limit(tpot_slo_ms)} / {_fmt_limit(ttft_slo_ms)})"
        )
    return ReplicaPerformance(
        **base,
        fits=True,
        meets_slo=meets,
        reason=reason,
        max_batch_memory=mem_batch,
        batch=int(b),
        tpot_ms=s * MS_PER_S,
        ttft_ms=float(ttft[i]) * MS_PER_S,
        requests_per_s=b / (o * s) if meets else 0.0,
        input_tokens_per_s=b * p / (o * s) if meets else 0.0,
        output_tokens_per_s=b / s if meets else 0.0,
        decode_tokens_per_s=b / pure,
        prefill_tokens_per_s=p / t_pref,
        bound=bound,
    )


def _fmt_limit(v: float | None) -> str:
    return "none" if v is None else f"{v:g} ms"
