"""Unit conversions, in one place.

Datasheet conventions: ``GB`` is 1e9 bytes, ``TB/s`` is 1e12 bytes per second, ``TFLOP/s``
is 1e12 floating-point operations per second. Money is USD. A month is 30 days (720 hours),
the convention the seed documents use for $/month figures; a month of a commitment's term is
a twelfth of a year (730 hours), so that 36 months are 3 years.
"""

from __future__ import annotations

BYTES_PER_GB = 1e9
BYTES_PER_TB = 1e12
FLOPS_PER_TFLOP = 1e12
PARAMS_PER_B = 1e9
TOKENS_PER_M = 1e6
SECONDS_PER_HOUR = 3600.0
MS_PER_S = 1000.0
HOURS_PER_DAY = 24.0
DAYS_PER_MONTH = 30.0
HOURS_PER_MONTH = HOURS_PER_DAY * DAYS_PER_MONTH
HOURS_PER_YEAR = 8760.0
#: a month of a commitment's term: a twelfth of a year (a 36-month term is 3 years), not
#: the 30-day month of $/month figures
HOURS_PER_TERM_MONTH = HOURS_PER_YEAR / 12
SECONDS_PER_DAY = HOURS_PER_DAY * SECONDS_PER_HOUR


def gb_to_bytes(gb: float) -> float:
    """Convert datasheet gigabytes [GB] to bytes [B]."""
    return gb * BYTES_PER_GB


def tb_per_s_to_bytes_per_s(tb_per_s: float) -> float:
    """Convert bandwidth [TB/s] to [B/s]."""
    return tb_per_s * BYTES_PER_TB


def tflops_to_flops(tflops: float) -> float:
    """Convert [TFLOP/s] to [FLOP/s]."""
    return tflops * FLOPS_PER_TFLOP


def tokens_per_s_to_m_tokens_per_hour(tokens_per_s: float) -> float:
    """Convert a rate [tokens/s] to [million tokens/hour]."""
    return tokens_per_s * SECONDS_PER_HOUR / TOKENS_PER_M


def usd_per_hour_to_usd_per_month(usd_per_hour: float) -> float:
    """Convert [USD/h] to [USD/month] with a 30-day month."""
    return usd_per_hour * HOURS_PER_MONTH


def usd_per_month_to_usd_per_hour(usd_per_month: float) -> float:
    """Convert [USD/month] to [USD/h] with a 30-day month."""
    return usd_per_month / HOURS_PER_MONTH
