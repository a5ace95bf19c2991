"""Tests for advisor.roofline: the seeds' figures recomputed, memory fit, MoE, monotonicity."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from advisor.catalog import GPU, Catalog, Efficiency, ModelArch, load_catalog
from advisor.roofline import (
    decode_ceiling_tokens_per_s,
    decode_step_parts_s,
    decode_step_s,
    kv_bytes_per_token,
    max_batch_by_memory,
    prefill_ceiling_tokens_per_s,
    prefill_s,
    replica_performance,
    step_parts_s,
    sustained_compute_fraction,
    weight_bytes,
    weights_read_bytes,
)

AS_OF = dt.date(2026, 11, 24)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def ideal_gpu() -> GPU:
    """The seed's idealized H100: 3 TB/s, 989 TFLOP/s bf16, memory large enough for anything."""
    return GPU(
        name="seed-H100",
        vendor="nvidia",
        family="hopper",
        hbm_gb=100_000,
        hbm_tb_per_s=3.0,
        peak_tflops={"bf16": 989},
        interconnect="NVLink",
        interconnect_gb_per_s=900,
        max_tp=8,
        source="seed 2 §30.3",
        as_of=AS_OF,
    )


@pytest.fixture(scope="module")
def ideal_eff() -> Efficiency:
    return Efficiency(
        family="hopper",
        mbu=1.0,
        mfu=1.0,
        step_overhead_ms=0.0,
        usable_hbm_fraction=1.0,
        max_batch=4096,
        allreduce_latency_us=0.0,
        source="test",
        as_of=AS_OF,
    )


@pytest.fixture(scope="module")
def model70() -> ModelArch:
    """A dense 70B-parameter model (Llama-70B shape, exactly 70e9 parameters)."""
    return ModelArch(
        name="dense-70b",
        layers=80,
        hidden_size=8192,
        q_heads=64,
        kv_heads=8,
        head_dim=128,
        params_b=70.0,
        max_context_tokens=131072,
        source="test",
        as_of=AS_OF,
    )


# --- the seeds' closed forms ---------------------------------------------------------------


def test_decode_ceiling_seed_figures() -> None:
    # Seed 2 §30.3: 3000 GB/s / 140 GB = 21.4 × batch.
    assert decode_ceiling_tokens_per_s(3.0, 140, 1) == pytest.approx(21.43, abs=0.01)
    assert decode_ceiling_tokens_per_s(3.0, 140, 100) == pytest.approx(2142.9, abs=0.1)
    assert decode_ceiling_tokens_per_s(3.0, 140, 256) == pytest.approx(5485.7, abs=0.1)


def test_prefill_ceiling_seed_figure() -> None:
    # 989 TFLOP/s / (2 × 70 GFLOP/token) = 7,064 tokens/s ("≈ 7000").
    assert prefill_ceiling_tokens_per_s(989, 70) == pytest.approx(7064.3, abs=0.1)
    assert prefill_ceiling_tokens_per_s(989, 70) == pytest.approx(7000, rel=0.01)


def test_full_model_reproduces_decode_ceiling(catalog, ideal_gpu, ideal_eff, model70) -> None:
    bf16 = catalog.quantizations["bf16"]
    assert weight_bytes(model70, bf16) == pytest.approx(140e9)
    for batch, expected in ((1, 21.43), (100, 2142.9), (256, 5485.7)):
        step = float(decode_step_s(model70, ideal_gpu, bf16, ideal_eff, 1, batch, 0.0))
        assert batch / step == pytest.approx(expected, rel=1e-3)
    t_mem, t_cmp, t_fixed = decode_step_parts_s(model70, ideal_gpu, bf16, ideal_eff, 1, 256, 0.0)
    assert float(t_mem) > float(t_cmp)  # memory-bound at batch 256
    assert float(t_fixed) == 0.0


def test_full_model_turns_compute_bound_at_large_batch(
    catalog, ideal_gpu, ideal_eff, model70
) -> None:
    # Compute equals memory at B = 989e12 × 140e9 / (3e12 × 2 × 70e9) ≈ 330.
    bf16 = catalog.quantizations["bf16"]
    t_mem, t_cmp, _ = decode_step_parts_s(model70, ideal_gpu, bf16, ideal_eff, 1, 400, 0.0)
    assert float(t_cmp) > float(t_mem)


def test_additive_step_is_memory_plus_compute(catalog, ideal_gpu, ideal_eff, model70) -> None:
    """With ``step_combine: sum`` a step takes its memory time plus its compute time (plus the
    fixed part), never less than the overlapped step; the prompt's prefill likewise."""
    bf16 = catalog.quantizations["bf16"]
    add = ideal_eff.model_copy(update={"step_combine": "sum", "step_overhead_ms": 1.0})
    over = add.model_copy(update={"step_combine": "max"})
    for batch in (1, 64, 330, 1024):
        t_mem, t_cmp, t_fixed = decode_step_parts_s(model70, ideal_gpu, bf16, add, 1, batch, 500.0)
        summed = float(decode_step_s(model70, ideal_gpu, bf16, add, 1, batch, 500.0))
        assert summed == pytest.approx(float(t_mem + t_cmp + t_fixed), rel=1e-12)
        assert summed > float(decode_step_s(model70, ideal_gpu, bf16, over, 1, batch, 500.0))
    t_mem, t_cmp, _ = step_parts_s(model70, ideal_gpu, bf16, add, 1, 2000.0, 0.0, 2000.0**2 / 2)
    pre = prefill_s(model70, ideal_gpu, bf16, add, 1, 2000.0, include_overhead=False)
    assert pre == pytest.approx(float(t_mem + t_cmp), rel=1e-12)


# --- sizes and memory fit ------------------------------------------------------------------


def test_kv_bytes_per_token_llama_70b(catalog) -> None:
    m = catalog.models["llama-3.1-70b"]
    assert kv_bytes_per_token(m, catalog.quantizations["bf16"]) == 2 * 80 * 8 * 128 * 2 == 327_680
    assert kv_bytes_per_token(m, catalog.quantizations["fp8"]) == 163_840


def test_70b_bf16_needs_two_h100(catalog) -> None:
    m, g, q = (
        catalog.models["llama-3.1-70b"],
        catalog.gpus["H100-SXM"],
        catalog.quantizations["bf16"],
    )
    eff = catalog.efficiency["hopper"]
    one = replica_performance(m, g, q, eff, 1, 1000, 300)
    assert not one.fits
    assert "do not fit" in one.reason
    two = replica_performance(m, g, q, eff, 2, 1000, 300)
    assert two.fits and two.max_batch_memory >= 1


def test_70b_fp8_fits_one_h100_at_70_gb(catalog) -> None:
    m, g = catalog.models["llama-3.1-70b"], catalog.gpus["H100-SXM"]
    fp8, int4 = catalog.quantizations["fp8"], catalog.quantizations["int4"]
    # Seed 2 says "fits on a single H100 (35 GB)"; FP8 is 1 byte per parameter: ~70 GB.
    assert weight_bytes(m, fp8) / 1e9 == pytest.approx(70.55, abs=0.01)
    assert 35 <= weight_bytes(m, int4) / 1e9 <= 40
    perf = replica_performance(m, g, fp8, catalog.efficiency["hopper"], 1, 1000, 300)
    assert perf.fits


def test_max_batch_by_memory_zero_when_weights_do_not_fit(catalog) -> None:
    m, g = catalog.models["llama-3.1-405b"], catalog.gpus["H100-SXM"]
    q, eff = catalog.quantizations["bf16"], catalog.efficiency["hopper"]
    assert max_batch_by_memory(m, g, q, eff, 1, 1000) == 0


# --- MoE -----------------------------------------------------------------------------------


def test_moe_weights_read_grow_with_batch(catalog) -> None:
    m, q = catalog.models["mixtral-8x7b"], catalog.quantizations["bf16"]
    b1, b64 = weights_read_bytes(m, q, np.array([1.0, 64.0]))
    total = weight_bytes(m, q)
    assert b1 < b64 < total
    # Batch 1 touches 2 of 8 experts: the active parameters.
    assert b1 == pytest.approx(m.active_params * q.weight_bytes_per_param, rel=1e-9)


def test_moe_flops_use_active_params(catalog, ideal_gpu, ideal_eff) -> None:
    m, q = catalog.models["mixtral-8x7b"], catalog.quantizations["bf16"]
    batch = 64
    _, t_cmp, _ = decode_step_parts_s(m, ideal_gpu, q, ideal_eff, 1, batch, 0.0)
    expected = 2 * m.active_params * batch / 989e12
    assert float(t_cmp) == pytest.approx(expected, rel=1e-9)
    assert float(t_cmp) < 2 * m.params * batch / 989e12


# --- monotonicity and SLOs -----------------------------------------------------------------


@pytest.mark.parametrize("model", ["llama-3.1-70b", "mixtral-8x7b"])
def test_tpot_grows_and_throughput_never_falls_with_batch(catalog, model) -> None:
    m, g = catalog.models[model], catalog.gpus["H100-SXM"]
    q, eff = catalog.quantizations["fp8"], catalog.efficiency["hopper"]
    batches = np.arange(1, 513, dtype=float)
    step = decode_step_s(m, g, q, eff, 2, batches, 1150.0, 1000.0 / 300.0)
    assert np.all(np.diff(step) > 0)
    assert np.all(np.diff(batches / step) >= -1e-9)


def test_throughput_rises_with_looser_tpot_slo(catalog) -> None:
    m, g = catalog.models["llama-3.1-70b"], catalog.gpus["H100-SXM"]
    q, eff = catalog.quantizations["fp8"], catalog.efficiency["hopper"]
    tight = replica_performance(m, g, q, eff, 2, 1000, 300, tpot_slo_ms=40)
    loose = replica_performance(m, g, q, eff, 2, 1000, 300, tpot_slo_ms=100)
    assert tight.feasible and loose.feasible
    assert tight.batch <= loose.batch
    assert tight.output_tokens_per_s <= loose.output_tokens_per_s
    assert tight.tpot_ms <= 40 and loose.tpot_ms <= 100


def test_tpot_slo_below_batch_one_step_is_infeasible(catalog) -> None:
    m, g = catalog.models["llama-3.1-70b"], catalog.gpus["H100-SXM"]
    q, eff = catalog.quantizations["fp8"], catalog.efficiency["hopper"]
    perf = replica_performance(m, g, q, eff, 2, 1000, 300, tpot_slo_ms=1.0)
    assert perf.fits and not perf.meets_slo and not perf.feasible
    assert "TPOT" in perf.reason and "1 ms" in perf.reason
    assert perf.output_tokens_per_s == 0.0


def test_context_longer_than_model_is_rejected(catalog) -> None:
    m, g = catalog.models["llama-2-70b"], catalog.gpus["H200"]
    q, eff = catalog.quantizations["fp8"], catalog.efficiency["hopper"]
    perf = replica_performance(m, g, q, eff, 1, 4000, 500)
    assert not perf.fits and "context" in perf.reason


# --- memory and interconnect at the root (issue #14) ----------------------------------------


def test_tp8_over_pcie_is_slower_per_gpu_than_over_nvlink(catalog) -> None:
    m, q = catalog.models["llama-3.1-70b"], catalog.quantizations["bf16"]
    nvlink = catalog.gpus["H100-SXM"]
    pcie = nvlink.model_copy(
        update={
            "name": "H100-SXM-over-PCIe",
            "tp_link": "pcie",
            "tp_link_gb_per_s": 64.0,
            "tp_link_latency_us": 1.0,
        }
    )
    eff = catalog.efficiency["hopper"]
    fast = replica_performance(m, nvlink, q, eff, 8, 1000, 300)
    slow = replica_performance(m, pcie, q, eff, 8, 1000, 300)
    assert fast.feasible and slow.feasible
    assert slow.output_tokens_per_s / 8 < fast.output_tokens_per_s / 8
    # the batch-1 step too: latency-bound all-reduces cost more per ring step over PCIe
    s_fast = float(decode_step_s(m, nvlink, q, eff, 8, 1, 1000.0))
    s_slow = float(decode_step_s(m, pcie, q, eff, 8, 1, 1000.0))
    assert s_slow > s_fast


def test_allreduce_follows_the_ring_cost_model(catalog) -> None:
    from advisor.roofline import allreduce_s

    g, eff = catalog.gpus["L40S"], catalog.efficiency["ada"]
    # 2 (tp - 1) ring steps of the link latency, 2 (tp - 1) / tp of the message each way
    t = float(allreduce_s(g, eff, 4, 32e9))
    expected = eff.allreduce_latency_us * 1e-6 + 6 * 1.0e-6 + 6 / 4 * 32e9 / 32e9
    assert t == pytest.approx(expected, rel=1e-12)
    assert float(allreduce_s(g, eff, 1, 1e9)) == 0.0


def test_fp8_kv_cache_halves_kv_bytes_where_the_gpu_has_fp8(catalog) -> None:
    from advisor.roofline import kv_capacity_tokens

    m, bf16 = catalog.models["llama-3.1-70b"], catalog.quantizations["bf16"]
    h100, a100 = catalog.gpus["H100-SXM"], catalog.gpus["A100-80G"]
    assert kv_bytes_per_token(m, bf16, "fp8", h100) == kv_bytes_per_token(m, bf16) / 2
    eff = catalog.efficiency["hopper"]
    assert kv_capacity_tokens(m, h100, bf16, eff, 2, "fp8") == pytest.approx(
        2 * kv_capacity_tokens(m, h100, bf16, eff, 2)
    )
    with pytest.raises(ValueError, match="fp8"):
        kv_bytes_per_token(m, bf16, "fp8", a100)


def test_memory_tight_70b_fp8_on_one_h100_batches_at_the_mean_live_context(catalog) -> None:
    """Paged KV at the mean context and a GB reservation: 70B fp8 on one 80 GB GPU batches
    tens of sequences, not the handful a 90% usable fraction at full context allowed."""
    m, g, q = (
        catalog.models["llama-3.1-70b"],
        catalog.gpus["H100-SXM"],
        catalog.quantizations["fp8"],
    )
    eff = catalog.efficiency["hopper"]
    perf = replica_performance(m, g, q, eff, 1, 1000, 1000)
    free_gb = g.hbm_gb - eff.reserved_gb - weight_bytes(m, q) / 1e9
    per_seq = (1000 + 500 + eff.kv_block_tokens / 2) * kv_bytes_per_token(m, q)
    assert perf.max_batch_memory == int(free_gb * 1e9 / per_seq)
    assert perf.max_batch_memory > 20


def test_power_limited_cards_sustain_a_share_of_their_peak(catalog) -> None:
    """The family's full-power parts run at their datasheet peak; a card with less board
    power per TFLOP/s of the same silicon gets the ratio; more power never adds compute."""
    hopper = catalog.efficiency["hopper"]
    g = catalog.gpus
    assert sustained_compute_fraction(g["H100-SXM"], hopper) == pytest.approx(1.0, abs=1e-5)
    assert sustained_compute_fraction(g["H200-NVL"], hopper) == 1.0  # 600 W: not held back
    pcie = g["H100-PCIe"]
    expected = pcie.tdp_w / pcie.peak_tflops["bf16"] / hopper.full_clock_w_per_bf16_tflop
    assert sustained_compute_fraction(pcie, hopper) == pytest.approx(expected)
    assert 0.6 < expected < 0.7
    assert (
        sustained_compute_fraction(
            pcie, hopper.model_copy(update={"full_clock_w_per_bf16_tflop": None})
        )
        == 1.0
    )
    # compute time scales with it; memory time does not
    m, q = catalog.models["llama-3.1-70b"], catalog.quantizations["fp8"]
    full = hopper.model_copy(update={"full_clock_w_per_bf16_tflop": None})
    mem, cmp_, _ = step_parts_s(m, pcie, q, hopper, 2, [4096.0], [0.0], [0.0])
    mem0, cmp0, _ = step_parts_s(m, pcie, q, full, 2, [4096.0], [0.0], [0.0])
    assert mem[0] == pytest.approx(mem0[0])
    assert cmp_[0] == pytest.approx(cmp0[0] / expected)
