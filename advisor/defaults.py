"""Defaults the command line shows before anything heavy is imported.

``DEFAULT_SOLVER``: HiGHS, the better back-end by the benchmark, now by little
(``benchmarks/RESULTS.md``: the same plans as CBC on every case of the grid but a year of ten
workloads, where its plan costs 0.2% more at a smaller gap; smaller or equal gaps at ten
workloads, sooner where both finish early; the README's "Solvers" note).
Where it was chosen (``benchmarks/RESULTS_2026-11-30_short.md``, ``_long.md``) the gaps were
far smaller on many workloads or long horizons (ten workloads for a day, 30 s: 6.4% against
CBC's 24%; a year of three, 120 s: 0.39% against 2.34%).
"""

from __future__ import annotations

DEFAULT_SOLVER = "highs"

#: The longest time limit of a solve [s]: 30 days. Longer is a typo (1e12), and past
#: ``threading.TIMEOUT_MAX`` (about 9.2e9 s) the solver's watchdog thread cannot wait at all.
MAX_TIME_LIMIT_S = 30 * 24 * 3600
#: A time limit's bounds, as the CLI's help and the errors state them.
TIME_LIMIT_RANGE = f"> 0 and at most {MAX_TIME_LIMIT_S:,} s (30 days)"
