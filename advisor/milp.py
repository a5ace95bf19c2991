r"""Build the fleet MILP with PuLP. Building only: solving lives in ``advisor.solve``.

Notation
--------
``t``        time points (real hours, or representative hours), weight ``n_t`` [hours]
``w``        workloads; demand ``D[w,t]`` [requests/hour], headroom ``h_w``
``k``        deployments (model, GPU, quantization, TP, offer pool ``g_k``); one unit of
             ``k`` (a replica, or on an hourly whole instance its ``gpus/tp`` replicas)
             serves ``cap[w,k]`` requests/hour for ``w`` within its SLOs and uses
             ``u_k`` units of pool ``g_k``
``g``        offer pools: a GPU type for generic per-GPU offers (units are GPUs,
             ``u_k = tp_k``) or a provider's instance type (units are instances,
             ``u_k = tp_k / gpus_per_instance`` for a replica, 1 for a whole instance);
             pool tiers ``τ ∈ {reserved_1y, reserved_3y, owned, capacity_block}`` priced
             ``P[g,τ]`` [USD/unit-hour]; hourly tiers ``{on_demand, spot}`` priced ``P[g,·]``
``H``        horizon ``Σ_t n_t`` [hours]

Variables
---------
``R[g,τ] ∈ ℤ≥0``     units (GPUs or instances) of pool ``g`` committed on tier ``τ`` for the
                     whole horizon
``x[k,s,t] ∈ ℤ≥0``   units of ``k`` on source ``s ∈ {pool, on_demand, spot}`` in hour ``t``
                     (on an instance pool, hourly sources rent whole instances only and the
                     pool source takes replicas)
``y[w,k,s,t] ≥ 0``   replica-equivalents of ``x[k,s,t]`` used by ``w`` (only where several
                     workloads of one model can use ``k``; otherwise ``y = x``)
``f[w,t] ∈ [0,1]``   fraction of ``w``'s demand in hour ``t`` sent to the API

Objective (USD)
---------------
``Σ_{g,τ} H·P[g,τ]·R[g,τ] + Σ_t n_t (Σ_{k,s∈hourly} P[g_k,s]·u_k·x[k,s,t]
+ Σ_w A[w,t]·f[w,t]) + H·O``, with ``A[w,t]`` the API price of hour ``t``'s tokens and
``O`` the monthly self-hosting overhead per hour, a constant here. Whether to self-host at
all (the binary that makes low volume an API win) is decided outside the model: the
all-API plan is costed in closed form and compared with this model's optimum, which is
exact and keeps the fixed charge out of the LP relaxation (a big-M binary there leaves a
bound too weak to prove anything). Pool replicas carry a tiny cost (``POOL_EPSILON``) so
idle pool capacity is not reported as running replicas. A solver's bound is on this
objective, which exceeds a plan's cost by that tiny cost; the bounds reported subtract the
most it can add to an optimal plan (:class:`EpsilonSlack`), so they bound the plans' cost.

Constraints
-----------
``cover[w,t]``    ``Σ_{k,s} cap[w,k]/((1+h_w)·D[w,t])·y[w,k,s,t] + f[w,t] ≥ 1``
``share[k,s,t]``  ``Σ_w y[w,k,s,t] ≤ x[k,s,t]``  (same-model workloads share replicas)
``link[w,k,s,t]`` ``y[w,k,s,t] ≤ x[k,s,t]`` where the cover coefficient ``c`` of a shared
                  ``y`` exceeds ``SLIVER_COVER`` (an hour's demand a sliver of one unit):
                  there ``y`` is the share of the hour's demand the lane serves (cover
                  coefficient 1, share coefficient ``max(1/c, 1e-9)``), and the row, valid
                  for whole ``x``, keeps the lane whole
``pool[g,t]``     ``Σ_{k: g_k=g} u_k·x[k,pool,t] ≤ Σ_τ R[g,τ] + E[g,t]`` (``E``: existing fleet)
``avail[g,s,t]``  ``Σ_{k: g_k=g} u_k·x[k,s,t] ≤ cap[g,s]`` and ``R[g,τ] ≤ cap[g,τ]``

On an instance pool a replica's TP group lies inside one instance and its size is a power
of two dividing the instance's GPUs. Then a GPU count per pool is an exact packing rule:
any mix of such replicas whose GPUs add up to at most ``R·gpus_per_instance`` fits ``R``
instances (place the largest groups first; each size divides every larger size and the
instance, so no instance is left with a gap a later group cannot fill). Hourly instances
run one deployment each (``gpus/tp`` replicas), so mixing two deployments in one rented
instance is outside the model; committed instances may mix freely.
``apilimit[m,t]`` ``Σ_{w of m} f[w,t]·(tokens of w in t) ≤ rate limit of m's API``
``start[k,s,t]``, ``hold[k,s,t]``  with a minimum rental of ``m`` hours (policy) on hourly
                  sources, over consecutive real hours: ``v[k,s,t] ≥ x[k,s,t] − x[k,s,t−1]``,
                  ``v ≥ 0`` (units started in hour ``t``) and
                  ``x[k,s,t] ≥ Σ_{t−m<τ≤t} v[k,s,τ]`` (every unit started in the last ``m``
                  hours still runs); ``x`` before the first point is the window's history
``gpu_types``     with a policy of at most ``K`` GPU types: ``z[g] ∈ {0,1}``,
                  ``Σ_g z[g] ≤ K``, ``Σ_{k on type g, s} gpus_k·x[k,s,t] ≤ M[g,t]·z[g]``
                  and ``R[p,τ] ≤ (max_t M[g,t] / GPUs per unit of p + 1)·z[g]`` for each
                  pool ``p`` of type ``g`` (``M``: GPUs no optimal plan exceeds)

Spot variables exist only for workloads that allow preemption, API variables only for
workloads that allow an API with an offer, options only within the workload's SLOs.
Demand is normalized per row (each cover row divided by ``D[w,t]``), so coefficients stay
near 1 whatever the volume.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pulp

from advisor.costmath import self_hosting_overhead_usd
from advisor.options import OptionSet, api_usd_per_hour
from advisor.workloads import capacity_needed, demand_covered

POOL = "pool"
#: Cost [USD/GPU-hour] on pool replicas: breaks ties toward not running idle replicas.
POOL_EPSILON = 1e-7


@dataclass
class ModelInput:
    """The demand side of one MILP: time points, their weights and per-workload demand."""

    workloads: tuple[str, ...]
    requests: np.ndarray  # (T, W) [requests/hour]
    input_tokens: np.ndarray  # (T, W) [tokens/hour]
    output_tokens: np.ndarray  # (T, W) [tokens/hour]
    weights: np.ndarray  # (T,) [hours]
    #: GPUs already committed per type and time point (existing fleet), (T,) each
    existing_gpus: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: pool GPUs fixed per (gpu, tier) (recovery given a reserved fleet), or None to optimize
    fixed_reserved: Mapping[tuple[str, str], int] | None = None
    #: a minimum rental [hours] per on-demand/spot start (procurement policy): the points
    #: must then be consecutive real hours in time order (weights 1)
    min_rental_hours: int = 1
    #: units each hourly lane ran in the ``min_rental_hours`` hours before the first point,
    #: oldest first (a window following one already decided); none ran where absent
    rental_history: Mapping[tuple[str, str], np.ndarray] = field(default_factory=dict)

    @property
    def n_points(self) -> int:
        return int(self.requests.shape[0])


@dataclass
class FleetModel:
    """A built PuLP problem and the variables needed to read a solution back."""

    prob: pulp.LpProblem
    inp: ModelInput
    R: dict[tuple[str, str], pulp.LpVariable]
    x: dict[tuple[str, str, int], pulp.LpVariable]
    y: dict[tuple[str, str, str, int], pulp.LpVariable]
    #: workloads able to use each (deployment, source); a single one uses ``x`` directly
    eligible: dict[tuple[str, str], list[str]]
    f: dict[tuple[str, int], pulp.LpVariable]
    #: cost outside the model's objective [USD]: the self-hosting overhead over the horizon
    constant_usd: float
    #: what the pool replicas' tie-break cost can add to an optimal plan's objective
    epsilon_slack: EpsilonSlack
    sources: dict[str, list[str]]
    n_integer: int
    n_variables: int
    n_constraints: int
    #: units started per hourly lane and point, with a minimum rental (``start`` rows)
    v: dict[tuple[str, str, int], pulp.LpVariable] = field(default_factory=dict)
    #: the ``pool[g,t]`` rows by (pool, point), whose duals price the pool
    pool_rows: dict[tuple[str, int], pulp.LpConstraint] = field(default_factory=dict)
    #: replica-equivalents per unit of each ``y`` that counts a share of its hour's demand
    #: rather than of the lane (a sliver cell, :func:`define_cover`); 1 where absent
    y_scale: dict[tuple[str, str, str, int], float] = field(default_factory=dict)

    def share_value(self, key: tuple[str, str, str, int], value: float) -> float:
        """Replica-equivalents of lane use by ``y[key]`` at ``value``."""
        return value * self.y_scale.get(key, 1.0)

    def y_value(self, key: tuple[str, str, str, int], share: float) -> float:
        """The value of ``y[key]`` for a use of ``share`` replica-equivalents."""
        return share / self.y_scale.get(key, 1.0)


def deployment_sources(opts: OptionSet, inp: ModelInput) -> dict[str, list[str]]:
    """Where each deployment's replicas can come from: pool, on_demand, spot."""
    users: dict[str, list[str]] = {}
    for w, k in opts.options:
        users.setdefault(k, []).append(w)
    out: dict[str, list[str]] = {}
    for k, dep in opts.deployments.items():
        srcs = []
        g = dep.pool_key
        has_pool = bool(opts.pool_tiers(g)) or g in inp.existing_gpus
        if inp.fixed_reserved is not None:
            has_pool = (
                any(n > 0 for (gg, _), n in inp.fixed_reserved.items() if gg == g)
                or g in inp.existing_gpus
            )
        if dep.on_pool and has_pool and (k, POOL) not in opts.dominated_lanes:
            srcs.append(POOL)
        for s in opts.hourly_tiers(g) if dep.on_hourly else []:
            if s == "spot" and not any(opts.workloads[w].allow_spot for w in users.get(k, [])):
                continue
            if (k, s) not in opts.dominated_lanes:
                srcs.append(s)
        out[k] = srcs
    return out


@dataclass
class _Columns:
    """The model's columns by what they are, and the indices their names use."""

    R: dict[tuple[str, str], pulp.LpVariable]
    x: dict[tuple[str, str, int], pulp.LpVariable]
    y: dict[tuple[str, str, str, int], pulp.LpVariable]
    f: dict[tuple[str, int], pulp.LpVariable]
    eligible: dict[tuple[str, str], list[str]]
    #: workload index in the demand arrays, deployment index in the names
    W: dict[str, int]
    k_index: dict[str, int]
    #: replica-equivalents per unit of a sliver cell's ``y`` (:func:`define_cover`)
    y_scale: dict[tuple[str, str, str, int], float] = field(default_factory=dict)

    def use(self, w: str, k: str, s: str, t: int) -> pulp.LpVariable | None:
        """The column of ``w``'s use of lane ``(k, s)`` at point ``t``, if it may use it."""
        el = self.eligible.get((k, s))
        if not el or w not in el:
            return None
        return self.x[(k, s, t)] if len(el) == 1 else self.y[(w, k, s, t)]


def build_model(
    opts: OptionSet, inp: ModelInput, *, relax: bool = False, relax_replicas: bool = False
) -> FleetModel:
    """Build the MILP for ``inp``: its LP relaxation with ``relax=True``; with
    ``relax_replicas=True`` only the reserved GPUs stay integer (hourly replicas continuous),
    the representative-hour model of large horizons. One ``define_*`` per family of columns
    and rows (module docstring); rows are named ``family_<what>_<point>``."""
    prob = pulp.LpProblem("fleet", pulp.LpMinimize)
    sources = deployment_sources(opts, inp)
    users: dict[str, list[str]] = {k: [] for k in opts.deployments}
    for w, k in opts.options:
        if w in inp.workloads:
            users[k].append(w)
    cols = define_columns(opts, inp, sources, users, relax, relax or relax_replicas)
    prob += define_objective(opts, inp, cols)
    n_cons = define_cover(prob, opts, inp, sources, cols)
    n_cons += define_share(prob, users, cols)
    pool_rows, n = define_pool(prob, opts, inp, cols)
    n_cons += n
    n_cons += define_api_limit(prob, opts, inp, cols)
    n_cons += _define_gpu_type_limit(prob, opts, inp, sources, cols.R, cols.x, relax)
    v, n = _define_min_rental(prob, inp, cols.x, cols.k_index)
    n_cons += n
    horizon = float(np.asarray(inp.weights, dtype=float).sum())
    constant = self_hosting_overhead_usd(
        opts.monthly_overhead_usd, horizon, self_hosts=True, has_commitments=False
    )
    n_int = 0 if relax else len(cols.R) + (0 if relax_replicas else len(cols.x))
    return FleetModel(
        prob=prob,
        inp=inp,
        R=cols.R,
        x=cols.x,
        y=cols.y,
        eligible=cols.eligible,
        f=cols.f,
        constant_usd=constant,
        epsilon_slack=_epsilon_slack(opts, inp, cols, constant),
        sources=sources,
        n_integer=n_int,
        n_variables=len(cols.R) + len(cols.x) + len(cols.y) + len(cols.f) + len(v),
        n_constraints=n_cons,
        v=v,
        pool_rows=pool_rows,
        y_scale=cols.y_scale,
    )


def define_columns(
    opts: OptionSet,
    inp: ModelInput,
    sources: Mapping[str, list[str]],
    users: Mapping[str, list[str]],
    relax: bool,
    relax_x: bool,
) -> _Columns:
    """``R[g,τ]`` (fixed where ``inp.fixed_reserved`` says), ``x[k,s,t]``, ``y[w,k,s,t]``
    where several workloads may share a lane, ``f[w,t]`` where the API is allowed."""
    cat = pulp.LpContinuous if relax else pulp.LpInteger
    x_cat = pulp.LpContinuous if relax_x else pulp.LpInteger
    deps = opts.deployments
    cols = _Columns({}, {}, {}, {}, {}, {w: i for i, w in enumerate(inp.workloads)}, {})
    cols.k_index.update({k: i for i, k in enumerate(deps)})
    pool_gpus = sorted({d.pool_key for k, d in deps.items() if POOL in sources[k] and users[k]})
    for g in pool_gpus:
        for tier in opts.pool_tiers(g):
            fixed = None if inp.fixed_reserved is None else inp.fixed_reserved.get((g, tier), 0)
            lo, hi = (fixed, fixed) if fixed is not None else (0, opts.max_gpus.get((g, tier)))
            cols.R[(g, tier)] = pulp.LpVariable(
                f"R_{lp_name(g)}_{tier}", lowBound=lo, upBound=hi, cat=cat
            )
    for k in deps:
        for s in sources[k] if users[k] else []:
            el = [w for w in users[k] if s != "spot" or opts.workloads[w].allow_spot]
            if not el:
                continue
            cols.eligible[(k, s)] = el
            ki = cols.k_index[k]
            for t in range(inp.n_points):
                cols.x[(k, s, t)] = pulp.LpVariable(f"x_{ki}_{s}_{t}", lowBound=0, cat=x_cat)
                for w in el if len(el) > 1 else []:
                    cols.y[(w, k, s, t)] = pulp.LpVariable(
                        f"y_{cols.W[w]}_{ki}_{s}_{t}", lowBound=0
                    )
    for w in inp.workloads:
        for t in range(inp.n_points) if w in opts.api_usd_per_m else []:
            if inp.requests[t, cols.W[w]] > 0:
                cols.f[(w, t)] = pulp.LpVariable(f"f_{cols.W[w]}_{t}", lowBound=0, upBound=1)
    return cols


def define_objective(opts: OptionSet, inp: ModelInput, cols: _Columns) -> pulp.LpAffineExpression:
    """Reserved units over the horizon, hourly units and API tokens per point (weighted),
    a tiny cost per pool replica (``POOL_EPSILON``); the overhead is a constant outside."""
    weights = np.asarray(inp.weights, dtype=float)
    horizon = float(weights.sum())
    deps = opts.deployments
    terms: list[tuple[pulp.LpVariable, float]] = []
    for (g, tier), var in cols.R.items():
        terms.append((var, horizon * opts.gpu_usd_per_hour[(g, tier)]))
    for (k, s, t), var in cols.x.items():
        price = POOL_EPSILON if s == POOL else opts.gpu_usd_per_hour[(deps[k].pool_key, s)]
        terms.append((var, weights[t] * price * deps[k].units))
    for (w, t), var in cols.f.items():
        i = cols.W[w]
        a = api_usd_per_hour(opts.api_usd_per_m[w], inp.input_tokens[t, i], inp.output_tokens[t, i])
        terms.append((var, weights[t] * float(a)))
    return pulp.LpAffineExpression(terms)


def define_cover(
    prob: pulp.LpProblem,
    opts: OptionSet,
    inp: ModelInput,
    sources: Mapping[str, list[str]],
    cols: _Columns,
) -> int:
    """``cover[w,t]``: every workload's demand served within its SLO (capacity over
    ``1 + headroom``), or sent to the API. Returns the rows added."""
    rows = 0
    for w in inp.workloads:
        i, headroom = cols.W[w], opts.workloads[w].headroom
        caps = [(k, o.requests_per_hour) for (ww, k), o in opts.options.items() if ww == w]
        for t in range(inp.n_points):
            d = float(inp.requests[t, i])
            if d <= 0:
                continue
            row = []
            for k, cap in caps:
                for s in sources[k]:
                    if (v := cols.use(w, k, s, t)) is None:
                        continue
                    covered = _cover_coefficient(v, demand_covered(cap, headroom) / d)
                    if v is not cols.x[(k, s, t)] and covered > SLIVER_COVER:
                        cols.y_scale[(w, k, s, t)] = max(1.0 / covered, MIN_SLIVER_SHARE)
                        rows += _link_sliver(prob, v, cols.x[(k, s, t)])
                        covered = 1.0
                    row.append((v, covered))
            if (w, t) in cols.f:
                row.append((cols.f[(w, t)], 1.0))
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression(row),
                pulp.LpConstraintGE,
                f"cover_{i}_{lp_name(w)}_{t}",
                1.0,
            )
            rows += 1
    return rows


def _cover_coefficient(var: pulp.LpVariable, covered: float) -> float:
    """A cover row's coefficient of ``var``: the share of the hour's demand one of its units
    covers, capped at 1 where ``var`` counts whole replicas (one covers it all, as any more
    do: exact). Uncapped, an hour whose demand is a millionth of a replica's capacity gave a
    coefficient of 1e6+, which a solver met with ``var`` = 1e-7, within its integrality
    tolerance of 0: a plan that served nothing there (and a CBC bound above a cost reached)."""
    return min(covered, 1.0) if var.cat == pulp.LpInteger else covered


#: a shared lane's cover coefficient above which a workload's ``y`` counts the share of its
#: hour's demand the lane serves (cover coefficient 1) rather than replica-equivalents
SLIVER_COVER = 1e3
#: the least replica-equivalents a sliver cell's whole demand takes of its lane
MIN_SLIVER_SHARE = 1e-9


def _link_sliver(prob: pulp.LpProblem, y: pulp.LpVariable, x: pulp.LpVariable) -> int:
    """``link[w,k,s,t]``: ``y ≤ x`` where ``y`` is the share of workload ``w``'s demand at
    ``t`` that lane ``(k, s)`` serves, a sliver of one of its units (a cover coefficient
    above :data:`SLIVER_COVER`). In replica-equivalents ``y`` was 1e-7 of a unit or less:
    ``share`` then let ``x`` be 1e-7, within a solver's integrality tolerance of 0 (a plan
    that served nothing that hour), and HiGHS misjudged rows of such coefficients (an
    "optimal" plan 12 times CBC's). Valid for whole ``x``: ``y`` need not pass 1, and any
    lane used at all has ``x ≥ 1``; none where ``x`` is relaxed. Returns the rows added."""
    if x.cat != pulp.LpInteger:
        return 0
    prob += pulp.LpConstraint(
        pulp.LpAffineExpression([(y, 1.0), (x, -1.0)]),
        pulp.LpConstraintLE,
        f"link_{y.name[2:]}",
        0.0,
    )
    return 1


def define_share(prob: pulp.LpProblem, users: Mapping[str, list[str]], cols: _Columns) -> int:
    """``share[k,s,t]``: workloads sharing a lane use at most its units. Returns the rows."""
    rows = 0
    for (k, s, t), var in cols.x.items():
        ys = [
            (cols.y[key], cols.y_scale.get(key, 1.0))
            for w in users[k]
            if (key := (w, k, s, t)) in cols.y
        ]
        if ys:
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression([*ys, (var, -1.0)]),
                pulp.LpConstraintLE,
                f"share_{cols.k_index[k]}_{s}_{t}",
                0.0,
            )
            rows += 1
    return rows


def define_pool(
    prob: pulp.LpProblem, opts: OptionSet, inp: ModelInput, cols: _Columns
) -> tuple[dict[tuple[str, int], pulp.LpConstraint], int]:
    """``pool[g,t]``: pool replicas within the committed and existing units; ``avail[g,s,t]``:
    hourly units within an offer's cap. Returns (the pool rows by (pool, point), rows added)."""
    deps = opts.deployments
    by_lane: dict[tuple[str, str, int], list[tuple[pulp.LpVariable, float]]] = {}
    for (k, s, t), var in cols.x.items():
        by_lane.setdefault((deps[k].pool_key, s, t), []).append((var, float(deps[k].units)))
    pool_rows: dict[tuple[str, int], pulp.LpConstraint] = {}
    rows = 0
    for (g, s, t), row in sorted(by_lane.items()):
        if s == POOL:
            committed = [
                (cols.R[(g, tier)], -1.0) for tier in opts.pool_tiers(g) if (g, tier) in cols.R
            ]
            existing = float(inp.existing_gpus[g][t]) if g in inp.existing_gpus else 0.0
            c = pulp.LpConstraint(
                pulp.LpAffineExpression(row + committed),
                pulp.LpConstraintLE,
                f"pool_{lp_name(g)}_{t}",
                existing,
            )
            prob += c
            pool_rows[(g, t)] = c
        elif (g, s) in opts.max_gpus:
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression(row),
                pulp.LpConstraintLE,
                f"avail_{lp_name(g)}_{s}_{t}",
                float(opts.max_gpus[(g, s)]),
            )
        else:
            continue
        rows += 1
    return pool_rows, rows


def define_api_limit(prob: pulp.LpProblem, opts: OptionSet, inp: ModelInput, cols: _Columns) -> int:
    """``apilimit[m,t]``: the tokens sent to a model's API within its rate limit. Returns the
    rows added."""
    rows = 0
    for model, limit in sorted(opts.api_max_tokens_per_hour.items()):
        for t in range(inp.n_points):
            row = [
                (cols.f[(w, t)], float(inp.input_tokens[t, i] + inp.output_tokens[t, i]) / limit)
                for w, i in cols.W.items()
                if opts.workloads[w].model == model and (w, t) in cols.f
            ]
            if row:
                prob += pulp.LpConstraint(
                    pulp.LpAffineExpression(row),
                    pulp.LpConstraintLE,
                    f"apilimit_{lp_name(model)}_{t}",
                    1.0,
                )
                rows += 1
    return rows


def rental_carry(history: np.ndarray, min_hours: int) -> tuple[float, np.ndarray]:
    """From a lane's units in the ``min_hours`` hours before a window (oldest first): the
    units running in the hour before it, and per hour of the window the units started before
    it that must still run then (``(min_hours - 1,)``; zeros where nothing ran)."""
    h = np.zeros(min_hours)
    tail = np.asarray(history, dtype=float)[-min_hours:]
    if len(tail):
        h[min_hours - len(tail) :] = tail
    starts = np.maximum(np.diff(h, prepend=0.0), 0.0)
    starts[0] = 0.0  # the oldest hour's own start is m hours back: it no longer binds
    # hour j of the window still holds every start at history position i with i > j
    carry = np.array([starts[j + 1 :].sum() for j in range(min_hours - 1)])
    return float(h[-1]), carry


def _define_min_rental(
    prob: pulp.LpProblem,
    inp: ModelInput,
    x: Mapping[tuple[str, str, int], pulp.LpVariable],
    k_index: Mapping[str, int],
) -> tuple[dict[tuple[str, str, int], pulp.LpVariable], int]:
    """Each on-demand/spot unit started runs ``inp.min_rental_hours`` hours: ``v[k,s,t] ≥
    x[k,s,t] − x[k,s,t−1]`` and ``x[k,s,t] ≥ Σ_{t−m<τ≤t} v[k,s,τ]`` (plus the starts of the
    history still running). ``v`` may be continuous: for integer ``x`` the rows hold with
    ``v = max(0, Δx)`` exactly when every start lasts ``m`` hours. Returns (``v`` by lane
    and point, rows added)."""
    m = inp.min_rental_hours
    out: dict[tuple[str, str, int], pulp.LpVariable] = {}
    if m <= 1:
        return out, 0
    lanes = sorted({(k, s) for (k, s, _t) in x if s != POOL})
    rows = 0
    for k, s in lanes:
        before, carry = rental_carry(inp.rental_history.get((k, s), np.zeros(0)), m)
        name = f"{k_index[k]}_{s}"
        v = [pulp.LpVariable(f"v_{name}_{t}", lowBound=0) for t in range(inp.n_points)]
        out.update({(k, s, t): var for t, var in enumerate(v)})
        for t in range(inp.n_points):
            prev = [(x[(k, s, t - 1)], 1.0)] if t > 0 else []
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression([(v[t], 1.0), (x[(k, s, t)], -1.0), *prev]),
                pulp.LpConstraintGE,
                f"start_{name}_{t}",
                -before if t == 0 else 0.0,
            )
            window = [(v[tau], -1.0) for tau in range(max(0, t - m + 1), t + 1)]
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression([(x[(k, s, t)], 1.0), *window]),
                pulp.LpConstraintGE,
                f"hold_{name}_{t}",
                float(carry[t]) if t < len(carry) else 0.0,
            )
            rows += 2
    return out, rows


def _gpu_of(opts: OptionSet, pool: str) -> str:
    """The GPU type of an offer pool (a generic pool's key is its GPU type)."""
    return opts.pools[pool].gpu if pool in opts.pools else pool


def _define_gpu_type_limit(
    prob: pulp.LpProblem,
    opts: OptionSet,
    inp: ModelInput,
    sources: Mapping[str, list[str]],
    R: Mapping[tuple[str, str], pulp.LpVariable],
    x: Mapping[tuple[str, str, int], pulp.LpVariable],
    relax: bool,
) -> int:
    """At most ``opts.max_gpu_types`` GPU types: ``z[g]`` per type, ``Σ z ≤ K``, every GPU
    of type ``g`` in a point (replicas on any source) within ``M[g,t]·z[g]`` and every
    reserved unit of a pool of type ``g`` within its share of ``max_t M[g,t]·z[g]``.
    Returns the rows added."""
    K = opts.max_gpu_types
    deps = opts.deployments
    types = sorted({deps[k].gpu for (k, _s, _t) in x} | {_gpu_of(opts, p) for p, _ in R})
    if K is None or len(types) <= K:
        return 0
    z_cat = pulp.LpContinuous if relax else pulp.LpBinary
    z = {g: pulp.LpVariable(f"z_{lp_name(g)}", 0, 1, cat=z_cat) for g in types}
    prob += pulp.LpConstraint(
        pulp.LpAffineExpression([(v, 1.0) for v in z.values()]),
        pulp.LpConstraintLE,
        "gpu_types_max",
        float(K),
    )
    rows = 1
    need = _gpus_needed(opts, inp, sources)
    by_type: dict[tuple[str, int], list[tuple[pulp.LpVariable, float]]] = {}
    for (k, _s, t), var in x.items():
        by_type.setdefault((deps[k].gpu, t), []).append((var, float(deps[k].gpus)))
    for (g, t), row in sorted(by_type.items()):
        prob += pulp.LpConstraint(
            pulp.LpAffineExpression([*row, (z[g], -float(need[g][t]))]),
            pulp.LpConstraintLE,
            f"gpu_type_{lp_name(g)}_{t}",
            0.0,
        )
        rows += 1
    for (p, tier), var in R.items():
        g = _gpu_of(opts, p)
        if inp.fixed_reserved is not None:
            # a fixed fleet: its types are in use, whatever M says
            if inp.fixed_reserved.get((p, tier), 0) > 0:
                z[g].lowBound = 1
            continue
        per_unit = opts.pools[p].gpus_per_instance if p in opts.pools else 1
        m = math.ceil(float(need[g].max()) / per_unit) + 1 if inp.n_points else 0
        prob += pulp.LpConstraint(
            pulp.LpAffineExpression([(var, 1.0), (z[g], -float(m))]),
            pulp.LpConstraintLE,
            f"gpu_type_{lp_name(p)}_{tier}",
            0.0,
        )
        rows += 1
    return rows


def _gpus_needed(
    opts: OptionSet, inp: ModelInput, sources: Mapping[str, list[str]]
) -> dict[str, np.ndarray]:
    """An upper bound on the GPUs of each type an optimal plan runs at each point (the big-M
    of the GPU-type rows): every workload's demand served on that type's least GPU-efficient
    deployment, plus one partly used lane unit per lane. No optimal plan runs more: a lane
    unit it does not need costs money (pool replicas ``POOL_EPSILON``)."""
    W = {w: i for i, w in enumerate(inp.workloads)}
    out: dict[str, np.ndarray] = {}
    for g in sorted({d.gpu for d in opts.deployments.values()}):
        need = np.zeros(inp.n_points)
        slack = sum(
            d.gpus for k, d in opts.deployments.items() if d.gpu == g for _ in sources.get(k, [])
        )
        for w in inp.workloads:
            per_gpu = [
                o.requests_per_hour / o.deployment.gpus
                for o in opts.options_for(w)
                if o.deployment.gpu == g
            ]
            if per_gpu:
                headroom = opts.workloads[w].headroom
                need += capacity_needed(inp.requests[:, W[w]], headroom) / min(per_gpu)
        out[g] = np.ceil(need) + slack
    return out


@dataclass(frozen=True)
class EpsilonSlack:
    """How much ``POOL_EPSILON`` can add to the objective of an optimal plan: a solver's bound
    on the objective, less :meth:`usd`, bounds the plans' cost.

    Among the optimal plans take one with the fewest pool replicas. Its pool replicas use
    committed units, which cost at least ``usd_per_replica_hour`` each (the cheapest pool
    tier's price × the fewest units of a replica), or existing ones. So its replica-hours
    are at most ``existing_replica_hours`` plus the plans' cost (at most any plan's) over
    that price.
    """

    usd_per_replica_hour: float
    existing_replica_hours: float
    constant_usd: float
    #: whether the model has pool lanes at all (without, there is nothing to subtract)
    has_pool: bool = True

    def usd(self, incumbent_usd: float | None) -> float:
        """The slack, given the objective of any feasible plan [USD] (unbounded without)."""
        if not self.has_pool:
            return 0.0
        if incumbent_usd is None or self.usd_per_replica_hour <= 0:
            return math.inf
        spend = max(incumbent_usd - self.constant_usd, 0.0)
        return POOL_EPSILON * (self.existing_replica_hours + spend / self.usd_per_replica_hour)


def _epsilon_slack(
    opts: OptionSet, inp: ModelInput, cols: _Columns, constant: float
) -> EpsilonSlack:
    deps = opts.deployments
    lanes = {deps[k].pool_key for (k, s, _t) in cols.x if s == POOL}
    if not lanes:
        return EpsilonSlack(math.inf, 0.0, constant, has_pool=False)
    fewest = {g: min(d.units for d in deps.values() if d.pool_key == g) for g in lanes}
    prices = [opts.gpu_usd_per_hour[(g, tier)] * fewest[g] for (g, tier) in cols.R if g in fewest]
    weights = np.asarray(inp.weights, dtype=float)
    existing = sum(
        float(np.dot(weights, inp.existing_gpus[g])) / fewest[g]
        for g in lanes
        if g in inp.existing_gpus
    )
    # no reservable pool tier: only the existing units can run pool replicas
    return EpsilonSlack(min(prices) if prices else math.inf, existing, constant)


def lp_name(name: str) -> str:
    """A name made safe for LP files."""
    return "".join(c if c.isalnum() else "_" for c in name)


#: A value for each variable of a model: a solver's solution or a start, kept outside the
#: model (the model's variables hold none).
Values = dict[pulp.LpVariable, float]


def value_of(values: Mapping[pulp.LpVariable, float], var: pulp.LpVariable | None) -> float:
    """``var``'s value in ``values``, 0 where it has none (or NaN)."""
    v = values.get(var) if var is not None else None
    return 0.0 if v is None or math.isnan(v) else float(v)


def objective_usd(prob: pulp.LpProblem, values: Mapping[pulp.LpVariable, float]) -> float:
    """``prob``'s objective at ``values`` (a variable not given counts 0)."""
    obj = prob.objective
    return float(sum(c * values.get(v, 0.0) for v, c in obj.items()) + (obj.constant or 0.0))


def satisfies(prob: pulp.LpProblem, values: Mapping[pulp.LpVariable, float], eps: float) -> bool:
    """Whether ``values`` meet every bound, integrality and row of ``prob`` within ``eps``
    (as ``pulp.LpProblem.valid``, without writing the values into the model)."""
    for v in prob.variables():
        x = values.get(v)
        if x is None:
            if v.name == "__dummy":
                continue
            return False
        if v.upBound is not None and x > v.upBound + eps:
            return False
        if v.lowBound is not None and x < v.lowBound - eps:
            return False
        if v.cat == pulp.LpInteger and abs(round(x) - x) > eps:
            return False
    return all(row_holds(c, values, eps) for c in prob.constraints.values())


def row_holds(row: pulp.LpConstraint, values: Mapping[pulp.LpVariable, float], eps: float) -> bool:
    """Whether ``values`` meet one row within ``eps`` (a variable not given counts 0)."""
    lhs = row.constant + sum(a * values.get(v, 0.0) for v, a in row.items())
    if row.sense == pulp.LpConstraintEQ:
        return abs(lhs) <= eps
    return lhs * row.sense >= -eps
