"""The library's front door: load inputs, solve, assemble, verify — what ``advisor solve`` does.

>>> from advisor.pipeline import solve_plan
>>> plan = solve_plan("demand/spiky_diurnal.csv")          # doctest: +SKIP
>>> plan.total_cost_usd, plan.cost_by_tier_usd             # doctest: +SKIP
>>> plan.save("out/spiky")                                 # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from advisor import __version__
from advisor.baselines import compute_baselines
from advisor.buylist import term_hours
from advisor.catalog import POOL_TIERS, Catalog, default_prices, load_catalog
from advisor.demand import Demand, load_demand
from advisor.errors import AdvisorError, CatalogError, PlanError, closest
from advisor.files import read_manifest, sha256, to_json
from advisor.fleet import (
    Commitment,
    existing_gpus,
    existing_rows,
    idle_commitments,
    load_fleet,
)
from advisor.options import (
    MeasuredCapacity,
    OptionSet,
    build_options,
    load_measured_capacity,
    unmatched_measurements,
)
from advisor.plan import (
    BUY_FILE,
    SUMMARY_FILE,
    Plan,
    assemble_plan,
    marginal_by_workload,
    pool_gpus_by_hour,
    read_buy_csv,
)
from advisor.policy import Policy, apply_policy, check_policy, load_policy
from advisor.prices import DEFAULT_MAX_PRICE_AGE_DAYS, stale_prices
from advisor.serving import CAPACITY_MODELS
from advisor.solve import DEFAULT_SOLVER, FleetSolution, Progress, SolverSettings, solve_fleet
from advisor.verify import Given, VerifyReport, verify_plan
from advisor.verify.report import Same, summarize
from advisor.workloads import Workload, load_workloads


@dataclass
class Inputs:
    """Everything a solve reads, loaded and validated."""

    catalog: Catalog
    workloads: dict[str, Workload]
    demand: Demand
    measured: list[MeasuredCapacity] = field(default_factory=list)
    commitments: list[Commitment] = field(default_factory=list)
    files: dict[str, Any] = field(default_factory=dict)
    #: providers every workload may buy from (``--providers``); None: any
    providers: list[str] | None = None
    #: a plan warns about each price it uses that is older than this [days]
    max_price_age_days: float = DEFAULT_MAX_PRICE_AGE_DAYS
    policy: Policy = field(default_factory=Policy)
    #: how a replica's capacity is computed: "simulated" (default) or "roofline" (fast)
    capacity_model: str = "simulated"

    def with_workloads(self, workloads: Mapping[str, Workload]) -> Inputs:
        return replace(self, workloads=dict(workloads))


def load_inputs(
    demand_path: Path | str,
    *,
    workloads_files: Sequence[Path | str] = (),
    catalog_dirs: Sequence[Path | str] = (),
    capacity_file: Path | str | None = None,
    fleet_file: Path | str | None = None,
    prices: str | None = None,
    providers: Sequence[str] | None = None,
    max_price_age_days: float = DEFAULT_MAX_PRICE_AGE_DAYS,
    policy_file: Path | str | None = None,
    policy: Policy | None = None,
    read_demand: Callable[[Path, Mapping[str, Workload]], Demand] = load_demand,
) -> Inputs:
    """Load and validate the catalog (with price profile ``prices``), workloads, demand
    (``read_demand``: a scenario file's reader gives its weighted mean), measured capacity,
    fleet and procurement policy; ``providers`` limits where the plan may buy, and
    ``policy``'s fields that are set replace those of ``policy_file``."""
    cdirs = [Path(d) for d in catalog_dirs]
    catalog = load_catalog(cdirs, prices=prices)
    if providers is not None:
        check_providers(catalog, providers)
        providers = sorted(set(providers))  # a set of allowed providers: order and repeats
    workloads = load_workloads(catalog, [Path(p) for p in workloads_files], catalog_dirs=cdirs)
    demand = read_demand(Path(demand_path), workloads)
    measured = load_measured_capacity(capacity_file, catalog) if capacity_file else []
    commitments = load_fleet(fleet_file, catalog) if fleet_file else []
    pol = load_policy(policy_file, catalog) if policy_file else Policy()
    if policy is not None:
        flags = {k: v for k, v in policy.model_dump().items() if v is not None}
        pol = check_policy(Policy.model_validate({**pol.model_dump(), **flags}), catalog, "policy")
    files = {
        "demand": str(demand_path),
        "catalog_dirs": [str(d) for d in cdirs],
        "workloads_files": [str(p) for p in workloads_files],
        "capacity_file": str(capacity_file) if capacity_file else None,
        "fleet_file": str(fleet_file) if fleet_file else None,
        "prices": prices or default_prices(),
        "providers": list(providers) if providers is not None else None,
        "policy_file": str(policy_file) if policy_file else None,
    }
    return Inputs(
        catalog,
        workloads,
        demand,
        measured,
        commitments,
        files,
        list(providers) if providers is not None else None,
        max_price_age_days,
        pol,
    )


def check_providers(catalog: Catalog, providers: Sequence[str]) -> None:
    """Raise ``CatalogError`` for a provider no offer (GPU or API) names."""
    known = {o.provider for o in catalog.offers.values()} | {p for (_, p) in catalog.api_offers}
    for p in providers:
        if p not in known:
            raise CatalogError(
                f"--providers: no offer comes from '{p}'.{closest(p, known)} Providers: "
                f"{', '.join(sorted(known))}."
            )


def input_digests(inputs: Inputs) -> dict[str, str]:
    """SHA-256 of each input's content as read (not its file bytes: a CSV saved again with the
    same numbers keeps its digest). A plan records them; ``verify`` recomputes them from the
    files it is given and refuses a plan solved for other inputs."""
    d = inputs.demand
    cat = inputs.catalog
    tables = {
        name: {str(k): v.model_dump(mode="json") for k, v in sorted(getattr(cat, name).items())}
        for name in (
            "gpus",
            "efficiency",
            "models",
            "quantizations",
            "offers",
            "apis",
            "api_offers",
        )
    }
    tables["defaults"] = cat.defaults.model_dump(mode="json")
    parts = {
        "demand": {
            "hours": [h.isoformat() for h in d.hours],
            "workloads": list(d.workloads),
            "requests": np.asarray(d.requests).tolist(),
            "input_tokens": np.asarray(d.input_tokens).tolist(),
            "output_tokens": np.asarray(d.output_tokens).tolist(),
        },
        "catalog": tables,
        "workloads": {w: inputs.workloads[w].model_dump(mode="json") for w in d.workloads},
        "capacity": [dataclasses.asdict(m) for m in inputs.measured],
        "fleet": [c.model_dump(mode="json") for c in inputs.commitments],
        "providers": inputs.providers,
    }
    return {k: sha256(to_json(v, indent=None)) for k, v in parts.items()}


def within_policy(inputs: Inputs) -> tuple[Catalog, dict[str, Workload]]:
    """The catalog and the workloads that appear in the demand as the solve and the verifier
    both read them: within the policy (see :func:`advisor.policy.apply_policy`)."""
    used = {w: inputs.workloads[w] for w in inputs.demand.workloads}
    return apply_policy(inputs.policy, inputs.catalog, used)


def option_set(inputs: Inputs) -> OptionSet:
    """Deployment options for the workloads that appear in the demand, within the policy."""
    catalog, used = within_policy(inputs)
    return build_options(
        catalog,
        used,
        inputs.measured,
        providers=inputs.providers,
        committed_gpus=sorted({c.gpu for c in inputs.commitments}),
        max_gpu_types=inputs.policy.max_gpu_types,
        min_rental_hours=inputs.policy.min_rental_hours,
        capacity_model=inputs.capacity_model,
    )


def solve_demand(
    opts: OptionSet,
    demand: Demand,
    settings: SolverSettings,
    existing: Mapping[str, np.ndarray],
    *,
    aggregate: str | int = "auto",
    progress: Progress | None = None,
    started_at: float | None = None,
) -> FleetSolution:
    """``solve_fleet`` on one demand table, with ``existing`` committed GPUs per type and
    hour; the time budget counted from ``started_at`` where given."""
    return solve_fleet(
        opts,
        demand.workloads,
        np.asarray(demand.requests),
        np.asarray(demand.input_tokens),
        np.asarray(demand.output_tokens),
        settings,
        existing_gpus=existing,
        aggregate=aggregate,
        progress=progress,
        started_at=started_at,
    )


def solve_inputs(
    inputs: Inputs,
    settings: SolverSettings = SolverSettings(),
    *,
    aggregate: str | int = "auto",
    progress: Progress | None = None,
) -> Plan:
    """Solve, cost the baselines, assemble the plan and verify it independently."""
    started_at = time.perf_counter()  # the time budget counts the options' capacities too
    d = inputs.demand
    opts = option_set(inputs)
    existing = existing_gpus(inputs.commitments, d.hours)
    sol = solve_demand(
        opts, d, settings, existing, aggregate=aggregate, progress=progress, started_at=started_at
    )
    sol = _within_gpu_types(sol, inputs, opts, settings, existing, aggregate, progress)
    return finish_plan(inputs, opts, sol, settings, aggregate=aggregate)


def finish_plan(
    inputs: Inputs,
    opts: OptionSet,
    sol: FleetSolution,
    settings: SolverSettings,
    *,
    aggregate: str | int = "auto",
) -> Plan:
    """Cost the baselines, assemble ``sol`` into a plan for ``inputs.demand`` and verify it."""
    d = inputs.demand
    existing = existing_gpus(inputs.commitments, d.hours)
    ex_rows, ex_usd, baselines = _baselines(inputs, opts)
    meta = {
        "advisor_version": __version__,
        "demand": {
            "source": d.source,
            "hours": d.n_hours,
            "start": d.hours[0].isoformat(),
            "end": d.hours[-1].isoformat(),
            "workloads": list(d.workloads),
        },
        "inputs": inputs.files,
        "capacity_model": inputs.capacity_model,
        "input_sha256": input_digests(inputs),
        "settings": {
            "solver": settings.name,
            "time_limit_s": settings.time_limit_s,
            "gap": settings.gap,
            "threads": settings.threads,
            "aggregate": aggregate,
        },
        "policy": inputs.policy.model_dump(),
        "options": {
            "considered": len(opts.options) + len(opts.rejected) + len(opts.dominated),
            "kept": len(opts.options),
            "dominated_deployments": len(opts.dominated),
        },
    }
    plan = assemble_plan(
        sol,
        opts,
        d.hours,
        d.workloads,
        d.requests,
        d.input_tokens,
        d.output_tokens,
        baselines,
        meta,
        existing=ex_rows,
        existing_usd=ex_usd,
        terms=commitment_terms(inputs.catalog),
        existing_gpus=existing,
    )
    # catalog warnings (e.g. a reserved price above on-demand) travel with the plan, and so
    # does the age of every price the plan pays
    stale = stale_prices(_offers_used(plan, inputs.catalog), inputs.max_price_age_days)
    catalog_warnings, idle, rules = implied_warnings(inputs)
    plan = plan.with_warnings([*catalog_warnings, *stale, *idle, *plan.doc.warnings, *rules])
    report = verify_inputs(plan, inputs)
    return plan.with_verification(report.ok, report.as_dict())


def implied_warnings(inputs: Inputs) -> tuple[list[str], list[str], list[str]]:
    """The warnings a plan for ``inputs`` states whatever its solve: the catalog's (e.g. a
    reserved price above on-demand), the commitments with no hour in the horizon, and the
    workloads', the capacity file's and the policy's (no slo_stat; measured rows that size
    nothing; a minimum rental longer than the horizon).
    ``verify`` requires them of a plan."""
    d = inputs.demand
    rules = [
        f"workload '{w}' states no slo_stat: its TTFT/TPOT limits bound the mean "
        "(set slo_stat: p99 for MLPerf-style percentile limits)"
        for w in d.workloads
        if inputs.workloads[w].slo_stat is None
    ]
    rules += unused_capacity_rows(inputs)
    m = inputs.policy.min_rental_hours
    if m is not None and m > d.n_hours:
        rules.append(
            f"min_rental_hours {m} is longer than the {d.n_hours}-hour horizon: every "
            "on-demand or spot start runs to the horizon's end"
        )
    return list(inputs.catalog.warnings), idle_commitments(inputs.commitments, d.hours), rules


def unused_capacity_rows(inputs: Inputs) -> list[str]:
    """Where the ``--capacity`` file sizes nothing: it has no rows, rows that stand for no
    workload of the demand (the same model, lengths within 1%, SLOs at least as tight, a GPU
    and quantization the workload and the policy allow), or rows of a GPU no offer sells. A
    user reads the plan as sized by their measurement; this says where it is not."""
    path = inputs.files.get("capacity_file")
    if not path:
        return []
    if not inputs.measured:
        return [f"the capacity file {path} has no rows: every capacity is the model's"]
    _, used = within_policy(inputs)
    notes = []
    unmatched = unmatched_measurements(inputs.measured, used)
    if unmatched:
        r = unmatched[0]
        notes.append(
            f"{len(unmatched)} of the {len(inputs.measured)} rows of the capacity file {path} "
            "stand for no workload of the demand (the same model, prompt and completion "
            "within 1%, TPOT and TTFT at least as tight, a GPU and quantization it may use) "
            f"and size nothing; first: {r.model} on {r.gpu} {r.quant} TP {r.tp}, "
            f"{r.prompt_tokens:g}/{r.completion_tokens:g} tokens, TPOT {r.tpot_ms:g} ms, "
            f"TTFT {r.ttft_ms:g} ms"
        )
    sold = {
        o.gpu
        for o in inputs.catalog.offers.values()
        if inputs.providers is None or o.provider in inputs.providers
    }
    unsold = sorted({r.gpu for r in inputs.measured if r not in unmatched} - sold)
    if unsold:
        notes.append(
            f"the capacity file {path} measures {', '.join(unsold)}, which no offer sells"
            + ("" if inputs.providers is None else " among --providers")
            + ": those rows size nothing (add an offer: `advisor offers import`)"
        )
    return notes


def _gpu_hours_by_type(sol: FleetSolution, opts: OptionSet) -> dict[str, float]:
    """GPU-hours per GPU type in a solution: new commitments over the horizon, replicas."""
    out: dict[str, float] = {}
    for (g, _tier), n in sol.reserved.items():
        out[g] = out.get(g, 0.0) + n * len(sol.hours)
    for hs in sol.hours:
        for (k, _s), n in hs.replicas.items():
            dep = opts.deployments[k]
            if n > 0:
                out[dep.gpu] = out.get(dep.gpu, 0.0) + n * dep.tp
    return out


def _within_gpu_types(
    sol: FleetSolution,
    inputs: Inputs,
    opts: OptionSet,
    settings: SolverSettings,
    existing: Mapping[str, np.ndarray],
    aggregate: str | int,
    progress: Progress | None,
) -> FleetSolution:
    """Keep a clustered solution to the policy's GPU types.

    The MILP limits the types, but a clustered solve re-solves hours on their own, which can
    bring in another type. Then the solve is repeated on the K types that carried the most
    GPU-hours; the first solve's bound stays (valid for the limited problem: the second
    solve's bound is for a narrower one)."""
    k = inputs.policy.max_gpu_types
    used = _gpu_hours_by_type(sol, opts)
    if k is None or len(used) <= k:
        return sol
    keep = sorted(sorted(used, key=lambda g: -used[g])[:k])
    narrow = replace(
        inputs,
        policy=inputs.policy.model_copy(
            update={
                "gpus": keep
                if inputs.policy.gpus is None
                else [g for g in inputs.policy.gpus if g in keep]
            }
        ),
    )
    again = solve_demand(
        option_set(narrow),
        inputs.demand,
        settings,
        existing,
        aggregate=aggregate,
        progress=progress,
    )
    lower = sol.lower_bound
    note = (
        f"The fleet was limited to {k} GPU type(s) ({', '.join(keep)}, the ones carrying the "
        f"most GPU-hours) after the clustered solve used {len(used)}; the gap is against the "
        "first solve's bound."
    )
    return replace(again, lower_bound=lower, warnings=[*again.warnings, note])


def commitment_terms(catalog: Catalog) -> dict[tuple[str, str], float]:
    """Each pool offer's commitment term [hours] (see ``buylist.term_hours``), by (pool,
    tier)."""
    return {
        (g, t): hours
        for (g, t), o in catalog.offers.items()
        if t in POOL_TIERS
        and (hours := term_hours(t, o.amortization_years, o.term_months)) is not None
    }


def solve_plan(
    demand_path: Path | str,
    *,
    workloads_files: Sequence[Path | str] = (),
    catalog_dirs: Sequence[Path | str] = (),
    capacity_file: Path | str | None = None,
    fleet_file: Path | str | None = None,
    prices: str | None = None,
    providers: Sequence[str] | None = None,
    max_price_age_days: float = DEFAULT_MAX_PRICE_AGE_DAYS,
    policy_file: Path | str | None = None,
    policy: Policy | None = None,
    solver: str = DEFAULT_SOLVER,
    time_limit_s: float | None = None,
    gap: float = 1e-3,
    threads: int = 1,
    aggregate: str | int = "auto",
    progress: Progress | None = None,
    capacity_model: str = "simulated",
) -> Plan:
    """Load the inputs and solve: the library form of ``advisor solve``."""
    inputs = load_inputs(
        demand_path,
        workloads_files=workloads_files,
        catalog_dirs=catalog_dirs,
        capacity_file=capacity_file,
        fleet_file=fleet_file,
        prices=prices,
        providers=providers,
        max_price_age_days=max_price_age_days,
        policy_file=policy_file,
        policy=policy,
    )
    inputs = replace(inputs, capacity_model=capacity_model)
    settings = SolverSettings(solver, time_limit_s, gap, threads)
    return solve_inputs(inputs, settings, aggregate=aggregate, progress=progress)


def verify_inputs(
    plan: Plan,
    inputs: Inputs,
    expected: Mapping[str, Any] | None = None,
    *,
    given: Given | None = None,
) -> VerifyReport:
    """Check ``plan`` against ``inputs`` alone: every number is recomputed from them (the
    plan's own copies of SLOs, prices and paths are not trusted). ``expected`` is
    ``expected_from(inputs)`` when the caller checks many plans against the same inputs;
    ``given`` what was read beside the plan (its folder's buy.csv and scenarios.csv, the
    demand's scenarios); the warnings the inputs imply are added to it here.
    The workloads are checked as the solve reads them: within the policy (a policy without
    the API takes it from every workload)."""
    d = inputs.demand
    _, used = within_policy(inputs)
    implied = [w for part in implied_warnings(inputs) for w in part]
    given = replace(given or Given(), implied_warnings=implied)
    expected = dict(expected if expected is not None else expected_from(inputs))
    opts = expected.pop("opts", None) or option_set(inputs)
    rep = verify_plan(
        plan.data,
        plan.schedule,
        d.hours,
        d.workloads,
        d.requests,
        d.input_tokens,
        d.output_tokens,
        inputs.catalog,
        used,
        inputs.measured,
        providers=inputs.providers,
        capacity_model=inputs.capacity_model,
        given=given,
        policy=inputs.policy,
        **expected,
    )
    check_stated_inputs(rep, plan.data, inputs.files)
    check_marginal(rep, plan, inputs, opts, expected["existing_gpus"])
    return rep


def check_marginal(
    rep: VerifyReport,
    plan: Plan,
    inputs: Inputs,
    opts: OptionSet,
    existing: Mapping[str, np.ndarray],
) -> None:
    """Each workload's marginal cost per million output tokens, recomputed on the options of
    ``inputs`` from the plan's schedule and reserved rows (whose soundness the checks before
    establish: where they failed, so may this one)."""
    d = inputs.demand
    wl = plan.data.get("workloads") or {}
    try:  # a forged 1e308 overflows: the figure then differs, it does not raise
        reserved = {
            (r.get("pool", r["gpu"]), r["tier"]): int(r["count"]) for r in plan.data["reserved"]
        }
        pools = pool_gpus_by_hour(reserved, existing, d.n_hours)
        with np.errstate(all="ignore"):
            want = marginal_by_workload(
                plan.schedule, opts, d.hours, d.workloads, d.requests, d.input_tokens,
                d.output_tokens, pools,
            )  # fmt: skip
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, PlanError) as exc:
        rep.add("marginal", False, f"cannot be recomputed from this plan: {exc!r}")
        return
    same = Same()
    for w, usd in want.items():
        entry = wl.get(w) if isinstance(wl, Mapping) else None
        key = "marginal_usd_per_m_output_tokens"
        if isinstance(entry, Mapping) and key in entry:  # a plan from before it: not stated
            same(f"workloads[{w}].{key}", entry[key], usd)
    rep.add(
        "marginal",
        not same.bad,
        summarize(same.bad)
        if same.bad
        else "each workload's marginal $/M output tokens recomputed on this fleet",
    )


def check_stated_inputs(
    rep: VerifyReport, plan_data: Mapping[str, Any], files: Mapping[str, Any]
) -> None:
    """What plan.json says it was solved with beyond paths (the price profile, --providers)
    is what this check read: a plan that names another profile than its prices misleads its
    reader (paths may differ between machines and are not compared)."""
    stated = plan_data.get("inputs")
    bad = []
    if not isinstance(stated, Mapping):
        bad.append("the plan does not state the inputs it was solved with (key 'inputs')")
    else:
        for k, label in (("prices", "price profile"), ("providers", "providers")):
            if stated.get(k) != files.get(k):
                bad.append(
                    f"the plan names the {label} {stated.get(k)!r}; its figures are those of "
                    f"{files.get(k)!r}, the {label} this check read"
                )
    rep.add("stated_inputs", not bad, "; ".join(bad) or "price profile and providers as read")


def _baselines(
    inputs: Inputs, opts: OptionSet
) -> tuple[list[dict[str, Any]], float, dict[str, Any]]:
    """The commitments' rows over the demand's hours, their spend [USD] and each simple
    policy on ``opts``, every policy paying what is already committed (one rule for the plan
    and its baselines)."""
    d = inputs.demand
    ex_rows = existing_rows(inputs.commitments, d.hours)
    ex_usd = float(sum(r["cost_usd"] for r in ex_rows))
    baselines = compute_baselines(
        opts,
        d.workloads,
        d.requests,
        d.input_tokens,
        d.output_tokens,
        committed_usd=ex_usd,
        has_commitments=bool(ex_rows),
        existing_gpus=existing_gpus(inputs.commitments, d.hours),
    )
    return ex_rows, ex_usd, baselines


def expected_from(inputs: Inputs) -> dict[str, Any]:
    """What a plan for ``inputs`` must report beyond its schedule: the inputs' digests, the
    commitments' rows and GPUs per hour, and each simple policy's cost."""
    d = inputs.demand
    opts = option_set(inputs)
    ex_rows, _, baselines = _baselines(inputs, opts)
    return {
        "existing_gpus": existing_gpus(inputs.commitments, d.hours),
        "input_sha256": input_digests(inputs),
        "existing": ex_rows,
        "baselines": {k: b.total_cost_usd for k, b in baselines.items()},
        "opts": opts,  # the options the marginal costs are recomputed on (not a plan figure)
    }


def verify_files(
    plan_path: Path | str,
    demand_path: Path | str,
    *,
    workloads_files: Sequence[Path | str] = (),
    catalog_dirs: Sequence[Path | str] | None = None,
    capacity_file: Path | str | None = None,
    fleet_file: Path | str | None = None,
    prices: str | None = None,
    providers: Sequence[str] | None = None,
    scenarios_file: Path | str | None = None,
    policy_file: Path | str | None = None,
    policy: Policy | None = None,
    adjust: Callable[[Inputs], Inputs] | None = None,
    capacity_model: str | None = None,
) -> VerifyReport:
    """Verify a saved plan against the inputs given here, read as ``solve`` reads them (the
    shipped catalog, workloads and default price profile when none are given). Nothing the
    plan names is loaded: a plan solved for other inputs fails the ``inputs`` check, which
    names the input. Every file the folder's manifest lists must be there; buy.csv and
    scenarios.csv are checked as a reader reads them. ``scenarios_file`` (the demand file
    with scenarios a two-stage plan was solved on) checks its scenarios' names and weights.
    ``policy_file`` and ``policy`` (the flags) are the procurement policy the plan must keep,
    as ``solve`` reads them; where neither is given, the policy the plan records is the rule
    checked, and the ``policy_source`` check says so. ``adjust`` changes the inputs read
    before the check: a sweep case's change (``advisor.sweep.apply_param``).
    ``capacity_model`` (the flag) is the capacity model the plan must have been sized with;
    where it is not given, the model the plan records is the one recomputed, and the
    ``capacity_model`` check says so."""
    plan = Plan.load(plan_path)
    _one_demand(plan, demand_path)
    inputs = load_inputs(
        demand_path,
        workloads_files=workloads_files,
        catalog_dirs=catalog_dirs or (),
        capacity_file=capacity_file,
        fleet_file=fleet_file,
        prices=prices,
        providers=providers,
        policy_file=policy_file,
        policy=policy,
    )
    if adjust is not None:
        inputs = adjust(inputs)
    given_policy = policy_file is not None or (policy is not None and not policy.is_empty)
    recorded, unreadable = recorded_policy(plan.data.get("policy"), inputs.catalog)
    if not given_policy and recorded is not None:
        inputs = replace(inputs, policy=recorded)
    folder = Path(plan.path or ".")
    buy_path = folder / BUY_FILE
    # the buy list on disk is what a reviewer reads: that file is checked, and so is
    # plan.json's copy (which compare and report read)
    summary_path = folder / SUMMARY_FILE
    given = Given(
        buy_file=read_buy_csv(buy_path) if buy_path.is_file() else None,
        # what a reader opens first: its text must be what plan.json says
        summary_file=summary_path.read_text(encoding="utf-8", errors="replace")
        if summary_path.is_file()
        else None,
        scenario_table=_scenario_table(folder) if plan.data.get("scenarios") else None,
        scenarios=_scenario_set(scenarios_file, inputs) if scenarios_file else None,
    )
    recorded_method = recorded_capacity_model(plan)
    method = capacity_model or recorded_method
    rep = verify_inputs(plan, replace(inputs, capacity_model=method), given=given)
    _check_capacity_source(rep, recorded_method, capacity_model)
    _check_policy_source(rep, plan.data.get("policy"), inputs.policy, given_policy, unreadable)
    _check_folder(rep, folder)
    if given.scenarios is not None:
        _check_scenario_demand(rep, given.scenarios, inputs.demand)
    case = (plan.data.get("sweep_case") or {}).get("case")
    if adjust is None and isinstance(case, str):
        rep.explain("inputs", f"the plan is the sweep case {case}: pass --sweep {case}")
    named = (plan.data.get("inputs") or {}).get("prices")
    used = inputs.files["prices"]
    if isinstance(named, str) and named != used:
        rep.explain(
            "inputs",
            f"the plan was solved on the price profile '{named}' and this check read "
            f"'{used}': pass --prices {named}",
        )
    return rep


def recorded_capacity_model(plan: Plan) -> str:
    """The capacity model a saved plan was solved with. It is a method the solve chose, not
    an input: plans from before the serving model have none and used the roofline; anything
    else is refused."""
    method = plan.data.get("capacity_model", "roofline")
    if method not in CAPACITY_MODELS:
        where = plan.path / "plan.json" if plan.path is not None else "plan.json"
        raise AdvisorError(
            f"{where}: capacity_model {method!r} is not simulated or roofline; the plan file "
            "was edited or is not advisor's"
        )
    return str(method)


def _check_capacity_source(rep: VerifyReport, recorded: str, given: str | None) -> None:
    """Say which capacity model the check recomputed with: the one given here (which the
    plan must record; the ``capacity_model`` check fails where it does not) or the plan's
    own record, the roofline's named as the fast upper bound it is."""
    if given is not None:
        rep.explain(
            "capacity_model",
            f"the plan was sized with the {recorded} model, not the {given} one given here: "
            f"solve again with --capacity-model {given}",
        )
        return
    bound = " (the fast upper bound, not the default simulated model)"
    note = (
        f"; the model plan.json records{bound if recorded == 'roofline' else ''}: pass "
        "--capacity-model to check the plan against yours"
    )
    for c in rep.checks:
        if c["check"] == "capacity_model" and c["ok"]:
            c["detail"] += note


def recorded_policy(recorded: Any, catalog: Catalog) -> tuple[Policy | None, str | None]:
    """The procurement policy plan.json records, read as a policy file is (None for a plan
    without one), or why it cannot be read."""
    if recorded is None:
        return None, None
    try:
        return check_policy(Policy.model_validate(recorded), catalog, "plan.json's policy"), None
    except (ValidationError, AdvisorError) as exc:
        return None, " ".join(str(exc).split())


def _policy_text(policy: Mapping[str, Any]) -> str:
    """A policy's rules as a reader states them ('no rules' where it sets none)."""
    rules = [f"{k}={v}" for k, v in policy.items() if v is not None]
    return ", ".join(rules) or "no rules"


def _check_policy_source(
    rep: VerifyReport,
    recorded: Any,
    applied: Policy,
    given: bool,
    unreadable: str | None,
) -> None:
    """Which procurement policy the plan was checked against: the one given here (``given``:
    --policy or its flags), which the plan must record, or else the plan's own record."""
    want = applied.model_dump()
    if unreadable is not None:
        rep.add(
            "policy_source",
            False,
            f"plan.json's policy cannot be read ({unreadable}); the plan file was edited or "
            "is not advisor's: pass the policy it was solved with (--policy or its flags)",
        )
    elif not given:
        rep.add(
            "policy_source",
            True,
            f"the policy plan.json records ({_policy_text(want)}) is the rule checked; pass "
            "--policy or --tiers/--vendors/--gpus/--max-gpu-types/--min-rental-hours to "
            "check the plan against yours",
        )
    else:
        same = isinstance(recorded, Mapping) and _same_policy(recorded, want)
        rep.add(
            "policy_source",
            same,
            f"the plan records the policy given here ({_policy_text(want)})"
            if same
            else f"plan.json records the policy {recorded!r}; the policy given here is "
            f"{_policy_text(want)}: the plan was solved under other rules",
        )


def _same_policy(recorded: Mapping[str, Any], want: Mapping[str, Any]) -> bool:
    """Whether two policies set the same rules (lists compared as sets)."""

    def norm(v: Any) -> Any:
        return sorted(map(str, v)) if isinstance(v, list) else v

    keys = set(recorded) | set(want)
    return all(norm(recorded.get(k)) == norm(want.get(k)) for k in keys)


def _check_folder(rep: VerifyReport, folder: Path) -> None:
    """Every file of the plan the folder's manifest (``.advisor/manifest.json``) lists is
    there: a plan folder without its buy.csv or summary.md is not the plan advisor wrote (a
    report written into the folder later is the report's, not the plan's)."""
    listed = sorted(n for n in read_manifest(folder).get("files", {}) if not n.startswith(REPORT))
    missing = [n for n in listed if not (folder / n).is_file()]
    rep.add(
        "plan_files",
        not missing,
        f"{', '.join(missing)} missing from {folder} (its manifest lists "
        f"{', '.join(listed)}); solve again, or restore the file"
        if missing
        else f"{len(listed)} files the manifest lists are there",
    )


#: how the files ``advisor report`` writes into a plan folder begin
REPORT = "report"


def _check_scenario_demand(rep: VerifyReport, scen: Any, demand: Demand) -> None:
    """The demand verified is the scenario file's most probable scenario (the one a two-stage
    plan's schedule is of)."""
    top = int(np.argmax(scen.weights))
    d = scen.demands[top]
    same = d.hours.equals(demand.hours) and list(d.workloads) == list(demand.workloads)
    same = same and all(
        np.allclose(getattr(d, a), getattr(demand, a), rtol=1e-9, atol=1e-9)
        for a in ("requests", "input_tokens", "output_tokens")
    )
    rep.add(
        "scenario_demand",
        same,
        f"the demand is scenario '{scen.names[top]}' of the scenario file"
        if same
        else f"the demand given is not scenario '{scen.names[top]}' (the most probable) of "
        "the scenario file",
    )


def _scenario_table(folder: Path) -> list[dict[str, Any]] | None:
    """scenarios.csv's rows (None where the folder has none)."""
    from advisor.scenario_report import SCENARIOS_CSV

    path = folder / SCENARIOS_CSV
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"scenario": str})
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise PlanError(f"{path}: not a readable scenario table ({exc}).") from None
    return frame.to_dict("records")


def _scenario_set(path: Path | str, inputs: Inputs) -> Any:
    """The scenarios of a demand file (their names, weights and how they were read)."""
    from advisor.scenarios import load_scenarios

    if not Path(path).is_file():
        raise AdvisorError(
            f"--scenarios '{path}' is not a file: give the demand file with scenarios the "
            "plan was solved on."
        )
    return load_scenarios(path, inputs.workloads)


def _one_demand(plan: Plan, demand_path: Path | str) -> None:
    """``verify`` checks a plan against one demand: a file of scenarios is refused with the
    scenario a two-stage plan's schedule is of."""
    from advisor.scenarios import has_scenarios

    if not has_scenarios(demand_path):
        return
    named = (plan.data.get("scenarios") or {}).get("plan_scenario")
    which = (
        f"this plan's schedule is of its scenario '{named}': verify it against that "
        "scenario's rows alone (the hour, workload and quantity columns), with the file "
        f"as --scenarios {demand_path}"
        if named
        else "give the demand this plan was solved for"
    )
    raise AdvisorError(
        f"{demand_path}: the file holds demand scenarios; verify checks a plan against one "
        f"demand, and {which}."
    )


def _offers_used(plan: Plan, catalog: Catalog) -> list[Any]:
    """The catalog offers (GPU and API) a plan pays for."""
    used: set[tuple[str, str]] = {
        (r.get("pool", r["gpu"]), r["tier"]) for r in plan.data.get("reserved", [])
    }
    sched = plan.schedule
    out: list[Any] = []
    if len(sched):
        hourly = sched[sched["source"].isin(["on_demand", "spot"])]
        used |= set(zip(hourly["pool"], hourly["source"], strict=True))
        api = sched[sched["source"] == "api"]
        for w, prov in sorted(set(zip(api["workload"], api["provider"], strict=True))):
            model = plan.data["workloads"][w]["model"]
            a = catalog.api_offers.get((model, prov))
            if a is not None and a not in out:
                out.append(a)
    return [catalog.offers[k] for k in sorted(used) if k in catalog.offers] + out
