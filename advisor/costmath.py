"""The seeds' cost arithmetic: $/M tokens, break-even against an API, capacity rubric.

Pure functions. Each reproduces a formula of the seed documents (``../shared/seeds``);
the README's note on the seeds lists where their worked figures slip and the correct values.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from advisor.errors import AdvisorError
from advisor.roofline import decode_ceiling_tokens_per_s, prefill_ceiling_tokens_per_s
from advisor.units import (
    DAYS_PER_MONTH,
    HOURS_PER_MONTH,
    SECONDS_PER_DAY,
    TOKENS_PER_M,
    tokens_per_s_to_m_tokens_per_hour,
)
from advisor.workloads import capacity_needed


def _positive(name: str, value: float, *, allow_zero: bool = False) -> None:
    ok = value >= 0 if allow_zero else value > 0
    if not (ok and math.isfinite(value)):
        bound = "≥ 0" if allow_zero else "> 0"
        raise AdvisorError(
            f"--{name.replace('_', '-')} must be a finite number {bound}; got {value}."
        )


def usd_per_m_tokens(
    usd_per_hour: float,
    tokens_per_s: float,
    utilization: float = 1.0,
    overhead: float = 1.0,
) -> float:
    """Cost of a million tokens: ``usd_per_hour × overhead / (M tokens per hour × utilization)``.

    Parameters
    ----------
    usd_per_hour
        Hardware price [USD/h].
    tokens_per_s
        Throughput at full load [tokens/s].
    utilization
        Fraction of that throughput actually used, in (0, 1] (the utilization trap).
    overhead
        Multiplier for egress, logging, engineering time (seed 1 uses 1.4).
    """
    _positive("usd_per_hour", usd_per_hour, allow_zero=True)
    _positive("tokens_per_s", tokens_per_s)
    _positive("utilization", utilization)
    if utilization > 1:
        raise AdvisorError(f"--utilization is a fraction in (0, 1]; got {utilization}.")
    _positive("overhead", overhead)
    m_tokens = tokens_per_s_to_m_tokens_per_hour(tokens_per_s) * utilization
    usd = usd_per_hour * overhead / m_tokens
    if not math.isfinite(usd):
        over = f" × --overhead {overhead:g}" if overhead != 1 else ""
        raise AdvisorError(
            f"--usd-per-hour {usd_per_hour:g}{over} over --tokens-per-s {tokens_per_s:g} gives no "
            "finite cost per million tokens; check those figures."
        )
    return usd


def breakeven_m_tokens_per_month(
    api_usd_per_m: float, self_usd_per_m: float, monthly_overhead_usd: float
) -> float:
    """Monthly volume [M tokens] above which self-hosting beats the API (inf if never).

    ``monthly_overhead / (api_price − self_hosted_price)``, seed 1.
    """
    _positive("api_usd_per_m", api_usd_per_m, allow_zero=True)
    _positive("self_usd_per_m", self_usd_per_m, allow_zero=True)
    _positive("monthly_overhead_usd", monthly_overhead_usd, allow_zero=True)
    saving = api_usd_per_m - self_usd_per_m
    if saving <= 0:
        return math.inf
    volume = monthly_overhead_usd / saving
    if not math.isfinite(volume):  # cheaper per token, by too little to count the volume
        raise AdvisorError(
            f"--monthly-overhead-usd {monthly_overhead_usd:g} over a saving of {saving:g} USD/M "
            "tokens gives no finite break-even volume; check those figures."
        )
    return volume


def self_hosting_overhead_usd(
    monthly_overhead_usd: float, horizon_hours: float, *, self_hosts: bool, has_commitments: bool
) -> float:
    """The fixed self-hosting overhead [USD] a plan or baseline pays over the horizon.

    One rule for the plan and every baseline: the monthly overhead is paid by anything that
    runs GPUs of its own (reserved, owned or hourly replicas) and by anything that holds
    existing commitments, whose GPUs cost money (and need running) whatever the plan does;
    only a plan with no GPUs at all, committed or new, pays none.
    """
    if not (self_hosts or has_commitments):
        return 0.0
    return monthly_overhead_usd / HOURS_PER_MONTH * horizon_hours


def prefill_usd_per_m_tokens(
    usd_per_hour: float, peak_tflops: float, mfu: float, params_b: float
) -> float:
    """Compute-bound prefill cost [USD/M tokens] at MFU ``mfu`` (seed 2 §30.6)."""
    tokens_per_s = prefill_ceiling_tokens_per_s(peak_tflops, params_b) * mfu
    return usd_per_m_tokens(usd_per_hour, tokens_per_s)


def decode_usd_per_m_tokens(
    usd_per_hour: float, hbm_tb_per_s: float, mbu: float, model_gb: float, batch: float
) -> float:
    """Bandwidth-bound decode cost [USD/M tokens] at MBU ``mbu`` and ``batch`` (seed 2 §30.6)."""
    tokens_per_s = decode_ceiling_tokens_per_s(hbm_tb_per_s, model_gb, batch) * mbu
    return usd_per_m_tokens(usd_per_hour, tokens_per_s)


@dataclass(frozen=True)
class CapacityPlan:
    """The seed 2 §30.10 capacity rubric, worked through."""

    tokens_per_day: float
    avg_tokens_per_s: float
    peak_tokens_per_s: float
    gpus_at_peak: float
    gpus: int
    usd_per_month: float
    usd_per_m_tokens: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def capacity_plan(
    users: float,
    sessions_per_user: float,
    tokens_per_session: float,
    peak_factor: float,
    tokens_per_s_per_gpu: float,
    headroom: float,
    usd_per_gpu_hour: float,
) -> CapacityPlan:
    """Size a fleet: users → tokens/day → average and peak tokens/s → GPUs → $/month.

    GPUs = ceil(peak × (1 + headroom) / per-GPU throughput); a month is 30 days.
    """
    for name, v in (
        ("users", users),
        ("sessions_per_user", sessions_per_user),
        ("tokens_per_session", tokens_per_session),
        ("tokens_per_s_per_gpu", tokens_per_s_per_gpu),
    ):
        _positive(name, v)
    _positive("peak_factor", peak_factor)
    if peak_factor < 1:
        raise AdvisorError(f"--peak-factor is peak over average, ≥ 1; got {peak_factor}.")
    _positive("headroom", headroom, allow_zero=True)
    _positive("usd_per_gpu_hour", usd_per_gpu_hour, allow_zero=True)
    tokens_per_day = users * sessions_per_user * tokens_per_session
    avg = tokens_per_day / SECONDS_PER_DAY
    peak = avg * peak_factor
    at_peak = peak / tokens_per_s_per_gpu
    needed = capacity_needed(at_peak, headroom)
    if not math.isfinite(needed):
        raise AdvisorError(
            "--users × --sessions-per-user × --tokens-per-session (with the peak factor and "
            f"headroom) needs more GPUs than can be counted ({needed}); check those figures."
        )
    gpus = math.ceil(needed - 1e-9)
    usd_per_month = gpus * usd_per_gpu_hour * HOURS_PER_MONTH
    usd_per_m = usd_per_month / (tokens_per_day * DAYS_PER_MONTH) * TOKENS_PER_M
    return CapacityPlan(
        tokens_per_day=tokens_per_day,
        avg_tokens_per_s=avg,
        peak_tokens_per_s=peak,
        gpus_at_peak=at_peak,
        gpus=gpus,
        usd_per_month=usd_per_month,
        usd_per_m_tokens=usd_per_m,
    )
