"""The checks that trust nothing in the plan: the inputs' digests, plan.json's own fields,
the schedule table's numbers, cells and rows, and coverage of the demand."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from advisor.catalog import POOL_TIERS, Catalog
from advisor.plan import NUMERIC_SCHEDULE_COLUMNS, SCHEDULE_COLUMNS
from advisor.verify.report import REL_TOL, Case, VerifyReport, close, is_number, summarize

#: What each input digest stands for, and how to pass the one the plan was solved with.
_INPUT_NAMES = {
    "demand": "the demand CSV",
    "catalog": "the catalog",
    "workloads": "the workload definitions",
    "capacity": "the measured capacity",
    "fleet": "the existing commitments",
}
#: per input digest: the key of plan.json's ``inputs`` naming its files, the flag, and
#: whether a plan solved without one is told to leave the flag out
_INPUT_FILES = {
    "catalog": ("catalog_dirs", "--catalog folders", False),
    "workloads": ("workloads_files", "--workloads files", False),
    "capacity": ("capacity_file", "--capacity file", True),
    "fleet": ("fleet_file", "--fleet file", True),
}


def _input_differs(key: str, recorded_inputs: Any) -> str:
    """Which input differs, and what the plan was solved with: its files, or none."""
    name = _INPUT_NAMES.get(key, key)
    if key not in _INPUT_FILES:
        return f"{name} differs from the one the plan was solved for"
    field, flag, optional = _INPUT_FILES[key]
    files = recorded_inputs.get(field) if isinstance(recorded_inputs, Mapping) else None
    if isinstance(files, list):
        files = ", ".join(str(f) for f in files)
    if files:
        hint = f"pass the {flag} it was solved with: {files}"
    elif optional:
        hint = f"it was solved without one: leave {flag.split()[0]} out"
    else:
        hint = f"pass the {flag} it was solved with"
    return f"{name} ({hint}) differs from the one the plan was solved for"


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


def check_inputs(rep: VerifyReport, plan_data: Mapping[str, Any], given: Mapping[str, str]) -> bool:
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
        "; ".join(_input_differs(k, plan_data.get("inputs")) for k in differ)
        or "demand, catalog, workloads, capacity and fleet are the ones the plan was solved for",
    )
    return not differ


def check_plan_fields(rep: VerifyReport, plan_data: Mapping[str, Any], catalog: Catalog) -> bool:
    """plan.json's own numbers are numbers, its reserved rows name real offers."""
    bad: list[str] = []
    for key in ("total_cost_usd", "horizon_hours"):
        if not is_number(plan_data.get(key)):
            bad.append(f"{key} is {plan_data.get(key)!r}, not a finite number")
    tiers = plan_data.get("cost_by_tier_usd")
    if not isinstance(tiers, Mapping) or not all(is_number(v) for v in tiers.values()):
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
        isinstance(e, Mapping) and is_number(e.get("cost_usd")) for e in ex
    ):
        bad.append("existing must be a list of commitments with a finite cost_usd")
    rep.add("plan_fields", not bad, summarize(bad) if bad else "plan.json's fields are sound")
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


def check_schedule_table(rep: VerifyReport, schedule: pd.DataFrame, catalog: Catalog) -> bool:
    """Every row of the schedule is well formed: finite numbers of the right sign, whole
    counts, a source advisor knows, a deployment named by its model, GPU, quantization and TP
    that the catalog has, and API rows that hold no GPUs."""
    missing = [c for c in ("hour", *_TEXT_COLUMNS, *_NUMBER_COLUMNS) if c not in schedule]
    if missing:
        rep.add("schedule_numbers", False, f"schedule.csv has no column(s) {', '.join(missing)}")
        return False
    # exactly its columns: one a reader would take as the plan's ('slo_met') is not advisor's
    extra = [str(c) for c in schedule.columns if c not in SCHEDULE_COLUMNS]
    if extra:
        rep.add(
            "schedule_numbers", False, f"schedule.csv has columns advisor does not write: {extra}"
        )
        return False
    if not len(schedule):
        rep.add("schedule_numbers", True, "no rows")
        return True
    nums, bad = _schedule_numbers(schedule)
    bad += _empty_text_cells(schedule)
    if bad:
        rep.add("schedule_numbers", False, summarize(bad))
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
        summarize(bad) if bad else f"{len(schedule)} rows: finite, signed, whole where counted",
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
    if not catalog.supports(catalog.gpus[r.gpu], catalog.quant(r.quant)):
        dtype = catalog.quant(r.quant).compute_dtype
        return (
            f"row {i + 2}: {r.gpu} cannot run {r.quant} (the catalog gives it no peak for {dtype})"
        )
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
    if not close(nums["instances"][i], nums["replicas"][i] * tp / want["gpus_per_unit"]):
        return (
            f"row {i + 2}: instances {nums['instances'][i]:g} ≠ replicas × tp / GPUs per instance"
        )
    return None


def check_coverage(rep: VerifyReport, case: Case) -> None:
    """Each cell's rows serve its demand exactly (no more, no less), and each row carries its
    requests' share of the cell's tokens: the API's tokens are served demand, nothing else."""
    sched, hours, workloads = case.sched, case.hours, case.workloads
    requests, input_tokens, output_tokens = case.requests, case.input_tokens, case.output_tokens
    widx = {w: i for i, w in enumerate(workloads)}
    t_idx = sched["hour"].map(case.hour_index).to_numpy() if len(sched) else np.array([], int)
    w_idx = sched["workload"].map(widx).to_numpy() if len(sched) else np.array([], int)
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
