"""Check a plan without trusting the solver.

From the plan's files, the demand and the catalog alone, recompute:

* **coverage** — every hour, every workload: requests served by replicas plus the API
  cover the demand;
* **capacity within SLO** — each replica's requests/hour re-derived from the roofline at the
  workload's TPOT/TTFT limits (or from the measured-capacity table the plan names), and no
  row serves more than its share of replicas can;
* **integrality and sharing** — whole replicas; workload shares of one deployment add up
  to at most its replicas; GPUs = replicas × TP;
* **the reserved pool** — pool replicas never use more GPUs than are reserved or committed,
  in every hour; availability caps hold;
* **rules** — spot only for workloads that allow it, the API only where allowed, only allowed
  GPUs and quantizations;
* **cost** — reserved, hourly, API, overhead and committed spend recomputed from catalog
  prices add up to the plan's total and per-tier figures.

* **inputs** — the plan records the SHA-256 of the demand, catalog, workloads, measured
  capacity and fleet it was solved for; a plan checked against other inputs fails, naming them;
* **the schedule's numbers** — every number finite and of its sign, whole where it counts
  things, rows that name a real deployment, and API rows that carry exactly their share of
  the demand's tokens (not whatever balances a total);
* **totals** — tokens, per-workload figures, $/M, reserved rows, commitments, utilization,
  the lower bound and gap and every baseline recomputed and compared with what the plan says.

Nothing is read from the plan's own copies of inputs (SLOs, headroom, definitions, paths):
the caller passes the inputs. This module reads the roofline and the catalog directly; it does
not use the option enumeration, the MILP or the solver.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from advisor.buylist import (
    buy_row_differences,
    buy_rows,
    check_buy_rows,
    commitment_fields,
    short_horizon_warnings,
    term_hours,
)
from advisor.catalog import GENERIC_PROVIDER, POOL_TIERS, ApiOffer, Catalog
from advisor.errors import AdvisorError, PlanError
from advisor.files import jsonable
from advisor.options import catalog_pools, effective_prices, workload_api_offer
from advisor.plan import NUMERIC_SCHEDULE_COLUMNS
from advisor.policy import Policy, policy_violations
from advisor.serving import measured_matches, replica_capacity
from advisor.units import HOURS_PER_MONTH, SECONDS_PER_HOUR, TOKENS_PER_M
from advisor.workloads import Workload, demand_covered

REL_TOL = 1e-6


@dataclass
class VerifyReport:
    """Outcome of every check; ``ok`` only when all pass."""

    checks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c["ok"] for c in self.checks)

    def add(self, name: str, ok: bool, detail: str) -> None:
        self.checks.append({"check": name, "ok": bool(ok), "detail": detail})

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": self.checks}

    def explain(self, name: str, hint: str) -> None:
        """Add ``hint`` (what to do) to check ``name``'s detail where that check failed."""
        for c in self.checks:
            if c["check"] == name and not c["ok"]:
                c["detail"] = f"{c['detail']}; {hint}"

    def failures(self) -> list[str]:
        return [f"{c['check']}: {c['detail']}" for c in self.checks if not c["ok"]]


@dataclass(frozen=True)
class Given:
    """What the caller read beside the plan: the files of its folder that a reader reads
    (``buy.csv``'s and ``scenarios.csv``'s rows, None where the folder has none), the
    warnings the inputs imply (catalog, commitments, workloads) and the demand's scenarios
    (an ``advisor.scenarios.ScenarioSet``; None where verify was given one demand)."""

    buy_file: Sequence[Mapping[str, Any]] | None = None
    scenario_table: Sequence[Mapping[str, Any]] | None = None
    implied_warnings: Sequence[str] | None = None
    scenarios: Any = None


def _spot_aware_price(catalog: Catalog, gpu: str, tier: str) -> float:
    """Price per unit-hour of pool ``gpu`` (a GPU type or an instance pool) on ``tier``."""
    if (gpu, tier) not in catalog.offers:
        raise PlanError(
            f"The plan buys {gpu} on {tier}, which the catalog does not offer. Verify with "
            "the price profile (--prices) and --catalog folders the plan was solved with."
        )
    return catalog.unit_price(gpu, tier)


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
) -> VerifyReport:
    """Run every check on a plan against the demand arrays (``(H, W)``, ``workloads`` order).

    ``workload_defs`` maps a workload to its definition (``Workload`` or a dict of its fields);
    ``measured`` holds the rows of a measured-capacity table (model, gpu, quant, tp, lengths,
    SLOs, requests_per_s); a row counts for a workload of the same model and lengths (within
    1%) whose SLOs are no tighter than the row's. ``providers`` (``--providers``) limits
    where every workload may buy. ``input_sha256`` (the digests of the inputs
    given), ``existing`` (the commitments' rows) and ``baselines`` (each policy's cost) are
    compared with what the plan reports where given; so is ``given`` (the folder's other
    files, the warnings the inputs imply, the demand's scenarios).

    A plan that cannot even be read as a plan (a field of the wrong type, a table without
    its columns) fails the ``plan_format`` check; it never raises.
    """
    rep = VerifyReport()
    try:
        with np.errstate(all="ignore"):  # a forged 1e308 overflows: it fails a check instead
            _verify(
                rep,
                plan_data,
                schedule,
                hours,
                workloads,
                requests,
                input_tokens,
                output_tokens,
                catalog,
                workload_defs,
                measured,
                existing_gpus or {},
                input_sha256,
                existing,
                baselines,
                providers,
                capacity_model,
                given or Given(),
            )
    except (
        KeyError,
        TypeError,
        ValueError,
        AttributeError,
        IndexError,
        OverflowError,
        PlanError,
    ) as exc:
        rep.add("plan_format", False, f"the plan cannot be checked: {type(exc).__name__}: {exc}")
    return rep


def _verify(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    schedule: pd.DataFrame,
    hours: pd.DatetimeIndex,
    workloads: Sequence[str],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    catalog: Catalog,
    workload_defs: Mapping[str, Any],
    measured: Sequence[Any],
    existing_gpus: Mapping[str, np.ndarray],
    input_sha256: Mapping[str, str] | None,
    existing: Sequence[Mapping[str, Any]] | None,
    baselines: Mapping[str, float | None] | None,
    providers: Sequence[str] | None,
    capacity_model: str,
    given: Given,
) -> None:
    defs = {w: (d if isinstance(d, dict) else d.model_dump()) for w, d in workload_defs.items()}
    method = plan_data.get("capacity_model", capacity_model)
    rep.add(
        "capacity_model",
        method == capacity_model,
        f"capacity recomputed with the {capacity_model} model"
        + ("" if method == capacity_model else f"; the plan says {method!r}"),
    )
    H = len(hours)
    from advisor.plan import with_units

    if input_sha256 is not None and not _check_inputs(rep, plan_data, input_sha256):
        return
    if not _check_plan_fields(rep, plan_data, catalog):
        return
    sched = with_units(schedule.copy())
    if not _check_schedule_table(rep, sched, catalog):
        return
    if len(sched):
        sched["hour"] = pd.to_datetime(sched["hour"], utc=True, format="ISO8601")
    hour_index = {h: i for i, h in enumerate(pd.DatetimeIndex(hours).tz_convert("UTC"))}
    widx = {w: i for i, w in enumerate(workloads)}
    if not _check_demand_matches(rep, plan_data, sched, hour_index, workloads, H):
        return
    t_idx = sched["hour"].map(hour_index).to_numpy() if len(sched) else np.array([], dtype=int)
    w_idx = sched["workload"].map(widx).to_numpy() if len(sched) else np.array([], dtype=int)
    # coverage: every cell's demand served exactly, tokens with their requests
    _check_coverage(
        rep, sched, t_idx, w_idx, hours, workloads, requests, input_tokens, output_tokens
    )
    self_rows = sched[sched["source"] != "api"] if len(sched) else sched
    api_rows = sched[sched["source"] == "api"] if len(sched) else sched
    # GPU types already paid for: their pool serves whatever the policy and --providers buy
    committed = frozenset(existing_gpus)
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
    )
    _check_replicas(rep, self_rows)
    reserved_by_gpu = _check_reserved_pool(
        rep, plan_data, self_rows, catalog, existing_gpus, hour_index, providers
    )
    # the commitments as the fleet file gives them where given, not as the plan reports them
    fleet_rows = list(existing if existing is not None else plan_data.get("existing") or [])
    self_hosted = bool(reserved_by_gpu) or bool(fleet_rows)
    tiers = _recomputed_tiers(
        plan_data, self_rows, api_rows, catalog, defs, fleet_rows, self_hosted, H
    )
    total = _check_cost(rep, plan_data, tiers)
    reserved = _expected_reserved(plan_data, catalog, hours)
    _check_policy(rep, plan_data, schedule, catalog, committed)
    _check_buy_lists(rep, plan_data, sched, catalog, reserved, H, given.buy_file)
    _check_totals(
        rep,
        plan_data,
        sched,
        workloads,
        requests,
        input_tokens,
        output_tokens,
        catalog,
        H,
        tiers,
        reserved,
    )
    _check_fleet(rep, plan_data, sched, catalog, reserved, H)
    priced = {
        w: workload_api_offer(catalog, _as_workload(workload_defs[w]), providers) for w in workloads
    }
    _check_echoes(rep, plan_data, defs, hours, workloads, priced, input_tokens, output_tokens)
    if existing is not None:
        _check_existing(rep, plan_data, existing)
    if baselines is not None:
        _check_baselines(rep, plan_data, baselines, total)
    _check_warnings(rep, plan_data, given.implied_warnings, reserved, H, baselines, total)
    if plan_data.get("scenarios") is not None:
        floor = tiers["reserved"] + tiers["owned"] + tiers["existing"]
        floor += tiers["overhead"] if (reserved_by_gpu or fleet_rows) else 0.0
        _check_scenarios(rep, plan_data, total, floor, given)


def _check_policy(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    schedule: pd.DataFrame,
    catalog: Catalog,
    committed: frozenset[str],
) -> None:
    """The plan keeps to its policy (``committed``: GPU types of existing commitments)."""
    bad_policy = check_policy_rules(plan_data, schedule, catalog, committed)
    rep.add("policy", not bad_policy, "; ".join(bad_policy[:3]) or "within the plan's policy")


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
) -> None:
    """Every self-hosted row within its replica share's capacity at the workload's SLOs
    (recomputed), and the workload's rules (spot, API, GPUs, providers, quantization);
    ``committed``: the GPU types of existing commitments (``_provider_problems``)."""
    cap_cache: dict[tuple[str, str], float | None] = {}
    bad_cap, bad_rule = [], []
    for r in self_rows.itertuples(index=False):
        d = defs[r.workload]
        key = (r.workload, r.deployment)
        if key not in cap_cache:
            cap_cache[key] = _capacity(catalog, d, r, measured, capacity_model)
        cap = cap_cache[key]
        if cap is None:
            bad_cap.append(f"{r.workload} on {r.deployment}: no SLO-meeting operating point")
            continue
        limit = demand_covered(r.replica_share * cap, d["headroom"])
        if not _close(r.capacity_requests, limit):
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
        if not defs[w]["allow_api"]:
            bad_rule.append(f"{w} sends requests to the API but allow_api is false")
        if _api_offer(catalog, defs[w]["model"], _api_provider(api_rows, w)) is None:
            bad_rule.append(f"{w}: no API offer for {defs[w]['model']}")
        provider = _api_provider(api_rows, w)
        if defs[w].get("providers") and provider and provider not in defs[w]["providers"]:
            bad_rule.append(f"{w} sends requests to {provider}, not in its providers")
        if providers is not None and provider and provider not in providers:
            bad_rule.append(f"{w} sends requests to {provider}, not in --providers")
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
    plan_data: Mapping[str, Any],
    self_rows: pd.DataFrame,
    catalog: Catalog,
    existing_gpus: Mapping[str, np.ndarray],
    hour_index: Mapping[pd.Timestamp, int],
    providers: Sequence[str] | None,
) -> dict[str, int]:
    """Pool replicas within the reserved and existing units every hour, offers within their
    caps; returns the reserved units per pool."""
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
    plan_data: Mapping[str, Any],
    self_rows: pd.DataFrame,
    api_rows: pd.DataFrame,
    catalog: Catalog,
    defs: Mapping[str, Mapping[str, Any]],
    existing: Sequence[Mapping[str, Any]],
    self_hosted: bool,
    H: int,
) -> dict[str, float]:
    """Each tier's spend over the horizon from catalog prices [USD]: the reserved rows, the
    hourly instances and API tokens of the schedule, the overhead where anything is
    self-hosted, and the commitments as the fleet file gives them (``existing``)."""
    tiers = {"reserved": 0.0, "owned": 0.0, "on_demand": 0.0, "spot": 0.0, "api": 0.0}
    for r in plan_data.get("reserved", []):
        k = "owned" if r["tier"] == "owned" else "reserved"
        g = r.get("pool", r["gpu"])
        tiers[k] += int(r["count"]) * _spot_aware_price(catalog, g, r["tier"]) * H
    if len(self_rows):
        per = self_rows.drop_duplicates(["hour", "deployment", "source"])
        for r in per[per["source"].isin(["on_demand", "spot"])].itertuples(index=False):
            tiers[r.source] += r.instances * _spot_aware_price(catalog, r.pool, r.source)
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
    ok_total = math.isclose(total, plan_data["total_cost_usd"], rel_tol=REL_TOL, abs_tol=1e-6)
    if not ok_total:
        diffs.append(
            f"total: recomputed {total:,.2f} vs reported {plan_data['total_cost_usd']:,.2f}"
        )
    rep.add("cost", not diffs, "; ".join(diffs) or f"total ${total:,.2f} recomputed from prices")
    return total


# --- the checks that trust nothing in the plan ---------------------------------------------

#: What each input digest stands for, and how to pass the one the plan was solved with.
_INPUT_NAMES = {
    "demand": "the demand CSV",
    "catalog": "the catalog (pass the --catalog folders it was solved with)",
    "workloads": "the workload definitions (pass the --workloads files it was solved with)",
    "capacity": "the measured capacity (pass the --capacity file it was solved with)",
    "fleet": "the existing commitments (pass the --fleet file it was solved with)",
}
SOURCES = ("pool", "on_demand", "spot", "api")
_COUNT_COLUMNS = ("tp", "replicas", "gpus")
_NUMBER_COLUMNS = ("gpus_per_unit", "instances", *NUMERIC_SCHEDULE_COLUMNS)
_TEXT_COLUMNS = (
    "workload",
    "model",
    "deployment",
    "gpu",
    "quant",
    "source",
    "pool",
    "provider",
    "instance",
)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _close(a: float, b: float, tol: float = REL_TOL) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=1e-9)


def _summarize(problems: list[str]) -> str:
    return problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")


def _check_inputs(
    rep: VerifyReport, plan_data: Mapping[str, Any], given: Mapping[str, str]
) -> bool:
    """The plan was solved for these inputs (their digests match the ones it records)."""
    recorded = plan_data.get("input_sha256")
    if not isinstance(recorded, Mapping):
        rep.add(
            "inputs",
            False,
            "the plan records no input digests (written by an older advisor, or edited); "
            "solve again to verify it",
        )
        return False
    differ = [k for k in given if recorded.get(k) != given[k]]
    rep.add(
        "inputs",
        not differ,
        "; ".join(
            f"{_INPUT_NAMES.get(k, k)} differs from the one the plan was solved for" for k in differ
        )
        or "demand, catalog, workloads, capacity and fleet are the ones the plan was solved for",
    )
    return not differ


def _check_plan_fields(rep: VerifyReport, plan_data: Mapping[str, Any], catalog: Catalog) -> bool:
    """plan.json's own numbers are numbers, its reserved rows name real offers."""
    bad: list[str] = []
    for key in ("total_cost_usd", "horizon_hours"):
        if not _is_number(plan_data.get(key)):
            bad.append(f"{key} is {plan_data.get(key)!r}, not a finite number")
    tiers = plan_data.get("cost_by_tier_usd")
    if not isinstance(tiers, Mapping) or not all(_is_number(v) for v in tiers.values()):
        bad.append("cost_by_tier_usd must map tiers to finite numbers")
    rows = plan_data.get("reserved")
    if not isinstance(rows, list):
        bad.append("reserved must be a list of rows")
        rows = []
    seen: set[tuple[str, str]] = set()
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            bad.append(f"reserved[{i}] is not a row")
            continue
        key = (r.get("pool", r.get("gpu")), r.get("tier"))
        if key not in catalog.offers or r.get("tier") not in POOL_TIERS:
            bad.append(f"reserved[{i}]: no reserved or owned offer {key[0]}/{key[1]}")
        elif (
            _pool_desc(catalog, key[0], reserved=True)
            != {k: r.get(k) for k in ("gpu", "provider", "region", "gpus_per_instance")}
            or isinstance(r.get("gpus_per_instance"), bool)
            or r.get("instance") != (catalog.offers[key].instance or key[0])
        ):
            bad.append(f"reserved[{i}]: gpu, provider, instance or region is not {key[0]}'s")
        elif catalog.offers[key].gpu != r.get("gpu"):
            bad.append(
                f"reserved[{i}]: {key[0]} holds {catalog.offers[key].gpu}, not {r.get('gpu')}"
            )
        count = r.get("count")
        if not (isinstance(count, int) and not isinstance(count, bool) and count >= 0):
            bad.append(f"reserved[{i}]: count {count!r} is not a whole number ≥ 0")
        if key in seen:
            bad.append(f"reserved[{i}]: {key[0]}/{key[1]} listed twice")
        seen.add(key)  # type: ignore[arg-type]
    ex = plan_data.get("existing") or []
    if not isinstance(ex, list) or not all(
        isinstance(e, Mapping) and _is_number(e.get("cost_usd")) for e in ex
    ):
        bad.append("existing must be a list of commitments with a finite cost_usd")
    rep.add("plan_fields", not bad, _summarize(bad) if bad else "plan.json's fields are sound")
    return not bad


def _blank(v: Any) -> Any:
    """An empty CSV cell ('' once NaN) as ''; anything else as itself."""
    return "" if isinstance(v, float) and math.isnan(v) else v


def _pool_desc(catalog: Catalog, key: str, reserved: bool = False) -> dict[str, Any]:
    """What a plan says of pool ``key``: its GPU, provider, instance type, region and GPUs per
    unit (a GPU type known only from commitments is a generic one-GPU pool)."""
    o = next((o for (k, _), o in sorted(catalog.offers.items()) if k == key), None)
    if o is None:
        d = {"gpu": key, "provider": "generic", "instance": key, "region": "", "per_unit": 1}
    else:
        per_unit = 1 if o.per_gpu else o.gpus_per_instance
        d = {
            "gpu": o.gpu,
            "provider": o.provider,
            "instance": o.instance or o.gpu,
            "region": o.region,
            "per_unit": per_unit,
        }
    if reserved:
        return {
            "gpu": d["gpu"],
            "provider": d["provider"],
            "region": d["region"],
            "gpus_per_instance": o.gpus_per_instance if o is not None else 1,
        }
    return {
        "gpu": d["gpu"],
        "provider": d["provider"],
        "instance": d["instance"],
        "region": d["region"],
        "gpus_per_unit": d["per_unit"],
    }


def _check_schedule_table(rep: VerifyReport, schedule: pd.DataFrame, catalog: Catalog) -> bool:
    """Every row of the schedule is well formed: finite numbers of the right sign, whole
    counts, a source advisor knows, a deployment named by its model, GPU, quantization and TP
    that the catalog has, and API rows that hold no GPUs."""
    missing = [c for c in ("hour", *_TEXT_COLUMNS, *_NUMBER_COLUMNS) if c not in schedule]
    if missing:
        rep.add("schedule_numbers", False, f"schedule.csv has no column(s) {', '.join(missing)}")
        return False
    if not len(schedule):
        rep.add("schedule_numbers", True, "no rows")
        return True
    nums, bad = _schedule_numbers(schedule)
    bad += _empty_text_cells(schedule)
    if bad:
        rep.add("schedule_numbers", False, _summarize(bad))
        return False
    bad += _api_column_problems(schedule, nums)
    _add_row_problems(schedule, nums, catalog, bad)
    dup = schedule.duplicated(["hour", "workload", "deployment", "source"])
    if dup.any():
        i = int(np.argmax(dup.to_numpy()))
        bad.append(f"row {i + 2}: a second row for the same hour, workload, deployment, source")
    rep.add(
        "schedule_numbers",
        not bad,
        _summarize(bad) if bad else f"{len(schedule)} rows: finite, signed, whole where counted",
    )
    return not bad


def _schedule_numbers(schedule: pd.DataFrame) -> tuple[dict[str, np.ndarray], list[str]]:
    """The schedule's number columns as floats, and problems: not finite, negative, or not
    whole where they count things."""
    bad: list[str] = []
    nums = {}
    for c in _NUMBER_COLUMNS:
        col = pd.to_numeric(schedule[c], errors="coerce").to_numpy(dtype=float)
        nums[c] = col
        not_finite = ~np.isfinite(col)
        if not_finite.any():
            i = int(np.argmax(not_finite))
            bad.append(f"row {i + 2}: {c} is {schedule[c].iloc[i]!r}, not a finite number")
        elif (col < 0).any():
            i = int(np.argmax(col < 0))
            bad.append(f"row {i + 2}: {c} is negative ({col[i]:g})")
    for c in _COUNT_COLUMNS:
        col = nums[c]
        frac = np.isfinite(col) & (col != np.round(col))
        if frac.any():
            i = int(np.argmax(frac))
            bad.append(f"row {i + 2}: {c} is {col[i]:g}, not a whole number")
    return nums, bad


def _empty_text_cells(schedule: pd.DataFrame) -> list[str]:
    """Problems: a text column empty where the row needs it."""
    bad: list[str] = []
    self_hosted = (schedule["source"] != "api").to_numpy()
    for c in _TEXT_COLUMNS:
        text = schedule[c].map(lambda v: isinstance(v, str) and v != "").to_numpy()
        # API rows have no GPU or quantization
        empty = ~text & (
            self_hosted if c in ("gpu", "quant", "pool", "instance", "provider") else True
        )
        if empty.any():
            bad.append(f"row {int(np.argmax(empty)) + 2}: {c} is empty")
    return bad


def _api_column_problems(schedule: pd.DataFrame, nums: Mapping[str, np.ndarray]) -> list[str]:
    """Problems: an unknown source, or an API row with GPUs, replicas or capacity."""
    bad: list[str] = []
    src = schedule["source"]
    unknown = ~src.isin(SOURCES)
    if unknown.any():
        i = int(np.argmax(unknown.to_numpy()))
        bad.append(f"row {i + 2}: unknown source {src.iloc[i]!r}")
    api = (src == "api").to_numpy()
    wrong = api & (nums["gpus_per_unit"] != 1)
    if wrong.any():
        bad.append(f"row {int(np.argmax(wrong)) + 2}: an API row with gpus_per_unit ≠ 1")
    for c in ("tp", "replicas", "gpus", "replica_share", "capacity_requests", "instances"):
        wrong = api & (nums[c] != 0)
        if wrong.any():
            i = int(np.argmax(wrong))
            bad.append(f"row {i + 2}: an API row with {c} {nums[c][i]:g} (must be 0)")
    return bad


def _add_row_problems(
    schedule: pd.DataFrame, nums: Mapping[str, np.ndarray], catalog: Catalog, bad: list[str]
) -> None:
    """Append each row's problems to ``bad`` (stopping once it holds more than 20): API rows
    that name a deployment, GPU or pool; self-hosted rows the catalog cannot back."""
    for i, r in enumerate(schedule.itertuples(index=False)):
        if r.source == "api":
            bad += _api_row_problems(i, r)
            continue
        if r.source not in SOURCES:
            continue
        problem = _deployment_problem(i, r, nums, catalog)
        if problem is not None:
            bad.append(problem)
        if len(bad) > 20:
            break


def _api_row_problems(i: int, r: Any) -> list[str]:
    """Problems of API row ``i``: a deployment other than 'api', or a GPU/pool cell."""
    bad: list[str] = []
    if r.deployment != "api":
        bad.append(f"row {i + 2}: an API row with deployment {r.deployment!r}")
    for c in ("gpu", "quant", "pool", "instance", "region"):
        v = getattr(r, c)
        if v != "" and not (isinstance(v, float) and math.isnan(v)):
            bad.append(f"row {i + 2}: an API row with {c} {v!r} (must be empty)")
    return bad


def _deployment_problem(
    i: int, r: Any, nums: Mapping[str, np.ndarray], catalog: Catalog
) -> str | None:
    """The first problem of self-hosted row ``i``: its TP, deployment name, catalog entries,
    offer, pool description or instance count; None when it has none."""
    tp = int(nums["tp"][i])
    key = f"{r.model}|{r.pool}|{r.quant}|tp{tp}"
    if r.gpu in catalog.gpus and not 1 <= tp <= catalog.gpus[r.gpu].max_tp:
        return f"row {i + 2}: a TP-{tp} group does not fit {r.gpu}"
    if not (r.deployment == key or re.fullmatch(re.escape(key) + r"x[0-9]+", r.deployment)):
        return f"row {i + 2}: deployment {r.deployment!r} is not {key!r}"
    if r.gpu not in catalog.gpus or r.quant not in catalog.quantizations:
        return f"row {i + 2}: {r.gpu}/{r.quant} is not in the catalog"
    if tp < 1 or tp > catalog.gpus[r.gpu].max_tp:
        return f"row {i + 2}: tp {tp} is not possible on {r.gpu}"
    if r.source != "pool" and (r.pool, r.source) not in catalog.offers:
        return f"row {i + 2}: no {r.source} offer for {r.gpu}"
    want = _pool_desc(catalog, r.pool)
    got = {
        "gpu": r.gpu,
        "provider": r.provider,
        "instance": r.instance,
        "region": r.region if isinstance(r.region, str) else _blank(r.region),
        "gpus_per_unit": nums["gpus_per_unit"][i],
    }
    if got != want:
        return f"row {i + 2}: {got} is not pool {r.pool}'s {want}"
    if not _close(nums["instances"][i], nums["replicas"][i] * tp / want["gpus_per_unit"]):
        return (
            f"row {i + 2}: instances {nums['instances'][i]:g} ≠ replicas × tp / GPUs per instance"
        )
    return None


def _check_coverage(
    rep: VerifyReport,
    sched: pd.DataFrame,
    t_idx: np.ndarray,
    w_idx: np.ndarray,
    hours: pd.DatetimeIndex,
    workloads: Sequence[str],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
) -> None:
    """Each cell's rows serve its demand exactly (no more, no less), and each row carries its
    requests' share of the cell's tokens: the API's tokens are served demand, nothing else."""
    H, W = len(hours), len(workloads)
    bad: list[str] = []
    served = {}
    for col, want in (
        ("requests", requests),
        ("input_tokens", input_tokens),
        ("output_tokens", output_tokens),
    ):
        got = np.zeros((H, W))
        np.add.at(got, (t_idx, w_idx), sched[col].to_numpy(dtype=float))
        served[col] = got
        off = ~np.isclose(got, want, rtol=REL_TOL, atol=1e-9)
        if off.any():
            t, i = np.argwhere(off)[0]
            verb = "short" if got[t, i] < want[t, i] else "over"
            bad.append(
                f"{int(off.sum())} hour×workload cells {col} ≠ demand; first "
                f"{hours[t].isoformat()} {workloads[i]}: served {got[t, i]:,.2f} of "
                f"{want[t, i]:,.2f} ({verb})"
            )
    if len(sched):
        req = sched["requests"].to_numpy(dtype=float)
        dem = requests[t_idx, w_idx]
        share = np.divide(req, dem, out=np.zeros_like(req), where=dem > 0)
        for col, want in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            expect = want[t_idx, w_idx] * share
            got = sched[col].to_numpy(dtype=float)
            off = ~np.isclose(got, expect, rtol=REL_TOL, atol=1e-9)
            if off.any():
                j = int(np.argmax(off))
                bad.append(
                    f"row {j + 2} ({sched['source'].iloc[j]}): {col} {got[j]:,.2f} is not its "
                    f"{req[j]:,.2f} requests' share of the demand ({expect[j]:,.2f})"
                )
    rep.add(
        "coverage",
        not bad,
        "; ".join(bad)
        if bad
        else f"all {H * W} hour×workload cells served exactly, tokens with their requests",
    )


class _Same:
    """Collects the reported figures that differ from their recomputed value."""

    def __init__(self) -> None:
        self.bad: list[str] = []

    def __call__(self, label: str, reported: Any, value: float | None) -> None:
        if value is None:
            if reported is not None:
                self.bad.append(f"{label}: reported {reported!r}, expected none")
        elif not _is_number(reported) or not _close(float(reported), value):
            self.bad.append(f"{label}: reported {reported!r}, recomputed {value:,.6g}")


def _check_totals(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    sched: pd.DataFrame,
    workloads: Sequence[str],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    catalog: Catalog,
    H: int,
    tiers: Mapping[str, float],
    reserved: Sequence[Mapping[str, Any]],
) -> None:
    """Every total the plan reports, recomputed: tokens, per-workload figures, $/M, reserved
    rows (``reserved``: recomputed from the catalog), utilization, the bound and the gap."""
    same = _Same()
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
    by_w, listed = plan_data.get("cost_by_workload_usd") or {}, plan_data.get("workloads") or {}
    if sorted(by_w) == sorted(listed) == sorted(workloads) and all(
        _is_number(v) for v in by_w.values()
    ):
        same("sum of cost_by_workload_usd", float(sum(by_w.values())), total)
    _pool_totals(same, plan_data, sched, catalog, H)
    _reserved_terms(same, plan_data, reserved)
    _bound_totals(same, plan_data, total)
    rep.add(
        "totals",
        not same.bad,
        _summarize(same.bad)
        if same.bad
        else "tokens, workloads, $/M, reserved rows and their terms, utilization recomputed; "
        "the bound is not re-proved (that takes a solve): it is at most the cost, and the "
        "gap, the solver's bound, gap and status follow from it",
    )


def _workload_totals(
    same: _Same,
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
        if not _is_number(c) or c < -1e-9:
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


def _pool_totals(
    same: _Same, plan_data: Mapping[str, Any], sched: pd.DataFrame, catalog: Catalog, H: int
) -> None:
    """The reserved rows' prices and costs, and the pool's utilization over the horizon."""
    for i, r in enumerate(plan_data.get("reserved", [])):
        price = _spot_aware_price(catalog, r.get("pool", r["gpu"]), r["tier"])
        same(f"reserved[{i}].usd_per_hour", r.get("usd_per_hour"), price)
        same(f"reserved[{i}].cost_usd", r.get("cost_usd"), r["count"] * price * H)
    existing = plan_data.get("existing") or []
    pool_capacity = sum(int(r["count"]) for r in plan_data.get("reserved", [])) * H + sum(
        float(e.get("gpu_hours", 0.0)) for e in existing
    )
    pool = sched[sched["source"] == "pool"] if len(sched) else sched
    load = (
        float((pool["replica_share"] * pool["tp"] / pool["gpus_per_unit"]).sum())
        if len(pool)
        else 0.0
    )
    same(
        "reserved_utilization",
        plan_data.get("reserved_utilization"),
        load / pool_capacity if pool_capacity > 0 else None,
    )


def _bound_totals(same: _Same, plan_data: Mapping[str, Any], total: float) -> None:
    """The lower bound is a number not above the plan's cost, and the gap follows from it."""
    lower = plan_data.get("lower_bound_usd")
    if lower is None and plan_data.get("gap") is not None:
        same.bad.append(f"gap {plan_data.get('gap')!r} without a lower bound")
    if lower is None:
        return
    if not _is_number(lower):
        same.bad.append(f"lower_bound_usd is {lower!r}, not a finite number")
    elif lower > total * (1 + REL_TOL) + 1e-6:
        same.bad.append(f"lower bound ${lower:,.2f} is above the plan's cost ${total:,.2f}")
    else:
        same("gap", plan_data.get("gap"), max(0.0, (total - lower) / total) if total > 0 else None)
    _solver_figures(same, plan_data, total)


def _solver_figures(same: _Same, plan_data: Mapping[str, Any], total: float) -> None:
    """The solver's entry repeats the plan's cost, bound and gap, and calls the solve optimal
    only where that gap is within the tolerance the plan was solved with (``settings.gap``)."""
    solver = plan_data.get("solver")
    if not isinstance(solver, Mapping) or not solver:
        return
    same("solver.objective", solver.get("objective"), total)
    for k, plan_key in (("bound", "lower_bound_usd"), ("gap", "gap")):
        v, want = solver.get(k), plan_data.get(plan_key)
        if v != want and not (_is_number(v) and _is_number(want) and _close(v, want)):
            same.bad.append(f"solver.{k} {v!r} is not the plan's {plan_key} {want!r}")
    gap = plan_data.get("gap")
    tol = (plan_data.get("settings") or {}).get("gap")
    tol = float(tol) if _is_number(tol) else 0.0
    proven = total <= 0 or (_is_number(gap) and gap <= tol + 1e-6)
    if solver.get("status") == "optimal" and not proven:
        same.bad.append(f"solver.status 'optimal' with gap {gap!r} above the tolerance {tol:g}")


def _check_echoes(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    defs: Mapping[str, Mapping[str, Any]],
    hours: pd.DatetimeIndex,
    workloads: Sequence[str],
    priced: Mapping[str, ApiOffer | None],
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
) -> None:
    """What plan.json repeats of the inputs (each workload's definition and SLOs, the demand's
    span, the API prices it is priced at: ``priced``, by the inputs' providers) is what the
    inputs say, so a reader of the plan is not misled either."""
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
        wo = float(output_tokens[:, i].sum())
        prices["api_all_in_usd_per_m_output_tokens"] = (
            None
            if api is None or wo <= 0
            else (
                float(input_tokens[:, i].sum()) * api.usd_per_m_input_tokens
                + wo * api.usd_per_m_output_tokens
            )
            / wo
        )
        for k, v in prices.items():
            r = got.get(k)
            if (v is None) != (r is None) or (
                v is not None and not (_is_number(r) and _close(float(r), float(v)))
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
        _summarize(bad) if bad else "workload definitions, SLOs and the demand's span as given",
    )


def _check_existing(
    rep: VerifyReport, plan_data: Mapping[str, Any], existing: Sequence[Mapping[str, Any]]
) -> None:
    """The plan's commitments are the fleet file's, with their active hours and spend."""
    reported = plan_data.get("existing") or []
    bad: list[str] = []
    if len(reported) != len(existing):
        bad.append(f"the plan lists {len(reported)} commitments, the fleet {len(existing)}")
    else:
        for i, (got, want) in enumerate(zip(reported, existing, strict=True)):
            for k in ("gpu", "tier", "count", "active_hours"):
                if got.get(k) != want[k]:
                    bad.append(f"existing[{i}].{k}: reported {got.get(k)!r}, fleet {want[k]!r}")
            for k in ("usd_per_hour", "gpu_hours", "cost_usd"):
                v = got.get(k)
                if not _is_number(v) or not _close(float(v), float(want[k])):
                    bad.append(f"existing[{i}].{k}: reported {v!r}, recomputed {want[k]!r}")
    rep.add(
        "existing",
        not bad,
        _summarize(bad) if bad else f"{len(existing)} commitments as the fleet file gives them",
    )


def _check_baselines(
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
            elif not _is_number(got) or not _close(float(got), v):
                bad.append(f"{k}: reported {got!r}, recomputed {v:,.2f}")
    costs = {k: v for k, v in baselines.items() if v is not None}
    best = min(costs, key=lambda k: costs[k]) if costs else None
    if plan_data.get("best_baseline") != best:
        bad.append(f"best_baseline: reported {plan_data.get('best_baseline')!r}, expected {best!r}")
    sv = plan_data.get("savings_vs_best_baseline_usd")
    if best is not None and (not _is_number(sv) or not _close(float(sv), costs[best] - total)):
        bad.append(
            f"savings_vs_best_baseline_usd: reported {sv!r}, recomputed {costs[best] - total:,.2f}"
        )
    fraction = plan_data.get("savings_vs_best_baseline_fraction")
    want = (costs[best] - total) / costs[best] if best is not None and costs[best] > 0 else None
    if (want is None) != (fraction is None) or (
        want is not None and not (_is_number(fraction) and _close(float(fraction), want))
    ):
        bad.append(
            f"savings_vs_best_baseline_fraction: reported {fraction!r}, recomputed "
            + ("none" if want is None else f"{want:.6g}")
        )
    rep.add(
        "baselines",
        not bad,
        _summarize(bad)
        if bad
        else f"{len(baselines)} simple policies and the saving against the best recomputed",
    )


def _as_workload(d: Workload | Mapping[str, Any]) -> Workload:
    return d if isinstance(d, Workload) else Workload.model_validate(d)


def _api_provider(api_rows: pd.DataFrame, workload: str) -> str:
    """The API provider a plan's rows name for a workload ('' in plans without one)."""
    if "provider" not in api_rows.columns:
        return ""
    names = api_rows.loc[api_rows["workload"] == workload, "provider"].dropna().unique()
    return str(names[0]) if len(names) else ""


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
) -> list[str]:
    """Where the plan breaks the procurement policy it records (tiers, vendors, GPU types,
    at most K GPU types); ``committed``: the GPU types of existing commitments, whose pool
    may run outside the policy's GPU types."""
    policy = Policy.model_validate(plan_data.get("policy") or {})
    hours = None
    dem = plan_data.get("demand") or {}
    if dem.get("start") and dem.get("hours"):
        hours = pd.date_range(
            pd.Timestamp(dem["start"]).tz_convert("UTC"), periods=int(dem["hours"]), freq="h"
        )
    reserved = plan_data.get("reserved", [])
    return policy_violations(policy, catalog, reserved, schedule, hours, committed)


def _capacity(
    catalog: Catalog,
    d: Mapping[str, Any],
    r: Any,
    measured: Sequence[Any],
    capacity_model: str = "simulated",
) -> float | None:
    """Requests/hour one replica serves for workload definition ``d`` (measured, or the one
    capacity function :func:`advisor.serving.replica_capacity` the options use)."""

    rates = [
        m.requests_per_s
        for m in measured
        if (m.gpu, m.quant, m.tp) == (r.gpu, r.quant, int(r.tp))
        and measured_matches(m, d["model"], d)
    ]
    if rates:
        return max(rates) * SECONDS_PER_HOUR
    gpu = catalog.gpu_in_pool(r.gpu, getattr(r, "pool", r.gpu))
    cap = replica_capacity(
        catalog.model(d["model"]),
        gpu,
        catalog.quant(r.quant),
        catalog.efficiency_for(gpu),
        int(r.tp),
        d,
        capacity_model,
    )
    if not cap.feasible:
        return None
    return cap.requests_per_s * SECONDS_PER_HOUR


# --- the figures a reader takes from plan.json beyond the schedule ---------------------------

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
#: How far a figure priced by a solve may sit below a bound a solve proved (the solver's
#: tolerance and the tie-breaking cost its objective carries).
BOUND_TOL = 1e-3


def _expected_reserved(
    plan_data: Mapping[str, Any], catalog: Catalog, hours: pd.DatetimeIndex
) -> list[dict[str, Any]]:
    """The plan's reserved rows as the catalog prices them: where, the price and cost over the
    horizon, and the commitment over the offer's whole term from the horizon's first hour."""
    H = float(len(hours))
    start = pd.Timestamp(pd.DatetimeIndex(hours)[0]).tz_convert("UTC")
    pools = catalog_pools(catalog)
    out = []
    for r in plan_data.get("reserved", []):
        g, tier, n = r.get("pool", r["gpu"]), str(r["tier"]), int(r["count"])
        offer = catalog.offers[(g, tier)]
        price = _spot_aware_price(catalog, g, tier)
        term = term_hours(tier, offer.amortization_years, offer.term_months) or H
        where = pools[g].as_dict()
        out.append(
            {
                "gpu": offer.gpu,
                "tier": tier,
                "count": n,
                "usd_per_hour": price,
                "cost_usd": n * price * H,
                **{k: where[k] for k in ("pool", "provider", "instance", "region")},
                "gpus_per_instance": where["gpus_per_instance"],
                **commitment_fields(n, price, term, start),
            }
        )
    return out


def _reserved_terms(
    same: _Same, plan_data: Mapping[str, Any], reserved: Sequence[Mapping[str, Any]]
) -> None:
    """Each reserved row's offer, term, dates, monthly spend and commitment as recomputed."""
    for i, (got, want) in enumerate(zip(plan_data.get("reserved", []), reserved, strict=True)):
        for k in _RESERVED_FIELDS:
            v = want[k]
            if isinstance(v, float):
                same(f"reserved[{i}].{k}", got.get(k), v)
            elif got.get(k) != v:
                same.bad.append(f"reserved[{i}].{k}: reported {got.get(k)!r}, recomputed {v!r}")


def _check_buy_lists(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    sched: pd.DataFrame,
    catalog: Catalog,
    reserved: Sequence[Mapping[str, Any]],
    H: int,
    buy_file: Sequence[Mapping[str, Any]] | None,
) -> None:
    """The buy list a reviewer reads (``buy.csv`` where the folder has one, else plan.json's)
    is ``buy_list``; plan.json's copy beside a buy.csv (which compare and report read) is
    ``plan_buy_list``. Each adds up to the schedule and the reserved rows (counts,
    GPU-hours, deployments) and has the GPU, peak, dates, monthly spend and commitment of the
    buy list recomputed from them (the reserved rows as the catalog prices them)."""
    want = buy_rows(reserved, sched, float(H), effective_prices(catalog))
    lists = [("buy_list", "buy.csv", buy_file)] if buy_file is not None else []
    if "buy" in plan_data:
        name = "buy_list" if buy_file is None else "plan_buy_list"
        lists.append((name, "plan.json's buy list", plan_data.get("buy") or []))
    for name, label, rows in lists:
        rows = list(rows)
        bad = check_buy_rows(rows, sched, reserved, float(H))
        bad += buy_row_differences(rows, want) if not bad else []
        rep.add(
            name,
            not bad,
            "; ".join(bad[:3])
            or f"buy list = schedule totals ({label}: counts, GPU-hours, peaks, dates, "
            "monthly spend and commitments recomputed)",
        )


def _fleet_where(pools: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A fleet row's pool, provider, instance type, region and GPUs per instance."""
    p = pools.get(key)
    if p is None:  # a generic pool known only from commitments
        return {"pool": key, "provider": "generic", "instance": key, "region": ""} | {
            "gpus_per_instance": 1
        }
    d = p.as_dict()
    return {k: d[k] for k in ("pool", "provider", "instance", "region", "gpus_per_instance")}


def _expected_fleet(
    sched: pd.DataFrame, catalog: Catalog, reserved: Sequence[Mapping[str, Any]], H: int
) -> list[dict[str, Any]]:
    """plan.json's ``fleet``: each commitment, then each pool × source of the schedule with
    its peak and mean GPUs, GPU-hours and peak instances."""
    pools = catalog_pools(catalog)
    rows: list[dict[str, Any]] = []
    for r in sorted(reserved, key=lambda r: (r["pool"], r["tier"])):
        gpus = r["count"] * int(r["gpus_per_instance"])
        rows.append(
            {"gpu": r["gpu"], "tier": r["tier"], "peak_gpus": gpus, "mean_gpus": float(gpus)}
            | {"gpu_hours": gpus * float(H), **_fleet_where(pools, r["pool"])}
            | {"instances": r["count"]}
        )
    per = sched[sched["source"] != "api"] if len(sched) else sched
    per = per.drop_duplicates(["hour", "deployment", "source"]) if len(per) else per
    for (g, s), grp in per.groupby(["pool", "source"]) if len(per) else []:
        by_hour = grp.groupby("hour")["gpus"].sum()
        rows.append(
            {
                "gpu": str(grp["gpu"].iloc[0]),
                "tier": "pool (in use)" if s == "pool" else str(s),
                "peak_gpus": int(by_hour.max()),
                "mean_gpus": float(by_hour.sum() / H),
                "gpu_hours": float(by_hour.sum()),
                **_fleet_where(pools, str(g)),
                "instances": float(grp.groupby("hour")["instances"].sum().max()),
            }
        )
    return rows


def _check_fleet(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    sched: pd.DataFrame,
    catalog: Catalog,
    reserved: Sequence[Mapping[str, Any]],
    H: int,
) -> None:
    """The fleet summary (peak and mean GPUs, GPU-hours, instances per pool and tier)
    recomputed from the reserved rows and the schedule."""
    if "fleet" not in plan_data:
        return
    got, want = plan_data.get("fleet") or [], _expected_fleet(sched, catalog, reserved, H)
    same = _Same()
    if len(got) != len(want):
        same.bad.append(f"{len(got)} fleet rows, recomputed {len(want)}")
    for i, (g, w) in enumerate(zip(got, want, strict=False)):
        for k, v in w.items():
            r = g.get(k) if isinstance(g, Mapping) else None
            if isinstance(v, int | float) and k != "gpus_per_instance":
                same(f"fleet[{i}].{k}", r, float(v))
            elif r != v:
                same.bad.append(f"fleet[{i}].{k}: reported {r!r}, recomputed {v!r}")
    rep.add(
        "fleet",
        not same.bad,
        _summarize(same.bad) if same.bad else f"{len(want)} fleet rows recomputed",
    )


def _unpathed(text: str) -> str:
    """A warning without its file paths (a catalog warning names the file it read, which
    differs between machines and working folders)."""
    return re.sub(r"\S*/\S*", "/", text)


def _check_warnings(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    implied: Sequence[str] | None,
    reserved: Sequence[Mapping[str, Any]],
    H: int,
    baselines: Mapping[str, float | None] | None,
    total: float,
) -> None:
    """The plan states every warning its inputs imply: ``implied`` (the catalog's, idle
    commitments, workloads without slo_stat), short horizons against a commitment's term, a
    plan dearer than a simple policy. Warnings of the solve itself (time limits, the bound,
    aggregation) and of price ages (they depend on the day and --max-price-age) cannot be
    recomputed and are not checked."""
    stated = plan_data.get("warnings")
    if not isinstance(stated, list) or not all(isinstance(w, str) for w in stated):
        rep.add("warnings", False, f"warnings is {stated!r}, not a list of texts")
        return
    have = {_unpathed(w) for w in stated}
    want = [*(implied or []), *short_horizon_warnings(reserved, float(H))]
    missing = [w for w in want if _unpathed(w) not in have]
    costs = {k: v for k, v in (baselines or {}).items() if v is not None}
    best = min(costs, key=lambda k: costs[k]) if costs else None
    if best is not None and costs[best] < total * (1 - 1e-6):
        head = f"The plan costs more than the simple policy '{best}'"
        if not any(w.startswith(head) for w in stated):
            missing.append(head)
    rep.add(
        "warnings",
        not missing,
        f"{len(missing)} warning(s) the inputs imply are missing; first: {missing[0]}"
        if missing
        else f"the {len(want)} warning(s) the inputs imply are stated (the solve's own and "
        "price-age warnings are not recomputed)",
    )


#: The scenarios' per-scenario figures, by name.
_BY_SCENARIO = (
    "cost_by_scenario_usd",
    "single_forecast_cost_by_scenario_usd",
    "own_optimum_by_scenario_usd",
    "regret_by_scenario_usd",
)
#: scenarios.csv's columns and the per-scenario figure each repeats.
_SCENARIO_COLUMNS = {
    "two_stage_usd": "cost_by_scenario_usd",
    "single_forecast_usd": "single_forecast_cost_by_scenario_usd",
    "own_optimum_usd": "own_optimum_by_scenario_usd",
    "regret_usd": "regret_by_scenario_usd",
}


def _check_scenarios(
    rep: VerifyReport,
    plan_data: Mapping[str, Any],
    total: float,
    floor: float,
    given: Given,
) -> None:
    """A two-stage plan's ``scenarios``: the names and weights (against the demand's
    scenarios where given), every figure that follows from the per-scenario costs (expected,
    worst, CVaR, regret, VSS, EVPI, the objective and gap), the fleet (the plan's), each cost
    at least what the fleet commits (``floor``) and the plan's scenario's at least the plan's
    bound, and scenarios.csv. Each scenario's cost is a solve of its own not in the folder:
    it is not recomputed, nor are the bounds the solves proved."""
    same = _Same()
    s = plan_data["scenarios"]
    names, w = _scenario_names(same, s, given.scenarios)
    if names:
        by = {k: _by_scenario(same, s, k, names) for k in _BY_SCENARIO}
        if all(v is not None for v in by.values()):
            _scenario_figures(same, plan_data, s, w, by, total, floor)  # type: ignore[arg-type]
        _scenario_table(same, s, names, given.scenario_table)
    rep.add(
        "scenarios",
        not same.bad,
        _summarize(same.bad)
        if same.bad
        else f"{len(names)} scenarios: weights"
        + (" as the demand gives them" if given.scenarios is not None else " sum to 1")
        + ", expected, worst, CVaR, regret, VSS, EVPI, objective and gap follow from the "
        "per-scenario costs; those costs and the bounds are other solves' and are not "
        "recomputed",
    )


def _scenario_names(same: _Same, s: Any, scenarios: Any) -> tuple[list[str], np.ndarray]:
    """The scenarios' names and weights, checked against the demand's scenarios where given."""
    if not isinstance(s, Mapping):
        same.bad.append(f"scenarios is {s!r}, not an object")
        return [], np.zeros(0)
    names, weights = s.get("names"), s.get("weights")
    if (
        not isinstance(names, list)
        or not names
        or not all(isinstance(n, str) for n in names)
        or len(set(names)) != len(names)
        or not isinstance(weights, list)
        or len(weights) != len(names)
        or not all(_is_number(x) and x > 0 for x in weights)
    ):
        same.bad.append("scenarios.names and weights must be distinct names, one weight > 0 each")
        return [], np.zeros(0)
    w = np.asarray(weights, dtype=float)
    same("sum of scenarios.weights", float(w.sum()), 1.0)
    if scenarios is not None:
        if list(scenarios.names) != names:
            same.bad.append(f"scenarios.names {names}, the demand's {list(scenarios.names)}")
        else:
            for n, a, b in zip(names, w, scenarios.weights, strict=True):
                same(f"scenarios.weights[{n}]", float(a), float(b))
        if s.get("method") != scenarios.method:
            same.bad.append(f"scenarios.method {s.get('method')!r}, not {scenarios.method!r}")
    top = names[int(np.argmax(w))]
    if s.get("plan_scenario") != top:
        same.bad.append(f"scenarios.plan_scenario {s.get('plan_scenario')!r}, expected {top!r}")
    return names, w


def _by_scenario(same: _Same, s: Mapping[str, Any], key: str, names: list[str]) -> Any:
    """A per-scenario figure as an array in ``names`` order (None where malformed)."""
    d = s.get(key)
    if (
        not isinstance(d, Mapping)
        or sorted(d) != sorted(names)
        or not all(_is_number(v) for v in d.values())
    ):
        same.bad.append(f"scenarios.{key} must give a finite number per scenario")
        return None
    return np.array([float(d[n]) for n in names])


def _scenario_figures(
    same: _Same,
    plan_data: Mapping[str, Any],
    s: Mapping[str, Any],
    w: np.ndarray,
    by: Mapping[str, np.ndarray],
    total: float,
    floor: float,
) -> None:
    """What follows from the per-scenario costs and weights, and what bounds those costs."""
    from advisor.stochastic import cvar, parse_risk

    two, one = by["cost_by_scenario_usd"], by["single_forecast_cost_by_scenario_usd"]
    own = by["own_optimum_by_scenario_usd"]
    alpha = s.get("cvar_alpha")
    if not (_is_number(alpha) and 0 <= alpha < 1):
        same.bad.append(f"scenarios.cvar_alpha is {alpha!r}, not in [0, 1)")
        return
    e_two, e_one = float(w @ two), float(w @ one)
    for label, v in (
        ("expected_cost_usd", e_two),
        ("worst_cost_usd", float(two.max())),
        ("cvar_usd", cvar(two, w, alpha)),
        ("single_forecast_expected_cost_usd", e_one),
        ("single_forecast_worst_cost_usd", float(one.max())),
        ("single_forecast_cvar_usd", cvar(one, w, alpha)),
        ("vss_usd", e_one - e_two),
        ("evpi_usd", e_two - float(w @ own)),
    ):
        same(f"scenarios.{label}", s.get(label), v)
    for i, n in enumerate(s["names"]):
        same(f"scenarios.regret_by_scenario_usd[{n}]", float(by["regret_by_scenario_usd"][i]),
             float(two[i] - own[i]))  # fmt: skip
        if own[i] > min(two[i], one[i]) * (1 + REL_TOL) + 1e-6:
            same.bad.append(f"scenarios: {n}'s own optimum is above a fleet's cost there")
        if two[i] < floor * (1 - REL_TOL) - 1e-6:
            same.bad.append(f"scenarios: {n} costs ${two[i]:,.2f}, less than the fleet's "
                            f"committed ${floor:,.2f}")  # fmt: skip
    _scenario_plan_figures(same, plan_data, s, two, total)
    try:
        risk = parse_risk(str(s.get("risk")))
    except AdvisorError:
        same.bad.append(f"scenarios.risk {s.get('risk')!r} is not a risk advisor knows")
        return
    if risk.kind == "cvar" and not _close(risk.alpha, float(alpha)):
        same.bad.append(f"scenarios.cvar_alpha {alpha!r} is not the risk's {risk.alpha:g}")
    objective = float(risk.value(two, w))
    same("scenarios.objective_usd", s.get("objective_usd"), objective)
    _scenario_bound(same, s, objective, risk.kind, float(w @ own))


def _scenario_plan_figures(
    same: _Same, plan_data: Mapping[str, Any], s: Mapping[str, Any], two: np.ndarray, total: float
) -> None:
    """The fleet is the plan's, and the plan's scenario costs the fleet at least the bound the
    plan's own solve proved (one scenario: exactly the plan's cost)."""
    from advisor.stochastic import fleet_from_rows

    rows = plan_data.get("reserved", [])
    fleet = s.get("fleet")
    stated = {
        (str(r.get("gpu")), str(r.get("tier"))): r.get("count")
        for r in (fleet if isinstance(fleet, list) else [])
        if isinstance(r, Mapping) and r.get("count")
    }
    by_gpu = {(str(r["gpu"]), str(r["tier"])): int(r["count"]) for r in rows if int(r["count"])}
    if stated not in (fleet_from_rows(rows), by_gpu):
        same.bad.append(f"scenarios.fleet {fleet!r} is not the plan's reserved fleet")
    names = list(s["names"])
    i = names.index(s["plan_scenario"]) if s.get("plan_scenario") in names else 0
    if len(two) == 1:
        same("scenarios.cost_by_scenario_usd (the plan's cost)", float(two[0]), total)
    lower = plan_data.get("lower_bound_usd")
    if _is_number(lower) and two[i] < lower * (1 - BOUND_TOL) - 1e-6:
        same.bad.append(
            f"scenarios: the plan's scenario costs ${two[i]:,.2f}, below the plan's own lower "
            f"bound ${lower:,.2f}"
        )


def _scenario_bound(
    same: _Same, s: Mapping[str, Any], objective: float, kind: str, own_mean: float
) -> None:
    """The bound is at most the objective, the gap follows from it, and (expected cost) it is
    the larger of the first-stage and wait-and-see bounds, the latter at most the scenarios'
    own optima."""
    bound, gap = s.get("bound_usd"), s.get("gap")
    if bound is None:
        if gap is not None:
            same.bad.append(f"scenarios.gap {gap!r} without a bound")
        return
    if not _is_number(bound) or bound > objective * (1 + REL_TOL) + 1e-6:
        same.bad.append(f"scenarios.bound_usd {bound!r} is above the objective {objective:,.2f}")
        return
    if objective > 0:
        same("scenarios.gap", gap, max(0.0, (objective - bound) / objective))
    elif gap not in (None, 0, 0.0):
        same.bad.append(f"scenarios.gap {gap!r} on an objective of {objective:g}")
    ws, fs = s.get("wait_and_see_bound_usd"), s.get("first_stage_bound_usd")
    if _is_number(ws) and ws > own_mean * (1 + BOUND_TOL) + 1e-6:
        same.bad.append(f"scenarios.wait_and_see_bound_usd {ws!r} is above the own optima's mean")
    if kind == "expected" and "first_stage_bound_usd" in s and (ws is not None or fs is not None):
        parts = [float(x) for x in (ws if ws is not None else 0.0, fs) if _is_number(x)]
        same("scenarios.bound_usd", bound, min(max(parts), objective))


def _scenario_table(
    same: _Same,
    s: Mapping[str, Any],
    names: list[str],
    table: Sequence[Mapping[str, Any]] | None,
) -> None:
    """scenarios.csv (where the folder has it) repeats plan.json's per-scenario figures."""
    if table is None:
        return
    rows = list(table)
    if [str(r.get("scenario")) for r in rows] != names:
        same.bad.append(f"scenarios.csv lists {[r.get('scenario') for r in rows]}, not {names}")
        return
    for r, n, wt in zip(rows, names, s["weights"], strict=True):
        same(f"scenarios.csv {n} weight", r.get("weight"), float(wt))
        for col, key in _SCENARIO_COLUMNS.items():
            same(f"scenarios.csv {n} {col}", r.get(col), float(s[key][n]))
