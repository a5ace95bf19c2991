"""The entry point: run every check on a plan, and the checks of its policy, demand,
capacity within SLO, rules, replicas, reserved pool and cost."""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from advisor.catalog import GENERIC_PROVIDER, Catalog
from advisor.errors import PlanError
from advisor.options import api_rate_limits, workload_api_offer
from advisor.policy import Policy, policy_violations
from advisor.units import HOURS_PER_MONTH, TOKENS_PER_M
from advisor.verify.deployments import check_deployments, replica_sizing
from advisor.verify.figures import (
    check_buy_lists,
    check_fleet,
    check_summary,
    check_warnings,
    expected_reserved,
)
from advisor.verify.report import (
    REL_TOL,
    Case,
    Given,
    VerifyReport,
    close,
    spot_aware_price,
    summarize,
)
from advisor.verify.scenarios import check_scenarios
from advisor.verify.schedule import (
    check_coverage,
    check_inputs,
    check_plan_fields,
    check_schedule_table,
)
from advisor.verify.totals import check_baselines, check_echoes, check_existing, check_totals
from advisor.workloads import Workload, demand_covered


def verify_plan(
    plan_data: Mapping[str, Any],
    schedule: pd.DataFrame,
    hours: pd.DatetimeIndex,
    workloads: Sequence[str],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    catalog: Catalog,
    workload_defs: Mapping[str, Any],
    measured: Sequence[Any] = (),
    existing_gpus: Mapping[str, np.ndarray] | None = None,
    *,
    providers: Sequence[str] | None = None,
    capacity_model: str = "simulated",
    input_sha256: Mapping[str, str] | None = None,
    existing: Sequence[Mapping[str, Any]] | None = None,
    baselines: Mapping[str, float | None] | None = None,
    given: Given | None = None,
    policy: Policy | None = None,
) -> VerifyReport:
    """Run every check on a plan against the demand arrays (``(H, W)``, ``workloads`` order).

    ``workload_defs`` maps a workload to its definition (``Workload`` or a dict of its fields);
    ``measured`` holds the rows of a measured-capacity table (model, gpu, quant, tp, lengths,
    SLOs, requests_per_s); a row counts for a workload of the same model and lengths (within
    1%) whose SLOs are no tighter than the row's. ``providers`` (``--providers``) limits
    where every workload may buy. ``input_sha256`` (the digests of the inputs
    given), ``existing`` (the commitments' rows) and ``baselines`` (each policy's cost) are
    compared with what the plan reports where given; so is ``given`` (the folder's other
    files, the warnings the inputs imply, the demand's scenarios). ``policy`` is the
    procurement policy the plan must keep (the one it records where None).

    A plan that cannot even be read as a plan (a field of the wrong type, a table without
    its columns) fails the ``plan_format`` check; it never raises.
    """
    rep = VerifyReport()
    given = given or Given()
    # a forged 1e308 overflows: it fails a check instead
    with _unreadable_plan_fails(rep), np.errstate(all="ignore"):
        _check_capacity_model(rep, plan_data, capacity_model)
        demand = (hours, workloads, requests, input_tokens, output_tokens)
        case = _read_case(rep, plan_data, schedule, demand, catalog, input_sha256)
        if case is None:
            return rep
        # coverage: every cell's demand served exactly, tokens with their requests
        check_coverage(rep, case)
        defs = {w: (d if isinstance(d, dict) else d.model_dump()) for w, d in workload_defs.items()}
        self_rows, api_rows = _by_source(case.sched)
        # GPU types already paid for: their pool serves whatever the policy and --providers buy
        committed = frozenset(existing_gpus or {})
        # the API offer each workload is priced at: the cheapest of the providers it may buy
        priced = {
            w: workload_api_offer(catalog, _as_workload(workload_defs[w]), providers)
            for w in workloads
        }
        _check_capacity_and_rules(
            rep,
            self_rows,
            api_rows,
            defs,
            catalog,
            measured,
            providers,
            capacity_model,
            committed,
            priced,
        )
        _check_replicas(rep, self_rows)
        pools = _check_reserved_pool(rep, case, self_rows, existing_gpus or {}, providers)
        # the commitments as the fleet file gives them where given, not as the plan reports them
        fleet_rows = list(existing if existing is not None else plan_data.get("existing") or [])
        self_hosted = bool(pools) or bool(fleet_rows)
        tiers = _recomputed_tiers(case, self_rows, api_rows, defs, fleet_rows, self_hosted)
        total = _check_cost(rep, plan_data, tiers)
        reserved = expected_reserved(plan_data, catalog, hours)
        _check_policy(rep, plan_data, schedule, catalog, committed, policy)
        check_buy_lists(rep, case, reserved, given.buy_file)
        check_totals(rep, case, tiers, reserved, priced)
        check_fleet(rep, case, reserved)
        check_echoes(rep, case, defs, priced)
        check_deployments(rep, case, defs, measured, capacity_model)
        if existing is not None:
            check_existing(rep, case, existing)
        if baselines is not None:
            check_baselines(rep, plan_data, baselines, total)
        check_warnings(rep, case, given.implied_warnings, reserved, baselines, total)
        if plan_data.get("scenarios") is not None:
            floor = tiers["reserved"] + tiers["owned"] + tiers["existing"]
            floor += tiers["overhead"] if self_hosted else 0.0
            check_scenarios(rep, plan_data, total, floor, given)
        check_summary(rep, plan_data, given.summary_file)
    return rep


#: What reading a plan that is not a plan raises (a field of the wrong type, a missing key).
_UNREADABLE = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    OverflowError,
    PlanError,
)


@contextmanager
def _unreadable_plan_fails(rep: VerifyReport) -> Iterator[None]:
    """A plan that cannot even be read as a plan fails the ``plan_format`` check."""
    try:
        yield
    except _UNREADABLE as exc:
        why = " ".join(str(exc).split())  # a pydantic error spans lines
        rep.add("plan_format", False, f"the plan cannot be checked: {type(exc).__name__}: {why}")


def _check_capacity_model(
    rep: VerifyReport, plan_data: Mapping[str, Any], capacity_model: str
) -> None:
    """The plan names the capacity model the check recomputes with."""
    method = plan_data.get("capacity_model", capacity_model)
    rep.add(
        "capacity_model",
        method == capacity_model,
        f"capacity recomputed with the {capacity_model} model"
        + ("" if method == capacity_model else f"; the plan says {method!r}"),
    )


def _by_source(sched: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The schedule's self-hosted rows and its API rows."""
    if not len(sched):
        return sched, sched
    return sched[sched["source"] != "api"], sched[sched["source"] == "api"]


def _read_case(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    schedule: pd.DataFrame,
    demand: tuple[pd.DatetimeIndex, Sequence[str], np.ndarray, np.ndarray, np.ndarray],
    catalog: Catalog,
    input_sha256: Mapping[str, str] | None,
) -> Case | None:
    """The checks every later one rests on (the inputs' hashes, plan.json's fields, the
    schedule's table, its hours and workloads against the demand's: ``demand`` is its hours,
    workloads, requests, input and output tokens): the plan as the later checks read it, or
    None where one of them fails."""
    from advisor.plan import with_units

    hours, workloads, requests, input_tokens, output_tokens = demand
    if input_sha256 is not None and not check_inputs(rep, plan_data, input_sha256):
        return None
    if not check_plan_fields(rep, plan_data, catalog):
        return None
    sched = with_units(schedule.copy())
    if not check_schedule_table(rep, sched, catalog):
        return None
    if len(sched):
        sched["hour"] = pd.to_datetime(sched["hour"], utc=True, format="ISO8601")
    hour_index = {h: i for i, h in enumerate(pd.DatetimeIndex(hours).tz_convert("UTC"))}
    if not _check_demand_matches(rep, plan_data, sched, hour_index, workloads, len(hours)):
        return None
    return Case(
        plan_data,
        sched,
        hours,
        hour_index,
        workloads,
        requests,
        input_tokens,
        output_tokens,
        catalog,
    )


def _check_policy(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    schedule: pd.DataFrame,
    catalog: Catalog,
    committed: frozenset[str],
    policy: Policy | None,
) -> None:
    """The plan keeps to ``policy`` (its own record where None; ``committed``: GPU types of
    existing commitments)."""
    bad_policy = check_policy_rules(plan_data, schedule, catalog, committed, policy)
    whose = "the plan's" if policy is None else "the given"
    rep.add("policy", not bad_policy, "; ".join(bad_policy[:3]) or f"within {whose} policy")


def _check_demand_matches(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    sched: pd.DataFrame,
    hour_index: Mapping[pd.Timestamp, int],
    workloads: Sequence[str],
    H: int,
) -> bool:
    """The schedule refers to this demand: its workloads and hours, the plan's horizon."""
    unknown_w = sorted(set(sched["workload"]) - set(workloads)) if len(sched) else []
    unknown_h = int((~sched["hour"].isin(list(hour_index))).sum()) if len(sched) else 0
    rep.add(
        "demand_matches",
        not unknown_w and not unknown_h and plan_data.get("horizon_hours") == float(H),
        f"{H} hours, {len(workloads)} workloads"
        + (f"; unknown workloads {unknown_w}" if unknown_w else "")
        + (f"; {unknown_h} rows at hours not in the demand" if unknown_h else "")
        + (
            f"; plan horizon {plan_data.get('horizon_hours')} h"
            if plan_data.get("horizon_hours") != float(H)
            else ""
        ),
    )
    return not (unknown_w or unknown_h)


def _check_capacity_and_rules(
    rep: VerifyReport,
    self_rows: pd.DataFrame,
    api_rows: pd.DataFrame,
    defs: Mapping[str, Mapping[str, Any]],
    catalog: Catalog,
    measured: Sequence[Any],
    providers: Sequence[str] | None,
    capacity_model: str,
    committed: frozenset[str] = frozenset(),
    priced: Mapping[str, Any] | None = None,
) -> None:
    """Every self-hosted row within its replica share's capacity at the workload's SLOs
    (recomputed), and the workload's rules (spot, API, GPUs, providers, quantization);
    ``committed``: the GPU types of existing commitments (``_provider_problems``); ``priced``:
    the API offer each workload is priced at (``workload_api_offer``), which every one of its
    API rows must name."""
    priced = priced or {}
    cap_cache: dict[tuple[str, str], float | None] = {}
    bad_cap, bad_rule = [], []
    for r in self_rows.itertuples(index=False):
        d = defs[r.workload]
        key = (r.workload, r.deployment)
        if key not in cap_cache:
            cap_cache[key] = replica_sizing(catalog, d, r, measured, capacity_model)[1]
        cap = cap_cache[key]
        if cap is None:
            bad_cap.append(f"{r.workload} on {r.deployment}: no SLO-meeting operating point")
            continue
        limit = demand_covered(r.replica_share * cap, d["headroom"])
        if not close(r.capacity_requests, limit):
            bad_cap.append(
                f"{r.hour.isoformat()} {r.workload} on {r.deployment}: capacity_requests "
                f"{r.capacity_requests:,.2f}, but the share serves {limit:,.2f}"
            )
        if r.requests > limit * (1 + REL_TOL) + 1e-9:
            bad_cap.append(
                f"{r.hour.isoformat()} {r.workload} on {r.deployment}: {r.requests:,.2f} requests "
                f"> {limit:,.2f} the share can serve"
            )
        if r.source == "spot" and not d["allow_spot"]:
            bad_rule.append(f"{r.workload} uses spot but allow_spot is false")
        if d.get("gpus") and r.gpu not in d["gpus"]:
            bad_rule.append(f"{r.workload} uses {r.gpu}, not in its gpus")
        bad_rule += _provider_problems(r, d, providers, committed)
        per_unit = int(r.gpus_per_unit)
        if per_unit > 1 and (per_unit % int(r.tp) or int(r.tp) & (int(r.tp) - 1)):
            bad_rule.append(
                f"{r.workload} on {r.deployment}: a TP-{int(r.tp)} group does not fit a "
                f"{per_unit}-GPU instance"
            )
        if d.get("quantizations") and r.quant not in d["quantizations"]:
            bad_rule.append(f"{r.workload} uses {r.quant}, not in its quantizations")
        if r.model != d["model"]:
            bad_rule.append(f"{r.workload} is served by {r.model}, not {d['model']}")
    for r in api_rows.itertuples(index=False) if len(api_rows) else []:
        if r.model != defs[r.workload]["model"]:
            bad_rule.append(
                f"{r.workload}'s API rows name {r.model}, not {defs[r.workload]['model']}"
            )
    for w in sorted(set(api_rows["workload"])) if len(api_rows) else []:
        offer = priced.get(w)
        # every row, not the first: a row naming no offer was priced at nothing
        named = {_text(p) for p in api_rows.loc[api_rows["workload"] == w, "provider"]}
        if not defs[w]["allow_api"]:
            bad_rule.append(f"{w} sends requests to the API but allow_api is false")
        elif offer is None:
            bad_rule.append(
                f"{w}: no API offer for {defs[w]['model']} from the providers it may buy from"
            )
        elif named != {offer.provider}:
            other = sorted(named - {offer.provider})[0]
            bad_rule.append(
                f"{w}'s API rows name {other!r}: the API it is priced at is {offer.provider}'s "
                "(the cheapest of the providers it may buy from)"
            )
    bad_rule += _rate_limit_problems(api_rows, priced)
    rep.add(
        "capacity_within_slo",
        not bad_cap,
        bad_cap[0] + (f" (+{len(bad_cap) - 1} more)" if len(bad_cap) > 1 else "")
        if bad_cap
        else f"{len(self_rows)} self-hosted rows within roofline capacity at their SLOs",
    )
    rep.add(
        "rules",
        not bad_rule,
        "; ".join(sorted(set(bad_rule))[:3]) if bad_rule else "spot, API, GPU, quantization ok",
    )


def _rate_limit_problems(api_rows: pd.DataFrame, priced: Mapping[str, Any]) -> list[str]:
    """Hours where a model's API rows (its workloads' input and output tokens together) are
    above the rate limit of the offer its workloads are priced at (``api_rate_limits``)."""
    limits = api_rate_limits(priced)
    if not limits or not len(api_rows):
        return []
    tokens = (
        (api_rows["input_tokens"] + api_rows["output_tokens"])
        .groupby([api_rows["model"], api_rows["hour"]])
        .sum()
    )
    bad = []
    for (model, hour), n in tokens.items():
        limit = limits.get(str(model))
        if limit is not None and n > limit * (1 + REL_TOL) + 1e-6:
            bad.append(
                f"{hour.isoformat()} {model}: {n:,.0f} API tokens > its rate limit of "
                f"{limit:,.0f} per hour"
            )
    return [summarize(bad)] if bad else []


def _provider_problems(
    r: Any, d: Mapping[str, Any], providers: Sequence[str] | None, committed: frozenset[str]
) -> list[str]:
    """A row's provider outside ``--providers`` or the workload's own ``providers``. The pool
    of a GPU type with existing commitments is exempt: those GPUs are paid for already, and
    every workload may run on them whatever it may buy (new reservations in that pool are
    checked with the reserved rows)."""
    provider = getattr(r, "provider", GENERIC_PROVIDER)
    if r.source == "pool" and provider == GENERIC_PROVIDER and r.pool in committed:
        return []
    bad = []
    if d.get("providers") and provider not in d["providers"]:
        bad.append(f"{r.workload} buys from {provider}, not in its providers")
    if providers is not None and provider not in providers:
        bad.append(f"{r.workload} buys from {provider}, not in --providers")
    return bad


def _check_replicas(rep: VerifyReport, self_rows: pd.DataFrame) -> None:
    """Replicas integral, shares within them, GPUs = replicas × TP, whole hourly instances."""
    bad_rep = []
    if len(self_rows):
        grp = self_rows.groupby(["hour", "deployment", "source"])
        agg = grp.agg(
            replicas=("replicas", "first"),
            nrep=("replicas", "nunique"),
            share=("replica_share", "sum"),
            gpus=("gpus", "first"),
            tp=("tp", "first"),
        )
        if (agg["nrep"] > 1).any():
            bad_rep.append("rows of one deployment and hour disagree on replicas")
        if (agg["replicas"] != np.round(agg["replicas"])).any():
            bad_rep.append("fractional replicas")
        over = agg["share"] > agg["replicas"] + 1e-6
        if over.any():
            idx = over[over].index[0]
            bad_rep.append(f"{idx}: shares {agg.loc[idx, 'share']:.4f} > replicas")
        if (agg["gpus"] != agg["replicas"] * agg["tp"]).any():
            bad_rep.append("gpus ≠ replicas × tp")
        hourly = grp.agg(instances=("instances", "first"), source=("source", "first"))
        hourly = hourly[hourly["source"].isin(["on_demand", "spot"])]
        if (np.abs(hourly["instances"] - np.round(hourly["instances"])) > 1e-9).any():
            bad_rep.append("hourly capacity not in whole instances")
    rep.add("replicas", not bad_rep, "; ".join(bad_rep) or "integral replicas, shares fit")


def _check_reserved_pool(
    rep: VerifyReport,
    case: Case,
    self_rows: pd.DataFrame,
    existing_gpus: Mapping[str, np.ndarray],
    providers: Sequence[str] | None,
) -> dict[str, int]:
    """Pool replicas within the reserved and existing units every hour, offers within their
    caps; returns the reserved units per pool."""
    plan_data, catalog, hour_index = case.plan_data, case.catalog, case.hour_index
    # units of each pool: GPUs on a generic per-GPU pool, whole instances on an instance pool
    reserved_by_gpu: dict[str, int] = {}
    reserved_by_tier: dict[tuple[str, str], int] = {}
    for r in plan_data.get("reserved", []):
        g = r.get("pool", r["gpu"])
        reserved_by_gpu[g] = reserved_by_gpu.get(g, 0) + int(r["count"])
        reserved_by_tier[(g, r["tier"])] = int(r["count"])
    bad_pool = []
    for (g, s), n in sorted(reserved_by_tier.items()):
        if n != int(n) or n < 0:
            bad_pool.append(f"{g} {s}: {n} is not a whole number of instances")
    for r in plan_data.get("reserved", []):
        if providers is not None and r.get("provider", "generic") not in providers:
            bad_pool.append(
                f"reserves {r.get('pool', r['gpu'])} from {r.get('provider')}, not in --providers"
            )
    if len(self_rows):
        per = self_rows.drop_duplicates(["hour", "deployment", "source"])
        pool = per[per["source"] == "pool"].groupby(["hour", "pool"])["instances"].sum()
        for (h, g), used in pool.items():
            have = reserved_by_gpu.get(g, 0)
            if g in existing_gpus:
                have += float(existing_gpus[g][hour_index[h]])
            if used > have + 1e-9:
                bad_pool.append(f"{h.isoformat()} {g}: {used:g} pool units > {have} reserved")
        for (g, s), n in sorted(
            ((g, s), o.cap_instances)
            for (g, s), o in catalog.offers.items()
            if o.cap_instances is not None
        ):
            if s in ("on_demand", "spot"):
                use = (
                    per[(per["pool"] == g) & (per["source"] == s)]
                    .groupby("hour")["instances"]
                    .sum()
                )
                if len(use) and use.max() > n:
                    bad_pool.append(f"{g} {s}: {use.max():g} units > cap {n}")
            elif reserved_by_tier.get((g, s), 0) > n:
                bad_pool.append(f"{g} {s}: reserved beyond cap {n}")
    rep.add(
        "reserved_pool",
        not bad_pool,
        bad_pool[0] if bad_pool else "pool replicas within reserved/committed GPUs every hour",
    )
    return reserved_by_gpu


def _recomputed_tiers(
    case: Case,
    self_rows: pd.DataFrame,
    api_rows: pd.DataFrame,
    defs: Mapping[str, Mapping[str, Any]],
    existing: Sequence[Mapping[str, Any]],
    self_hosted: bool,
) -> dict[str, float]:
    """Each tier's spend over the horizon from catalog prices [USD]: the reserved rows, the
    hourly instances and API tokens of the schedule, the overhead where anything is
    self-hosted, and the commitments as the fleet file gives them (``existing``)."""
    plan_data, catalog, H = case.plan_data, case.catalog, case.n_hours
    tiers = {"reserved": 0.0, "owned": 0.0, "on_demand": 0.0, "spot": 0.0, "api": 0.0}
    for r in plan_data.get("reserved", []):
        k = "owned" if r["tier"] == "owned" else "reserved"
        g = r.get("pool", r["gpu"])
        tiers[k] += int(r["count"]) * spot_aware_price(catalog, g, r["tier"]) * H
    if len(self_rows):
        per = self_rows.drop_duplicates(["hour", "deployment", "source"])
        for r in per[per["source"].isin(["on_demand", "spot"])].itertuples(index=False):
            tiers[r.source] += r.instances * spot_aware_price(catalog, r.pool, r.source)
    for r in api_rows.itertuples(index=False) if len(api_rows) else []:
        a = _api_offer(catalog, defs[r.workload]["model"], getattr(r, "provider", ""))
        if a is None:
            continue
        tiers["api"] += (
            r.input_tokens * a.usd_per_m_input_tokens + r.output_tokens * a.usd_per_m_output_tokens
        ) / TOKENS_PER_M
    self_hosted = self_hosted or len(self_rows) > 0
    tiers["overhead"] = (
        catalog.defaults.self_host_monthly_overhead_usd / HOURS_PER_MONTH * H if self_hosted else 0
    )
    tiers["existing"] = float(sum(float(e["cost_usd"]) for e in existing))
    return tiers


def _check_cost(
    rep: VerifyReport, plan_data: Mapping[str, Any], tiers: Mapping[str, float]
) -> float:
    """The plan's cost per tier and total against the recomputed ``tiers``; returns the
    recomputed total."""
    total = sum(tiers.values())
    reported = plan_data.get("cost_by_tier_usd", {})
    diffs = [
        f"{k}: recomputed {v:,.2f} vs reported {reported.get(k, 0.0):,.2f}"
        for k, v in tiers.items()
        if not math.isclose(v, reported.get(k, 0.0), rel_tol=REL_TOL, abs_tol=1e-6)
    ]
    # a line the cost does not have (a 'credits' of -$1,000) is not in the plan's total
    diffs += [
        f"{k}: reported {v!r}, not a tier of the cost"
        for k, v in reported.items()
        if k not in tiers
    ]
    ok_total = math.isclose(total, plan_data["total_cost_usd"], rel_tol=REL_TOL, abs_tol=1e-6)
    if not ok_total:
        diffs.append(
            f"total: recomputed {total:,.2f} vs reported {plan_data['total_cost_usd']:,.2f}"
        )
    rep.add("cost", not diffs, "; ".join(diffs) or f"total ${total:,.2f} recomputed from prices")
    return total


def _as_workload(d: Workload | Mapping[str, Any]) -> Workload:
    return d if isinstance(d, Workload) else Workload.model_validate(d)


def _text(v: Any) -> str:
    """A schedule cell as text: an empty cell (read as NaN) is ''."""
    return v if isinstance(v, str) else ""


def _api_offer(catalog: Catalog, model: str, provider: str) -> Any:
    """The catalog's API offer for a model from ``provider`` (the cheapest without one)."""
    if provider:
        return catalog.api_offers.get((model, provider))
    return catalog.apis.get(model)


def check_policy_rules(
    plan_data: Mapping[str, Any],
    schedule: pd.DataFrame,
    catalog: Catalog,
    committed: frozenset[str] = frozenset(),
    policy: Policy | None = None,
) -> list[str]:
    """Where the plan breaks ``policy`` (tiers, vendors, GPU types, at most K GPU types; the
    policy it records where None); ``committed``: the GPU types of existing commitments,
    whose pool may run outside the policy's GPU types."""
    if policy is None:
        policy = Policy.model_validate(plan_data.get("policy") or {})
    hours = None
    dem = plan_data.get("demand") or {}
    if dem.get("start") and dem.get("hours"):
        hours = pd.date_range(
            pd.Timestamp(dem["start"]).tz_convert("UTC"), periods=int(dem["hours"]), freq="h"
        )
    reserved = plan_data.get("reserved", [])
    return policy_violations(policy, catalog, reserved, schedule, hours, committed)
