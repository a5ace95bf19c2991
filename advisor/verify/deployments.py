"""What plan.json says of each deployment a workload runs on (its capacity per replica, the
latency and batch it is sized at, the measured error the plan cites beside it) and of how
each workload is served (its share of requests per GPU, quantization, TP degree and source),
recomputed from the inputs and the checked schedule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from advisor.catalog import Catalog, capacity_check
from advisor.plan import deployment_entry, serving_shares
from advisor.serving import Capacity, measured_matches, replica_capacity
from advisor.units import SECONDS_PER_HOUR
from advisor.verify.report import Case, Same, VerifyReport, summarize

#: the latency and batch fields a deployment's entry carries where the model sized it
_PERF_FIELDS = ("batch", "tpot_ms", "ttft_ms", "tpot_margin", "ttft_margin")
#: what a measured deployment's entry may carry of the model's answer beside the measurement
_MODEL_LATENCY = (*_PERF_FIELDS, "slo_stat")


def replica_sizing(
    catalog: Catalog,
    d: Mapping[str, Any],
    r: Any,
    measured: Sequence[Any],
    capacity_model: str = "simulated",
) -> tuple[str, float | None, Capacity | None]:
    """How one replica of schedule row ``r``'s deployment is sized for workload definition
    ``d``: the source of its capacity ('measured', or the capacity model), the requests/hour
    it serves (None: no SLO-meeting operating point) and the serving model's answer (None
    where the model finds none or a measurement replaces it), from the one capacity function
    :func:`advisor.serving.replica_capacity` the options use."""
    rates = [
        m.requests_per_s
        for m in measured
        if (m.gpu, m.quant, m.tp) == (r.gpu, r.quant, int(r.tp))
        and measured_matches(m, d["model"], d)
    ]
    if rates:
        return "measured", max(rates) * SECONDS_PER_HOUR, None
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
        return cap.capacity_model, None, None
    return cap.capacity_model, cap.requests_per_s * SECONDS_PER_HOUR, cap


def expected_entry(
    catalog: Catalog,
    d: Mapping[str, Any],
    r: Any,
    measured: Sequence[Any],
    capacity_model: str,
) -> dict[str, Any]:
    """A deployment's entry in plan.json's ``workloads[w].deployments`` for schedule row
    ``r``, recomputed. A measured deployment's entry carries the model's latency beside the
    measured capacity where the model sized it before the measurement replaced it (not where
    a cheaper deployment made that unnecessary): those fields are not part of it here."""
    source, per_hour, perf = replica_sizing(catalog, d, r, measured, capacity_model)
    check = capacity_check(r.gpu, source, catalog.capacity_error.get(r.gpu))
    entry = deployment_entry(r.deployment, source, perf, per_hour, d["tpot_ms"], d["ttft_ms"])
    return entry | {"capacity_check": check}


def check_deployments(
    rep: VerifyReport,
    case: Case,
    defs: Mapping[str, Mapping[str, Any]],
    measured: Sequence[Any],
    capacity_model: str,
) -> None:
    """Each workload's ``deployments`` (the self-hosted deployments its schedule rows use,
    each with its capacity, latency, margins and the error the plan cites) and ``serving``
    (its share of requests per GPU, quantization, TP and source) as the inputs give them,
    where the plan states them."""
    listed = case.plan_data.get("workloads") or {}
    same = Same()
    for w in case.workloads:
        got = listed.get(w) if isinstance(listed, Mapping) else None
        if not isinstance(got, Mapping):
            same.bad.append(f"workloads[{w}] is missing")
            continue
        rows = case.sched[case.sched["workload"] == w] if len(case.sched) else case.sched
        # a plan written before a figure existed does not state it, and misleads no one
        if "deployments" in got:
            _compare_entries(
                same, w, got["deployments"], rows, case, defs[w], measured, capacity_model
            )
        if "serving" in got:
            _compare_serving(same, w, got["serving"], rows, case)
    rep.add(
        "deployments",
        not same.bad,
        summarize(same.bad)
        if same.bad
        else "each workload's deployments (capacity per replica, latency, margins, the "
        "error cited) and its shares of requests recomputed",
    )


def _compare_entries(
    same: Same,
    w: str,
    got: Any,
    rows: pd.DataFrame,
    case: Case,
    d: Mapping[str, Any],
    measured: Sequence[Any],
    capacity_model: str,
) -> None:
    """One workload's deployment entries against those recomputed from its schedule rows."""
    self_rows = rows[rows["source"] != "api"] if len(rows) else rows
    firsts = self_rows.drop_duplicates("deployment").sort_values("deployment")
    want = [
        expected_entry(case.catalog, d, r, measured, capacity_model)
        for r in firsts.itertuples(index=False)
    ]
    names = [e.get("deployment") if isinstance(e, Mapping) else e for e in got or []]
    if not isinstance(got, list) or names != [e["deployment"] for e in want]:
        same.bad.append(
            f"workloads[{w}].deployments lists {names}; its schedule runs on "
            f"{[e['deployment'] for e in want]}"
        )
        return
    for i, (g, e) in enumerate(zip(got, want, strict=True)):
        label = f"workloads[{w}].deployments[{i}]"
        for k, v in e.items():
            if isinstance(v, float) and k in (*_PERF_FIELDS, "requests_per_hour_per_replica"):
                same(f"{label}.{k}", g.get(k), v)
            elif g.get(k) != v:
                same.bad.append(f"{label}.{k}: reported {g.get(k)!r}, recomputed {v!r}")
        extra = sorted(
            set(g) - set(e) - (set(_MODEL_LATENCY) if e["capacity_source"] == "measured" else set())
        )
        if extra:
            same.bad.append(f"{label} has fields the inputs do not give: {extra}")


def _compare_serving(same: Same, w: str, got: Any, rows: pd.DataFrame, case: Case) -> None:
    """One workload's shares of requests per GPU, quantization, TP and source (the API's
    with no GPU) against its schedule rows."""
    total = float(case.requests[:, list(case.workloads).index(w)].sum())
    want = serving_shares(rows, total)
    keys = ("gpu", "quant", "tp", "source")
    if not isinstance(got, list) or not all(isinstance(g, Mapping) for g in got):
        same.bad.append(f"workloads[{w}].serving is {got!r}, not a list of shares")
        return
    have = {tuple(g.get(k) for k in keys): g.get("share_of_requests") for g in got}
    wanted = {tuple(e[k] for k in keys): e["share_of_requests"] for e in want}
    if len(have) != len(got) or set(have) != set(wanted):
        same.bad.append(
            f"workloads[{w}].serving lists {sorted(map(str, have))}; its schedule serves on "
            f"{sorted(map(str, wanted))}"
        )
        return
    for key, share in wanted.items():
        same(f"workloads[{w}].serving{list(key)}.share_of_requests", have[key], share)
