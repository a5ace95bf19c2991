"""Roofline throughput and latency of one serving replica. Pure functions, no I/O.

A *replica* is one copy of a model in one quantization on a tensor-parallel group of ``tp``
GPUs of one type. Everything here is per replica.

Model (seed 2, §30.3–30.4, refined with KV-cache traffic, tensor parallelism and memory):

* Weights occupy ``params × weight_bytes`` [B]; the KV cache ``2 × layers × kv_heads ×
  head_dim × kv_bytes`` [B] per token of context, in the quantization's KV format or, where
  the engine allows it, fp8 (``kv_dtype``).
* Memory: each GPU keeps ``reserved_gb`` for activations, workspace and the runtime; the rest
  beyond the weights is a paged KV cache. It holds only the tokens that exist: a running
  sequence has on average its prompt plus half its completion (plus half a block), so the
  largest batch is ``KV tokens / (prompt + completion / 2 + block / 2)``; one whole sequence
  (prompt + completion) must fit.
* A decode step at batch ``B`` (continuous batching with chunked prefill) advances ``B``
  sequences by one token and, in steady state, also prefills ``B × prompt / completion``
  prompt tokens, so prefill keeps pace with completions. Its memory time is the bytes moved
  — weights (for MoE, the experts the batch touches) plus KV cache read at the mean context
  — over ``tp × bandwidth × MBU``, its compute time the FLOPs (``2 × active_params`` per
  token plus attention) over ``tp × peak × MFU``; the step takes the larger of the two or
  their sum (the family's ``step_combine``), plus tensor-parallel all-reduces and a fixed
  per-step overhead. TPOT = step time. The same step-time function (:func:`step_time_s`,
  any mix of decode tokens and prefill chunk) drives the serving simulation.
* All-reduce: NCCL's ring cost model, a launch latency plus ``2 (tp − 1)`` steps of the
  link's latency plus ``2 (tp − 1) / tp`` of the message at the link's one-way bandwidth,
  per GPU type (NVLink, PCIe or xGMI) from the catalog.
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

#: KV-cache element formats a replica may choose, and their bytes per element.
KV_DTYPES: dict[str, float] = {"bf16": 2.0, "fp8": 1.0}


def kv_element_bytes(quant: Quantization, gpu: GPU | None = None, kv_dtype: str = "auto") -> float:
    """Bytes per KV-cache element [B]: the quantization's own format, or ``kv_dtype``.

    ``auto`` keeps the quantization's KV format (fp8 and fp4 recipes already store an fp8
    cache). ``fp8`` stores the cache in fp8 whatever the weights are, as vLLM
    (``--kv-cache-dtype fp8``) and TensorRT-LLM (FP8 KV cache) allow on GPUs with fp8 math
    (Hopper, Ada, Blackwell, CDNA3); ``bf16`` forces a 16-bit cache.
    """
    if kv_dtype in ("auto", "", None):
        return quant.kv_bytes_per_element
    if kv_dtype not in KV_DTYPES:
        raise ValueError(f"unknown KV-cache dtype '{kv_dtype}'; use auto, {', '.join(KV_DTYPES)}")
    if kv_dtype == "fp8" and gpu is not None and not gpu.has_fp8:
        raise ValueError(
            f"{gpu.name} has no fp8 support: an fp8 KV cache needs Hopper/Ada/Blackwell/CDNA3"
        )
    return KV_DTYPES[kv_dtype]


def weight_bytes(model: ModelArch, quant: Quantization) -> float:
    """Bytes of all weights [B] (total parameters, MoE included)."""
    return model.params * quant.weight_bytes_per_param


def kv_bytes_per_token(
    model: ModelArch, quant: Quantization, kv_dtype: str = "auto", gpu: GPU | None = None
) -> float:
    """KV-cache bytes per token of context [B/token]: ``2 × layers × kv_heads × head_dim``."""
    elem = kv_element_bytes(quant, gpu, kv_dtype)
    return 2.0 * model.layers * model.kv_heads * model.head_dim * elem


def usable_bytes(gpu: GPU, eff: Efficiency, tp: int) -> float:
    """Memory for weights and KV cache across the TP group [B].

    Per GPU: the share of device memory the engine may use less the per-GPU reservation for
    activations, workspace, CUDA graphs and the runtime (``reserved_gb``).
    """
    per_gpu = gpu.hbm_gb * eff.usable_hbm_fraction - eff.reserved_gb
    return gb_to_bytes(max(per_gpu, 0.0)) * tp


def kv_capacity_tokens(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    kv_dtype: str = "auto",
) -> float:
    """Tokens of context the KV cache holds beside the weights (0 when weights do not fit)."""
    free = usable_bytes(gpu, eff, tp) - weight_bytes(model, quant)
    if free <= 0:
        return 0.0
    return free / kv_bytes_per_token(model, quant, kv_dtype, gpu)


def max_batch_by_memory(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    context_tokens: float,
    kv_dtype: str = "auto",
) -> int:
    """Largest number of sequences of ``context_tokens`` whose KV cache fits beside the weights.

    Returns 0 when the weights alone do not fit, or not even one sequence does.
    """
    cap = kv_capacity_tokens(model, gpu, quant, eff, tp, kv_dtype)
    return int(cap // max(context_tokens, 1.0))


def min_tp_to_fit(model: ModelArch, gpu: GPU, quant: Quantization, eff: Efficiency) -> int | None:
    """Smallest power-of-two TP degree whose GPUs hold the weights, or None."""
    tp = 1
    while tp <= gpu.max_tp:
        if usable_bytes(gpu, eff, tp) > weight_bytes(model, quant):
            return tp
        tp *= 2
    return None


# --- step times -----------------------------------------------------------------------------


def weights_read_bytes(model: ModelArch, quant: Quantization, tokens: np.ndarray) -> np.ndarray:
    """Weight bytes one forward pass over ``tokens`` tokens reads (MoE: touched experts)."""
    tokens = np.asarray(tokens, dtype=float)
    total = weight_bytes(model, quant)
    if not model.is_moe:
        return np.full_like(tokens, total, dtype=float)
    e, k = model.experts, model.experts_per_token
    expert_params = (model.params - model.active_params) * e / (e - k) if e > k else 0.0
    shared_params = model.params - expert_params
    touched = 1.0 - (1.0 - k / e) ** np.maximum(tokens, 1.0)
    return (shared_params + expert_params * touched) * quant.weight_bytes_per_param


def allreduce_s(gpu: GPU, eff: Efficiency, tp: int, message_bytes):
    """Time of one ring all-reduce of ``message_bytes`` over the TP group [s].

    NCCL's cost model (NVIDIA/nccl ``src/graph/tuning.cc``): a launch latency plus
    ``2 (tp − 1)`` ring steps, each a link latency, and ``2 (tp − 1) / tp × bytes`` sent per
    GPU in each direction at the link's one-way bandwidth. PCIe has both a longer step latency
    and a far lower bandwidth than NVLink, so TP over PCIe pays much more per step.
    """
    m = np.asarray(message_bytes, dtype=float)
    if tp <= 1:
        return np.zeros_like(m)
    steps = 2.0 * (tp - 1)
    return (
        eff.allreduce_latency_us * 1e-6
        + steps * gpu.link_hop_latency_s
        + steps / tp * m / gpu.link_bytes_per_s
    )


def _tp_comm_s(model: ModelArch, gpu: GPU, eff: Efficiency, tp: int, tokens: np.ndarray):
    """Time of the tensor-parallel all-reduces of one forward pass over ``tokens`` [s]."""
    tokens = np.asarray(tokens, dtype=float)
    if tp <= 1:
        return np.zeros_like(tokens)
    n = ALLREDUCES_PER_LAYER * model.layers
    return n * allreduce_s(gpu, eff, tp, tokens * model.hidden_size * ACTIVATION_BYTES)


def peak_flops(gpu: GPU, quant: Quantization) -> float:
    return tflops_to_flops(gpu.peak_tflops[quant.compute_dtype])


def sustained_compute_fraction(gpu: GPU, eff: Efficiency) -> float:
    """Share of its datasheet peak a GPU sustains under tensor load, from its power budget.

    A family's full-power parts (SXM/OAM boards) run their datasheet clocks at
    ``eff.full_clock_w_per_bf16_tflop`` watts per dense bf16 TFLOP/s; a card of the same
    silicon with less board power per TFLOP/s (the 350-400 W PCIe cards of Hopper, the 72 W
    L4) clocks down under load until it draws its TDP: its compute scales with the ratio.
    Memory bandwidth is left as it is.
    """
    if eff.full_clock_w_per_bf16_tflop is None or gpu.tdp_w is None:
        return 1.0
    w_per_tflop = gpu.tdp_w / gpu.peak_tflops["bf16"]
    return min(1.0, w_per_tflop / eff.full_clock_w_per_bf16_tflop)


def sustained_flops(gpu: GPU, quant: Quantization, eff: Efficiency) -> float:
    """FLOP/s one GPU delivers to the model: peak × MFU × its power-limited share."""
    return peak_flops(gpu, quant) * eff.mfu * sustained_compute_fraction(gpu, eff)


def step_parts_s(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    tokens,
    kv_read_tokens,
    attention_context_tokens,
    kv_dtype: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Memory, compute and fixed time of one engine step [s]; the general step-time function.

    Parameters
    ----------
    tokens
        Tokens the step processes: one per decoding sequence plus the prefill chunk [tokens].
    kv_read_tokens
        Tokens of KV cache the step reads: each decoding sequence's context, plus each prefill
        chunk's earlier context [tokens].
    attention_context_tokens
        Sum over the step's tokens of the context each attends to [tokens]; attention costs
        ``4 × layers × q_heads × head_dim`` FLOPs per (token, context token) pair.

    The step's time is ``max(memory, compute) + fixed`` or ``memory + compute + fixed``
    (:func:`combine_step_s`; ``fixed`` = all-reduces + overhead).
    """
    tok = np.asarray(tokens, dtype=float)
    kv_read = np.asarray(kv_read_tokens, dtype=float) * kv_bytes_per_token(
        model, quant, kv_dtype, gpu
    )
    mem_bytes = weights_read_bytes(model, quant, tok) + kv_read
    t_mem = mem_bytes / (tp * tb_per_s_to_bytes_per_s(gpu.hbm_tb_per_s) * eff.mbu)
    attn = 4.0 * model.layers * model.q_heads * model.head_dim
    flops = 2.0 * model.active_params * tok + attn * np.asarray(attention_context_tokens, float)
    t_cmp = flops / (tp * sustained_flops(gpu, quant, eff))
    t_fixed = _tp_comm_s(model, gpu, eff, tp, tok) + eff.step_overhead_ms / MS_PER_S
    return t_mem, t_cmp, t_fixed


def combine_step_s(
    eff: Efficiency,
    t_mem: np.ndarray | float,
    t_cmp: np.ndarray | float,
    t_fixed: np.ndarray | float = 0.0,
) -> np.ndarray | float:
    """A step's time from its memory, compute and fixed parts [s]: ``max(memory, compute)``
    or ``memory + compute`` (``eff.step_combine``), plus ``fixed``. The one place the two
    roofs meet; the simulator's :class:`advisor.serving.StepModel` mirrors it."""
    if eff.step_combine == "sum":
        return t_mem + t_cmp + t_fixed
    return np.maximum(t_mem, t_cmp) + t_fixed


def step_time_s(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    tokens,
    kv_read_tokens,
    attention_context_tokens,
    kv_dtype: str = "auto",
) -> np.ndarray:
    """Time of one engine step [s] (see :func:`step_parts_s`)."""
    t_mem, t_cmp, t_fixed = step_parts_s(
        model, gpu, quant, eff, tp, tokens, kv_read_tokens, attention_context_tokens, kv_dtype
    )
    return combine_step_s(eff, t_mem, t_cmp, t_fixed)


def decode_step_parts_s(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    batch: np.ndarray | float,
    context_tokens: float,
    prefill_tokens_per_seq: float = 0.0,
    prefill_context_tokens: float | None = None,
    kv_dtype: str = "auto",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Memory time, compute time and fixed time (all-reduces + overhead) of a step [s].

    ``batch`` sequences decode one token each at mean context ``context_tokens``; with
    ``prefill_tokens_per_seq`` > 0 the step also prefills that many prompt tokens per
    sequence, each attending to ``prefill_context_tokens`` (default ``context_tokens``).
    """
    b = np.asarray(batch, dtype=float)
    pre = b * prefill_tokens_per_seq
    pctx = context_tokens if prefill_context_tokens is None else prefill_context_tokens
    return step_parts_s(
        model,
        gpu,
        quant,
        eff,
        tp,
        b + pre,
        b * context_tokens,
        b * context_tokens + pre * pctx,
        kv_dtype,
    )


def decode_step_s(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    batch: np.ndarray | float,
    context_tokens: float,
    prefill_tokens_per_seq: float = 0.0,
    prefill_context_tokens: float | None = None,
    kv_dtype: str = "auto",
) -> np.ndarray:
    """Time of one decode step [s] at ``batch`` sequences of mean context ``context_tokens``.

    ``prefill_tokens_per_seq`` prompt tokens per sequence are prefilled in the same step
    (chunked prefill); 0 gives a pure decode step.
    """
    t_mem, t_cmp, t_fixed = decode_step_parts_s(
        model,
        gpu,
        quant,
        eff,
        tp,
        batch,
        context_tokens,
        prefill_tokens_per_seq,
        prefill_context_tokens,
        kv_dtype,
    )
    return combine_step_s(eff, t_mem, t_cmp, t_fixed)


def prefill_s(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    prompt_tokens: float,
    *,
    include_overhead: bool = True,
    kv_dtype: str = "auto",
) -> float:
    """Time to prefill one prompt alone, in one step [s]: causal attention included."""
    p = float(prompt_tokens)
    # Causal attention: token x attends to x earlier tokens, sum ≈ p² / 2.
    t_mem, t_cmp, t_fixed = step_parts_s(model, gpu, quant, eff, tp, p, 0.0, p * p / 2.0, kv_dtype)
    return float(combine_step_s(eff, t_mem, t_cmp, t_fixed if include_overhead else 0.0))


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
    kv_dtype: str = "auto",
) -> ReplicaPerformance:
    """Find the largest batch that fits memory and meets the SLOs, and its throughput.

    This is the steady-state mean-value model (the fast mode and the upper bound the
    simulated capacity in :mod:`advisor.serving` is pruned with).

    Parameters
    ----------
    prompt_tokens, completion_tokens
        Mean request lengths [tokens].
    tpot_slo_ms, ttft_slo_ms
        Latency limits [ms]; None for no limit (offline throughput).
    kv_dtype
        KV-cache format: ``auto`` (the quantization's), ``fp8`` or ``bf16``.
    """
    p, o = float(prompt_tokens), float(completion_tokens)
    base = {"gpu": gpu.name, "quant": quant.name, "tp": tp}
    mem_batch, why = _memory_batch(model, gpu, quant, eff, tp, p, o, kv_dtype)
    if why:
        return ReplicaPerformance(**base, fits=False, meets_slo=False, reason=why, **_NOTHING)
    ctx_mean = p + o / 2.0
    # The step's token budget must carry the decode tokens and the prompts that keep pace.
    budget_batch = max(int(eff.max_num_batched_tokens // (1.0 + p / o)), 1)
    b_max = min(mem_batch, eff.max_batch, budget_batch)
    batches = np.arange(1, b_max + 1, dtype=float)
    step = decode_step_s(model, gpu, quant, eff, tp, batches, ctx_mean, p / o, p / 2.0, kv_dtype)
    t_pref = prefill_s(model, gpu, quant, eff, tp, p, kv_dtype=kv_dtype)
    ttft = t_pref + step
    ok = np.ones_like(batches, dtype=bool)
    if tpot_slo_ms is not None:
        ok &= step * MS_PER_S <= tpot_slo_ms
    if ttft_slo_ms is not None:
        ok &= ttft * MS_PER_S <= ttft_slo_ms
    meets = bool(ok.any())
    i = int(np.flatnonzero(ok)[-1]) if meets else 0
    b = float(batches[i])
    s = float(step[i])
    pure = float(decode_step_s(model, gpu, quant, eff, tp, b, ctx_mean, kv_dtype=kv_dtype)[()])
    t_mem, t_cmp, _ = decode_step_parts_s(
        model, gpu, quant, eff, tp, b, ctx_mean, p / o, p / 2.0, kv_dtype
    )
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
        bound="memory" if float(t_mem) >= float(t_cmp) else "compute",
    )


#: The figures of a replica that does not fit.
_NOTHING: dict[str, Any] = {
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


def _memory_batch(
    model: ModelArch,
    gpu: GPU,
    quant: Quantization,
    eff: Efficiency,
    tp: int,
    p: float,
    o: float,
    kv_dtype: str,
) -> tuple[int, str]:
    """The sequences a replica's paged KV cache holds at the mean live context, and why
    none fit ("" where some do)."""
    context_max = p + o
    if context_max > model.max_context_tokens:
        return 0, (
            f"prompt + completion {context_max:.0f} tokens exceeds the model's "
            f"{model.max_context_tokens}-token context"
        )
    # Paged KV cache: a running sequence holds the tokens that exist, on average the prompt
    # plus half the completion, rounded up to whole blocks (half a block per sequence).
    mem_ctx = p + o / 2.0 + eff.kv_block_tokens / 2.0
    cap_tokens = kv_capacity_tokens(model, gpu, quant, eff, tp, kv_dtype)
    # Every sequence must fit whole at its end (prompt + completion).
    mem_batch = int(cap_tokens // mem_ctx) if cap_tokens >= context_max else 0
    if mem_batch >= 1:
        return mem_batch, ""
    need = weight_bytes(model, quant) / BYTES_PER_GB
    if cap_tokens > 0:
        return 0, (
            f"weights {need:.1f} GB leave KV cache for {cap_tokens:,.0f} tokens, "
            f"less than one {context_max:.0f}-token sequence, on {tp}× {gpu.name}"
        )
    have = usable_bytes(gpu, eff, tp) / BYTES_PER_GB
    return 0, (
        f"weights {need:.1f} GB + KV cache for one sequence do not fit "
        f"{have:.1f} GB usable on {tp}× {gpu.name}"
    )


def _fmt_limit(v: float | None) -> str:
    return "none" if v is None else f"{v:g} ms"
