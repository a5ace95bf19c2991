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
from dataclasses import dataclass, field
from pathlib import Path

from advisor.catalog import HOURLY_TIERS, POOL_TIERS, Catalog
from advisor.errors import CatalogError, DemandError, did_you_mean
from advisor.roofline import ReplicaPerformance, replica_performance
from advisor.units import SECONDS_PER_HOUR, TOKENS_PER_M
from advisor.workloads import Workload

TP_DEGREES: tuple[int, ...] = (1, 2, 4, 8, 16)


@dataclass(frozen=True)
class Deployment:
    """A replica configuration; ``key`` is ``model|gpu|quant|tpN``."""

    model: str
    gpu: str
    quant: str
    tp: int

    @property
    def key(self) -> str:
        return f"{self.model}|{self.gpu}|{self.quant}|tp{self.tp}"


@dataclass(frozen=True)
class Option:
    """A deployment able to serve a workload within its SLOs."""

    workload: str
    deployment: Deployment
    requests_per_hour: float
    capacity_source: str
    perf: ReplicaPerformance | None

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


@dataclass
class OptionSet:
    """Everything the MILP needs to know about the catalog, per workload."""

    workloads: dict[str, Workload]
    deployments: dict[str, Deployment]
    options: dict[tuple[str, str], Option]
    #: effective price [USD per GPU-hour] per (gpu, tier); spot includes its priced risk
    gpu_usd_per_hour: dict[tuple[str, str], float]
    #: availability cap [GPUs] per (gpu, tier), where the catalog sets one
    max_gpus: dict[tuple[str, str], int]
    #: API price per workload [USD/M input, USD/M output], for workloads that may use one
    api_usd_per_m: dict[str, tuple[float, float]]
    #: API rate limit per model [tokens/hour]
    api_max_tokens_per_hour: dict[str, float]
    monthly_overhead_usd: float
    rejected: list[Rejected] = field(default_factory=list)
    dominated: list[str] = field(default_factory=list)
    #: (deployment, source) lanes never needed: another lane does the job for no more money
    dominated_lanes: set[tuple[str, str]] = field(default_factory=set)

    def options_for(self, workload: str) -> list[Option]:
        return [o for (w, _), o in self.options.items() if w == workload]

    def tiers_for(self, gpu: str) -> list[str]:
        return [t for (g, t) in self.gpu_usd_per_hour if g == gpu]

    def pool_tiers(self, gpu: str) -> list[str]:
        return [t for t in POOL_TIERS if (gpu, t) in self.gpu_usd_per_hour]

    def hourly_tiers(self, gpu: str) -> list[str]:
        return [t for t in HOURLY_TIERS if (gpu, t) in self.gpu_usd_per_hour]


def effective_prices(catalog: Catalog) -> dict[tuple[str, str], float]:
    """Price per GPU-hour per (gpu, tier); spot adds its expected on-demand fallback.

    Spot capacity lost to an interruption (``interruption_rate_per_hour`` of it, on average)
    is re-run on on-demand capacity, so a spot GPU-hour is priced at
    ``spot + rate × on_demand``.
    """
    prices: dict[tuple[str, str], float] = {}
    for (gpu, tier), offer in sorted(catalog.offers.items()):
        price = offer.effective_usd_per_hour
        if tier == "spot":
            od = catalog.offers.get((gpu, "on_demand"))
            fallback = od.effective_usd_per_hour if od else price
            price += offer.interruption_rate_per_hour * fallback
        prices[(gpu, tier)] = price
    return prices


def api_usd_per_hour(usd_per_m: tuple[float, float], input_tokens, output_tokens):
    """API cost of an hour's tokens [USD] (arrays or floats)."""
    return (input_tokens * usd_per_m[0] + output_tokens * usd_per_m[1]) / TOKENS_PER_M


def build_options(
    catalog: Catalog,
    workloads: Mapping[str, Workload],
    measured: Sequence[MeasuredCapacity] = (),
    *,
    monthly_overhead_usd: float | None = None,
) -> OptionSet:
    """Enumerate, evaluate and prune deployment options for ``workloads``."""
    prices = effective_prices(catalog)
    priced_gpus = {g for g, _ in prices}
    options: dict[tuple[str, str], Option] = {}
    rejected: list[Rejected] = []
    for wname in sorted(workloads):
        w = workloads[wname]
        model = catalog.model(w.model)
        quants = w.quantizations or sorted(catalog.quantizations)
        gpus = w.gpus or sorted(catalog.gpus)
        for gname in gpus:
            gpu = catalog.gpu(gname)
            eff = catalog.efficiency_for(gpu)
            if gname not in priced_gpus:
                rejected.append(Rejected(wname, gname, "*", 0, "no offer (price) in the catalog"))
                continue
            for qname in quants:
                quant = catalog.quant(qname)
                if not catalog.supports(gpu, quant):
                    rejected.append(
                        Rejected(
                            wname,
                            gname,
                            qname,
                            0,
                            f"{gname} has no {quant.compute_dtype} peak for {qname}",
                        )
                    )
                    continue
                for tp in TP_DEGREES:
                    if tp > gpu.max_tp:
                        break
                    perf = replica_performance(
                        model,
                        gpu,
                        quant,
                        eff,
                        tp,
                        w.prompt_tokens,
                        w.completion_tokens,
                        w.tpot_ms,
                        w.ttft_ms,
                    )
                    dep = Deployment(w.model, gname, qname, tp)
                    if perf.feasible and perf.requests_per_s > 0:
                        options[(wname, dep.key)] = Option(
                            wname, dep, perf.requests_per_s * SECONDS_PER_HOUR, "roofline", perf
                        )
                    else:
                        rejected.append(Rejected(wname, gname, qname, tp, perf.reason))
    _apply_measured(catalog, workloads, measured, options, priced_gpus)
    options, dominated = _prune_dominated(options, workloads)
    deployments = {o.key: o.deployment for o in options.values()}
    api = {}
    limits = {}
    for wname, w in workloads.items():
        offer = catalog.apis.get(w.model)
        if w.allow_api and offer is not None:
            api[wname] = (offer.usd_per_m_input_tokens, offer.usd_per_m_output_tokens)
            if offer.max_tokens_per_minute is not None:
                limits[w.model] = offer.max_tokens_per_minute * 60.0
    max_gpus = {
        (g, t): o.max_gpus for (g, t), o in catalog.offers.items() if o.max_gpus is not None
    }
    result = OptionSet(
        workloads=dict(workloads),
        deployments=dict(sorted(deployments.items())),
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
    )
    result.dominated_lanes = dominated_lanes(result)
    return result


def dominated_lanes(opts: OptionSet) -> set[tuple[str, str]]:
    """Lanes (deployment, source) that ``n`` replicas of another lane always replace.

    An hourly lane ``(a, s)`` is dominated by ``(b, s')`` when every workload that may use
    ``(a, s)`` may use ``(b, s')``, ``n`` replicas of ``b`` serve each of them at least as
    fast as one of ``a``, cost no more per hour, and ``(b, s')`` has no availability cap.
    A pool lane is dominated by a pool lane on the same GPU type when ``n`` replicas of ``b``
    use no more GPUs and serve at least as much. Both replacements keep every constraint and
    never raise the cost, so pruning is exact. Ties keep the first lane in sorted order.
    """
    users: dict[str, list[str]] = {}
    for w, k in opts.options:
        users.setdefault(k, []).append(w)
    lanes: list[tuple[str, str, frozenset[str]]] = []
    for k, dep in opts.deployments.items():
        if opts.pool_tiers(dep.gpu):
            lanes.append((k, "pool", frozenset(users.get(k, []))))
        for s in opts.hourly_tiers(dep.gpu):
            el = [w for w in users.get(k, []) if s != "spot" or opts.workloads[w].allow_spot]
            if el:
                lanes.append((k, s, frozenset(el)))

    def cap(k: str, w: str) -> float:
        o = opts.options.get((w, k))
        return o.requests_per_hour if o else 0.0

    def cost(k: str, s: str) -> float:
        dep = opts.deployments[k]
        if s == "pool":
            return float(dep.tp)
        return opts.gpu_usd_per_hour[(dep.gpu, s)] * dep.tp

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
            if sa == "pool" and db.gpu != da.gpu:
                continue
            if sb != "pool" and (db.gpu, sb) in opts.max_gpus:
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
            if row.model != w.model:
                continue
            if not (
                _close(row.prompt_tokens, w.prompt_tokens)
                and _close(row.completion_tokens, w.completion_tokens)
            ):
                continue
            if row.tpot_ms > w.tpot_ms or row.ttft_ms > w.ttft_ms:
                continue
            if w.quantizations and row.quant not in w.quantizations:
                continue
            if w.gpus and row.gpu not in w.gpus:
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


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= 0.01 * max(abs(a), abs(b))


def _prune_dominated(
    options: dict[tuple[str, str], Option], workloads: Mapping[str, Workload]
) -> tuple[dict[tuple[str, str], Option], list[str]]:
    """Drop deployments dominated on the same model and GPU (fewer-or-equal GPUs, more capacity
    for every workload of the model). Exact: any use of a dominated replica can be replaced."""
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
            if db.model != da.model or db.gpu != da.gpu or db.tp > da.tp:
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
    if not path.is_file():
        raise DemandError(f"Capacity file '{path}' does not exist. Check the --capacity path.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise DemandError(f"{path}: not UTF-8 text. Save it as UTF-8 CSV.") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise DemandError(
            f"{path}: the file is empty; expected a header {','.join(_CAPACITY_COLUMNS)}."
        )
    header = [h.strip() for h in rows[0]]
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
    out = []
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
            values[col] = v
        if values["tp"] != int(values["tp"]):
            raise DemandError(f"{path}: line {lineno}: column 'tp' must be a whole number.")
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
