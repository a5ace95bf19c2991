"""Two-stage plans on random small instances: VSS >= 0 and the expected-cost optimum.

Each example: one workload, three hours, two or three scenarios scaling a random pattern,
random weights; the tiny catalog of the brute-force test (L4 reserved_3y and on-demand, the
API). The expected cost must equal the brute-force optimum over fleets, never exceed the
single-forecast fleet's (VSS >= 0), and under ``minmax`` the worst scenario must cost no more
than the single-forecast fleet's worst.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advisor.milp import POOL_EPSILON
from advisor.pipeline import option_set
from advisor.stochastic import parse_risk, solve_scenarios
from tests.test_solve_bruteforce import MAX_COUNT
from tests.test_stochastic import EXACT, fleet_cost, scenario_instance

FEW = 40 if os.environ.get("HYPOTHESIS_PROFILE") == "thorough" else 4

patterns = st.tuples(*[st.sampled_from([0.0, 0.4, 0.9, 1.3, 1.8]) for _ in range(3)]).filter(
    lambda p: max(p) > 0
)
factors = st.lists(st.sampled_from([0.4, 0.7, 1.0, 1.4]), min_size=2, max_size=3, unique=True)


@settings(max_examples=FEW)
@given(pattern=patterns, factors=factors, data=st.data())
def test_vss_is_never_negative(pattern, factors, data) -> None:
    raw = data.draw(st.lists(st.integers(1, 5), min_size=len(factors), max_size=len(factors)))
    weights = tuple(np.array(raw) / sum(raw))
    inputs, scen = scenario_instance(pattern, tuple(factors), weights)
    opts = option_set(inputs)
    best = min(
        float(np.dot(scen.weights, [fleet_cost(opts, d, "L4", r) for d in scen.demands]))
        for r in range(MAX_COUNT + 1)
    )
    s = solve_scenarios(inputs, scen, EXACT, aggregate="exact", workers=1).summary
    assert s["vss_usd"] >= -1e-9
    assert s["expected_cost_usd"] == pytest.approx(best, rel=1e-6, abs=POOL_EPSILON * 12)
    worst = solve_scenarios(
        inputs, scen, EXACT, risk=parse_risk("minmax"), aggregate="exact", workers=1
    ).summary
    assert worst["worst_cost_usd"] <= worst["single_forecast_worst_cost_usd"] + 1e-9
