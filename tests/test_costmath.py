"""Tests for advisor.costmath: the seeds' worked figures, recomputed (not the seeds' slips)."""

from __future__ import annotations

import math

import pytest

from advisor.costmath import (
    breakeven_m_tokens_per_month,
    capacity_plan,
    decode_usd_per_m_tokens,
    prefill_usd_per_m_tokens,
    usd_per_m_tokens,
)
from advisor.errors import AdvisorError


def test_seed1_cost_per_million() -> None:
    assert usd_per_m_tokens(3.0, 1000) == pytest.approx(0.8333, abs=1e-4)  # "$0.83"
    assert usd_per_m_tokens(2.0, 1000) == pytest.approx(0.5556, abs=1e-4)  # "$0.56"
    assert usd_per_m_tokens(2.0, 1000, utilization=0.5) == pytest.approx(1.1111, abs=1e-4)


@pytest.mark.parametrize(
    ("utilization", "expected"),
    [(1.0, 0.25), (0.8, 0.3125), (0.5, 0.50), (0.2, 1.25)],
)
def test_utilization_trap(utilization: float, expected: float) -> None:
    assert usd_per_m_tokens(4.50, 5000, utilization=utilization) == pytest.approx(expected)


def test_overhead_multiplier() -> None:
    # $0.25/M at 1.4× overhead: $4.50/h at 5,000 tokens/s.
    assert usd_per_m_tokens(4.50, 5000, overhead=1.4) == pytest.approx(0.35)
    # $0.14/M base: pick the rate that gives exactly 0.14, then apply 1.4×.
    rate = 0.14 * 5000 * 3600 / 1e6
    assert usd_per_m_tokens(rate, 5000, overhead=1.4) == pytest.approx(0.196)


def test_seed1_slip_50_tokens_per_s() -> None:
    # Seed 1 prints $0.14 for $2.50/h at 50 tokens/s; the formula gives $13.89.
    assert usd_per_m_tokens(2.50, 50) == pytest.approx(13.89, abs=0.01)


def test_breakeven_seed1() -> None:
    # $5,000/month over a $0.45/M saving: 11,111.1 M tokens/month (the seed says 11.1M).
    v = breakeven_m_tokens_per_month(0.80, 0.35, 5000)
    assert v == pytest.approx(11_111.1, abs=0.1)


def test_breakeven_seed2_crossover() -> None:
    # $1,500/month floor vs $0.88/M API: ≈1,705 M tokens/month (the seed says 100–500M).
    v = breakeven_m_tokens_per_month(0.88, 0.0, 1500)
    assert v == pytest.approx(1704.5, abs=0.1)
    assert not 100 <= v <= 500


def test_breakeven_never_when_api_is_cheaper() -> None:
    assert breakeven_m_tokens_per_month(0.30, 0.35, 5000) == math.inf


def test_seed2_prefill_and_decode_cost() -> None:
    # 2 / (989e12 × 3600 × 0.4 / 140e9) × 1e6 = 0.1966
    assert prefill_usd_per_m_tokens(2.0, 989, 0.4, 70) == pytest.approx(0.1966, abs=1e-4)
    # 2 / (3e12 × 3600 × 0.7 × 128 / 140e9) × 1e6 = 0.2894
    assert decode_usd_per_m_tokens(2.0, 3.0, 0.7, 140, 128) == pytest.approx(0.2894, abs=1e-4)
    assert round(decode_usd_per_m_tokens(2.0, 3.0, 0.7, 140, 128), 2) == 0.29
    assert round(prefill_usd_per_m_tokens(2.0, 989, 0.4, 70), 2) == 0.20


def test_capacity_rubric() -> None:
    plan = capacity_plan(1e6, 10, 500, 3.0, 1000, 0.3, 2.0)
    assert plan.tokens_per_day == pytest.approx(5e9)
    assert plan.avg_tokens_per_s == pytest.approx(57_870.4, abs=0.1)
    assert plan.peak_tokens_per_s == pytest.approx(173_611.1, abs=0.1)
    assert plan.gpus_at_peak == pytest.approx(173.6, abs=0.05)
    assert plan.gpus == 226  # the seed says 225
    assert plan.usd_per_month == pytest.approx(325_440)  # the seed says ~$324k
    assert plan.usd_per_m_tokens == pytest.approx(2.16, abs=0.01)  # the seed's $2.16
    assert plan.usd_per_m_tokens == pytest.approx(2.1696, abs=1e-4)


def test_capacity_rubric_without_headroom() -> None:
    plan = capacity_plan(1e6, 10, 500, 3.0, 1000, 0.0, 2.0)
    assert plan.gpus == 174


def test_seed2_practice_problems() -> None:
    assert usd_per_m_tokens(2.0, 5000) == pytest.approx(0.111, abs=1e-3)  # 8B on one H100
    assert usd_per_m_tokens(16.0, 800) == pytest.approx(5.56, abs=0.01)  # 405B on 8×H100


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"usd_per_hour": -1.0, "tokens_per_s": 1000}, "usd-per-hour"),
        ({"usd_per_hour": 2.0, "tokens_per_s": 0.0}, "tokens-per-s"),
        ({"usd_per_hour": 2.0, "tokens_per_s": 1000, "utilization": 1.5}, "utilization"),
        ({"usd_per_hour": 2.0, "tokens_per_s": 1000, "utilization": 0.0}, "utilization"),
        ({"usd_per_hour": 2.0, "tokens_per_s": math.nan}, "tokens-per-s"),
    ],
)
def test_bad_input_raises(kwargs: dict, field: str) -> None:
    with pytest.raises(AdvisorError, match=field):
        usd_per_m_tokens(**kwargs)


def test_bad_capacity_input_raises() -> None:
    with pytest.raises(AdvisorError, match="peak-factor"):
        capacity_plan(1e6, 10, 500, 0.5, 1000, 0.3, 2.0)
    with pytest.raises(AdvisorError, match="tokens-per-s-per-gpu"):
        capacity_plan(1e6, 10, 500, 3.0, 0, 0.3, 2.0)
    with pytest.raises(AdvisorError, match="monthly-overhead-usd"):
        breakeven_m_tokens_per_month(0.8, 0.35, -1)


def test_an_overflowing_overhead_is_named() -> None:
    """--overhead 1e308 overflowed the cost and the message blamed --usd-per-hour and
    --tokens-per-s only."""
    with pytest.raises(AdvisorError, match=r"--overhead 1e\+308"):
        usd_per_m_tokens(2.0, 1000, overhead=1e308)


def test_a_breakeven_beyond_counting_is_an_error_not_never() -> None:
    """An API dearer by 1e-300 USD/M and a 1e300 overhead made inf, reported as 'self-hosting
    never wins: it is not cheaper per token', which it is."""
    with pytest.raises(AdvisorError, match="no finite break-even volume"):
        breakeven_m_tokens_per_month(1e-300, 0.0, 1e300)
    assert breakeven_m_tokens_per_month(2.0, 2.0, 1e300) == math.inf
