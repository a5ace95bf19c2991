"""The local search over reserved fleets: neighbours one GPU away, and its tuning constants."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from advisor.options import OptionSet

#: Seconds (at most) to cost one candidate fleet on the representative hours; points left
#: when it runs out keep their rounded fractional schedule.
EVAL_S = 30.0


#: Seconds for the integer model of the representative hours (a candidate fleet).
INTEGER_POINTS_S = 10.0


#: ...tried only up to this many integer variables (and so the MILP at the clusters'
#: minima, of the same size): HiGHS runs far past its limit in the root of larger ones.
INTEGER_POINTS_MAX = 10_000


#: Share of the budget after which the fleet search stops.
SEARCH_SHARE = 0.3


#: Scales of the relaxed models' fleets that also start the fleet search.
CANDIDATE_SCALES = (1.25, 1.5)


#: Quantiles over the hours of the pool GPUs used at the Lagrangian's prices, each proposed
#: as a fleet (measured at 24 h x 10 workloads: the median's fleet, 7 H100 and 9 MI300X,
#: cost $1,022 by exact hourly solves, against $1,051 for the search's best candidate and
#: $972 for the optimum's 8 and 10; the 0.7 quantile's, $1,052; the 0.9's, $1,725).
USAGE_QUANTILES = (0.5,)


Fleet = dict[tuple[str, str], int]


def neighbours(fleet: Fleet, opts: OptionSet, gpus: list[str]) -> list[Fleet]:
    """Fleets one GPU away: one more or one fewer on a pool tier, or one moved between
    tiers of the same GPU type; then one swapped for a GPU of another type (on that type's
    cheapest pool tier with room). The moves among the GPU types the fleet holds come
    first, those that add a type last: measured at 8,760 h x 10 workloads (HiGHS), a fleet
    with a new type took 1.0-1.4 s to cost against 0.6 s, none of them was cheaper, and
    tried first they left the search one move short of the best fleet it reached
    otherwise (first improvement takes the first cheaper neighbour)."""
    held = {g for (g, _), n in fleet.items() if n > 0}
    near: list[Fleet] = []  # moves within the types held
    swaps: list[Fleet] = []  # ...and between them
    far: list[Fleet] = []  # moves that add a type
    for g in gpus:
        tiers = opts.pool_tiers(g)
        for t in tiers:
            n = fleet.get((g, t), 0)
            if n > 0:
                near.append({**fleet, (g, t): n - 1})
            if _room(fleet, opts, g, t):
                (near if g in held else far).append({**fleet, (g, t): n + 1})
            if n == 0:
                continue
            for t2 in tiers:
                if t2 != t and _room(fleet, opts, g, t2):
                    near.append({**fleet, (g, t): n - 1, (g, t2): fleet.get((g, t2), 0) + 1})
            for g2 in gpus:
                room = [t2 for t2 in opts.pool_tiers(g2) if _room(fleet, opts, g2, t2)]
                if g2 == g or not room:
                    continue
                t2 = min(room, key=lambda t2: opts.gpu_usd_per_hour[(g2, t2)])
                moved = {**fleet, (g, t): n - 1, (g2, t2): fleet.get((g2, t2), 0) + 1}
                (swaps if g2 in held else far).append(moved)
    return [{k: v for k, v in f.items() if v > 0} for f in near + swaps + far]


def repeated(fleet: Fleet, before: Fleet, opts: OptionSet) -> Fleet | None:
    """The fleet one more step of the move that led from ``before`` to ``fleet`` (the move
    the search tries first after an improving one), or None where that leaves the
    catalog's limits."""
    keys = set(fleet) | set(before)
    step = {k: fleet.get(k, 0) - before.get(k, 0) for k in keys}
    out = {k: fleet.get(k, 0) + step[k] for k in keys}
    if not any(step.values()) or any(
        n < 0 or n > opts.max_gpus.get(k, math.inf) for k, n in out.items()
    ):
        return None
    return {k: n for k, n in out.items() if n > 0}


def _room(fleet: Fleet, opts: OptionSet, g: str, t: str) -> bool:
    """Whether the catalog allows one more GPU of type ``g`` on tier ``t``."""
    return fleet.get((g, t), 0) + 1 <= opts.max_gpus.get((g, t), math.inf)


def usage_fleets(
    opts: OptionSet,
    pool_gpus: Sequence[str],
    hourly_usage: np.ndarray,
    existing_gpus: Mapping[str, np.ndarray],
    quantiles: Sequence[float] = USAGE_QUANTILES,
) -> list[Fleet]:
    """Fleets the hourly subproblems point to at a set of pool prices: for each quantile,
    per GPU type the quantile over the hours of the pool GPUs they use (``hourly_usage``,
    (len(pool_gpus), H), less the GPUs already committed that hour), bought on the type's
    cheapest pool tiers with room."""
    out: list[Fleet] = []
    for q in quantiles:
        fleet: Fleet = {}
        for gi, g in enumerate(pool_gpus):
            need = hourly_usage[gi] - np.asarray(existing_gpus.get(g, 0.0), dtype=float)
            n = math.ceil(float(np.quantile(need, q)) - 1e-6)
            for t in sorted(opts.pool_tiers(g), key=lambda t: opts.gpu_usd_per_hour[(g, t)]):
                take = int(min(n, opts.max_gpus.get((g, t), math.inf)))
                if take > 0:
                    fleet[(g, t)] = take
                    n -= take
        if fleet not in out:
            out.append(fleet)
    return out


def fleet_text(fleet: Mapping[tuple[str, str], int]) -> str:
    return ", ".join(f"{n} {g} {t}" for (g, t), n in sorted(fleet.items()) if n > 0) or "none"
