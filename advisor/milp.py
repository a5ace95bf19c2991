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
idle pool capacity is not reported as running replicas.

Constraints
-----------
``cover[w,t]``    ``Σ_{k,s} cap[w,k]/((1+h_w)·D[w,t])·y[w,k,s,t] + f[w,t] ≥ 1``
``share[k,s,t]``  ``Σ_w y[w,k,s,t] ≤ x[k,s,t]``  (same-model workloads share replicas)
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

from advisor.options import OptionSet, api_usd_per_hour
from advisor.units import HOURS_PER_MONTH

POOL = "pool"
#: Cost [USD/GPU-hour] on pool replicas: breaks ties toward not running idle replicas.
POOL_EPSILON = 1e-4


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
    sources: dict[str, list[str]]
    n_integer: int
    n_variables: int
    n_constraints: int
    #: units started per hourly lane and point, with a minimum rental (``start`` rows)
    v: dict[tuple[str, str, int], pulp.LpVariable] = field(default_factory=dict)


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


def build_model(
    opts: OptionSet, inp: ModelInput, *, relax: bool = False, relax_replicas: bool = False
) -> FleetModel:
    """Build the MILP for ``inp``: its LP relaxation with ``relax=True``; with
    ``relax_replicas=True`` only the reserved GPUs stay integer (hourly replicas continuous),
    the representative-hour model of large horizons."""
    cat = pulp.LpContinuous if relax else pulp.LpInteger
    x_cat = pulp.LpContinuous if relax or relax_replicas else pulp.LpInteger
    T = inp.n_points
    W = {w: i for i, w in enumerate(inp.workloads)}
    weights = np.asarray(inp.weights, dtype=float)
    horizon = float(weights.sum())
    prob = pulp.LpProblem("fleet", pulp.LpMinimize)
    sources = deployment_sources(opts, inp)
    deps = opts.deployments
    users: dict[str, list[str]] = {k: [] for k in deps}
    for w, k in opts.options:
        if w in W:
            users[k].append(w)

    # --- variables -----------------------------------------------------------------------
    R: dict[tuple[str, str], pulp.LpVariable] = {}
    pool_gpus = sorted({d.pool_key for k, d in deps.items() if POOL in sources[k] and users[k]})
    for g in pool_gpus:
        for tier in opts.pool_tiers(g):
            fixed = None if inp.fixed_reserved is None else inp.fixed_reserved.get((g, tier), 0)
            ub = opts.max_gpus.get((g, tier))
            if fixed is not None:
                R[(g, tier)] = pulp.LpVariable(
                    f"R_{lp_name(g)}_{tier}", lowBound=fixed, upBound=fixed, cat=cat
                )
            else:
                R[(g, tier)] = pulp.LpVariable(
                    f"R_{lp_name(g)}_{tier}", lowBound=0, upBound=ub, cat=cat
                )
    x: dict[tuple[str, str, int], pulp.LpVariable] = {}
    y: dict[tuple[str, str, str, int], pulp.LpVariable] = {}
    eligible: dict[tuple[str, str], list[str]] = {}
    f: dict[tuple[str, int], pulp.LpVariable] = {}
    k_index = {k: i for i, k in enumerate(deps)}
    for k in deps:
        if not users[k]:
            continue
        for s in sources[k]:
            el = [w for w in users[k] if s != "spot" or opts.workloads[w].allow_spot]
            if not el:
                continue
            eligible[(k, s)] = el
            for t in range(T):
                x[(k, s, t)] = pulp.LpVariable(f"x_{k_index[k]}_{s}_{t}", lowBound=0, cat=x_cat)
                if len(el) > 1:
                    for w in el:
                        y[(w, k, s, t)] = pulp.LpVariable(
                            f"y_{W[w]}_{k_index[k]}_{s}_{t}", lowBound=0
                        )
    for w in inp.workloads:
        if w in opts.api_usd_per_m:
            for t in range(T):
                if inp.requests[t, W[w]] > 0:
                    f[(w, t)] = pulp.LpVariable(f"f_{W[w]}_{t}", lowBound=0, upBound=1)
    overhead_per_hour = opts.monthly_overhead_usd / HOURS_PER_MONTH

    def use(w: str, k: str, s: str, t: int) -> pulp.LpVariable | None:
        el = eligible.get((k, s))
        if not el or w not in el:
            return None
        return x[(k, s, t)] if len(el) == 1 else y[(w, k, s, t)]

    # --- objective -----------------------------------------------------------------------
    terms: list[tuple[pulp.LpVariable, float]] = []
    for (g, tier), var in R.items():
        terms.append((var, horizon * opts.gpu_usd_per_hour[(g, tier)]))
    for (k, s, t), var in x.items():
        units = deps[k].units
        price = POOL_EPSILON if s == POOL else opts.gpu_usd_per_hour[(deps[k].pool_key, s)]
        terms.append((var, weights[t] * price * units))
    for (w, t), var in f.items():
        a = api_usd_per_hour(
            opts.api_usd_per_m[w], inp.input_tokens[t, W[w]], inp.output_tokens[t, W[w]]
        )
        terms.append((var, weights[t] * float(a)))
    prob += pulp.LpAffineExpression(terms)

    # --- constraints ---------------------------------------------------------------------
    n_cons = 0
    for w in inp.workloads:
        wl = opts.workloads[w]
        opts_w = [(k, o.requests_per_hour) for (ww, k), o in opts.options.items() if ww == w]
        for t in range(T):
            d = float(inp.requests[t, W[w]])
            if d <= 0:
                continue
            row = []
            for k, cap in opts_w:
                for s in sources[k]:
                    v = use(w, k, s, t)
                    if v is not None:
                        row.append((v, cap / ((1.0 + wl.headroom) * d)))
            if (w, t) in f:
                row.append((f[(w, t)], 1.0))
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression(row), pulp.LpConstraintGE, f"cover_{W[w]}_{t}", 1.0
            )
            n_cons += 1
    for (k, s, t), var in x.items():
        ys = [y[(w, k, s, t)] for w in users[k] if (w, k, s, t) in y]
        if ys:
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression([(v, 1.0) for v in ys] + [(var, -1.0)]),
                pulp.LpConstraintLE,
                f"share_{k_index[k]}_{s}_{t}",
                0.0,
            )
            n_cons += 1
    by_gpu_src: dict[tuple[str, str, int], list[tuple[pulp.LpVariable, float]]] = {}
    for (k, s, t), var in x.items():
        by_gpu_src.setdefault((deps[k].pool_key, s, t), []).append((var, float(deps[k].units)))
    for (g, s, t), row in sorted(by_gpu_src.items()):
        if s == POOL:
            committed = [(R[(g, tier)], -1.0) for tier in opts.pool_tiers(g) if (g, tier) in R]
            existing = float(inp.existing_gpus[g][t]) if g in inp.existing_gpus else 0.0
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression(row + committed),
                pulp.LpConstraintLE,
                f"pool_{lp_name(g)}_{t}",
                existing,
            )
            n_cons += 1
        elif (g, s) in opts.max_gpus:
            prob += pulp.LpConstraint(
                pulp.LpAffineExpression(row),
                pulp.LpConstraintLE,
                f"avail_{lp_name(g)}_{s}_{t}",
                float(opts.max_gpus[(g, s)]),
            )
            n_cons += 1
    for model, limit in sorted(opts.api_max_tokens_per_hour.items()):
        for t in range(T):
            row = []
            for w in inp.workloads:
                if opts.workloads[w].model == model and (w, t) in f:
                    tokens = float(inp.input_tokens[t, W[w]] + inp.output_tokens[t, W[w]])
                    row.append((f[(w, t)], tokens / limit))
            if row:
                prob += pulp.LpConstraint(
                    pulp.LpAffineExpression(row),
                    pulp.LpConstraintLE,
                    f"apilimit_{lp_name(model)}_{t}",
                    1.0,
                )
                n_cons += 1
    # --- at most K GPU types (procurement policy) ------------------------------------------
    n_cons += _define_gpu_type_limit(prob, opts, inp, sources, R, x, relax)
    # --- a minimum rental per on-demand/spot start (procurement policy) ---------------------
    v, n_rental_rows = _define_min_rental(prob, inp, x, k_index)
    n_cons += n_rental_rows
    n_int = 0 if relax else len(R) + (0 if relax_replicas else len(x))
    return FleetModel(
        prob=prob,
        inp=inp,
        R=R,
        x=x,
        y=y,
        eligible=eligible,
        f=f,
        constant_usd=horizon * overhead_per_hour,
        sources=sources,
        n_integer=n_int,
        n_variables=len(R) + len(x) + len(y) + len(f) + len(v),
        v=v,
        n_constraints=n_cons,
    )


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
                need += inp.requests[:, W[w]] * (1.0 + headroom) / min(per_gpu)
        out[g] = np.ceil(need) + slack
    return out


def lp_name(name: str) -> str:
    """A name made safe for LP files."""
    return "".join(c if c.isalnum() else "_" for c in name)


def value(var: pulp.LpVariable | None) -> float:
    """A variable's value, 0 when unset."""
    if var is None:
        return 0.0
    v = var.varValue
    return 0.0 if v is None or math.isnan(v) else float(v)
