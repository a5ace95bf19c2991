r"""A Lagrangian lower bound on the full hourly problem, with whole replicas in every hour.

Hours are coupled only by the reserved pool: ``Σ_k tp_k·x[k,pool,h] ≤ Σ_τ R[g,τ] + E[g,h]``
for every GPU type ``g`` and hour ``h``. Moving those rows into the objective with prices
``λ[g,h] ≥ 0`` [USD per GPU-hour] splits the problem into one small integer problem per
hour and model, in which a pool GPU of type ``g`` simply costs ``λ[g,h]``:

    L(λ) = Σ_h Σ_m φ_m,h(λ_h) − Σ_{g,h} λ[g,h]·E[g,h]
           + Σ_{g,τ} min_{0 ≤ R ≤ U[g,τ]} R·(H·P[g,τ] − Σ_h λ[g,h])

and ``L(λ)`` is at most the optimum for every ``λ ≥ 0`` (weak duality). Unlike the LP
relaxation it keeps every hour's replicas whole, which is where the cost of small fleets
lives. ``λ`` is kept constant within a cluster of hours (any ``λ`` gives a valid bound; the
clusters only shrink the search), started from the LP duals of the pool rows and improved
by projected supergradient ascent; then a stabilized cutting-plane (Dantzig–Wolfe)
phase takes every subproblem solution seen into an LP master whose duals are the
next prices (``master``, on the back-end in use), which reaches ``max L`` where the ascent
alone stalls short.

Each hour's subproblem ``φ_m,h`` is solved exactly for a model with one workload, and for
two workloads sharing replicas (``pair_evaluate``). For a model with
three or more workloads sharing replicas it is relaxed, still validly: with weights ``β_w > 0``
a replica of lane ``ℓ`` is credited with ``κ_ℓ = max_w β_w·cap[w,ℓ]`` units, and the hour
needs ``Σ_w β_w·(1+h_w)·D[w,h]·(1−f_w)`` units. Any feasible split of replicas meets that,
so the relaxed optimum is no higher. Per lane the units are the same in every hour, so one
Pareto frontier of (units, cost) per cluster and model serves all its hours: an hour's cost
is the cheapest frontier point plus the API for what it leaves uncovered.

Left out of the subproblems (dropping constraints keeps the bound valid): availability caps
across models and API rate limits; each lane alone is capped at what its GPU type's cap
allows.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from advisor.milp import POOL, ModelInput, deployment_sources
from advisor.options import OptionSet, api_usd_per_hour
from advisor.solve.frontier import (
    Cover,
    hourly_replica,
    pareto_frontier,
    split_shares,
    undominated_lanes,
    undominated_splits,
)
from advisor.solve.master import Master, MasterSpec, make_master
from advisor.workloads import capacity_needed

#: Supergradient steps without a better bound before the step is halved.
PATIENCE = 8
#: A phase stops when its last STALL steps raised the bound by less than STALL_REL.
STALL = 25
STALL_REL = 2e-4


@dataclass
class _Lane:
    key: tuple[str, str]  # (deployment, source)
    gpu: int  # index into the pool GPU list, -1 for hourly sources
    tp: int
    usd_per_hour: float  # per replica, hourly sources (pool: λ·tp)
    units: float  # κ: β-weighted capacity per replica
    max_copies: float
    #: β-weighted capacity per replica for each workload of the model (0: cannot serve it)
    caps: np.ndarray | None = None


@dataclass
class _Block:
    """One model's workloads in the hourly subproblems."""

    model: str
    cols: list[int]  # workload columns
    lanes: list[_Lane]
    need: np.ndarray  # (H, n_w) units each workload needs per hour: β·(1+h)·D
    api_unit_usd: np.ndarray  # (H, n_w) API cost per unit (inf: no API)
    #: two workloads sharing replicas, solved by ``pair_evaluate`` (β = 1: every lane's
    #: ``caps`` holds its capacity per replica for each workload)
    pair: bool = False


@dataclass
class LagrangeResult:
    bound: float  # USD, the overhead left out
    iterations: int
    seconds: float
    history: list[float]
    #: stopped by its time limit (not by a stall, the target or its iteration cap)
    time_limited: bool = False
    #: the pool GPU types priced, and the pool GPUs each hour's subproblem uses at the best
    #: prices found, (len(pool_gpus), H): where a fleet that supports those prices lies
    pool_gpus: tuple[str, ...] = ()
    hourly_usage: np.ndarray | None = None
    #: the cutting-plane phase ran: the prices are near the best per-cluster prices, not
    #: wherever the supergradient ascent stopped
    cutting_planes: bool = False
    #: the best prices found per pool GPU type, one per cluster [USD per GPU-hour]: where a
    #: later run may start (``lam0``)
    prices: dict[str, np.ndarray] | None = None


def build_blocks(
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    pool_gpus: list[str],
    existing_gpus: Mapping[str, np.ndarray],
) -> list[_Block]:
    H = requests.shape[0]
    probe = ModelInput(
        workloads,
        requests[:1],
        input_tokens[:1],
        output_tokens[:1],
        np.ones(1),
        {g: v[:1] for g, v in existing_gpus.items()},
    )
    sources = deployment_sources(opts, probe)
    gidx = {g: i for i, g in enumerate(pool_gpus)}
    by_model: dict[str, list[int]] = {}
    for i, w in enumerate(workloads):
        by_model.setdefault(opts.workloads[w].model, []).append(i)
    blocks = []
    for model, cols in sorted(by_model.items()):
        names = [workloads[i] for i in cols]
        deps = sorted({k for (w, k) in opts.options if w in names})
        pair = len(names) == 2
        beta = np.ones(2) if pair else _weights(opts, names, deps)
        lanes = []
        for k in deps:
            dep = opts.deployments[k]
            for s in sources.get(k, []):
                caps = np.array(
                    [
                        opts.options[(w, k)].requests_per_hour
                        if (w, k) in opts.options and (s != "spot" or opts.workloads[w].allow_spot)
                        else 0.0
                        for w in names
                    ]
                )
                units = float(np.max(beta * caps))
                if units <= 0:
                    continue
                if s == POOL:
                    gpu, price = gidx[dep.pool_key], 0.0
                    copies = _pool_cap(opts, dep.pool_key, existing_gpus) / dep.units
                else:
                    gpu, (price, copies) = -1, hourly_replica(opts, k, s)
                # a lane only some of the model's workloads can use is kept continuous and
                # credited to those alone (a relaxation without the cross-credit)
                partial = pair or bool(np.any(caps <= 0))
                lanes.append(
                    _Lane(
                        (k, s),
                        gpu,
                        dep.units,
                        price,
                        units,
                        copies,
                        beta * caps if partial else None,
                    )
                )
        need = np.zeros((H, len(cols)))
        unit = np.full((H, len(cols)), np.inf)
        for j, i in enumerate(cols):
            w = workloads[i]
            need[:, j] = beta[j] * capacity_needed(requests[:, i], opts.workloads[w].headroom)
            if w in opts.api_usd_per_m:
                a = api_usd_per_hour(opts.api_usd_per_m[w], input_tokens[:, i], output_tokens[:, i])
                ok = need[:, j] > 0
                unit[ok, j] = np.asarray(a, dtype=float)[ok] / need[ok, j]
        blocks.append(_Block(model, cols, lanes, need, unit, pair))
    return blocks


def _weights(opts: OptionSet, names: list[str], deps: list[str]) -> np.ndarray:
    """β per workload: one replica of the deployment cheapest per request for all of them
    counts as one unit for each (exact for that deployment, a relaxation for others)."""
    if len(names) == 1:
        return np.ones(1)
    best, best_k = math.inf, None
    for k in deps:
        if not all((w, k) in opts.options for w in names):
            continue
        dep = opts.deployments[k]
        prices = [p for (g, _), p in opts.gpu_usd_per_hour.items() if g == dep.pool_key]
        per_req = (
            min(prices)
            * dep.units
            * sum(1.0 / opts.options[(w, k)].requests_per_hour for w in names)
        )
        if per_req < best:
            best, best_k = per_req, k
    if best_k is None:
        caps = [
            max(o.requests_per_hour for (ww, _), o in opts.options.items() if ww == w)
            for w in names
        ]
        return 1.0 / np.array(caps)
    return np.array([1.0 / opts.options[(w, best_k)].requests_per_hour for w in names])


def _pool_cap(opts: OptionSet, gpu: str, existing_gpus: Mapping[str, np.ndarray]) -> float:
    tiers = opts.pool_tiers(gpu)
    caps = [opts.max_gpus.get((gpu, t), math.inf) for t in tiers]
    cap = float(sum(caps)) if caps else 0.0
    if gpu in existing_gpus:
        cap += float(np.max(existing_gpus[gpu]))
    return cap


def _api_cost(
    short: np.ndarray, need: np.ndarray, unit: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cost of leaving ``short`` units (P, n) to the per-unit alternatives (the API, or a
    continuous partial lane) in hours with per-workload ``need`` and ``unit`` price (n, w):
    cheapest per unit first; inf where nothing can take it. Also the units each workload
    hands over, (P, n, w)."""
    order = np.argsort(unit, axis=1)
    rem = short.copy()
    cost = np.zeros_like(short)
    taken = np.zeros((*short.shape, need.shape[1]))
    for j in range(need.shape[1]):
        idx = order[:, j]
        a = np.take_along_axis(need, idx[:, None], axis=1)[:, 0]
        u = np.take_along_axis(unit, idx[:, None], axis=1)[:, 0]
        finite = np.isfinite(u)
        take = np.where(finite[None, :], np.minimum(rem, a[None, :]), 0.0)
        cost += take * np.where(finite, u, 0.0)[None, :]
        rem = rem - take
        np.put_along_axis(
            taken, np.broadcast_to(idx[None, :, None], (*short.shape, 1)), take[:, :, None], axis=2
        )
    scale = np.maximum(need.sum(axis=1), 1.0)[None, :]
    return np.where(rem > 1e-9 * scale, np.inf, cost), taken


def _evaluate(
    blocks: list[_Block],
    lam: np.ndarray,  # (G, T) USD per GPU-hour per cluster
    members: list[np.ndarray],  # hours of each cluster
    n_gpus: int,
    parts: tuple[np.ndarray, np.ndarray] | None = None,
    hourly: np.ndarray | None = None,
) -> tuple[float, np.ndarray]:
    """Σ over hours of the subproblem optima at ``lam``, and pool GPU-hours used per type and
    cluster (the supergradient's first part). With ``parts`` = (cost (B, T), usage
    (B, G, T)), each block's and cluster's share of both is written there too; with
    ``hourly`` (G, H), the pool GPUs used in each hour."""
    total = 0.0
    usage = np.zeros((n_gpus, len(members)))
    for bi, b in enumerate(blocks):
        evaluate = pair_evaluate if b.pair else _single_evaluate
        for t, hours in enumerate(members):
            if hours.size == 0:
                continue
            cost, per_hour = evaluate(b, lam[:, t], hours, n_gpus)
            if not math.isfinite(cost):
                return -math.inf, usage
            used = per_hour.sum(axis=0)
            total += cost
            usage[:, t] += used
            if parts is not None:
                parts[0][bi, t] = cost
                parts[1][bi, :, t] = used
            if hourly is not None:
                hourly[:, hours] += per_hour.T
    return total, usage


def _single_evaluate(
    b: _Block, lam: np.ndarray, hours: np.ndarray, n_gpus: int
) -> tuple[float, np.ndarray]:
    """The summed hourly subproblem optima of a block with one or 3+ workloads at ``lam``
    (G,) (inf if an hour cannot be served), and the pool GPUs it uses per hour and type
    (len(hours), G)."""
    usage = np.zeros((hours.size, n_gpus))
    need = b.need[hours]
    q = need.sum(axis=1)
    k_max = float(q.max())
    if k_max <= 0:
        return 0.0, usage
    lanes = []
    n_w = need.shape[1]
    alt_unit = np.full(n_w, np.inf)  # cheapest partial lane per unit, per workload
    alt_gpu = np.full(n_w, -1)
    alt_gpus_per_unit = np.zeros(n_w)
    for ln in b.lanes:
        cost = lam[ln.gpu] * ln.tp if ln.gpu >= 0 else ln.usd_per_hour
        if ln.caps is None:
            lanes.append((ln.units, cost, ln.gpu, ln.tp, ln.max_copies))
            continue
        for jw in np.flatnonzero(ln.caps > 0):
            if cost / ln.caps[jw] < alt_unit[jw]:
                alt_unit[jw] = cost / ln.caps[jw]
                alt_gpu[jw] = ln.gpu
                alt_gpus_per_unit[jw] = ln.tp / ln.caps[jw]
    lanes = undominated_lanes(lanes)
    K, C, U = pareto_frontier(lanes, k_max, n_gpus)
    short = np.maximum(q[None, :] - K[:, None], 0.0)
    unit = b.api_unit_usd[hours]
    use_alt = alt_unit[None, :] < unit
    unit = np.where(use_alt, alt_unit[None, :], unit)
    api, taken = _api_cost(short, need, unit)
    tot = C[:, None] + api
    j = np.argmin(tot, axis=0)
    cols = np.arange(hours.size)
    best = tot[j, cols]
    if not np.all(np.isfinite(best)):
        return math.inf, usage
    usage += U[j]
    for jw in range(n_w):
        if alt_gpu[jw] >= 0:
            used = taken[j, cols, jw] * use_alt[:, jw]
            usage[:, alt_gpu[jw]] += used * alt_gpus_per_unit[jw]
    return float(best.sum()), usage


def pair_evaluate(
    b: _Block, lam: np.ndarray, hours: np.ndarray, n_gpus: int
) -> tuple[float, np.ndarray]:
    """Exact hourly subproblems of a model with two workloads.

    An optimal split of whole replicas between two workloads shares at most one replica:
    were two lane types shared, moving capacity between them in the ratio of their
    capacities frees one without losing coverage; within one lane type, all but one replica
    can go whole to one workload. So an hour costs either ``F_1(d_1) + F_2(d_2)`` (each
    workload on its own whole replicas and the API) or, for a lane ``s`` both can use,
    ``c_s + min_θ F_1(d_1 − θ·p_s) + F_2(d_2 − (1−θ)·q_s)``. Between two consecutive
    values of ``θ`` at which ``d_1 − θ·p_s`` or ``d_2 − (1−θ)·q_s`` meets a frontier point,
    both ``F`` are linear in ``θ`` (API only), and at those values they take their lower
    value, so the minimum is at one of them or at ``θ ∈ {0, 1}``: those are all tried.
    Relaxed: a lane's copy limit applies to each workload separately. Returns the summed
    cost and the pool GPUs used per hour and type (len(hours), G)."""
    need = b.need[hours]
    unit = b.api_unit_usd[hours]
    n = hours.size
    lanes = [[], []]
    shared = []
    for ln in b.lanes:
        cost = lam[ln.gpu] * ln.tp if ln.gpu >= 0 else ln.usd_per_hour
        assert ln.caps is not None
        for j in range(2):
            if ln.caps[j] > 0:
                lanes[j].append((float(ln.caps[j]), cost, ln.gpu, ln.tp, ln.max_copies))
        if ln.caps[0] > 0 and ln.caps[1] > 0 and ln.max_copies >= 1:
            shared.append((float(ln.caps[0]), float(ln.caps[1]), cost, ln.gpu, ln.tp))
    shared = undominated_splits(shared)
    covers = [
        Cover.of_lanes(lanes[j], float(need[:, j].max()), n_gpus, unit[:, j]) for j in range(2)
    ]
    d1, d2 = need[:, 0], need[:, 1]
    # columns: the hour with no split replica, then each shared lane's candidate θ
    col_lane = [np.array([-1])]
    r1s, r2s = [d1[:, None]], [d2[:, None]]
    for si, (p, q, _, _, _) in enumerate(shared):
        th = split_shares(covers[0].K, d1, p, covers[1].K, d2, q)
        col_lane.append(np.full(th.shape[1], si))
        # a hair less need than the crossing: where it lands on a frontier point (0
        # included), float error must not tip it past that point, so the hair scales with
        # the need, not with the rest (less need only lowers the bound)
        r1s.append(d1[:, None] - th * p - NEED_HAIR * d1[:, None])
        r2s.append(d2[:, None] - (1.0 - th) * q - NEED_HAIR * d2[:, None])
    r1, r2 = np.concatenate(r1s, axis=1), np.concatenate(r2s, axis=1)
    lane_of = np.concatenate(col_lane)
    g1, j1 = covers[0](r1)
    g2, j2 = covers[1](r2)
    extra = np.where(lane_of >= 0, np.array([x[2] for x in shared] + [0.0])[lane_of], 0.0)
    V = g1 + g2 + extra[None, :]
    best = np.argmin(V, axis=1)
    r = np.arange(n)
    cost = V[r, best]
    if not np.all(np.isfinite(cost)):
        return math.inf, np.zeros((n, n_gpus))
    usage = covers[0].U[j1[r, best]] + covers[1].U[j2[r, best]]
    lane = lane_of[best]  # the split lane of each hour, -1: none
    for si, (_, _, _, g, tp) in enumerate(shared):
        if g >= 0:
            usage[:, g] += tp * (lane == si)
    return float(cost.sum()), usage


#: Relative need a split replica's hourly subproblem leaves uncovered, so that a share
#: meant to cover a workload exactly does not price a whole extra replica for float error.
NEED_HAIR = 1e-9
#: Share of the time limit the supergradient ascent may use before the cutting-plane phase
#: takes over (where it runs); the ascent's prices and subproblem solutions seed it.
ASCENT_SHARE = 0.25
#: In-out stabilization: the cutting-plane phase evaluates ``L`` at this mix of the best
#: prices so far and the master's (Wentges' smoothing; 0 would be plain Kelley).
SMOOTHING = 0.5
#: The cutting-plane phase's box on the prices starts at this share of the dearest pool
#: GPU's price per hour; it doubles after a step that gains, and halves after one that
#: does not.
BOX_START = 0.25


def lagrangian_bound(
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    labels: np.ndarray,
    lam0: Mapping[str, np.ndarray],
    *,
    existing_gpus: Mapping[str, np.ndarray] | None = None,
    target_usd: float | None = None,
    time_limit_s: float = 30.0,
    max_iterations: int = 400,
    cutting_planes: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> LagrangeResult:
    """The best ``L(λ)`` found [USD, overhead excluded] with ``λ`` constant per cluster
    (``labels``), starting from ``lam0`` (per pool GPU type, one price per cluster).

    With ``cutting_planes`` (the master's solver: "highs" or "cbc") the supergradient ascent
    hands over after ``ASCENT_SHARE`` of the time (or when it stalls) to a stabilized
    cutting-plane ascent on every subproblem solution seen (``master``), which closes in on
    ``max L``."""
    t0 = time.perf_counter()
    existing_gpus = dict(existing_gpus or {})
    pool_gpus = sorted(
        {opts.deployments[k].pool_key for (_, k) in opts.options}
        & ({g for (g, _) in opts.gpu_usd_per_hour if opts.pool_tiers(g)} | set(existing_gpus))
    )
    blocks = build_blocks(
        opts, workloads, requests, input_tokens, output_tokens, pool_gpus, existing_gpus
    )
    run = _Ascent(
        _Dual(opts, blocks, pool_gpus, labels, existing_gpus, requests.shape[0]),
        _Clock(t0, time_limit_s, max_iterations, target_usd, progress),
    )
    lam = np.zeros((len(pool_gpus), int(labels.max()) + 1))
    for gi, g in enumerate(pool_gpus):
        if g in lam0:
            lam[gi] = np.asarray(lam0[g], dtype=float)
    planes = False  # the cutting-plane phase's master was built
    best_prices = run.supergradient(lam, _master_for(cutting_planes, opts, run.dual))
    if run.master is not None:
        planes = True
        if not run.reached():
            best_prices = run.cutting_planes(best_prices)
    hourly = run.best_hourly if math.isfinite(run.best) else None
    prices = {g: np.asarray(best_prices[gi], dtype=float) for gi, g in enumerate(pool_gpus)}
    return LagrangeResult(
        run.best,
        run.it,
        time.perf_counter() - t0,
        run.history,
        run.timed_out,
        tuple(pool_gpus),
        hourly,
        planes,
        prices,
    )


def _master_for(solver: str | None, opts: OptionSet, dual: _Dual) -> Master | None:
    """The cutting-plane master on ``solver`` for this dual (None: no cutting planes)."""
    if solver is None:
        return None
    elastic = 1e3 * max([p for p in opts.gpu_usd_per_hour.values()] + [1.0])
    spec = MasterSpec(len(dual.blocks), dual.n_hours, dual.E, dual.tiers, elastic)
    return make_master(solver, spec)


class _Dual:
    """``L(λ)`` and a supergradient at prices constant per cluster of hours."""

    def __init__(
        self,
        opts: OptionSet,
        blocks: list[_Block],
        pool_gpus: list[str],
        labels: np.ndarray,
        existing_gpus: Mapping[str, np.ndarray],
        H: int,
    ) -> None:
        self.blocks, self.G, self.H = blocks, len(pool_gpus), H
        # reserved tiers: H·price and cap per (gpu, tier)
        self.tiers = [
            [(H * opts.gpu_usd_per_hour[(g, t)], opts.max_gpus.get((g, t), math.inf)) for t in ts]
            for g in pool_gpus
            for ts in [opts.pool_tiers(g)]
        ]
        self.budget = np.array(
            [min([c for c, u in tg if math.isinf(u)], default=math.inf) for tg in self.tiers]
        )
        T = int(labels.max()) + 1
        self.members = [np.flatnonzero(labels == t) for t in range(T)]
        self.n_hours = np.array([m.size for m in self.members], dtype=float)
        self.E = np.zeros((self.G, T))  # existing GPU-hours per type and cluster
        for gi, g in enumerate(pool_gpus):
            if g in existing_gpus:
                np.add.at(self.E[gi], labels, np.asarray(existing_gpus[g], dtype=float))

    def project(self, lam: np.ndarray) -> np.ndarray:
        """Onto ``λ ≥ 0`` with each GPU type's prices over the horizon at most its dearest
        uncapped tier's (beyond it the bound only falls)."""
        lam = np.maximum(lam, 0.0)
        for gi in range(self.G):
            b = self.budget[gi]
            if not math.isfinite(b) or float(lam[gi] @ self.n_hours) <= b:
                continue
            lo, hi = 0.0, float(lam[gi].max())
            for _ in range(60):
                mid = 0.5 * (lo + hi)
                if float(np.maximum(lam[gi] - mid, 0.0) @ self.n_hours) > b:
                    lo = mid
                else:
                    hi = mid
            lam[gi] = np.maximum(lam[gi] - hi, 0.0)
        return lam

    def __call__(
        self, lam: np.ndarray, master: Master | None
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """``(L(λ), a supergradient, the pool GPUs used per type and hour)``; the subproblem
        solutions go to ``master`` as columns."""
        T = len(self.members)
        parts = (np.zeros((len(self.blocks), T)), np.zeros((len(self.blocks), self.G, T)))
        hourly = np.zeros((self.G, self.H))
        val, usage = _evaluate(self.blocks, lam, self.members, self.G, parts, hourly)
        if master is not None and math.isfinite(val):
            master.add(lam, parts)
        grad = usage - self.E
        val -= float((lam * self.E).sum())
        spent = lam @ self.n_hours
        for gi, tg in enumerate(self.tiers):
            for cost, cap in tg:
                if spent[gi] > cost and math.isfinite(cap):
                    val += cap * (cost - spent[gi])
                    grad[gi] -= cap * self.n_hours
        return val, grad, hourly


@dataclass(frozen=True)
class _Clock:
    """When an ascent stops: its start, time limit, iteration cap and target [USD]."""

    t0: float
    time_limit_s: float
    max_iterations: int
    target_usd: float | None
    progress: Callable[[str], None] | None

    def past(self, share: float = 1.0) -> bool:
        return time.perf_counter() - self.t0 >= self.time_limit_s * share


class _Ascent:
    """One maximisation of ``L``: the supergradient phase, then the cutting planes."""

    def __init__(self, dual: _Dual, clock: _Clock) -> None:
        self.dual, self.clock = dual, clock
        self.master: Master | None = None
        self.best = -math.inf
        self.best_hourly: np.ndarray | None = None  # pool GPUs used each hour at the best
        self.history: list[float] = []
        self.it = 0
        self.timed_out = False  # the last loop ended on the clock (not a stall or target)

    def reached(self) -> bool:
        """The best bound so far has reached the caller's target (the plan's cost)."""
        target = self.clock.target_usd
        return target is not None and self.best >= target * (1 - 1e-6)

    def evaluate(self, lam: np.ndarray) -> tuple[float, np.ndarray]:
        val, grad, hourly = self.dual(lam, self.master)
        if val > self.best:  # every caller takes a better value as its best
            self.best_hourly = hourly
        self.history.append(val)
        return val, grad

    def _report(self, every: int, text: str) -> None:
        if self.clock.progress is not None and self.it % every == 0:
            self.clock.progress(text)

    def supergradient(self, lam: np.ndarray, master: Master | None) -> np.ndarray:
        """Projected supergradient ascent; returns the best prices. With a ``master`` it
        stops at ``ASCENT_SHARE`` of the time, every solution seen already in the master."""
        self.master = master
        lam = self.dual.project(lam)
        val, grad = self.evaluate(lam)
        best_lam = lam
        self.best = max(self.best, val)
        step_scale, since = 1.0, 0
        bests = [self.best]
        share = ASCENT_SHARE if master is not None else 1.0
        while self.it < self.clock.max_iterations:
            if self.clock.past(share):
                self.timed_out = master is None  # with a master, the ascent hands over
                break
            norm = float((grad**2).sum())
            if norm <= 1e-12:
                break
            if len(bests) > STALL and self.best - bests[-STALL] <= STALL_REL * abs(self.best):
                break
            self.it += 1
            goal = self.clock.target_usd
            if goal is None or goal <= self.best:
                goal = self.best * 1.01 + 1
            lam = self.dual.project(lam + step_scale * (goal - val) / norm * grad)
            val, grad = self.evaluate(lam)
            if val > self.best + 1e-6 * abs(self.best):
                self.best, best_lam, since = val, lam, 0
            else:
                if val > self.best:
                    self.best, best_lam = val, lam
                since += 1
                if since >= PATIENCE:
                    step_scale *= 0.5
                    since = 0
            bests.append(self.best)
            self._report(25, f"bound (hourly Lagrangian): iteration {self.it}, {self.best:,.2f}")
            if self.reached():
                break
        return best_lam

    def cutting_planes(self, center: np.ndarray) -> np.ndarray:
        """A box-stabilized cutting-plane ascent from ``center`` (the best prices so far),
        evaluating between them and the master's; returns the best prices."""
        master = self.master
        assert master is not None
        budget = self.dual.budget
        delta = BOX_START * float(np.max(budget[np.isfinite(budget)] / self.dual.H, initial=1.0))
        best_lam = center
        while self.it < self.clock.max_iterations:
            if self.clock.past():
                self.timed_out = True
                break
            master.box(center, delta)
            solved = master.solve()
            if solved is None:
                break
            ub, lam_m = solved
            if ub - self.best <= STALL_REL * abs(self.best):
                break  # no better prices within the box: near a maximum of the concave L
            self.it += 1
            lam = self.dual.project(SMOOTHING * center + (1 - SMOOTHING) * lam_m)
            val, _ = self.evaluate(lam)
            if val > self.best + 0.1 * (ub - self.best):
                self.best, best_lam, center = val, lam, lam
                delta *= 2.0
            else:
                if val > self.best:
                    self.best, best_lam, center = val, lam, lam
                delta *= 0.5
            self._report(
                10,
                f"bound (hourly Lagrangian, cutting planes): iteration {self.it}, "
                f"{self.best:,.2f} (model {ub:,.2f})",
            )
            if self.reached():
                break
        return best_lam
