"""Deployment options: which replica configurations can serve which workload, at what price.

For every workload, every GPU × quantization × tensor-parallel degree the workload allows is
run through the roofline; options that do not fit memory or miss an SLO are dropped (and
kept in ``OptionSet.rejected`` so an infeasible problem can be explained), then dominated
options are dropped: on the same GPU type, a deployment that needs at least as many GPUs
and serves no workload faster than another is never needed. That pruning is exact.

A *deployment* is a replica configuration (model, GPU, quantization, TP); workloads of the
same model may share a deployment's replicas within an hour, each using a fraction of a
replica. A measured-capacity table (``--capacity FILE``) replaces the roofline's requests/s
for the options it names.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from advisor.catalog import (
    GENERIC_PROVIDER,
    GPU,
    HOURLY_TIERS,
    MAX_NUMBER,
    POOL_TIERS,
    ApiOffer,
    CapacityError,
    Catalog,
    Efficiency,
    ModelArch,
    Quantization,
)
from advisor.errors import CatalogError, DemandError, did_you_mean
from advisor.parallel import capacity_workers, run_jobs
from advisor.roofline import (
    ReplicaPerformance,
    kv_capacity_tokens,
    min_tp_to_fit,
    usable_bytes,
    weight_bytes,
)
from advisor.serving import (
    SLO,
    Capacity,
    Replica,
    Traffic,
    add_capacities,
    cached_capacity,
    flush_cache,
    measured_matches,
    offline_max_requests_per_s,
    replica_capacity,
    slo_capacity,
    take_new_capacities,
    workload_terms,
    workload_traffic,
)
from advisor.units import BYTES_PER_GB, SECONDS_PER_HOUR, TOKENS_PER_M
from advisor.workloads import Workload

TP_DEGREES: tuple[int, ...] = (1, 2, 4, 8, 16)


def tp_degrees(gpu: GPU) -> list[int]:
    """The tensor-parallel degrees advisor plans on ``gpu``: ``TP_DEGREES`` up to its
    ``max_tp``."""
    return [t for t in TP_DEGREES if t <= gpu.max_tp]


@dataclass(frozen=True)
class Deployment:
    """A replica configuration on one offer pool, bought in ``units`` of that pool.

    ``key`` is ``model|gpu|quant|tpN`` on a generic per-GPU pool (the seeds' prices) and
    ``model|pool|quant|tpN`` on an instance pool; an hourly whole-instance lane that runs
    ``bundle`` replicas per instance adds ``xB``.

    The solver counts one variable per lane unit: a replica (``bundle == 1``) or a whole
    instance running ``bundle`` replicas (hourly tiers of an instance with more GPUs than one
    replica needs). It draws ``units`` of its pool: ``tp`` GPUs on a per-GPU pool, ``tp /
    gpus_per_unit`` instances on an instance pool (a share of one reserved instance), 1 for
    a whole-instance bundle.
    """

    model: str
    gpu: str
    quant: str
    tp: int
    #: offer pool key (``Offer.pool``); empty for the generic per-GPU pool of ``gpu``
    pool: str = ""
    #: GPUs in one unit of the pool: 1 for a per-GPU pool, the instance's GPUs otherwise
    gpus_per_unit: int = 1
    #: replicas per lane unit (> 1: an hourly whole instance of ``bundle`` replicas)
    bundle: int = 1

    @property
    def key(self) -> str:
        base = f"{self.model}|{self.pool or self.gpu}|{self.quant}|tp{self.tp}"
        return base + (f"x{self.bundle}" if self.bundle > 1 else "")

    @property
    def pool_key(self) -> str:
        """The pool (and price) key the solver uses for this deployment."""
        return self.pool or self.gpu

    @property
    def units(self) -> float:
        """Pool units one lane unit uses [GPUs on a per-GPU pool, instances otherwise]."""
        return self.tp * self.bundle / self.gpus_per_unit

    @property
    def gpus(self) -> int:
        """GPUs one lane unit occupies [GPUs]."""
        return self.tp * self.bundle

    @property
    def on_pool(self) -> bool:
        """Whether this deployment may draw on the reserved pool (replica lanes only)."""
        return self.bundle == 1

    @property
    def on_hourly(self) -> bool:
        """Whether hourly tiers may rent it: whole units only (a per-GPU pool's GPUs, or a
        replica or bundle that fills its instance)."""
        return self.gpus_per_unit == 1 or self.units == 1


@dataclass(frozen=True)
class Option:
    """A deployment able to serve a workload within its SLOs."""

    workload: str
    deployment: Deployment
    requests_per_hour: float
    capacity_source: str
    perf: Capacity | ReplicaPerformance | None

    @property
    def key(self) -> str:
        return self.deployment.key


@dataclass(frozen=True)
class Rejected:
    """An option that was dropped, and why (for infeasibility diagnosis)."""

    workload: str
    gpu: str
    quant: str
    tp: int
    reason: str


@dataclass(frozen=True)
class MeasuredCapacity:
    """One row of a measured-capacity table."""

    model: str
    gpu: str
    quant: str
    tp: int
    prompt_tokens: float
    completion_tokens: float
    tpot_ms: float
    ttft_ms: float
    requests_per_s: float


@dataclass(frozen=True)
class Pool:
    """Capacity one offer sells on its tiers: a provider's instance type (or generic GPUs)."""

    key: str
    gpu: str
    provider: str
    instance: str
    region: str
    gpus_per_instance: int
    interconnect: str | None
    #: per-GPU price (no instance type): TP groups up to the GPU's max_tp, units are GPUs
    per_gpu: bool

    def as_dict(self) -> dict[str, object]:
        return {
            "pool": self.key,
            "gpu": self.gpu,
            "provider": self.provider,
            "instance": self.instance or self.gpu,
            "region": self.region,
            "gpus_per_instance": self.gpus_per_instance,
            "interconnect": self.interconnect,
        }


@dataclass
class OptionSet:
    """Everything the MILP needs to know about the catalog, per workload.

    Prices and caps are keyed by (pool, tier), a pool being ``Deployment.pool_key``: a GPU
    type for the generic per-GPU offers (units are GPUs), an instance pool otherwise (units
    are instances).
    """

    workloads: dict[str, Workload]
    deployments: dict[str, Deployment]
    options: dict[tuple[str, str], Option]
    #: effective price [USD per pool unit-hour] per (pool, tier); spot includes its risk
    gpu_usd_per_hour: dict[tuple[str, str], float]
    #: availability cap [pool units] per (pool, tier), where the catalog sets one
    max_gpus: dict[tuple[str, str], int]
    #: API price per workload [USD/M input, USD/M output], for workloads that may use one
    api_usd_per_m: dict[str, tuple[float, float]]
    #: API rate limit per model [tokens/hour]
    api_max_tokens_per_hour: dict[str, float]
    monthly_overhead_usd: float
    rejected: list[Rejected] = field(default_factory=list)
    dominated: list[str] = field(default_factory=list)
    #: the offer pools the deployments draw on, by key
    pools: dict[str, Pool] = field(default_factory=dict)
    #: (pool, tier) offers dropped because another pool of the same shape is no dearer
    dominated_offers: list[tuple[str, str]] = field(default_factory=list)
    #: the API provider chosen per workload (the cheapest allowed at its mean lengths)
    api_provider: dict[str, str] = field(default_factory=dict)
    #: (deployment, source) lanes never needed: another lane does the job for no more money
    dominated_lanes: set[tuple[str, str]] = field(default_factory=set)
    #: the serving model's measured error per GPU type the deployments use (the catalog's
    #: ``capacity_error``), cited by the plan beside each capacity
    capacity_error: dict[str, CapacityError] = field(default_factory=dict)
    #: at most this many GPU types in the fleet (procurement policy), or None
    max_gpu_types: int | None = None
    #: each on-demand/spot start runs at least this many hours (procurement policy)
    min_rental_hours: int = 1
    #: committed (pool, tier) offers left out because renting always does their job for no
    #: more (``unpaying_pools``): their prices and caps, which a policy that may only reserve
    #: still buys (``with_every_commitment``)
    unpaying_offers: dict[tuple[str, str], tuple[float, int | None]] = field(default_factory=dict)

    def with_every_commitment(self) -> OptionSet:
        """This option set with the committed offers ``unpaying_pools`` left out put back:
        exact for the plan to leave out (renting replaces them), not for a simple policy
        that reserves whatever renting would cost."""
        prices = dict(self.gpu_usd_per_hour)
        caps = dict(self.max_gpus)
        for key, (usd, cap) in self.unpaying_offers.items():
            prices[key] = usd
            if cap is not None:
                caps[key] = cap
        return replace(self, gpu_usd_per_hour=prices, max_gpus=caps, unpaying_offers={})

    def options_for(self, workload: str) -> list[Option]:
        return [o for (w, _), o in self.options.items() if w == workload]

    def tiers_for(self, gpu: str) -> list[str]:
        return [t for (g, t) in self.gpu_usd_per_hour if g == gpu]

    def pool_tiers(self, gpu: str) -> list[str]:
        return [t for t in POOL_TIERS if (gpu, t) in self.gpu_usd_per_hour]

    def hourly_tiers(self, gpu: str) -> list[str]:
        return [t for t in HOURLY_TIERS if (gpu, t) in self.gpu_usd_per_hour]


def effective_prices(catalog: Catalog) -> dict[tuple[str, str], float]:
    """Price per pool unit-hour per (pool, tier) (``Catalog.unit_price``: spot adds its
    expected on-demand fallback)."""
    return {key: catalog.unit_price(*key) for key in sorted(catalog.offers)}


def api_usd_per_hour(usd_per_m: tuple[float, float], input_tokens, output_tokens):
    """API cost of an hour's tokens [USD] (arrays or floats)."""
    return (input_tokens * usd_per_m[0] + output_tokens * usd_per_m[1]) / TOKENS_PER_M


def catalog_pools(catalog: Catalog) -> dict[str, Pool]:
    """Every offer pool of the catalog, by key."""
    pools: dict[str, Pool] = {}
    for (key, _), o in sorted(catalog.offers.items()):
        if key not in pools:
            pools[key] = Pool(
                key=key,
                gpu=o.gpu,
                provider=o.provider,
                instance=o.instance,
                region=o.region,
                gpus_per_instance=o.gpus_per_instance,
                interconnect=o.interconnect,
                per_gpu=o.per_gpu,
            )
    return pools


def allowed_providers(w: Workload, providers: Sequence[str] | None) -> set[str] | None:
    """Providers workload ``w`` may buy from (``--providers`` and its own list), None: any."""
    allowed = None if providers is None else set(providers)
    if w.providers is not None:
        allowed = set(w.providers) if allowed is None else allowed & set(w.providers)
    return allowed


def workload_api_offer(
    catalog: Catalog, w: Workload, providers: Sequence[str] | None
) -> ApiOffer | None:
    """The API offer workload ``w`` is priced at: the cheapest at its mean lengths among the
    providers it may buy from; None where it may not use an API or none is allowed."""
    if not w.allow_api:
        return None
    allowed = allowed_providers(w, providers)
    return catalog.api_offer_for(w.model, w.prompt_tokens, w.completion_tokens, allowed)


def tp_fits(pool: Pool, tp: int, max_tp: int) -> bool:
    """Whether a TP group of ``tp`` GPUs fits one unit of ``pool``.

    On an instance the group must lie inside one instance and its size divide the
    instance's GPU count: with sizes that are powers of two dividing the instance, replicas
    of any mix pack instances exactly (largest first, every size divides every larger one
    and the instance), so a GPU count per instance pool is an exact packing constraint.
    """
    if tp > max_tp:
        return False
    if pool.per_gpu:
        return True
    return tp <= pool.gpus_per_instance and pool.gpus_per_instance % tp == 0 and tp & (tp - 1) == 0


def prune_offers(
    catalog: Catalog,
    prices: Mapping[tuple[str, str], float],
    pools: Mapping[str, Pool],
    users: Mapping[str, frozenset[str]],
) -> list[tuple[str, str]]:
    """(pool, tier) offers another pool of the same shape always replaces for no more.

    Offer ``(A, τ)`` is dropped for ``(B, τ')`` when both pools sell the same GPU in the same
    instance shape (GPUs per instance, interconnect, per-GPU or not), every workload that
    may buy from A may buy from B (``users``), both tiers are committed (pool) tiers or both
    hourly, ``τ'`` is no more restricted (on-demand replaces spot, not the reverse), B's
    offer has no availability cap and costs no more per unit-hour. Any plan buying ``(A, τ)``
    buys the same units of ``(B, τ')`` instead at no more cost with the same deployments,
    so pruning is exact. Ties keep the first in sorted order.
    """
    out: list[tuple[str, str]] = []
    keys = sorted(prices)
    dropped: set[tuple[str, str]] = set()

    def klass(tier: str) -> str:
        return "pool" if tier in POOL_TIERS else "hourly"

    for a in keys:
        pa = pools[a[0]]
        shape_a = (pa.gpu, pa.gpus_per_instance, pa.interconnect, pa.per_gpu)
        for b in keys:
            if b == a or b in dropped or b[0] == a[0]:
                continue
            pb = pools[b[0]]
            if (pb.gpu, pb.gpus_per_instance, pb.interconnect, pb.per_gpu) != shape_a:
                continue
            if klass(a[1]) != klass(b[1]) or (b[1] == "spot" and a[1] != "spot"):
                continue
            if not users.get(a[0], frozenset()) <= users.get(b[0], frozenset()):
                continue
            if catalog.offers[b].cap_instances is not None:
                continue
            if prices[b] < prices[a] * (1 - 1e-12) or (
                prices[b] <= prices[a] * (1 + 1e-12) and b < a
            ):
                dropped.add(a)
                out.append(a)
                break
    return out


def build_options(
    catalog: Catalog,
    workloads: Mapping[str, Workload],
    measured: Sequence[MeasuredCapacity] = (),
    *,
    monthly_overhead_usd: float | None = None,
    providers: Sequence[str] | None = None,
    committed_gpus: Sequence[str] = (),
    max_gpu_types: int | None = None,
    min_rental_hours: int | None = None,
    capacity_model: str = "simulated",
) -> OptionSet:
    """Enumerate, evaluate and prune deployment options for ``workloads``.

    Each option's requests/hour is :func:`advisor.serving.replica_capacity` (``simulated``:
    the largest rate whose latency statistics meet the SLOs; ``roofline``: the mean-value
    model). Before any simulation, a deployment is skipped when one of the same model on the
    same GPU type with no more GPUs already serves every workload of the model at least as
    fast as the skipped one's roofline upper bound: the dominance pruning below would drop
    it anyway, so this is exact. Capacities the cache does not hold are simulated in worker
    processes, one (model, GPU type) per job (:func:`advisor.parallel.capacity_workers`); the
    options are the same, in the same order, as in one process.

    ``providers`` limits the offers (GPU and API) every workload may buy from; a workload's
    own ``providers`` list narrows it further. ``committed_gpus`` are GPU types of existing
    commitments: their generic per-GPU pool exists even where no offer sells it. With
    ``max_gpu_types`` the MILP keeps the fleet to that many GPU types; with
    ``min_rental_hours`` every on-demand/spot start runs that long.
    """
    prices, pools, users, dominated_offers = _offers(catalog, workloads, providers, committed_gpus)
    base, rejected, pre_dominated = _capacity_options(
        catalog, workloads, pools, users, capacity_model
    )
    _apply_measured(catalog, workloads, measured, base, {p.gpu for p in pools.values()})
    base, dominated = _prune_dominated(base, workloads)
    dominated = sorted(set(dominated) | pre_dominated)
    options = _on_pools(catalog, workloads, base, pools, prices, users, rejected)
    flush_cache()  # the capacities are kept even if the solve that follows is interrupted
    deployments = {o.key: o.deployment for o in options.values()}
    api, api_provider, limits = _api_terms(catalog, workloads, providers)
    max_gpus = {
        key: o.cap_instances
        for key, o in catalog.offers.items()
        if o.cap_instances is not None and key in prices
    }
    result = OptionSet(
        workloads=dict(workloads),
        deployments=dict(sorted(deployments.items())),
        capacity_error={
            g: catalog.capacity_error[g]
            for g in sorted({d.gpu for d in deployments.values()})
            if g in catalog.capacity_error
        },
        options=dict(sorted(options.items())),
        gpu_usd_per_hour=prices,
        max_gpus=max_gpus,
        api_usd_per_m=api,
        api_max_tokens_per_hour=limits,
        monthly_overhead_usd=(
            catalog.defaults.self_host_monthly_overhead_usd
            if monthly_overhead_usd is None
            else monthly_overhead_usd
        ),
        rejected=rejected,
        dominated=dominated,
        pools=pools,
        dominated_offers=dominated_offers,
        api_provider=api_provider,
        max_gpu_types=max_gpu_types,
        min_rental_hours=min_rental_hours or 1,
    )
    result.dominated_lanes = dominated_lanes(result)
    idle = unpaying_pools(result, committed_gpus)
    if idle:
        for key in [k for k in result.gpu_usd_per_hour if k[0] in idle and k[1] in POOL_TIERS]:
            usd = result.gpu_usd_per_hour.pop(key)
            result.unpaying_offers[key] = (usd, result.max_gpus.pop(key, None))
            result.dominated_offers.append(key)
        result.dominated_lanes = dominated_lanes(result)
    return result


def _offers(
    catalog: Catalog,
    workloads: Mapping[str, Workload],
    providers: Sequence[str] | None,
    committed_gpus: Sequence[str],
) -> tuple[
    dict[tuple[str, str], float], dict[str, Pool], dict[str, frozenset[str]], list[tuple[str, str]]
]:
    """The offers the workloads may buy: (prices by (pool, tier) after dominated offers are
    pruned, the pools they sell plus a generic pool per committed GPU type, the workloads
    each pool may serve, the dominated offers)."""
    all_prices = effective_prices(catalog)
    pools = catalog_pools(catalog)
    allowed = {w: allowed_providers(wl, providers) for w, wl in workloads.items()}
    users = {
        key: frozenset(
            w
            for w, wl in workloads.items()
            if (allowed[w] is None or pool.provider in allowed[w])
            and (wl.gpus is None or pool.gpu in wl.gpus)
        )
        for key, pool in pools.items()
    }
    usable = {k: p for k, p in all_prices.items() if users[k[0]]}
    dominated_offers = prune_offers(catalog, usable, pools, users)
    prices = {k: p for k, p in usable.items() if k not in set(dominated_offers)}
    pools = {k: p for k, p in pools.items() if any(pk == k for pk, _ in prices)}
    for g in committed_gpus:
        if g not in pools:
            pools[g] = Pool(g, g, GENERIC_PROVIDER, "", "", 1, None, True)
            users[g] = frozenset(
                w for w, wl in workloads.items() if wl.gpus is None or g in wl.gpus
            )
    return prices, pools, users, dominated_offers


def _capacity_options(
    catalog: Catalog,
    workloads: Mapping[str, Workload],
    pools: Mapping[str, Pool],
    users: Mapping[str, frozenset[str]],
    capacity_model: str,
) -> tuple[dict[tuple[str, str], Option], list[Rejected], set[str]]:
    """Every (workload, deployment) with its SLO capacity, per model and GPU type: (the
    options, the rejected ones with their reasons, the deployments pruned unsimulated)."""
    by_model: dict[str, list[str]] = {}
    for wname in sorted(workloads):
        by_model.setdefault(workloads[wname].model, []).append(wname)
    sold = {p.gpu for p in catalog_pools(catalog).values()}
    parts: list[_GroupResult | _Group] = []
    for model_name, wnames in sorted(by_model.items()):
        for gname in sorted(catalog.gpus):
            gws = [w for w in wnames if workloads[w].gpus is None or gname in workloads[w].gpus]
            ws_here = []
            unsold = _GroupResult()
            for wname in gws:
                if not any(p.gpu == gname and wname in users[k] for k, p in pools.items()):
                    why = "no offer (price) in the catalog"
                    if gname in sold:
                        why = "no offer from an allowed provider"
                    unsold.rejected.append(Rejected(wname, gname, "*", 0, why))
                else:
                    ws_here.append(wname)
            parts.append(unsold)
            if ws_here:
                parts.append(_Group(model_name, gname, tuple(wnames), tuple(ws_here)))
    results = _evaluate_groups(catalog, workloads, parts, capacity_model)
    base: dict[tuple[str, str], Option] = {}
    rejected: list[Rejected] = []
    pre_dominated: set[str] = set()
    for r in results:
        base.update(r.base)
        rejected.extend(r.rejected)
        pre_dominated |= r.pre_dominated
    return base, rejected, pre_dominated


@dataclass(frozen=True)
class _Group:
    """One model's deployments on one GPU type, for the workloads that may buy that GPU."""

    model: str
    gpu: str
    wnames: tuple[str, ...]  # every workload of the model
    ws_here: tuple[str, ...]  # those with an offer of the GPU


@dataclass
class _GroupResult:
    base: dict[tuple[str, str], Option] = field(default_factory=dict)
    rejected: list[Rejected] = field(default_factory=list)
    pre_dominated: set[str] = field(default_factory=set)


class _NotCached(Exception):
    """A capacity the cache does not hold (the group goes to the worker processes)."""


def _evaluate_groups(
    catalog: Catalog,
    workloads: Mapping[str, Workload],
    parts: list[_GroupResult | _Group],
    capacity_model: str,
) -> list[_GroupResult]:
    """Each group's options: from the capacity cache where it holds them all, the rest
    simulated in worker processes (one group per job) when this process may start them."""
    out: list[_GroupResult | None] = []
    todo: list[int] = []
    for part in parts:
        if isinstance(part, _GroupResult):
            out.append(part)
            continue
        try:
            out.append(_gpu_options(catalog, workloads, part, capacity_model, cached_only=True))
        except _NotCached:
            out.append(None)
            todo.append(len(out) - 1)
    plain = dict(workloads)  # a mapping that travels to the worker processes
    jobs = [(catalog, plain, parts[i], capacity_model) for i in todo]
    workers = capacity_workers(len(jobs)) if capacity_model == "simulated" else 1
    for i, (res, computed) in zip(todo, run_jobs(_group_job, jobs, workers=workers), strict=True):
        add_capacities(computed)
        out[i] = res
    return [r for r in out if r is not None]


def _group_job(
    catalog: Catalog, workloads: dict[str, Workload], group: _Group, capacity_model: str
) -> tuple[_GroupResult, dict[str, dict]]:
    """One group's options, simulated, with the capacities computed for them."""
    take_new_capacities()  # a forked worker starts with its parent's
    res = _gpu_options(catalog, workloads, group, capacity_model)
    return res, take_new_capacities()


def _gpu_options(
    catalog: Catalog,
    workloads: Mapping[str, Workload],
    group: _Group,
    capacity_model: str,
    *,
    cached_only: bool = False,
) -> _GroupResult:
    """One model's deployments on one GPU type, fewest GPUs first, so a simulated
    deployment can rule out larger ones unsimulated. ``cached_only``: raise
    :class:`_NotCached` rather than simulate a capacity the cache does not hold."""
    model, gpu = catalog.model(group.model), catalog.gpu(group.gpu)
    gname, wnames = group.gpu, group.wnames
    eff = catalog.efficiency_for(gpu)
    res = _GroupResult()
    done: list[tuple[int, dict[str, float]]] = []
    for tp in tp_degrees(gpu):
        for qname in sorted(catalog.quantizations):
            quant = catalog.quant(qname)
            ws = [
                w
                for w in group.ws_here
                if workloads[w].quantizations is None or qname in workloads[w].quantizations
            ]
            if not ws:
                continue
            if not catalog.supports(gpu, quant):
                if tp == 1:
                    why = f"{gname} has no {quant.compute_dtype} peak for {qname}"
                    res.rejected.extend(Rejected(w, gname, qname, 0, why) for w in ws)
                continue
            dep = Deployment(group.model, gname, qname, tp)
            if capacity_model == "simulated" and done:
                bound = {w: _upper_bound(model, gpu, quant, eff, tp, workloads[w]) for w in ws}
                if any(_covers(t, rps, tp, bound, wnames) for t, rps in done):
                    res.pre_dominated.add(dep.key)
                    continue
            got: dict[str, float] = {}
            for wname in ws:
                inputs = (Replica(model, gpu, quant, eff, tp), *workload_terms(workloads[wname]))
                cap = _capacity(inputs, capacity_model, cached_only)
                if cap.feasible:
                    got[wname] = cap.requests_per_s
                    res.base[(wname, dep.key)] = Option(
                        wname, dep, cap.requests_per_s * SECONDS_PER_HOUR, cap.capacity_model, cap
                    )
                else:
                    res.rejected.append(Rejected(wname, gname, qname, tp, cap.reason))
            done.append((tp, got))
    return res


def _api_terms(
    catalog: Catalog, workloads: Mapping[str, Workload], providers: Sequence[str] | None
) -> tuple[dict[str, tuple[float, float]], dict[str, str], dict[str, float]]:
    """Each workload's API price (USD per M input, output tokens) and provider, and each
    model's API rate limit [tokens/hour] where its offer states one."""
    api: dict[str, tuple[float, float]] = {}
    api_provider: dict[str, str] = {}
    offers = {wname: workload_api_offer(catalog, w, providers) for wname, w in workloads.items()}
    for wname, offer in sorted(offers.items()):
        if offer is not None:
            api[wname] = (offer.usd_per_m_input_tokens, offer.usd_per_m_output_tokens)
            api_provider[wname] = offer.provider
    return api, api_provider, api_rate_limits(offers)


def api_rate_limits(offers: Mapping[str, ApiOffer | None]) -> dict[str, float]:
    """Each model's API rate limit [tokens/hour, input and output together, all its
    workloads' API rows summed] where the offer its workloads are priced at (``offers``, by
    workload: ``workload_api_offer``) states one (of two such offers, the workload named last
    sets it)."""
    limits: dict[str, float] = {}
    for _, offer in sorted(offers.items()):
        if offer is not None and offer.max_tokens_per_minute is not None:
            limits[offer.model] = offer.max_tokens_per_minute * 60.0
    return limits


def unpaying_pools(opts: OptionSet, committed_gpus: Sequence[str] = ()) -> list[str]:
    """Pools whose committed tiers never pay: every replica the pool could hold is replaced,
    hour by hour, by rented lanes for no more than its share of the cheapest commitment.

    For each deployment ``a`` on pool ``P`` (using ``u_a`` of an instance) some hourly lane
    ``(b, s)`` of the same model, open to every workload that may use ``a``, without an
    availability cap, must serve ``a``'s load with ``n = max_w ⌈cap_a/cap_b⌉`` units at
    ``n·cost_b ≤ u_a·min_τ P[P,τ]``. Then any plan reserving ``R`` units of ``P`` can rent
    instead, every hour, for at most what the pool's use costs ``≤ R·P[P,τ]``, and drop the
    reservation: committing to ``P`` is never needed, so dropping its committed tiers is
    exact. Pools holding existing commitments (``committed_gpus``) are kept.
    """
    users: dict[str, list[str]] = {}
    for w, k in opts.options:
        users.setdefault(k, []).append(w)
    hourly = []
    for k, dep in opts.deployments.items():
        if not dep.on_hourly:
            continue
        for s in opts.hourly_tiers(dep.pool_key):
            if (dep.pool_key, s) in opts.max_gpus:
                continue
            el = frozenset(
                w for w in users.get(k, []) if s != "spot" or opts.workloads[w].allow_spot
            )
            if el:
                hourly.append((k, s, el, opts.gpu_usd_per_hour[(dep.pool_key, s)] * dep.units))

    def cap(k: str, w: str) -> float:
        o = opts.options.get((w, k))
        return o.requests_per_hour if o else 0.0

    out = []
    pools = sorted({d.pool_key for d in opts.deployments.values() if opts.pool_tiers(d.pool_key)})
    for pool in pools:
        if pool in committed_gpus:
            continue
        price = min(opts.gpu_usd_per_hour[(pool, t)] for t in opts.pool_tiers(pool))
        replaced = True
        for k, a in opts.deployments.items():
            ea = frozenset(users.get(k, []))
            if a.pool_key != pool or not a.on_pool or not ea:
                continue
            budget = a.units * price * (1 + 1e-12)
            if not any(
                opts.deployments[b].model == a.model
                and ea <= eb
                and all(cap(b, w) > 0 for w in ea)
                and max(math.ceil(cap(k, w) / cap(b, w) - 1e-9) for w in ea) * cost <= budget
                for b, _, eb, cost in hourly
            ):
                replaced = False
                break
        if replaced:
            out.append(pool)
    return out


def _on_pools(
    catalog: Catalog,
    workloads: Mapping[str, Workload],
    base: Mapping[tuple[str, str], Option],
    pools: Mapping[str, Pool],
    prices: Mapping[tuple[str, str], float],
    users: Mapping[str, frozenset[str]],
    rejected: list[Rejected],
) -> dict[tuple[str, str], Option]:
    """Place each (workload, GPU deployment) option on every pool that sells its GPU.

    A generic per-GPU pool keeps the deployment as it is. On an instance pool the TP group
    must fit one instance (``tp_fits``); committed tiers get the replica itself (drawing
    ``tp / gpus_per_instance`` of an instance), hourly tiers a whole instance running
    ``gpus_per_instance / tp`` replicas (the same lane when one replica fills it). A TP
    group on an instance that joins its GPUs by PCIe is re-evaluated at PCIe bandwidth
    (``Catalog.gpu_on``).
    """
    tiers: dict[str, set[str]] = {}
    for pk, t in prices:
        tiers.setdefault(pk, set()).add(t)
    out: dict[tuple[str, str], Option] = {}
    for (w, _), o in base.items():
        d = o.deployment
        gpu = catalog.gpu(d.gpu)
        placed = False
        for pk, pool in pools.items():
            if pool.gpu != d.gpu or w not in users[pk]:
                continue
            if not tp_fits(pool, d.tp, gpu.max_tp):
                continue
            placed = True
            if pool.per_gpu and pool.key == pool.gpu:
                out[(w, d.key)] = o
                continue
            opt = o
            slow = catalog.gpu_on(d.gpu, pool.interconnect)
            if d.tp > 1 and o.capacity_source in ("roofline", "simulated") and slow is not gpu:
                cap = replica_capacity(
                    catalog.model(d.model),
                    slow,
                    catalog.quant(d.quant),
                    catalog.efficiency_for(slow),
                    d.tp,
                    workloads[w],
                    o.capacity_source,
                )
                if not cap.feasible:
                    continue
                opt = Option(w, d, cap.requests_per_s * SECONDS_PER_HOUR, cap.capacity_model, cap)
            n = 1 if pool.per_gpu else pool.gpus_per_instance
            variants = []
            if pool.per_gpu or tiers[pk] & set(POOL_TIERS) or n == d.tp:
                variants.append(1)
            if not pool.per_gpu and tiers[pk] & set(HOURLY_TIERS) and n > d.tp:
                variants.append(n // d.tp)
            for bundle in variants:
                dep = Deployment(d.model, d.gpu, d.quant, d.tp, pk, n, bundle)
                out[(w, dep.key)] = Option(
                    w, dep, opt.requests_per_hour * bundle, opt.capacity_source, opt.perf
                )
        if not placed:
            rejected.append(
                Rejected(
                    w,
                    d.gpu,
                    d.quant,
                    d.tp,
                    f"no offered instance of {d.gpu} holds a TP-{d.tp} group",
                )
            )
    return out


def _capacity(
    inputs: tuple[Replica, Traffic, SLO], capacity_model: str, cached_only: bool
) -> Capacity:
    """:func:`slo_capacity` of ``inputs``; with ``cached_only``, :class:`_NotCached` where the
    cache does not hold it."""
    if not cached_only:
        return slo_capacity(*inputs, capacity_model)
    cap = cached_capacity(*inputs, capacity_model)
    if cap is None:
        raise _NotCached
    return cap


def _covers(
    t: int, rps: Mapping[str, float], tp: int, bound: Mapping[str, float], wnames: Sequence[str]
) -> bool:
    """Whether a simulated deployment of ``t`` GPUs serving ``rps`` dominates one of ``tp``
    GPUs whose capacities are at most ``bound`` (0 for the workloads it cannot serve)."""
    if t > tp or any(rps.get(w, 0.0) < bound.get(w, 0.0) for w in wnames):
        return False
    return t < tp or any(rps.get(w, 0.0) > bound.get(w, 0.0) for w in wnames)


def _upper_bound(model, gpu, quant, eff, tp: int, w: Workload) -> float:
    """The roofline's offline maximum [requests/s]: no simulated capacity exceeds it."""
    return offline_max_requests_per_s(Replica(model, gpu, quant, eff, tp), workload_traffic(w))


def dominated_lanes(opts: OptionSet) -> set[tuple[str, str]]:
    """Lanes (deployment, source) that ``n`` replicas of another lane always replace.

    An hourly lane ``(a, s)`` is dominated by ``(b, s')`` when every workload that may use
    ``(a, s)`` may use ``(b, s')``, ``n`` replicas of ``b`` serve each of them at least as
    fast as one of ``a``, cost no more per hour, and ``(b, s')`` has no availability cap.
    A pool lane is dominated by a pool lane on the same pool when ``n`` replicas of ``b``
    use no more of it and serve at least as much. Both replacements keep every constraint and
    never raise the cost, so pruning is exact. Ties keep the first lane in sorted order.
    """
    users: dict[str, list[str]] = {}
    for w, k in opts.options:
        users.setdefault(k, []).append(w)
    lanes: list[tuple[str, str, frozenset[str]]] = []
    for k, dep in opts.deployments.items():
        if dep.on_pool and opts.pool_tiers(dep.pool_key):
            lanes.append((k, "pool", frozenset(users.get(k, []))))
        for s in opts.hourly_tiers(dep.pool_key) if dep.on_hourly else []:
            el = [w for w in users.get(k, []) if s != "spot" or opts.workloads[w].allow_spot]
            if el:
                lanes.append((k, s, frozenset(el)))

    def cap(k: str, w: str) -> float:
        o = opts.options.get((w, k))
        return o.requests_per_hour if o else 0.0

    def cost(k: str, s: str) -> float:
        dep = opts.deployments[k]
        if s == "pool":
            return float(dep.units)
        return opts.gpu_usd_per_hour[(dep.pool_key, s)] * dep.units

    out: set[tuple[str, str]] = set()
    for a, sa, ea in lanes:
        if not ea:
            out.add((a, sa))
            continue
        da = opts.deployments[a]
        for b, sb, eb in lanes:
            if (b, sb) == (a, sa) or (b, sb) in out or not ea <= eb:
                continue
            db = opts.deployments[b]
            if db.model != da.model or (sa == "pool") != (sb == "pool"):
                continue
            if sa == "pool" and db.pool_key != da.pool_key:
                continue
            if opts.max_gpu_types is not None and db.gpu != da.gpu:
                # a limit on GPU types can forbid the other type: only same-type lanes replace
                continue
            if sb != "pool" and (db.pool_key, sb) in opts.max_gpus:
                continue
            if any(cap(b, w) <= 0 for w in ea):
                continue
            n = max(math.ceil(cap(a, w) / cap(b, w) - 1e-9) for w in ea)
            ca, cb = cost(a, sa), n * cost(b, sb)
            if cb > ca * (1 + 1e-12):
                continue
            better = cb < ca * (1 - 1e-12) or any(n * cap(b, w) > cap(a, w) for w in ea)
            if better or (b, sb) < (a, sa):
                out.add((a, sa))
                break
    return out


def unmatched_measurements(
    measured: Sequence[MeasuredCapacity], workloads: Mapping[str, Workload]
) -> list[MeasuredCapacity]:
    """The measured-capacity rows that may size none of ``workloads``: they size nothing."""
    return [
        r for r in measured if not any(measured_matches(r, w.model, w) for w in workloads.values())
    ]


def _apply_measured(
    catalog: Catalog,
    workloads: Mapping[str, Workload],
    measured: Sequence[MeasuredCapacity],
    options: dict[tuple[str, str], Option],
    priced_gpus: set[str],
) -> None:
    """Override (or add) options with measured requests/s where a row matches a workload.

    A row matches a workload of the same model whose mean prompt and completion lengths are
    equal (within 1%) and whose SLOs are no tighter than the row's; the best matching row wins.
    """
    for wname, w in workloads.items():
        best: dict[str, MeasuredCapacity] = {}
        for row in measured:
            if not measured_matches(row, w.model, w):
                continue
            dep = Deployment(row.model, row.gpu, row.quant, row.tp)
            if dep.key not in best or row.requests_per_s > best[dep.key].requests_per_s:
                best[dep.key] = row
        for key, row in best.items():
            if row.gpu not in priced_gpus:
                continue
            dep = Deployment(row.model, row.gpu, row.quant, row.tp)
            old = options.get((wname, key))
            options[(wname, key)] = Option(
                wname,
                dep,
                row.requests_per_s * SECONDS_PER_HOUR,
                "measured",
                old.perf if old else None,
            )


def _prune_dominated(
    options: dict[tuple[str, str], Option], workloads: Mapping[str, Workload]
) -> tuple[dict[tuple[str, str], Option], list[str]]:
    """Drop deployments dominated on the same model and GPU (a TP degree dividing theirs, more
    capacity for every workload of the model). Exact: any use of a dominated replica can be
    replaced, on every instance that holds it (the smaller group fits wherever it does)."""
    by_dep: dict[str, dict[str, float]] = {}
    deps: dict[str, Deployment] = {}
    for (wname, key), opt in options.items():
        by_dep.setdefault(key, {})[wname] = opt.requests_per_hour
        deps[key] = opt.deployment
    model_workloads: dict[str, list[str]] = {}
    for wname, w in workloads.items():
        model_workloads.setdefault(w.model, []).append(wname)
    dominated: set[str] = set()
    keys = sorted(by_dep)
    for a in keys:
        da = deps[a]
        ws = model_workloads.get(da.model, [])
        for b in keys:
            if a == b or b in dominated:
                continue
            db = deps[b]
            if db.model != da.model or db.gpu != da.gpu or da.tp % db.tp:
                continue
            caps_a = [by_dep[a].get(w, 0.0) for w in ws]
            caps_b = [by_dep[b].get(w, 0.0) for w in ws]
            if all(cb >= ca for ca, cb in zip(caps_a, caps_b, strict=True)) and (
                db.tp < da.tp or any(cb > ca for ca, cb in zip(caps_a, caps_b, strict=True))
            ):
                dominated.add(a)
                break
    kept = {k: o for k, o in options.items() if k[1] not in dominated}
    return kept, sorted(dominated)


#: Largest measured requests/s per replica a capacity file may state: one request every
#: 10 µs, about 450 times the fastest public run in ``catalogs/published_serving_runs.csv``
#: (llama-3.1-8b on one H100, 128/128 tokens: 221 requests/s). A figure above it is a units
#: slip (requests per hour or per day, or tokens/s), not a replica.
MAX_REPLICA_REQUESTS_PER_S = 1e5

_CAPACITY_COLUMNS = (
    "model",
    "gpu",
    "quant",
    "tp",
    "prompt_tokens",
    "completion_tokens",
    "tpot_ms",
    "ttft_ms",
    "requests_per_s",
)


def load_measured_capacity(path: Path | str, catalog: Catalog) -> list[MeasuredCapacity]:
    """Read a measured-capacity CSV (columns: ``model,gpu,quant,tp,prompt_tokens,
    completion_tokens,tpot_ms,ttft_ms,requests_per_s``); errors name the line and field."""
    path = Path(path)
    rows = _capacity_rows(path)
    header = _capacity_header(path, rows[0])
    out = []
    seen: dict[tuple[str | float, ...], int] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DemandError(f"{path}: line {lineno}: {len(row)} fields, expected {len(header)}.")
        rec = dict(zip(header, (c.strip() for c in row), strict=True))
        try:
            catalog.model(rec["model"])
            catalog.gpu(rec["gpu"])
            catalog.quant(rec["quant"])
        except CatalogError as exc:
            raise DemandError(f"{path}: line {lineno}: {exc}") from None
        values = _capacity_numbers(path, lineno, rec)
        _check_measured_option(path, lineno, rec, int(values["tp"]), catalog)
        _check_measured_fits(path, lineno, rec, values, catalog)
        _check_one_measurement(path, lineno, rec, values, seen)
        out.append(
            MeasuredCapacity(
                model=rec["model"],
                gpu=rec["gpu"],
                quant=rec["quant"],
                tp=int(values["tp"]),
                prompt_tokens=values["prompt_tokens"],
                completion_tokens=values["completion_tokens"],
                tpot_ms=values["tpot_ms"],
                ttft_ms=values["ttft_ms"],
                requests_per_s=values["requests_per_s"],
            )
        )
    return out


def _check_one_measurement(
    path: Path,
    lineno: int,
    rec: Mapping[str, str],
    values: Mapping[str, float],
    seen: dict[tuple[str | float, ...], int],
) -> None:
    """Two lines measuring the same deployment at the same lengths and SLOs must not both
    be given: which one counts would be a silent choice."""
    key = (
        rec["model"],
        rec["gpu"],
        rec["quant"],
        *(
            values[c]
            for c in _CAPACITY_COLUMNS
            if c not in ("model", "gpu", "quant", "requests_per_s")
        ),
    )
    if key in seen:
        raise DemandError(
            f"{path}: line {lineno} measures the same deployment, lengths and SLOs as line "
            f"{seen[key]}; keep one line per measurement (average them if both are valid)."
        )
    seen[key] = lineno


def _capacity_rows(path: Path) -> list[list[str]]:
    """The CSV rows of a measured-capacity file (header first; at least the header)."""
    if not path.is_file():
        raise DemandError(f"Capacity file '{path}' does not exist. Check the --capacity path.")
    try:
        text = path.read_text(encoding="utf-8-sig")  # a spreadsheet's BOM is not a column
    except UnicodeDecodeError:
        raise DemandError(f"{path}: not UTF-8 text. Save it as UTF-8 CSV.") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise DemandError(
            f"{path}: the file is empty; expected a header {','.join(_CAPACITY_COLUMNS)}."
        )
    return rows


def _capacity_header(path: Path, first_row: list[str]) -> list[str]:
    """The header's column names, checking they are exactly the capacity columns."""
    header = [h.strip() for h in first_row]
    missing = [c for c in _CAPACITY_COLUMNS if c not in header]
    unknown = [c for c in header if c not in _CAPACITY_COLUMNS]
    if unknown:
        raise DemandError(
            f"{path}: line 1: unknown column '{unknown[0]}'."
            f"{did_you_mean(unknown[0], _CAPACITY_COLUMNS)}"
        )
    if missing:
        raise DemandError(
            f"{path}: line 1: missing column '{missing[0]}'. Expected columns: "
            f"{','.join(_CAPACITY_COLUMNS)}."
        )
    return header


def _capacity_numbers(path: Path, lineno: int, rec: Mapping[str, str]) -> dict[str, float]:
    """A row's numeric columns (``tp`` on), each finite, > 0 and <= MAX_NUMBER; whole ``tp``."""
    values: dict[str, float] = {}
    for col in _CAPACITY_COLUMNS[3:]:
        try:
            v = float(rec[col])
        except ValueError:
            raise DemandError(
                f"{path}: line {lineno}: column '{col}': '{rec[col]}' is not a number."
            ) from None
        if not math.isfinite(v) or v <= 0:
            raise DemandError(
                f"{path}: line {lineno}: column '{col}': must be a finite number > 0, "
                f"got '{rec[col]}'."
            )
        if v > MAX_NUMBER:
            raise DemandError(
                f"{path}: line {lineno}: column '{col}': {rec[col]} is above the limit of "
                f"{MAX_NUMBER:.0e}; check the units."
            )
        values[col] = v
    if values["tp"] != int(values["tp"]):
        raise DemandError(f"{path}: line {lineno}: column 'tp' must be a whole number.")
    if values["requests_per_s"] > MAX_REPLICA_REQUESTS_PER_S:
        raise DemandError(
            f"{path}: line {lineno}: column 'requests_per_s': {rec['requests_per_s']} is above "
            f"the {MAX_REPLICA_REQUESTS_PER_S:g} requests/s one replica may state (one request "
            "every 10 µs, hundreds of times the fastest measured LLM replica); it is per "
            "replica and per second: check the units (per hour? per day? tokens/s?)."
        )
    return values


def _check_measured_option(
    path: Path, lineno: int, rec: Mapping[str, str], tp: int, catalog: Catalog
) -> None:
    """Raise unless the catalog allows the row's option (its TP on its GPU, its quant)."""
    # a measured row is an option like any other: the catalog must allow it
    gpu, quant = catalog.gpu(rec["gpu"]), catalog.quant(rec["quant"])
    tps = tp_degrees(gpu)
    if tp not in tps:
        raise DemandError(
            f"{path}: line {lineno}: column 'tp': {rec['tp']} is not a tensor-parallel "
            f"degree advisor plans on {gpu.name} ({', '.join(map(str, tps))}); fix the row "
            "or remove it."
        )
    if not catalog.supports(gpu, quant):
        raise DemandError(
            f"{path}: line {lineno}: column 'quant': {gpu.name} cannot run {quant.name} (it "
            f"has no {quant.compute_dtype} peak; it has {', '.join(gpu.peak_tflops)}). Fix "
            "the row or remove it."
        )


def _check_measured_fits(
    path: Path,
    lineno: int,
    rec: Mapping[str, str],
    values: Mapping[str, float],
    catalog: Catalog,
) -> None:
    """Raise unless the row's request fits the model's context, its weights fit its TP
    group's memory (the roofline's rule: ``weight_bytes`` within ``usable_bytes``) and the
    memory left holds one request's KV cache (in the most compact KV format the GPU runs)."""
    model, gpu = catalog.model(rec["model"]), catalog.gpu(rec["gpu"])
    quant = catalog.quant(rec["quant"])
    context_tokens = values["prompt_tokens"] + values["completion_tokens"]
    if context_tokens > model.max_context_tokens:
        raise DemandError(
            f"{path}: line {lineno}: columns 'prompt_tokens' + 'completion_tokens': "
            f"{context_tokens:,.0f} tokens exceed {model.name}'s "
            f"{model.max_context_tokens:,}-token context; fix the row or remove it."
        )
    tp, eff = int(values["tp"]), catalog.efficiency_for(gpu)
    need_gb = weight_bytes(model, quant) / BYTES_PER_GB
    have_gb = usable_bytes(gpu, eff, tp) / BYTES_PER_GB
    if have_gb <= need_gb:
        least = min_tp_to_fit(model, gpu, quant, eff)
        fix = f"TP {least} or more" if least in tp_degrees(gpu) else "a GPU with more memory"
        raise DemandError(
            f"{path}: line {lineno}: columns 'model', 'quant', 'tp': {model.name} in "
            f"{quant.name} cannot run on {tp}× {gpu.name}: weights {need_gb:.1f} GB > "
            f"{have_gb:.1f} GB usable per TP group ({have_gb / tp:.1f} GB usable of each GPU's "
            f"{gpu.hbm_gb:g} GB). Fix the row ({fix}, or a smaller quantization) or remove it."
        )
    kv_tokens = _most_kv_tokens(model, gpu, quant, eff, tp)
    if kv_tokens >= context_tokens:
        return
    roomy = [
        t for t in tp_degrees(gpu) if _most_kv_tokens(model, gpu, quant, eff, t) >= context_tokens
    ]
    fix = f"TP {roomy[0]} or more" if roomy else "a GPU with more memory"
    raise DemandError(
        f"{path}: line {lineno}: columns 'prompt_tokens' + 'completion_tokens': one request "
        f"of {context_tokens:,.0f} tokens does not fit the KV cache of {model.name} in "
        f"{quant.name} on {tp}× {gpu.name}: the {have_gb - need_gb:.1f} GB beside the weights "
        f"hold {kv_tokens:,.0f} tokens. Fix the row ({fix}, shorter requests or a smaller "
        "quantization) or remove it."
    )


def _most_kv_tokens(
    model: ModelArch, gpu: GPU, quant: Quantization, eff: Efficiency, tp: int
) -> float:
    """Tokens of KV cache a TP group holds beside the weights, in its most compact KV format
    (an fp8 cache where the GPU runs fp8)."""
    formats = ("auto", "fp8") if gpu.has_fp8 else ("auto",)
    return max(kv_capacity_tokens(model, gpu, quant, eff, tp, f) for f in formats)
