"""The local search over reserved fleets: neighbours one GPU away, and its tuning constants."""

from __future__ import annotations

import math
from collections.abc import Mapping

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


Fleet = dict[tuple[str, str], int]


def neighbours(fleet: Fleet, opts: OptionSet, gpus: list[str]) -> list[Fleet]:
    """Fleets one GPU away: one more or one fewer on a pool tier, or one moved between
    tiers of the same GPU type; then one swapped for a GPU of another type (on that type's
    cheapest pool tier with room)."""
    out: list[Fleet] = []
    swaps: list[Fleet] = []
    for g in gpus:
        tiers = opts.pool_tiers(g)
        for t in tiers:
            n = fleet.get((g, t), 0)
            if n > 0:
                out.append({**fleet, (g, t): n - 1})
            if n + 1 <= opts.max_gpus.get((g, t), math.inf):
                out.append({**fleet, (g, t): n + 1})
            for t2 in tiers:
                if (
                    t2 != t
                    and n > 0
                    and fleet.get((g, t2), 0) + 1 <= opts.max_gpus.get((g, t2), math.inf)
                ):
                    out.append({**fleet, (g, t): n - 1, (g, t2): fleet.get((g, t2), 0) + 1})
            for g2 in gpus:
                room = [
                    t2
                    for t2 in opts.pool_tiers(g2)
                    if fleet.get((g2, t2), 0) + 1 <= opts.max_gpus.get((g2, t2), math.inf)
                ]
                if g2 == g or n == 0 or not room:
                    continue
                t2 = min(room, key=lambda t2: opts.gpu_usd_per_hour[(g2, t2)])
                swaps.append({**fleet, (g, t): n - 1, (g2, t2): fleet.get((g2, t2), 0) + 1})
    return [{k: v for k, v in f.items() if v > 0} for f in out + swaps]


def fleet_text(fleet: Mapping[tuple[str, str], int]) -> str:
    return ", ".join(f"{n} {g} {t}" for (g, t), n in sorted(fleet.items()) if n > 0) or "none"
