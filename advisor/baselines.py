"""The simple policies a planner would otherwise use, costed on the same demand and catalog.

* ``all_api``: every request to the workload's API (only where every workload allows one).
* ``on_demand_hourly``: on-demand replicas sized hour by hour, each workload on its cheapest
  on-demand option (API for a workload with no on-demand option, where allowed); with a
  minimum rental (policy) every start held for its minimum.
* ``reserved_peak``: reserved GPUs for each workload's peak hour, on its cheapest pool option.
* ``reserved_baseline_api_burst`` (the seeds' rule of thumb): reserved replicas for the
  demand every hour has (the trough), everything above it to the API (or on-demand where the
  API is not allowed).

Where there are existing commitments, every policy serves what it can on them first (each
hour, workload by workload, on the option that serves the most requests per committed GPU),
and applies its rule to the rest: committed GPUs are paid whatever the policy does, and a
policy that left them idle while it bought more would flatter the plan.

Every baseline pays what the plan cannot avoid: the spend on existing commitments (committed
GPUs cost money whatever the policy does) and the fixed monthly overhead by the same rule as
the plan (``costmath.self_hosting_overhead_usd``: paid by a policy that runs GPUs or holds
commitments, ``all_api`` included when commitments exist). Baselines keep the offers'
availability caps (``max_gpus``) and the procurement policy's rules, as the plan does: a
minimum rental, a limit of ``K`` GPU types (each policy then runs on the ``K`` types,
committed, reserved and on-demand together, that make it cheapest) and each API's rate limit.
A baseline that cannot serve the demand under the workloads' rules is reported as not
applicable, with the reason.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from advisor.costmath import self_hosting_overhead_usd
from advisor.options import Option, OptionSet, api_usd_per_hour
from advisor.solve.rental import hold_forward
from advisor.workloads import capacity_needed, demand_covered


@dataclass(frozen=True)
class Baseline:
    """One policy's cost on the demand, or why it does not apply."""

    name: str
    total_cost_usd: float | None
    note: str

    def as_dict(self) -> dict[str, object]:
        return {"total_cost_usd": self.total_cost_usd, "note": self.note}


def _replicas(demand: np.ndarray, opt: Option, headroom: float) -> np.ndarray:
    """Whole replicas serving ``demand`` each hour: the need rounded up (a hair of float
    error above a whole number does not add one), at least one wherever there is demand (a
    need of 1e-10 replicas rounded to none, and the policy served nothing there for $0)."""
    need = capacity_needed(np.asarray(demand, dtype=float), headroom) / opt.requests_per_hour
    return np.where(need > 0, np.maximum(np.ceil(need - 1e-9), 1.0), 0.0)


def _level_replicas(level: float, opt: Option, headroom: float, level_of: str) -> int:
    """Replicas reserved for a demand level: enough for the peak; for the trough, the nearest
    whole number of replicas, at least one (a baseline that is busy nearly all the time)."""
    n = capacity_needed(level, headroom) / opt.requests_per_hour
    if level_of == "peak":
        return max(math.ceil(n - 1e-9), 1) if n > 0 else 0
    return max(1, round(n))


def _within_cap(opts: OptionSet, pool: str, tier: str, units: np.ndarray) -> bool:
    """Whether an hourly tier's availability cap [pool units] allows ``units`` every hour."""
    cap = opts.max_gpus.get((pool, tier))
    return cap is None or not len(units) or float(np.max(units)) <= cap + 1e-9


@dataclass(frozen=True)
class _Demand:
    """What every baseline prices: the options, the hourly demand (``(H, W)``), each
    workload's API cost per hour (None: no API allowed) and the fixed spend of the horizon."""

    opts: OptionSet
    workloads: tuple[str, ...]
    requests: np.ndarray
    api_cost: dict[str, np.ndarray | None]
    committed_usd: float
    has_commitments: bool
    #: the GPU types a policy may run on (None: every one)
    gpus: frozenset[str] | None = None
    #: GPUs already committed per type, each hour (``(H,)`` each)
    existing: Mapping[str, np.ndarray] = field(default_factory=dict)
    #: input and output tokens per hour and workload (``(H, W)``), for the API rate limits
    tokens: np.ndarray | None = None

    def options_for(self, w: str) -> list[Option]:
        """``w``'s options on the GPU types the policy may use."""
        return [
            o
            for o in self.opts.options_for(w)
            if self.gpus is None or o.deployment.gpu in self.gpus
        ]

    def fixed(self, used_gpus: bool) -> float:
        """The commitments' spend and the overhead, by the plan's rule."""
        return self.committed_usd + self_hosting_overhead_usd(
            self.opts.monthly_overhead_usd,
            self.requests.shape[0],
            self_hosts=used_gpus,
            has_commitments=self.has_commitments,
        )


def compute_baselines(
    opts: OptionSet,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    *,
    committed_usd: float = 0.0,
    has_commitments: bool = False,
    existing_gpus: Mapping[str, np.ndarray] | None = None,
) -> dict[str, Baseline]:
    """Cost every baseline policy; hours are real hours (weight 1 each).

    ``committed_usd`` is the spend on existing commitments over the horizon and
    ``has_commitments`` whether there are any: every baseline pays both that spend and the
    overhead they imply, as the plan does. ``existing_gpus``: the committed GPUs per type each
    hour, which every policy uses first.
    """
    api_cost = {
        w: api_usd_per_hour(opts.api_usd_per_m[w], input_tokens[:, i], output_tokens[:, i])
        if w in opts.api_usd_per_m
        else None
        for i, w in enumerate(workloads)
    }
    # the reservations the plan leaves out (renting replaces them) are the reserving
    # policies' to make
    full = opts.with_every_commitment()
    dem = _Demand(
        full,
        workloads,
        np.asarray(requests, dtype=float),
        api_cost,
        committed_usd,
        has_commitments,
        existing={g: np.asarray(v, dtype=float) for g, v in (existing_gpus or {}).items()},
        tokens=np.asarray(input_tokens, dtype=float) + np.asarray(output_tokens, dtype=float),
    )
    policies: dict[str, Callable[[_Demand], _Cost]] = {
        "all_api": _all_api,
        "on_demand_hourly": lambda d: _hourly(d, "on_demand"),
        "reserved_peak": lambda d: _reserved_for(d, "peak"),
        "reserved_baseline_api_burst": lambda d: _reserved_for(d, "trough"),
    }
    out: dict[str, Baseline] = {}
    for name, policy in policies.items():
        cost, note = _on_allowed_gpu_types(dem, _commitments_first(policy))
        out[name] = Baseline(name, cost, note)
    if has_commitments:
        suffix = " (+ committed spend and overhead)"
        out = {
            k: Baseline(b.name, b.total_cost_usd, b.note + suffix)
            if b.total_cost_usd is not None
            else b
            for k, b in out.items()
        }
    return out


@dataclass(frozen=True)
class _Cost:
    """A policy's cost [USD] (None: it cannot serve the demand), its note, and the GPU types
    and number of workloads it self-hosted."""

    usd: float | None
    note: str
    gpus: frozenset[str] = frozenset()
    self_hosted: int = 0
    #: the share of each hour's requests of each workload sent to the API (``(H, W)``;
    #: None: none)
    api_share: np.ndarray | None = None


def _all_api(dem: _Demand) -> _Cost:
    """Every request to its workload's API."""
    no_api = [
        w
        for i, w in enumerate(dem.workloads)
        if dem.api_cost[w] is None and dem.requests[:, i].any()
    ]
    if no_api:
        return _Cost(None, f"not applicable: no API allowed for {no_api[0]}")
    total = float(sum(float(np.sum(c)) for c in dem.api_cost.values() if c is not None))
    share = (dem.requests > 0).astype(float)
    return _Cost(total + dem.fixed(False), "every request to the API", api_share=share)


def _commitments_first(policy: Callable[[_Demand], _Cost]) -> Callable[[_Demand], _Cost]:
    """``policy`` on what the existing commitments leave (``_on_commitments``), within each
    API's rate limit."""

    def run(dem: _Demand) -> _Cost:
        rest, on_committed = _on_commitments(dem)
        got = policy(rest)
        if got.usd is None:
            return got
        share = None if got.api_share is None else got.api_share * _ratio(rest, dem)
        over = _api_over_limit(dem, share)
        if over is not None:
            return _Cost(None, f"not applicable: {over}")
        if not on_committed:
            return replace(got, api_share=share)
        note = f"the existing commitments first, then {got.note}"
        if got.note == "every request to the API":
            note = "the existing commitments first, every other request to the API"
        served = int(np.sum((dem.requests > rest.requests).any(axis=0)))
        return _Cost(
            got.usd,
            note,
            got.gpus | on_committed,
            max(got.self_hosted, served),
            share,
        )

    return run


def _ratio(rest: _Demand, dem: _Demand) -> np.ndarray:
    """What the commitments leave of each hour's requests, as a share of them."""
    return np.divide(
        rest.requests, dem.requests, out=np.zeros_like(dem.requests), where=dem.requests > 0
    )


def _on_commitments(dem: _Demand) -> tuple[_Demand, frozenset[str]]:
    """The demand the existing commitments leave, and the GPU types that serve some: each
    hour, workload by workload in their order, whole replicas on the committed GPUs the
    policy may use, on the options that serve the most requests per GPU first (a replica
    only where it is needed, as ``_replicas`` sizes them). The API cost left scales with the
    requests left."""
    if not dem.existing:
        return dem, frozenset()
    left = {g: v.copy() for g, v in dem.existing.items()}
    rest = dem.requests.copy()
    used: set[str] = set()
    for i, w in enumerate(dem.workloads):
        headroom = dem.opts.workloads[w].headroom
        committed = [
            o for o in dem.options_for(w) if o.deployment.on_pool and o.deployment.pool_key in left
        ]
        for o in sorted(committed, key=lambda o: -o.requests_per_hour / o.deployment.units):
            free = left[o.deployment.pool_key]
            n = np.minimum(
                _replicas(rest[:, i], o, headroom), np.floor(free / o.deployment.units + 1e-9)
            )
            if not n.any():
                continue
            served = np.minimum(rest[:, i], demand_covered(n * o.requests_per_hour, headroom))
            rest[:, i] -= served
            free -= n * o.deployment.units
            used.add(o.deployment.gpu)
    if not used:
        return dem, frozenset()
    after = replace(dem, requests=rest)
    ratio = _ratio(after, dem)
    api: dict[str, np.ndarray | None] = {}
    for i, w in enumerate(dem.workloads):
        c = dem.api_cost[w]
        api[w] = None if c is None else c * ratio[:, i]
    return replace(after, api_cost=api), frozenset(used)


def _api_over_limit(dem: _Demand, share: np.ndarray | None) -> str | None:
    """Which API rate limit a policy sending ``share`` of each hour's requests (``(H, W)``)
    to the API breaks, and in how many hours (None: none), as the plan must keep them."""
    limits = dem.opts.api_max_tokens_per_hour
    if share is None or not limits or dem.tokens is None:
        return None
    sent = share * dem.tokens
    for model, limit in sorted(limits.items()):
        cols = [i for i, w in enumerate(dem.workloads) if dem.opts.workloads[w].model == model]
        over = int(np.sum(sent[:, cols].sum(axis=1) > limit * (1 + 1e-9)))
        if over:
            return (
                f"{model}'s API rate limit ({limit / 60:,.0f} tokens/minute) is exceeded in "
                f"{over} hour{'s' if over > 1 else ''}"
            )
    return None


def _on_allowed_gpu_types(
    dem: _Demand, policy: Callable[[_Demand], _Cost]
) -> tuple[float | None, str]:
    """``policy``'s cost and note on at most ``max_gpu_types`` GPU types where the
    procurement policy sets that limit: of each set of ``K`` types the options run on, the
    one on which the policy self-hosts the most workloads, then costs least (cheapest alone
    would pick types no option of the policy's tier runs on, and send everything to the
    API: no longer the policy)."""
    k = dem.opts.max_gpu_types
    types = sorted({o.deployment.gpu for o in dem.opts.options.values()})
    if k is None or k >= len(types):
        got = policy(dem)
        return got.usd, got.note
    tried = [policy(replace(dem, gpus=frozenset(g))) for g in itertools.combinations(types, k)]
    costed = [t for t in tried if t.usd is not None]
    if not costed:
        return tried[0].usd, tried[0].note
    best = min(costed, key=lambda t: (-t.self_hosted, t.usd, len(t.gpus)))
    if not best.gpus:  # the API alone (all_api): the limit is no rule of it
        return best.usd, best.note
    limit = f"at most {k} GPU type{'s' if k > 1 else ''}"
    return best.usd, f"{best.note}; on {', '.join(sorted(best.gpus))} ({limit})"


def _cheapest_hourly(
    dem: _Demand, w: str, demand: np.ndarray, tier: str
) -> tuple[float, str] | None:
    """The cheapest cost [USD] of serving ``w``'s hourly ``demand`` on one ``tier`` option
    sized hour by hour within its offer's cap, and its GPU type; None where none can. With a
    minimum rental (policy) each start is held for its ``min_rental_hours``, as the plan
    must: a policy that breaks the rule would cost less than the plan's proven bound."""
    opts, best = dem.opts, None
    for o in dem.options_for(w):
        price = opts.gpu_usd_per_hour.get((o.deployment.pool_key, tier))
        if price is None or not o.deployment.on_hourly:
            continue
        n = _replicas(demand, o, opts.workloads[w].headroom)
        if opts.min_rental_hours > 1:
            n = hold_forward(n, opts.min_rental_hours)
        if not _within_cap(opts, o.deployment.pool_key, tier, n * o.deployment.units):
            continue
        c = float(np.sum(n * o.deployment.units * price))
        if best is None or c < best[0]:
            best = (c, o.deployment.gpu)
    return best


def _hourly(dem: _Demand, tier: str) -> _Cost:
    """Every workload on its cheapest ``tier`` option sized hour by hour (the API where it
    has none)."""
    total, used_gpus, used, n = 0.0, False, set(), 0
    to_api: list[str] = []
    share = np.zeros_like(dem.requests)
    for i, w in enumerate(dem.workloads):
        best = _cheapest_hourly(dem, w, dem.requests[:, i], tier)
        if best is None:
            api = dem.api_cost[w]
            if api is None:
                return _Cost(None, f"not applicable: no {tier} option for {w} and no API")
            total += float(np.sum(api))
            to_api.append(w)
            share[:, i] = 1.0
        else:
            total += best[0]
            if best[0] > 0:
                used_gpus = True
                used.add(best[1])
                n += 1
    note = _api_instead(dem, to_api, tier, "sized hour by hour")
    if note is None:
        return _Cost(None, f"not applicable: no {tier} option for any workload")
    return _Cost(total + dem.fixed(used_gpus), note, frozenset(used), n, share)


def _api_instead(dem: _Demand, to_api: Sequence[str], tier: str, note: str) -> str | None:
    """A policy's note naming the workloads it sent to the API for want of a ``tier``
    option; None where that is every workload (the policy is then ``all_api``, not itself)."""
    if not to_api:
        return note
    if len(to_api) == len(dem.workloads):
        return None
    return f"{note}; to the API (no {tier} option): {', '.join(to_api)}"


def _pool_usd_per_hour(opts: OptionSet, pool: str, units: int) -> float | None:
    """``units`` of a pool reserved, cheapest pool tier first within its cap."""
    left, usd = units, 0.0
    for t in sorted(opts.pool_tiers(pool), key=lambda t: opts.gpu_usd_per_hour[(pool, t)]):
        take = min(left, opts.max_gpus.get((pool, t), left))
        usd += take * opts.gpu_usd_per_hour[(pool, t)]
        left -= take
    return usd if left == 0 and opts.pool_tiers(pool) else None


def _best_reserved(
    dem: _Demand, w: str, level: float, level_of: str, hours: int
) -> tuple[Option, float] | None:
    """The pool option that reserves for ``level`` cheapest (per request served below the
    peak) and its cost over ``hours`` [USD]; None where no pool can."""
    opts = dem.opts
    wl = opts.workloads[w]
    best: tuple[float, Option, float] | None = None
    for o in dem.options_for(w):
        if not o.deployment.on_pool:
            continue
        n = _level_replicas(level, o, wl.headroom, level_of)
        # whole instances (units are GPUs on a per-GPU pool, instances otherwise)
        units = math.ceil(n * o.deployment.units - 1e-9)
        usd_per_hour = _pool_usd_per_hour(opts, o.deployment.pool_key, units)
        if usd_per_hour is None:
            continue
        c = usd_per_hour * hours
        served = min(level, demand_covered(n * o.requests_per_hour, wl.headroom))
        rank = c / max(served, 1e-9) if level_of != "peak" else c
        if best is None or rank < best[0]:
            best = (rank, o, c)
    return None if best is None else (best[1], best[2])


def _reserved_for(dem: _Demand, level_of: str) -> _Cost:
    """Reserved replicas for each workload's peak hour, or for its trough with the rest to
    the API (on-demand where the API is not allowed)."""
    total, used_gpus, H, n = 0.0, False, dem.requests.shape[0], 0
    used: set[str] = set()
    to_api: list[str] = []
    share = np.zeros_like(dem.requests)
    for i, w in enumerate(dem.workloads):
        d = dem.requests[:, i]
        if not d.any():  # nothing to serve (all of it on the commitments, or no demand)
            continue
        level = float(d.max()) if level_of == "peak" else float(d.min())
        got = _best_reserved(dem, w, level, level_of, H)
        api = dem.api_cost[w]
        if got is None:
            if api is None:
                return _Cost(None, f"not applicable: no reserved option for {w} and no API")
            total += float(np.sum(api))
            to_api.append(w)
            share[:, i] = 1.0
            continue
        o, c = got
        total += c
        if c > 0:
            used_gpus = True
            used.add(o.deployment.gpu)
            n += 1
        if level_of == "peak":
            continue
        headroom = dem.opts.workloads[w].headroom
        n_res = _level_replicas(level, o, headroom, level_of)
        rest = np.maximum(d - demand_covered(n_res * o.requests_per_hour, headroom), 0.0)
        if api is not None:
            frac = np.divide(rest, d, out=np.zeros_like(d), where=d > 0)
            total += float(np.sum(frac * api))
            share[:, i] = frac
            continue
        burst = _cheapest_hourly(dem, w, rest, "on_demand")
        if burst is None:
            return _Cost(None, f"not applicable: no burst capacity for {w}")
        total += burst[0]
        used |= {burst[1]} if burst[0] > 0 else set()
    note = _api_instead(
        dem,
        to_api,
        "reserved",
        "reserved for each workload's peak hour"
        if level_of == "peak"
        else "reserved for the trough, bursts to the API",
    )
    if note is None:
        return _Cost(None, "not applicable: no reserved option for any workload")
    return _Cost(total + dem.fixed(used_gpus), note, frozenset(used), n, share)
