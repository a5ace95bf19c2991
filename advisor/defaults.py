"""Defaults the command line shows before anything heavy is imported.

``DEFAULT_SOLVER``: HiGHS, the better back-end by the benchmark
(``benchmarks/RESULTS_2026-11-30_short.md`` and ``_long.md``): the same plans as CBC on one to
three short workloads, and far smaller gaps on many workloads or long horizons (ten workloads
for a day, 30 s: 6.4% against CBC's 24%; a year of three, 120 s: 0.39% against 2.34%).
"""

from __future__ import annotations

DEFAULT_SOLVER = "highs"
