"""The plan's totals recomputed: tokens, workload and pool figures, reserved rows and their
terms, the bound and the solver's figures, the inputs it echoes, existing commitments and
the baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from advisor.catalog import ApiOffer, Catalog
from advisor.files import jsonable
from advisor.options import effective_prices
from advisor.plan import commitment_use, pool_utilization, workload_costs
from advisor.solve import SOLVERS
from advisor.units import TOKENS_PER_M
from advisor.verify.report import (
    REL_TOL,
    Case,
    Same,
    VerifyReport,
    close,
    is_number,
    spot_aware_price,
    summarize,
)

#: The fields of a reserved row recomputed from the catalog (besides usd_per_hour, cost_usd).
_RESERVED_FIELDS = (
    "gpu",
    "pool",
    "provider",
    "instance",
    "region",
    "gpus_per_instance",
    "start",
    "end",
    "term_hours",
    "usd_per_month",
    "commitment_usd",
)


def check_totals(
    rep: VerifyReport,
    case: Case,
    tiers: Mapping[str, float],
    reserved: Sequence[Mapping[str, Any]],
    priced: Mapping[str, ApiOffer | None] | None = None,
) -> None:
    """Every total the plan reports, recomputed: tokens, per-workload figures (each
    workload's cost allocated from ``tiers`` as the plan allocates it; ``priced``: the API
    offer each workload is priced at), $/M, reserved rows (``reserved``: recomputed from the
    catalog), utilization, the bound and the gap."""
    plan_data, sched, workloads = case.plan_data, case.sched, case.workloads
    requests, input_tokens, output_tokens = case.requests, case.input_tokens, case.output_tokens
    same = Same()
    total = float(sum(tiers.values()))
    tin, tout = float(input_tokens.sum()), float(output_tokens.sum())
    tok = plan_data.get("tokens") or {}
    same("tokens.input", tok.get("input"), tin)
    same("tokens.output", tok.get("output"), tout)
    same(
        "usd_per_m_output_tokens",
        plan_data.get("usd_per_m_output_tokens"),
        total / tout * TOKENS_PER_M if tout else None,
    )
    same(
        "usd_per_m_tokens",
        plan_data.get("usd_per_m_tokens"),
        total / (tin + tout) * TOKENS_PER_M if tin + tout else None,
    )
    sums = {  # per workload: requests, input tokens, output tokens over the horizon
        w: (
            float(requests[:, i].sum()),
            float(input_tokens[:, i].sum()),
            float(output_tokens[:, i].sum()),
        )
        for i, w in enumerate(workloads)
    }
    _workload_totals(same, plan_data, sched, workloads, sums)
    _workload_costs(same, case, tiers, priced or {})
    by_w, listed = plan_data.get("cost_by_workload_usd") or {}, plan_data.get("workloads") or {}
    if sorted(by_w) == sorted(listed) == sorted(workloads) and all(
        is_number(v) for v in by_w.values()
    ):
        same("sum of cost_by_workload_usd", float(sum(by_w.values())), total)
    _pool_totals(same, plan_data, sched, case.catalog, case.n_hours)
    _reserved_terms(same, plan_data, reserved)
    _bound_totals(same, plan_data, total)
    same.bad += _run_record_problems(plan_data, case.n_hours)
    rep.add(
        "totals",
        not same.bad,
        summarize(same.bad)
        if same.bad
        else "tokens, workloads, $/M, reserved rows and their terms, utilization recomputed; "
        "the bound is not re-proved (that takes a solve): it is at most the cost, and the "
        "gap, the solver's bound, gap and status follow from it; the run's record (solver, "
        "settings, time points, option counts) is one a solve writes",
    )


def _workload_totals(
    same: Same,
    plan_data: Mapping[str, Any],
    sched: pd.DataFrame,
    workloads: Sequence[str],
    sums: Mapping[str, tuple[float, float, float]],
) -> None:
    """Each workload's requests, tokens, cost, $/M and share sent to the API (``sums``: its
    requests, input and output tokens over the horizon)."""
    by_w = plan_data.get("cost_by_workload_usd") or {}
    wl = plan_data.get("workloads") or {}
    if sorted(by_w) != sorted(workloads) or sorted(wl) != sorted(workloads):
        same.bad.append(
            f"workloads listed {sorted(wl)}, costed {sorted(by_w)}, demand {list(workloads)}"
        )
        return
    for w in workloads:
        c = by_w[w]
        if not is_number(c) or c < -1e-9:
            same.bad.append(f"cost_by_workload_usd[{w}] is {c!r}")
            continue
        d, (req, wi, wo) = wl[w], sums[w]
        same(f"workloads[{w}].requests", d.get("requests"), req)
        same(f"workloads[{w}].input_tokens", d.get("input_tokens"), wi)
        same(f"workloads[{w}].output_tokens", d.get("output_tokens"), wo)
        same(f"workloads[{w}].cost_usd", d.get("cost_usd"), float(c))
        same(
            f"workloads[{w}].usd_per_m_output_tokens",
            d.get("usd_per_m_output_tokens"),
            float(c) / wo * TOKENS_PER_M if wo > 0 else None,
        )
        api = (sched["workload"] == w) & (sched["source"] == "api") if len(sched) else None
        api_req = float(sched.loc[api, "requests"].sum()) if api is not None else 0.0
        same(
            f"workloads[{w}].api_share_of_requests",
            d.get("api_share_of_requests"),
            api_req / max(req, 1e-12),
        )


def _workload_costs(
    same: Same, case: Case, tiers: Mapping[str, float], priced: Mapping[str, ApiOffer | None]
) -> None:
    """Each workload's cost as the plan allocates the recomputed ``tiers`` (its hourly GPUs
    and API tokens, its share of the pool and the overhead: ``advisor.plan.workload_costs``),
    not only their sum."""
    by_w = case.plan_data.get("cost_by_workload_usd")
    if not isinstance(by_w, Mapping) or sorted(by_w) != sorted(case.workloads):
        return  # _workload_totals says so
    api = {
        w: (a.usd_per_m_input_tokens, a.usd_per_m_output_tokens) if a is not None else (0.0, 0.0)
        for w, a in ((w, priced.get(w)) for w in case.workloads)
    }
    want = workload_costs(
        case.sched, tiers, effective_prices(case.catalog), api, tuple(case.workloads)
    )
    for w in case.workloads:
        same(f"cost_by_workload_usd[{w}]", by_w[w], want[w])


def _pool_totals(
    same: Same, plan_data: Mapping[str, Any], sched: pd.DataFrame, catalog: Catalog, H: int
) -> None:
    """The reserved rows' prices and costs, and the pool's utilization over the horizon."""
    for i, r in enumerate(plan_data.get("reserved", [])):
        price = spot_aware_price(catalog, r.get("pool", r["gpu"]), r["tier"])
        same(f"reserved[{i}].usd_per_hour", r.get("usd_per_hour"), price)
        same(f"reserved[{i}].cost_usd", r.get("cost_usd"), r["count"] * price * H)
    same(
        "reserved_utilization",
        plan_data.get("reserved_utilization"),
        pool_utilization(
            sched, plan_data.get("reserved", []), plan_data.get("existing") or [], float(H)
        ),
    )


def _reserved_terms(
    same: Same, plan_data: Mapping[str, Any], reserved: Sequence[Mapping[str, Any]]
) -> None:
    """Each reserved row's offer, term, dates, monthly spend and commitment as recomputed."""
    for i, (got, want) in enumerate(zip(plan_data.get("reserved", []), reserved, strict=True)):
        for k in _RESERVED_FIELDS:
            v = want[k]
            if isinstance(v, float):
                same(f"reserved[{i}].{k}", got.get(k), v)
            elif got.get(k) != v:
                same.bad.append(f"reserved[{i}].{k}: reported {got.get(k)!r}, recomputed {v!r}")


def _bound_totals(same: Same, plan_data: Mapping[str, Any], total: float) -> None:
    """The lower bound is a number not above the plan's cost, and the gap follows from it."""
    lower = plan_data.get("lower_bound_usd")
    if lower is None and plan_data.get("gap") is not None:
        same.bad.append(f"gap {plan_data.get('gap')!r} without a lower bound")
    if lower is None:
        return
    if not is_number(lower):
        same.bad.append(f"lower_bound_usd is {lower!r}, not a finite number")
    elif lower > total * (1 + REL_TOL) + 1e-6:
        same.bad.append(f"lower bound ${lower:,.2f} is above the plan's cost ${total:,.2f}")
    else:
        same("gap", plan_data.get("gap"), max(0.0, (total - lower) / total) if total > 0 else None)
    _solver_figures(same, plan_data, total)


def _whole(v: Any, least: int = 0) -> bool:
    """Whether ``v`` is an int (not a bool) of at least ``least``."""
    return isinstance(v, int) and not isinstance(v, bool) and v >= least


def _run_record_problems(plan_data: Mapping[str, Any], H: int) -> list[str]:
    """What plan.json records of the run that no check recomputes (the solver and its
    settings, the model's time points, how many options it weighed) is a record a solve
    writes: a known back-end, a positive time limit, a gap tolerance in [0, 1) (the status
    check above reads it), at least one thread and time point, counts that add up."""
    bad: list[str] = []
    s = plan_data.get("settings")
    if s is not None:
        if not isinstance(s, Mapping):
            return [f"settings is {s!r}, not the solve's settings"]
        tl, gap, agg = s.get("time_limit_s"), s.get("gap"), s.get("aggregate")
        if s.get("solver") not in SOLVERS:
            bad.append(f"settings.solver {s.get('solver')!r} is not one of {list(SOLVERS)}")
        if tl is not None and not (is_number(tl) and tl > 0):
            bad.append(f"settings.time_limit_s {tl!r} is not a positive number of seconds")
        if not (is_number(gap) and 0 <= gap < 1):
            bad.append(f"settings.gap {gap!r} is not a tolerance in [0, 1)")
        if not _whole(s.get("threads"), 1):
            bad.append(f"settings.threads {s.get('threads')!r} is not a whole number ≥ 1")
        if agg not in ("auto", "exact") and not _whole(agg, 1):
            bad.append(f"settings.aggregate {agg!r} is not auto, exact or a number of points")
    a = plan_data.get("aggregation")
    if (
        isinstance(a, Mapping)
        and a
        and not (a.get("hours") == H and _whole(a.get("points"), 1) and a["points"] <= H)
    ):
        bad.append(f"aggregation {dict(a)!r}: not 1 to {H} time points over {H} hours")
    o = plan_data.get("options")
    if isinstance(o, Mapping) and o:
        n, kept, dom = o.get("considered"), o.get("kept"), o.get("dominated_deployments")
        if not (_whole(n) and _whole(kept) and _whole(dom) and kept + dom <= n):
            bad.append(f"options {dict(o)!r}: counts that do not add up")
    return bad


def _solver_figures(same: Same, plan_data: Mapping[str, Any], total: float) -> None:
    """The solver's entry repeats the plan's cost, bound and gap, and calls the solve optimal
    only where that gap is within the tolerance the plan was solved with (``settings.gap``)."""
    solver = plan_data.get("solver")
    if not isinstance(solver, Mapping) or not solver:
        return
    same("solver.objective", solver.get("objective"), total)
    for k, plan_key in (("bound", "lower_bound_usd"), ("gap", "gap")):
        v, want = solver.get(k), plan_data.get(plan_key)
        if v != want and not (is_number(v) and is_number(want) and close(v, want)):
            same.bad.append(f"solver.{k} {v!r} is not the plan's {plan_key} {want!r}")
    gap = plan_data.get("gap")
    tol = (plan_data.get("settings") or {}).get("gap")
    tol = float(tol) if is_number(tol) else 0.0
    proven = total <= 0 or (is_number(gap) and gap <= tol + 1e-6)
    if solver.get("status") == "optimal" and not proven:
        same.bad.append(f"solver.status 'optimal' with gap {gap!r} above the tolerance {tol:g}")


def check_echoes(
    rep: VerifyReport,
    case: Case,
    defs: Mapping[str, Mapping[str, Any]],
    priced: Mapping[str, ApiOffer | None],
) -> None:
    """What plan.json repeats of the inputs (each workload's definition and SLOs, the demand's
    span, the API prices it is priced at: ``priced``, by the inputs' providers) is what the
    inputs say, so a reader of the plan is not misled either."""
    plan_data, hours, workloads = case.plan_data, case.hours, case.workloads
    bad: list[str] = []
    wl = plan_data.get("workloads") or {}
    for w in workloads:
        d = defs[w]
        got = wl.get(w) if isinstance(wl, Mapping) else None
        if not isinstance(got, Mapping):
            bad.append(f"workloads[{w}] is missing")
            continue
        if got.get("definition") != jsonable(d):
            bad.append(f"workloads[{w}].definition differs from the workload given")
        slo = {
            "tpot_ms": d["tpot_ms"],
            "ttft_ms": d["ttft_ms"],
            "stat": d.get("slo_stat") or "mean",  # no statistic stated bounds the mean
            "headroom": d["headroom"],
        }
        if jsonable(got.get("slo")) != jsonable(slo):
            bad.append(f"workloads[{w}].slo is {got.get('slo')!r}, the workload says {slo!r}")
        if got.get("model") != d["model"]:
            bad.append(f"workloads[{w}].model is {got.get('model')!r}, not {d['model']!r}")
        api = priced[w]
        prices = {
            "api_usd_per_m_input_tokens": api and api.usd_per_m_input_tokens,
            "api_usd_per_m_output_tokens": api and api.usd_per_m_output_tokens,
        }
        i = list(workloads).index(w)
        wo = float(case.output_tokens[:, i].sum())
        prices["api_all_in_usd_per_m_output_tokens"] = (
            None
            if api is None or wo <= 0
            else (
                float(case.input_tokens[:, i].sum()) * api.usd_per_m_input_tokens
                + wo * api.usd_per_m_output_tokens
            )
            / wo
        )
        # a plan written before it was stated does not name it, and misleads no one
        if "api_provider" in got and got.get("api_provider") != (api and api.provider):
            bad.append(
                f"workloads[{w}].api_provider is {got.get('api_provider')!r}, the inputs price "
                f"its API at {api and api.provider!r}"
            )
        for k, v in prices.items():
            r = got.get(k)
            if (v is None) != (r is None) or (
                v is not None and not (is_number(r) and close(float(r), float(v)))
            ):
                bad.append(f"workloads[{w}].{k} is {r!r}, the catalog gives {v!r}")
    dem = plan_data.get("demand") or {}
    span = {
        "hours": len(hours),
        "start": hours[0].isoformat() if len(hours) else None,
        "end": hours[-1].isoformat() if len(hours) else None,
        "workloads": list(workloads),
    }
    for k, v in span.items():
        if not isinstance(dem, Mapping) or dem.get(k) != v:
            bad.append(
                f"demand.{k} is {dem.get(k) if isinstance(dem, Mapping) else dem!r}, "
                f"the demand gives {v!r}"
            )
    rep.add(
        "echoes",
        not bad,
        summarize(bad) if bad else "workload definitions, SLOs and the demand's span as given",
    )


def check_existing(rep: VerifyReport, case: Case, existing: Sequence[Mapping[str, Any]]) -> None:
    """The plan's commitments are the fleet file's (``existing``), with their dates, note,
    active hours and spend, and the load on their pool the schedule puts there
    (``advisor.plan.commitment_use``: utilization, under-used)."""
    plan_data = case.plan_data
    reported = plan_data.get("existing") or []
    bad: list[str] = []
    if len(reported) != len(existing):
        bad.append(f"the plan lists {len(reported)} commitments, the fleet {len(existing)}")
    else:
        reserved = {
            (r.get("pool", r["gpu"]), r["tier"]): int(r["count"]) for r in plan_data["reserved"]
        }
        use = commitment_use([dict(e) for e in existing], case.sched, reserved, case.hours)
        for i, (got, want) in enumerate(zip(reported, use, strict=True)):
            for k in ("gpu", "tier", "count", "start", "end", "note", "active_hours"):
                if got.get(k) != want[k]:
                    bad.append(f"existing[{i}].{k}: reported {got.get(k)!r}, fleet {want[k]!r}")
            for k in ("usd_per_hour", "gpu_hours", "cost_usd", "pool_utilization"):
                v, w = got.get(k), want[k]
                if k == "pool_utilization" and k not in got:
                    continue  # a plan written before it was stated misleads no one
                if (w is None) != (v is None) or (
                    w is not None and not (is_number(v) and close(float(v), float(w)))
                ):
                    bad.append(f"existing[{i}].{k}: reported {v!r}, recomputed {w!r}")
            if "under_used" in got and got["under_used"] is not want["under_used"]:
                bad.append(
                    f"existing[{i}].under_used: reported {got.get('under_used')!r}, "
                    f"recomputed {want['under_used']!r}"
                )
    rep.add(
        "existing",
        not bad,
        summarize(bad) if bad else f"{len(existing)} commitments as the fleet file gives them",
    )


def check_baselines(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    baselines: Mapping[str, float | None],
    total: float,
) -> None:
    """Each simple policy's cost and the saving against the best one, recomputed."""
    reported = plan_data.get("baselines") or {}
    bad: list[str] = []
    if sorted(reported) != sorted(baselines):
        bad.append(f"baselines {sorted(reported)}, expected {sorted(baselines)}")
    else:
        for k, v in baselines.items():
            got = reported[k].get("total_cost_usd") if isinstance(reported[k], Mapping) else "?"
            if v is None:
                if got is not None:
                    bad.append(f"{k}: reported {got!r}, not applicable")
            elif not is_number(got) or not close(float(got), v):
                bad.append(f"{k}: reported {got!r}, recomputed {v:,.2f}")
    costs = {k: v for k, v in baselines.items() if v is not None}
    best = min(costs, key=lambda k: costs[k]) if costs else None
    if plan_data.get("best_baseline") != best:
        bad.append(f"best_baseline: reported {plan_data.get('best_baseline')!r}, expected {best!r}")
    sv = plan_data.get("savings_vs_best_baseline_usd")
    if best is not None and (not is_number(sv) or not close(float(sv), costs[best] - total)):
        bad.append(
            f"savings_vs_best_baseline_usd: reported {sv!r}, recomputed {costs[best] - total:,.2f}"
        )
    fraction = plan_data.get("savings_vs_best_baseline_fraction")
    want = (costs[best] - total) / costs[best] if best is not None and costs[best] > 0 else None
    if (want is None) != (fraction is None) or (
        want is not None and not (is_number(fraction) and close(float(fraction), want))
    ):
        bad.append(
            f"savings_vs_best_baseline_fraction: reported {fraction!r}, recomputed "
            + ("none" if want is None else f"{want:.6g}")
        )
    rep.add(
        "baselines",
        not bad,
        summarize(bad)
        if bad
        else f"{len(baselines)} simple policies and the saving against the best recomputed",
    )
