"""Lanes and Pareto frontiers of the hourly subproblems (``advisor.solve.frontier``)."""

from __future__ import annotations

import math

import numpy as np

from advisor.solve.frontier import (
    frontier_with_replicas,
    pareto_frontier,
    undominated_lanes,
    undominated_splits,
)

# (capacity per replica, cost per replica, pool GPU index, pool GPUs per replica, most replicas)
SLOW = (10.0, 5.0, -1, 0, math.inf)
FAST = (12.0, 4.0, -1, 0, math.inf)


def test_an_uncapped_lane_that_beats_another_drops_it() -> None:
    assert undominated_lanes([SLOW, FAST]) == [FAST]
    assert undominated_lanes([(10.0, 5.0, -1, 0, 2.0), FAST]) == [FAST]


def test_a_capped_lane_drops_nothing() -> None:
    """Three replicas of the better lane at most, two of the other (another offer's cap): a
    demand of 50 needs both, so dropping the worse one (as the bound's lanes once did) would
    not be a relaxation, and the bound could exceed the optimum."""
    slow, fast = (10.0, 5.0, -1, 0, 2.0), (12.0, 4.0, -1, 0, 3.0)
    assert undominated_lanes([slow, fast]) == [slow, fast]
    K, C, _ = pareto_frontier(undominated_lanes([slow, fast]), 50.0, 0)
    assert C[np.argmax(K >= 50.0 - 1e-9)] == 3 * 4.0 + 2 * 5.0  # 36 + 20 ≥ 50


def test_the_frontier_keeps_the_replicas_of_each_point() -> None:
    K, C, N = frontier_with_replicas([SLOW, (12.0, 4.0, -1, 0, 3.0)], 50.0)
    for k, c, n in zip(K, C, N, strict=True):
        assert c == n[0] * 5.0 + n[1] * 4.0
        assert min(k, 50.0) == min(n[0] * 10.0 + n[1] * 12.0, 50.0)
        assert n[1] <= 3


def test_undominated_splits_drops_the_lanes_another_beats() -> None:
    """A shared lane with no more capacity for either workload and no lower cost than another
    is dropped (its split replica can be the other's); ties keep the earlier; lanes that
    trade one workload's capacity for the other's, or capacity for cost, both stay."""
    a = (10.0, 20.0, 5.0, 0, 1)
    dearer = (10.0, 20.0, 6.0, 1, 1)  # a does its job for less
    smaller = (9.0, 20.0, 5.0, -1, 1)  # a does its job with more capacity
    twin = (10.0, 20.0, 5.0, 2, 2)  # equal to a: the earlier (a) stays
    other = (12.0, 15.0, 5.0, 0, 1)  # more for the first workload, less for the second
    cheap = (5.0, 5.0, 1.0, -1, 1)  # less capacity, less cost
    got = undominated_splits([a, dearer, smaller, twin, other, cheap])
    assert got == [a, other, cheap]
    assert undominated_splits([twin, a]) == [twin]
