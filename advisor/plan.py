"""The ``Plan``: fleet, hourly schedule, costs, baselines; saved and loaded as files.

A plan on disk is a folder::

    plan.json      fleet, costs by tier and workload, $/M tokens, utilization, solver, baselines
    schedule.csv   hour × workload × deployment × source → replicas, GPUs, requests, tokens
    buy.csv        the buy list: one row per GPU type × tier (``advisor.buylist``)
    summary.md     a readable summary, the buy list first

The four are written as one step (``advisor.files.PlanFolder``: a new folder swapped in whole,
or files moved in under a journal, so a kill leaves the old plan or the new one); ``plan.json``
also records the SHA-256
of ``schedule.csv`` so a reader never pairs a plan with another run's schedule.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from advisor.baselines import Baseline
from advisor.buylist import (
    buy_csv,
    buy_rows,
    buy_table,
    commitment_fields,
    short_horizon_warnings,
    term_hours,
)
from advisor.catalog import capacity_check
from advisor.costmath import self_hosting_overhead_usd
from advisor.errors import PlanError
from advisor.files import PlanFolder, owned_by_advisor, reading, sha256, to_json
from advisor.milp import POOL
from advisor.options import OptionSet, api_usd_per_hour
from advisor.solve import FleetSolution, HourSchedule, Status, whole_status
from advisor.units import TOKENS_PER_M
from advisor.workloads import demand_covered

SCHEDULE_COLUMNS = [
    "hour",
    "workload",
    "model",
    "deployment",
    "gpu",
    "quant",
    "tp",
    "source",
    "replicas",
    "gpus",
    "replica_share",
    "capacity_requests",
    "requests",
    "input_tokens",
    "output_tokens",
    # where the replicas run: the offer pool (a GPU type for generic per-GPU offers, else
    # provider/instance[/region]), its provider, instance type, region, GPUs per unit of
    # the pool (1 per GPU, else per instance), and the pool units the lane occupies
    "pool",
    "provider",
    "instance",
    "region",
    "gpus_per_unit",
    "instances",
]
BUY_FILE = "buy.csv"
SUMMARY_FILE = "summary.md"
PLAN_FILES = ("plan.json", "schedule.csv", BUY_FILE, SUMMARY_FILE)


#: what each row of plan.json's fleet lists holds for the readers (compare, report, stress),
#: which index these keys: "text" a string, "count" a whole number ≥ 0, "amount" a finite
#: number ≥ 0 (a row may hold more keys; the verifier checks their values)
ROW_FIELDS: dict[str, dict[str, str]] = {
    "reserved": {"gpu": "text", "tier": "text", "count": "count"},
    "existing": {"gpu": "text", "tier": "text", "count": "count", "gpu_hours": "amount"},
    "fleet": {
        "gpu": "text",
        "tier": "text",
        "peak_gpus": "amount",
        "mean_gpus": "amount",
        "gpu_hours": "amount",
    },
    "buy": {
        "gpu": "text",
        "tier": "text",
        "count": "amount",
        "peak_count": "amount",
        "gpu_hours": "amount",
        "usd_per_month": "amount",
        "commitment_usd": "amount",
    },
}
#: keys a row may leave out, checked where present
OPTIONAL_ROW_FIELDS = {"pool": "text", "gpus_per_instance": "count"}


def row_problem(value: Any, kind: str) -> str | None:
    """Why ``value`` is not of ``kind`` (see :data:`ROW_FIELDS`), or None."""
    if kind == "text":
        return None if isinstance(value, str) else "is not text"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "is not a number"
    if not (math.isfinite(value) and value >= 0):
        return "is not a finite number ≥ 0"
    if kind == "count" and not float(value).is_integer():
        return "is not a whole number"
    return None


def check_rows(key: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``plan.json``'s ``key`` list with every row holding :data:`ROW_FIELDS` (a
    ``ValueError`` names the first row and key that does not)."""
    for i, row in enumerate(rows):
        for name in ROW_FIELDS[key]:
            if name not in row:
                raise ValueError(f"{key}[{i}] has no '{name}'")
        for name, kind in (ROW_FIELDS[key] | OPTIONAL_ROW_FIELDS).items():
            why = row_problem(row[name], kind) if name in row else None
            if why is not None:
                raise ValueError(f"{key}[{i}].{name} {row[name]!r} {why}")
    return rows


class PlanDocument(BaseModel):
    """``plan.json``, typed at its top level. Its nested parts (each workload's entry, the
    solver's report, the baselines) stay JSON objects: the verifier checks their values
    against the user's inputs, never trusting them. Keys beyond these (the solve's inputs,
    settings, policy and capacity model, written first) are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    horizon_hours: float = Field(gt=0, allow_inf_nan=False)
    total_cost_usd: float
    cost_by_tier_usd: dict[str, float]
    cost_by_workload_usd: dict[str, float] = {}
    #: the reserved fleet, one row per pool × tier (gpu, tier, count, usd_per_hour, …)
    reserved: list[dict[str, Any]] = []
    #: the buy list (``advisor.buylist``)
    buy: list[dict[str, Any]] = []
    #: the commitments the plan inherits and how much of each it uses
    existing: list[dict[str, Any]] = []
    fleet: list[dict[str, Any]] = []
    usd_per_m_output_tokens: float | None = None
    usd_per_m_tokens: float | None = None
    tokens: dict[str, float] = {}
    reserved_utilization: float | None = None
    workloads: dict[str, dict[str, Any]] = {}
    solver: dict[str, Any] = {}
    bound_solver: dict[str, Any] | None = None
    aggregation: dict[str, Any] | None = None
    lower_bound_usd: float | None = None
    gap: float | None = None
    baselines: dict[str, dict[str, Any]] = {}
    best_baseline: str | None = None
    savings_vs_best_baseline_usd: float | None = None
    savings_vs_best_baseline_fraction: float | None = None
    warnings: list[str] = []
    #: whether the independent check passed, and its report (``advisor.verify``)
    verified: bool = False
    verification: dict[str, Any] | None = None
    #: a plan chosen over demand scenarios: its comparison (``advisor.stochastic``)
    scenarios: dict[str, Any] | None = None
    #: a sweep's case: the change made to the inputs (``advisor.sweep``: param, value, case)
    sweep_case: dict[str, Any] | None = None
    schedule_sha256: str | None = None

    @field_validator("reserved", "existing", "fleet", "buy")
    @classmethod
    def _rows_readers_can_read(cls, rows: list[dict[str, Any]], info: Any) -> list[dict[str, Any]]:
        return check_rows(str(info.field_name), rows)


@dataclass(frozen=True)
class Plan:
    """A solved (or loaded) plan: ``doc`` is ``plan.json``, ``schedule`` its hourly table.

    Immutable: a plan is assembled once (``assemble_plan``); what is learned about it later
    (its verification, the scenarios it was chosen over) makes a new plan
    (``with_verification``, ``with_scenarios``)."""

    doc: PlanDocument
    schedule: pd.DataFrame
    path: Path | None = None

    @classmethod
    def of(cls, data: Mapping[str, Any], schedule: pd.DataFrame, path: Path | None = None) -> Plan:
        """A plan from ``plan.json``'s content; ``PlanError`` names a field of the wrong type."""
        try:
            doc = PlanDocument.model_validate(dict(data))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "(top level)"
            raise PlanError(
                f"not a plan advisor wrote: field '{where}': {first['msg']} "
                f"({exc.error_count()} problem(s)). Solve again to write a fresh plan."
            ) from None
        return cls(doc, schedule, path)

    @functools.cached_property
    def data(self) -> dict[str, Any]:
        """``plan.json`` as a JSON object (a copy: changing it changes no plan)."""
        return self.doc.model_dump(exclude_unset=True)

    def _updated(self, **fields: Any) -> Plan:
        return Plan.of({**self.data, **fields}, self.schedule, self.path)

    def with_warnings(self, warnings: list[str]) -> Plan:
        """The plan with ``warnings`` in place of its own."""
        return self._updated(warnings=list(warnings))

    def with_verification(self, ok: bool, report: Mapping[str, Any]) -> Plan:
        """The plan with the independent check's verdict and report."""
        return self._updated(verified=bool(ok), verification=dict(report))

    def with_scenarios(self, summary: Mapping[str, Any], warnings: list[str]) -> Plan:
        """The plan chosen over demand scenarios, with their comparison and its warnings."""
        return self._updated(scenarios=dict(summary), warnings=[*self.doc.warnings, *warnings])

    def with_sweep_case(self, param: str, value: float, case: str) -> Plan:
        """The plan of a sweep's case: the inputs with ``param`` multiplied by ``value``
        (``case``, its folder's name, is what ``advisor verify --sweep`` takes)."""
        return self._updated(sweep_case={"param": param, "value": value, "case": case})

    def with_buy(self, rows: list[dict[str, Any]]) -> Plan:
        """The plan with another buy list (``buy.csv`` as the user edited it)."""
        return self._updated(buy=rows)

    # -- convenient views -------------------------------------------------------------------
    @property
    def total_cost_usd(self) -> float:
        return self.doc.total_cost_usd

    @property
    def cost_by_tier_usd(self) -> dict[str, float]:
        return dict(self.doc.cost_by_tier_usd)

    @property
    def baselines(self) -> dict[str, float | None]:
        return {k: v["total_cost_usd"] for k, v in self.doc.baselines.items()}

    @property
    def verified(self) -> bool:
        return self.doc.verified

    def reserved_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.doc.reserved, columns=["gpu", "tier", "count", "usd_per_hour"])

    def workload_frame(self) -> pd.DataFrame:
        return pd.DataFrame.from_dict(self.doc.workloads, orient="index")

    def capacity_by_source(self) -> pd.DataFrame:
        """Requests served per hour by source (pool, on_demand, spot, api), for plots."""
        s = self.schedule.groupby(["hour", "source"])["requests"].sum().unstack(fill_value=0.0)
        return s.sort_index()

    # -- files ------------------------------------------------------------------------------
    def save(
        self,
        out_dir: Path | str,
        summary_md: str | None = None,
        *,
        folder: PlanFolder | None = None,
        extra: Mapping[str, str | bytes] | None = None,
    ) -> Path:
        """Write ``plan.json``, ``schedule.csv`` and ``summary.md`` (and ``extra`` files, by
        name) into ``out_dir`` as one step (``advisor.files.PlanFolder``): files advisor wrote
        for an older plan there go, the user's own files stay. Pass ``folder`` when the caller
        already holds it open. Returns ``out_dir``; ``saved`` returns the plan as written."""
        self.saved(out_dir, summary_md, folder=folder, extra=extra)
        return Path(out_dir)

    def saved(
        self,
        out_dir: Path | str,
        summary_md: str | None = None,
        *,
        folder: PlanFolder | None = None,
        extra: Mapping[str, str | bytes] | None = None,
    ) -> Plan:
        """``save``, returning the plan as written: with its schedule's checksum, at
        ``out_dir`` (this plan is left as it is)."""
        csv_text = self.schedule.to_csv(index=False, float_format="%.12g")
        data = {**self.data, "schedule_sha256": sha256(csv_text)}
        plan_json = to_json(data)
        files = {
            **(extra or {}),
            "schedule.csv": csv_text,
            BUY_FILE: buy_csv(data.get("buy", [])),
            SUMMARY_FILE: summary_md if summary_md is not None else plan_summary_md(data),
            "plan.json": plan_json,
        }
        if folder is None:
            with PlanFolder(out_dir) as own:
                own.commit(files, plan_id=sha256(plan_json), replaces_all=True)
        else:
            folder.commit(files, plan_id=sha256(plan_json), replaces_all=True)
        return Plan.of(data, self.schedule, Path(out_dir))

    @classmethod
    def load(cls, path: Path | str) -> Plan:
        """Load a plan from its folder or its ``plan.json``."""
        p = Path(path)
        plan_json = p / "plan.json" if p.is_dir() else p
        sched_path = plan_json.parent / "schedule.csv"
        with reading(plan_json.parent):
            if not plan_json.is_file():
                raise PlanError(
                    f"'{path}' is not a plan: no plan.json there. Pass the folder written by "
                    f"`advisor solve --out DIR` or its plan.json."
                )
            try:
                data = json.loads(plan_json.read_text(encoding="utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                raise PlanError(f"{plan_json}: not a valid plan.json ({exc}).") from None
            if not isinstance(data, dict) or "total_cost_usd" not in data:
                raise PlanError(f"{plan_json}: not a plan written by advisor (no total_cost_usd).")
            if not sched_path.is_file():
                what = "not a file" if sched_path.exists() else "missing"
                raise PlanError(
                    f"{sched_path}: {what}; a plan folder holds plan.json and schedule.csv."
                )
            try:
                text = sched_path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                raise PlanError(
                    f"{sched_path}: not UTF-8 text; not a schedule advisor wrote."
                ) from None
        want = data.get("schedule_sha256")
        if want and sha256(text) != want:
            raise PlanError(
                f"{sched_path} does not belong to {plan_json} (checksum differs); the folder "
                f"mixes two runs. Solve again into a fresh folder."
            )
        try:
            schedule = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
            if len(schedule):
                schedule["hour"] = pd.to_datetime(schedule["hour"], utc=True, format="ISO8601")
        except (ValueError, KeyError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise PlanError(f"{sched_path}: not a schedule advisor wrote ({first}).") from None
        try:
            return cls.of(data, schedule, plan_json.parent)
        except PlanError as exc:
            raise PlanError(f"{plan_json}: {exc}") from None


#: the schedule's numeric columns: a reader sums and divides them, the verifier checks them
NUMERIC_SCHEDULE_COLUMNS = (
    "tp",
    "replicas",
    "gpus",
    "replica_share",
    "capacity_requests",
    "requests",
    "input_tokens",
    "output_tokens",
)


#: what a reader is told of a plan.json that is not the one advisor wrote
EDITED_NOTE = "was changed after advisor wrote it"


def for_reading(plan: Plan) -> Plan:
    """The saved ``plan`` as a reader (a report, a comparison) may take it.

    A plan whose ``plan.json`` differs from the one advisor wrote into its folder (the
    folder's manifest) keeps its figures but loses its ``verified``: the verdict was given
    to another file; a warning says so and how to check it. A plan whose schedule cannot be
    read against its own ``plan.json`` (a workload it does not define, a number that is not
    a finite number, a missing column, a total that is not a number) raises ``PlanError``.
    """
    problems = schedule_problems(plan)
    total = plan.data.get("total_cost_usd")
    if not (isinstance(total, int | float) and math.isfinite(total)):
        problems.insert(0, f"total_cost_usd is {total!r}, not a finite number")
    if problems:
        where = plan.path if plan.path is not None else "the plan"
        raise PlanError(
            f"{where}: the plan cannot be read: {'; '.join(problems[:3])}. Its files were "
            "changed after advisor wrote them; `advisor verify` checks them against your "
            "inputs, or solve again."
        )
    if plan.path is None or owned_by_advisor(plan.path, "plan.json"):
        return plan
    note = (
        f"{plan.path / 'plan.json'} {EDITED_NOTE}: its figures are not checked and it is not "
        "verified (`advisor verify` checks it against your inputs)."
    )
    return plan._updated(verified=False, warnings=[note, *plan.doc.warnings])


@contextlib.contextmanager
def reading_edited(plan: Plan) -> Iterator[None]:
    """Read ``plan`` (as :func:`for_reading` gives it) inside this block: where its
    ``plan.json`` was changed after advisor wrote it, a value of the wrong shape deep in it
    (a figure that is text, an object that is a list) raises ``PlanError`` naming the file,
    not a traceback. A plan as advisor wrote it is not affected: an error there is a bug."""
    try:
        yield
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        if plan.path is None or owned_by_advisor(plan.path, "plan.json"):
            raise
        raise PlanError(
            f"{plan.path / 'plan.json'} {EDITED_NOTE} and cannot be read "
            f"({type(exc).__name__}: {exc}). Restore it, or solve again to write a fresh plan."
        ) from None


def schedule_problems(plan: Plan) -> list[str]:
    """Where the schedule cannot be read against ``plan.json``: missing columns, numbers
    that are not finite numbers, workloads the plan does not define (first of each)."""
    sched = plan.schedule
    wanted = ("hour", "workload", "source", *NUMERIC_SCHEDULE_COLUMNS)
    missing = [c for c in wanted if c not in sched.columns]
    if missing:
        return [f"schedule.csv has no column {', '.join(missing)}"]
    out: list[str] = []
    for c in NUMERIC_SCHEDULE_COLUMNS:
        values = pd.to_numeric(sched[c], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            out.append(
                f"schedule.csv line {bad[0] + 2}: {c} {sched[c].iloc[bad[0]]!r} is not a number"
            )
    known = set(plan.data.get("workloads") or {})
    unknown = sorted({str(w) for w in sched["workload"]} - known)
    if unknown:
        out.append(f"schedule.csv names workload '{unknown[0]}', which plan.json does not define")
    return out


def read_buy_csv(path: Path | str) -> list[dict[str, Any]]:
    """A saved ``buy.csv`` as rows (numbers as floats)."""
    try:
        df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise PlanError(f"{path}: not a readable buy list ({exc}).") from None
    return df.to_dict("records")


# --- building a plan from a solution ---------------------------------------------------------


def build_schedule(
    solution: FleetSolution,
    opts: OptionSet,
    hours: pd.DatetimeIndex,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
) -> pd.DataFrame:
    """The hourly table: one row per hour × workload × deployment × source (and API)."""
    rows: list[tuple[Any, ...]] = []
    for t, hs in enumerate(solution.hours):
        hour = hours[t].isoformat()
        for i, w in enumerate(workloads):
            d = float(requests[t, i])
            if d <= 0 and not any(ww == w for (ww, _k, _s) in hs.shares):
                continue
            tokens = (float(input_tokens[t, i]), float(output_tokens[t, i]))
            rows += _lane_rows(opts, hs, hour, w, d, tokens)
            f = hs.api_fraction.get(w, 0.0)
            if f > 0:
                wl = opts.workloads[w]
                api = opts.api_provider.get(w, "")
                rows.append(
                    (hour, w, wl.model, "api", "", "", 0, "api", 0, 0, 0.0, 0.0, d * f,
                     tokens[0] * f, tokens[1] * f, "", api, "", "", 1, 0.0)
                )  # fmt: skip
    return pd.DataFrame(rows, columns=SCHEDULE_COLUMNS)


def _lane_rows(
    opts: OptionSet,
    hs: HourSchedule,
    hour: str,
    w: str,
    d: float,
    tokens: tuple[float, float],
) -> list[tuple[Any, ...]]:
    """One hour's rows of workload ``w`` on its replicas (``d`` requests that hour, ``tokens``
    its input and output tokens); the demand the API does not take is split by capacity."""
    wl = opts.workloads[w]
    lanes = [(k, s, v) for (ww, k, s), v in hs.shares.items() if ww == w]
    caps = [
        demand_covered(v * opts.options[(w, k)].requests_per_hour, wl.headroom) for k, s, v in lanes
    ]
    total_cap = sum(caps)
    self_req = d * (1.0 - hs.api_fraction.get(w, 0.0))
    rows: list[tuple[Any, ...]] = []
    for (k, s, v), cap in zip(lanes, caps, strict=True):
        dep = opts.deployments[k]
        req = self_req * cap / total_cap if total_cap > 0 else 0.0
        n = hs.replicas.get((k, s), 0)
        tin, tout = (x * req / d if d > 0 else 0.0 for x in tokens)
        rows.append(
            (hour, w, dep.model, k, dep.gpu, dep.quant, dep.tp, s, n * dep.bundle, n * dep.gpus,
             v * dep.bundle, cap, req, tin, tout, *_where(opts, dep), dep.gpus_per_unit,
             n * dep.units)
        )  # fmt: skip
    return rows


def _where(opts: OptionSet, dep: Any) -> tuple[str, str, str, str]:
    """(pool, provider, instance, region) of a deployment, for the schedule's columns."""
    pool = opts.pools.get(dep.pool_key)
    if pool is None:  # a generic pool known only from existing commitments
        return dep.pool_key, "generic", dep.gpu, ""
    return pool.key, pool.provider, pool.instance or pool.gpu, pool.region


def with_units(schedule: pd.DataFrame) -> pd.DataFrame:
    """The schedule with its pool columns (a plan saved before instances: GPU pools)."""
    if "pool" in schedule.columns and "gpus_per_unit" in schedule.columns:
        return schedule
    out = schedule.copy()
    out["pool"] = out["gpu"]
    out["gpus_per_unit"] = 1
    if "gpus" in out.columns:
        out["instances"] = out["gpus"]
    elif {"replicas", "tp"} <= set(out.columns):
        out["instances"] = out["replicas"] * out["tp"]
    return out


def cost_breakdown(
    schedule: pd.DataFrame,
    reserved: Mapping[tuple[str, str], int],
    gpu_usd_per_hour: Mapping[tuple[str, str], float],
    api_usd_per_m: Mapping[str, tuple[float, float]],
    horizon_hours: float,
    monthly_overhead_usd: float,
    existing_usd: float = 0.0,
    has_existing: bool = False,
) -> dict[str, float]:
    """Cost by tier [USD] from the schedule and prices (shared by the plan and its verifier)."""
    by_tier = {"reserved": 0.0, "owned": 0.0, "on_demand": 0.0, "spot": 0.0, "api": 0.0}
    for (g, tier), n in reserved.items():
        key = "owned" if tier == "owned" else "reserved"
        by_tier[key] += n * gpu_usd_per_hour[(g, tier)] * horizon_hours
    if len(schedule):
        schedule = with_units(schedule)
        hourly = schedule[schedule["source"].isin(["on_demand", "spot"])]
        per_rep = hourly.drop_duplicates(["hour", "deployment", "source"])
        for (g, s), grp in per_rep.groupby(["pool", "source"]):
            by_tier[str(s)] += float(grp["instances"].sum()) * gpu_usd_per_hour[(str(g), str(s))]
        api = schedule[schedule["source"] == "api"]
        for w, grp in api.groupby("workload"):
            pin, pout = api_usd_per_m[str(w)]
            by_tier["api"] += float(
                api_usd_per_hour((pin, pout), grp["input_tokens"].sum(), grp["output_tokens"].sum())
            )
    self_hosted = sum(reserved.values()) > 0 or (
        len(schedule) > 0 and bool((schedule["source"] != "api").any())
    )
    by_tier["overhead"] = self_hosting_overhead_usd(
        monthly_overhead_usd, horizon_hours, self_hosts=self_hosted, has_commitments=has_existing
    )
    by_tier["existing"] = existing_usd
    return by_tier


def workload_costs(
    schedule: pd.DataFrame,
    by_tier: Mapping[str, float],
    gpu_usd_per_hour: Mapping[tuple[str, str], float],
    api_usd_per_m: Mapping[str, tuple[float, float]],
    workloads: tuple[str, ...],
) -> dict[str, float]:
    """Attribute cost to workloads: hourly GPUs and API directly; the reserved pool in
    proportion to each workload's share of pool GPU-hours; the self-hosting overhead in
    proportion to its share of self-hosted cost (hourly GPUs and pool: what runs GPUs; a
    workload wholly on the API carries none of it)."""
    cost = dict.fromkeys(workloads, 0.0)
    api_cost = dict.fromkeys(workloads, 0.0)
    pool_use = dict.fromkeys(workloads, 0.0)
    if len(schedule):
        # vectorized: a year of hourly rows is hundreds of thousands of them
        schedule = with_units(schedule)
        src = schedule["source"]
        hourly = schedule[src.isin(["on_demand", "spot"])]
        if len(hourly):
            price = np.array(
                [
                    gpu_usd_per_hour[key]
                    for key in zip(hourly["pool"], hourly["source"], strict=True)
                ]
            )
            share = hourly["replica_share"].to_numpy(dtype=float)
            # pool units per replica (GPUs on a per-GPU pool, a share of an instance otherwise)
            tp = hourly["tp"].to_numpy(dtype=float) / hourly["gpus_per_unit"].to_numpy(dtype=float)
            # partly used hourly replicas: spread the unused part over their users
            groups = hourly.groupby(["hour", "deployment", "source"], sort=False)
            used = groups["replica_share"].transform("sum").to_numpy(dtype=float)
            n = groups["replicas"].transform("first").to_numpy(dtype=float)
            idle = np.where((n > used + 1e-12) & (used > 0), (n - used) * tp * price, 0.0)
            spread_idle = np.divide(idle * share, used, out=np.zeros_like(idle), where=used > 0)
            # replicas kept with no share (a held rental): paid by the rows that hold them
            rows = groups["replica_share"].transform("size").to_numpy(dtype=float)
            spread_idle += np.where(used <= 0, n * tp * price / rows, 0.0)
            _add_by(cost, hourly["workload"], share * tp * price + spread_idle)
        pool = schedule[src == POOL]
        if len(pool):
            # GPU-hours, not pool units: a replica on an 8-GPU instance is as many GPUs as
            # one on committed GPUs, not an eighth of them
            _add_by(
                pool_use,
                pool["workload"],
                pool["replica_share"].to_numpy(dtype=float) * pool["tp"].to_numpy(dtype=float),
            )
        for w, grp in schedule[src == "api"].groupby("workload"):
            api_cost[str(w)] += float(
                api_usd_per_hour(
                    api_usd_per_m[str(w)], grp["input_tokens"].sum(), grp["output_tokens"].sum()
                )
            )
    pool_cost = by_tier["reserved"] + by_tier["owned"] + by_tier.get("existing", 0.0)
    total_pool = sum(pool_use.values())
    spread = [pool_cost, by_tier["overhead"]]
    for w in workloads:
        if total_pool > 0:
            cost[w] += pool_cost * pool_use[w] / total_pool
    if total_pool == 0 and pool_cost > 0:
        for w in workloads:
            cost[w] += pool_cost / len(workloads)
    total_self = sum(cost.values())
    for w in workloads:
        # the overhead by share of self-hosted cost; with nothing paid (free GPUs), by pool use
        if total_self > 0:
            share = cost[w] / total_self
        elif total_pool > 0:
            share = pool_use[w] / total_pool
        else:
            share = 1 / len(workloads)
        cost[w] += spread[1] * share
    return {w: cost[w] + api_cost[w] for w in workloads}


def _add_by(totals: dict[str, float], keys: pd.Series, values: np.ndarray) -> None:
    """Add ``values`` into ``totals`` summed by ``keys`` (workload names)."""
    for w, v in pd.Series(values, index=keys.to_numpy()).groupby(level=0).sum().items():
        totals[str(w)] += float(v)


def _per_m(v: float | None, unit: str = "$") -> str:
    """A $/M-token figure, or n/a where there are no tokens to divide by."""
    return "n/a" if v is None else f"{unit}{v:.3f}"


def plan_summary_md(data: Mapping[str, Any]) -> str:
    """A short, readable Markdown summary of ``plan.json``."""
    lines = [
        "# Fleet plan",
        "",
        f"Demand: `{data['demand']['source']}` — {data['horizon_hours']:.0f} hours, "
        f"{len(data['workloads'])} workload(s). Verified: **{data.get('verified')}**.",
        "",
        f"**Total cost: ${data['total_cost_usd']:,.2f}** "
        f"({_per_m(data['usd_per_m_output_tokens'])} per M output tokens, "
        f"{_per_m(data['usd_per_m_tokens'])} per M tokens in + out).",
    ]
    lines += _buy_md(data) + _fleet_md(data)
    lines += ["", "## Cost by tier (USD)", "", "| tier | cost (USD) |", "|---|---:|"]
    for k, v in data["cost_by_tier_usd"].items():
        lines.append(f"| {k} | {v:,.2f} |")
    lines += _workloads_md(data) + _capacity_basis_md(data) + _baselines_md(data)
    lines += _solver_md(data)
    if data.get("warnings"):
        lines += ["", "## Warnings", ""] + [f"- {w}" for w in data["warnings"]]
    return "\n".join(lines) + "\n"


def _buy_md(data: Mapping[str, Any]) -> list[str]:
    """The buy list (or that there is none)."""
    lines = ["", "## Buy list", ""]
    if data.get("buy"):
        head, body = buy_table(data["buy"])
        lines += ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        lines += ["", "Also in `buy.csv`; commitments run for their whole term from `start`."]
    else:
        lines.append(f"No GPUs to buy or rent: {_served_without_buying(data)}.")
    return lines


def _served_without_buying(data: Mapping[str, Any]) -> str:
    """What serves the demand of a plan that buys and rents nothing: the API, the existing
    commitments, or both (by each workload's share of requests sent to the API)."""
    if not data.get("existing"):
        return "every request goes to the API"
    shares = [
        float(w["api_share_of_requests"])
        for w in data.get("workloads", {}).values()
        if w.get("api_share_of_requests") is not None and w.get("requests")
    ]
    if shares and min(shares) >= 1 - 1e-9:
        return "every request goes to the API (the existing commitments serve none)"
    if max(shares, default=0.0) <= 1e-9:
        return "the existing commitments serve every request"
    return "the existing commitments serve the demand, the API part of it"


def _fleet_md(data: Mapping[str, Any]) -> list[str]:
    """Reserved and committed instances, what is rented by the hour, existing commitments."""
    lines = ["", "## Reserved / committed instances", ""]
    if data["reserved"]:
        lines += [
            "| provider | instance | region | GPU | GPUs/instance | tier | instances "
            "| USD/instance-hour |",
            "|---|---|---|---|---:|---|---:|---:|",
        ]
        for r in data["reserved"]:
            lines.append(
                f"| {r.get('provider', 'generic')} | {r.get('instance', r['gpu'])} | "
                f"{r.get('region') or '-'} | {r['gpu']} | {r.get('gpus_per_instance', 1)} | "
                f"{r['tier']} | {r['count']} | {r['usd_per_hour']:.3f} |"
            )
    else:
        lines.append("None to add.")
    rented = [f for f in data.get("fleet", []) if f["tier"] in ("on_demand", "spot")]
    if rented:
        lines += [
            "",
            "## Rented by the hour",
            "",
            "| provider | instance | region | GPU | tier | peak instances | GPU-hours |",
            "|---|---|---|---|---|---:|---:|",
        ]
        for f in rented:
            lines.append(
                f"| {f.get('provider', 'generic')} | {f.get('instance', f['gpu'])} | "
                f"{f.get('region') or '-'} | {f['gpu']} | {f['tier']} | "
                f"{f.get('instances', f['peak_gpus']):g} | {f['gpu_hours']:,.0f} |"
            )
    if data.get("existing"):
        lines += [
            "",
            "Existing commitments (paid whatever the plan does):",
            "",
            "| GPU | tier | count | active hours | cost (USD) | pool utilization | under-used |",
            "|---|---|---:|---:|---:|---:|---|",
        ]
        for e in data["existing"]:
            util = e.get("pool_utilization")
            lines.append(
                f"| {e['gpu']} | {e['tier']} | {e['count']} | {e['active_hours']} | "
                f"{e['cost_usd']:,.2f} | {'n/a' if util is None else f'{util:.0%}'} | "
                f"{'yes' if e.get('under_used') else 'no'} |"
            )
    return lines


def _workloads_md(data: Mapping[str, Any]) -> list[str]:
    """Per workload: where it is served, its volume, cost and cost per million tokens."""
    lines = [
        "",
        "## Workloads",
        "",
        "| workload | served on | requests | output tokens | cost (USD) | USD/M output "
        "(allocated) | USD/M output (marginal) | API, all-in USD/M output |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for w, d in data["workloads"].items():
        api = d.get("api_all_in_usd_per_m_output_tokens")
        alloc = d.get("usd_per_m_output_tokens")
        marg = d.get("marginal_usd_per_m_output_tokens")
        lines.append(
            f"| {w} | {serving_text(d.get('serving', []))} | {d['requests']:,.0f} | "
            f"{d['output_tokens']:,.0f} | {d['cost_usd']:,.2f} | "
            f"{'-' if alloc is None else f'{alloc:.3f}'} | "
            f"{'-' if marg is None else f'{marg:.3f}'} | {'-' if api is None else f'{api:.3f}'} |"
        )
    lines += ["", COST_PER_TOKEN_NOTE]
    return lines


#: what the per-workload $/M table of summary.md and the report says under it
COST_PER_TOKEN_NOTE = (
    "Allocated: the workload's API spend and hourly GPUs, its share of the committed and "
    "reserved GPUs (by GPU-hours) and of the self-hosting overhead (by self-hosted cost; a "
    "workload wholly on the API carries none). Marginal: what one more million output "
    "tokens, spread like its demand, would cost on this fleet (spare capacity first, then "
    "the cheapest hourly replica or the API)."
)


#: what the capacity-basis table of summary.md and the report says
CAPACITY_BASIS_NOTE = (
    "The serving model's |error| on public measured runs of each GPU type (`advisor "
    "validate`): at a latency limit (MLPerf Server/Interactive), offline (maximum "
    "throughput), static batches (latency) and closed loops (throughput). A deployment on a "
    "GPU type no run checks, or with a large error, is worth measuring before a commitment "
    "(pass your own capacity with `--capacity`)."
)


def capacity_basis_rows(data: Mapping[str, Any]) -> list[list[str]]:
    """Per self-hosted deployment × workload of a plan: the replica's capacity and how far
    it can be trusted (``capacity_check``: the serving model's measured error on that GPU
    type, or the user's measurement). Plans written before it carry no check: '-'."""
    rows = []
    for w, d in data["workloads"].items():
        for dep in d.get("deployments") or []:
            check = dep.get("capacity_check") or {}
            per_s = dep.get("requests_per_hour_per_replica", 0.0) / 3600.0
            rows.append([w, dep["deployment"], f"{per_s:,.2f}", check.get("summary", "-")])
    return rows


def _capacity_basis_md(data: Mapping[str, Any]) -> list[str]:
    """What each self-hosted deployment's capacity rests on, and its measured error."""
    rows = capacity_basis_rows(data)
    if not rows:
        return []
    lines = [
        "",
        "## Capacity basis",
        "",
        "| workload | deployment | requests/s per replica (before headroom) | measured error |",
        "|---|---|---:|---|",
    ]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return [*lines, "", CAPACITY_BASIS_NOTE]


def _baselines_md(data: Mapping[str, Any]) -> list[str]:
    """Each simple policy's cost, and the savings against the best."""
    lines = ["", "## Against the simple policies", "", "| policy | cost (USD) | note |"]
    lines.append("|---|---:|---|")
    for name, b in data["baselines"].items():
        c = b["total_cost_usd"]
        lines.append(f"| {name} | {'n/a' if c is None else f'{c:,.2f}'} | {b['note']} |")
    sv = data.get("savings_vs_best_baseline_usd")
    if sv is not None:
        lines += ["", savings_text(data)]
    return lines


def _solver_md(data: Mapping[str, Any]) -> list[str]:
    """How the whole solve ended, with its bound and gap."""
    s = data["solver"]
    gap = data.get("gap")
    lb = data.get("lower_bound_usd")
    lb_text = "n/a" if lb is None else f"${lb:,.2f}"
    return [
        "",
        "## Solver",
        "",
        f"{s['name']} — {s['status']} in {s['seconds']:.2f} s; aggregation "
        f"{data['aggregation']['mode']} ({data['aggregation']['points']} points); lower bound "
        f"{lb_text}; "
        f"gap {'n/a' if gap is None else f'{gap:.3%}'} (plan cost against a valid bound for "
        f"the full hourly problem).{_two_stage_md(data.get('scenarios'))}",
    ]


def _two_stage_md(scen: Mapping[str, Any] | None) -> str:
    """Over scenarios, what the solver line is, and the whole two-stage solve's time."""
    if not scen or scen.get("seconds") is None:
        return ""
    return (
        f" Over the scenarios this is the chosen fleet's schedule on scenario "
        f"{scen['plan_scenario']}; the whole two-stage solve took {scen['seconds']:.2f} s."
    )


def assemble_plan(
    solution: FleetSolution,
    opts: OptionSet,
    hours: pd.DatetimeIndex,
    workloads: tuple[str, ...],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    baselines: Mapping[str, Baseline],
    meta: Mapping[str, Any],
    *,
    existing: list[dict[str, Any]] | None = None,
    existing_usd: float = 0.0,
    terms: Mapping[tuple[str, str], float] | None = None,
    existing_gpus: Mapping[str, np.ndarray] | None = None,
) -> Plan:
    """Put a solution into the plan format: schedule, costs, $/M, utilization, baselines.

    ``terms`` is each pool offer's commitment term [hours] (default: 1 or 3 years, owned 3);
    ``existing_gpus`` the committed GPUs per type and hour (for the marginal cost)."""
    schedule = build_schedule(
        solution, opts, hours, workloads, requests, input_tokens, output_tokens
    )
    H = float(len(hours))
    by_tier = cost_breakdown(
        schedule,
        solution.reserved,
        opts.gpu_usd_per_hour,
        opts.api_usd_per_m,
        H,
        opts.monthly_overhead_usd,
        existing_usd,
        has_existing=bool(existing),
    )
    total = float(sum(by_tier.values()))
    per_w = workload_costs(schedule, by_tier, opts.gpu_usd_per_hour, opts.api_usd_per_m, workloads)
    wl_data = {
        w: _workload_entry(w, i, opts, schedule, per_w[w], requests, input_tokens, output_tokens)
        for i, w in enumerate(workloads)
    }
    reserved_rows = _reserved_rows(solution.reserved, opts, hours, terms or {})
    _add_serving(wl_data, schedule, requests, workloads)
    pool_by_hour = pool_gpus_by_hour(solution.reserved, existing_gpus or {}, len(hours))
    marginal = marginal_by_workload(
        schedule, opts, hours, workloads, requests, input_tokens, output_tokens, pool_by_hour
    )
    for w, usd in marginal.items():
        wl_data[w]["marginal_usd_per_m_output_tokens"] = usd
    costs = {k: b.total_cost_usd for k, b in baselines.items() if b.total_cost_usd is not None}
    best = min(costs, key=lambda k: costs[k]) if costs else None
    warnings = list(solution.warnings) + short_horizon_warnings(reserved_rows, H)
    if best is not None and costs[best] < total * (1 - 1e-9):
        warnings.append(_costlier_than_baseline(best, costs[best], solution))
    lower, gap = bound_and_gap(solution.lower_bound, existing_usd, total, costs, warnings)
    solver = _solver_entry(solution, total, lower, gap)
    if solver["status"] != Status.OPTIMAL:
        warnings += solution.unproven_notes
    data: dict[str, Any] = {
        **meta,
        "horizon_hours": H,
        "total_cost_usd": total,
        "cost_by_tier_usd": by_tier,
        "cost_by_workload_usd": per_w,
        "reserved": reserved_rows,
        "buy": buy_rows(reserved_rows, schedule, H, opts.gpu_usd_per_hour),
        "existing": commitment_use(existing or [], schedule, solution.reserved, hours),
        "fleet": _fleet_summary(schedule, solution.reserved, H, opts),
        **_per_token(total, float(input_tokens.sum()), float(output_tokens.sum())),
        "reserved_utilization": pool_utilization(schedule, reserved_rows, existing, H),
        "workloads": wl_data,
        "solver": solver,
        "bound_solver": solution.bound_solver.as_dict() if solution.bound_solver else None,
        "aggregation": solution.aggregation,
        "lower_bound_usd": lower,
        "gap": gap,
        **_against_baselines(baselines, best, total),
        "warnings": warnings,
        "verified": False,
    }
    return Plan.of(data, schedule)


def _per_token(total: float, in_tokens: float, out_tokens: float) -> dict[str, Any]:
    """The plan's cost per million output tokens and per million tokens, and the tokens."""
    return {
        "usd_per_m_output_tokens": total / out_tokens * TOKENS_PER_M if out_tokens else None,
        "usd_per_m_tokens": total / (in_tokens + out_tokens) * TOKENS_PER_M
        if in_tokens + out_tokens
        else None,
        "tokens": {"input": in_tokens, "output": out_tokens},
    }


def _against_baselines(
    baselines: Mapping[str, Baseline], best: str | None, total: float
) -> dict[str, Any]:
    """The plan's baselines, the cheapest of them and the plan's savings against it."""
    best_usd = baselines[best].total_cost_usd if best is not None else None
    return {
        "baselines": {k: b.as_dict() for k, b in baselines.items()},
        "best_baseline": best,
        "savings_vs_best_baseline_usd": best_usd - total if best_usd is not None else None,
        "savings_vs_best_baseline_fraction": (best_usd - total) / best_usd
        if best_usd is not None and best_usd > 0
        else None,
    }


def pool_utilization(
    schedule: pd.DataFrame,
    reserved_rows: Sequence[Mapping[str, Any]],
    existing: Sequence[Mapping[str, Any]] | None,
    hours: float,
) -> float | None:
    """Pool GPU-hours the demand loads over those reserved (plan.json's ``reserved`` rows:
    instances × GPUs per instance) and existing (None: no pool). The load is each pool
    replica's share of its capacity in use × its TP GPUs, so a replica kept below its
    capacity (the solver may keep pool replicas it does not need: they cost nothing more)
    counts for what it serves. In GPU-hours, not pool units: an 8-GPU instance is 8 GPUs
    beside 8 committed ones, not 1."""
    capacity = sum(
        int(r["count"]) * int(r.get("gpus_per_instance", 1)) for r in reserved_rows
    ) * hours + sum(float(e.get("gpu_hours", 0.0)) for e in (existing or []))
    on_pool = schedule[schedule["source"] == POOL] if len(schedule) else schedule
    load = float((on_pool["replica_share"] * on_pool["tp"]).sum()) if len(on_pool) else 0.0
    return load / capacity if capacity > 0 else None


def _reserved_rows(
    reserved: Mapping[tuple[str, str], int],
    opts: OptionSet,
    hours: pd.DatetimeIndex,
    terms: Mapping[tuple[str, str], float],
) -> list[dict[str, Any]]:
    """plan.json's ``reserved``: each committed pool with its cost over the horizon and over
    its whole term (``terms`` [hours] per pool offer; default 1 or 3 years, owned 3)."""
    H = float(len(hours))
    start = pd.Timestamp(pd.DatetimeIndex(hours)[0]).tz_convert("UTC")
    return [
        {
            "gpu": opts.pools[g].gpu if g in opts.pools else g,
            "tier": tier,
            "count": n,
            "usd_per_hour": opts.gpu_usd_per_hour[(g, tier)],
            "cost_usd": n * opts.gpu_usd_per_hour[(g, tier)] * H,
            **_pool_fields(opts, g),
            **commitment_fields(
                n,
                opts.gpu_usd_per_hour[(g, tier)],
                terms.get((g, tier)) or term_hours(tier) or H,
                start,
            ),
        }
        for (g, tier), n in sorted(reserved.items())
    ]


def _solver_entry(
    solution: FleetSolution, total: float, lower: float | None, gap: float | None
) -> dict[str, Any]:
    """plan.json's ``solver``: the whole solve's figures; each stage's in ``stages``."""
    return {
        "name": solution.solver.name,
        # a plan that costs nothing is optimal (costs are never negative); it has no gap
        "status": whole_status(
            0.0 if total <= 0 else gap, solution.gap_tolerance, solution.time_limited
        ),
        "seconds": round(solution.seconds, 3),
        "objective": total,
        "bound": lower,
        "gap": gap,
        "time_limited": solution.time_limited,
        "model_objective": solution.solver.objective,
        "build_seconds": round(solution.build_seconds, 3),
        "stages": [stage.as_dict() for stage in solution.stages],
    }


def _workload_entry(
    w: str,
    i: int,
    opts: OptionSet,
    schedule: pd.DataFrame,
    cost_usd: float,
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
) -> dict[str, Any]:
    """plan.json's ``workloads[w]``: volumes, cost and $/M against the API, SLOs, and the
    margins of the deployments serving it (column ``i`` of the demand arrays)."""
    wl = opts.workloads[w]
    api = opts.api_usd_per_m.get(w)
    wo = float(output_tokens[:, i].sum())
    return {
        "model": wl.model,
        "requests": float(requests[:, i].sum()),
        "input_tokens": float(input_tokens[:, i].sum()),
        "output_tokens": wo,
        "cost_usd": cost_usd,
        "usd_per_m_output_tokens": cost_usd / wo * TOKENS_PER_M if wo > 0 else None,
        "api_usd_per_m_output_tokens": None if api is None else api[1],
        # what the API would charge for this workload's tokens (prompts included), per
        # M output tokens: the like-for-like comparison with usd_per_m_output_tokens
        "api_all_in_usd_per_m_output_tokens": None
        if api is None or wo <= 0
        else float(api_usd_per_hour(api, input_tokens[:, i].sum(), output_tokens[:, i].sum()))
        / wo
        * TOKENS_PER_M,
        "api_usd_per_m_input_tokens": None if api is None else api[0],
        # the API offer the plan prices (the cheapest allowed at the workload's lengths)
        "api_provider": opts.api_provider.get(w),
        "api_share_of_requests": float(
            schedule.loc[
                (schedule["workload"] == w) & (schedule["source"] == "api"), "requests"
            ].sum()
            / max(requests[:, i].sum(), 1e-12)
        ),
        "slo": {
            "tpot_ms": wl.tpot_ms,
            "ttft_ms": wl.ttft_ms,
            "stat": wl.stat,
            "headroom": wl.headroom,
        },
        "deployments": _deployment_margins(w, opts, schedule),
        "definition": wl.model_dump(mode="json"),
    }


def _deployment_margins(w: str, opts: OptionSet, schedule: pd.DataFrame) -> list[dict[str, Any]]:
    """Each self-hosted deployment serving ``w``: its capacity and SLO margins."""
    wl = opts.workloads[w]
    used = schedule[(schedule["workload"] == w) & (schedule["source"] != "api")]
    margins = []
    for k in sorted(used["deployment"].unique()) if len(used) else []:
        o = opts.options[(w, k)]
        gpu = o.deployment.gpu
        check = capacity_check(gpu, o.capacity_source, opts.capacity_error.get(gpu))
        per_replica = o.requests_per_hour / o.deployment.bundle
        margins.append(
            deployment_entry(k, o.capacity_source, o.perf, per_replica, wl.tpot_ms, wl.ttft_ms)
            | {"capacity_check": check}
        )
    return margins


def deployment_entry(
    deployment: str,
    capacity_source: str,
    perf: Any,
    requests_per_hour_per_replica: float | None,
    tpot_limit_ms: float,
    ttft_limit_ms: float,
) -> dict[str, Any]:
    """A deployment's entry in plan.json's ``workloads[w].deployments`` but its
    ``capacity_check``: where its capacity comes from, the latency and batch the model sizes
    it at (``perf``, None where it has none) and their margins to the SLO limits, its
    requests/hour per replica. The plan's and the verifier's (one shape for both)."""
    entry: dict[str, Any] = {"deployment": deployment, "capacity_source": capacity_source}
    if perf is not None:
        entry |= {
            "batch": perf.batch,
            "tpot_ms": perf.tpot_ms,
            "ttft_ms": perf.ttft_ms,
            "tpot_margin": 1.0 - perf.tpot_ms / tpot_limit_ms,
            "ttft_margin": 1.0 - perf.ttft_ms / ttft_limit_ms,
            "slo_stat": getattr(perf, "stat", "mean"),
        }
    entry["requests_per_hour_per_replica"] = requests_per_hour_per_replica
    return entry


#: How far [relative] a solver's lower bound may sit above a cost reached and still be the
#: solver's rounding (its tolerances, the pool tie-break's slack): reported as that cost.
BOUND_TOLERANCE = 1e-3


def bound_and_gap(
    bound_usd: float | None,
    existing_usd: float,
    total_usd: float,
    baseline_usd: Mapping[str, float],
    warnings: list[str],
) -> tuple[float | None, float | None]:
    """The plan's lower bound and gap. The solver's bound covers what it optimizes; the
    committed spend is a cost no plan can avoid, so it belongs to the bound as it belongs to
    the total. A bound above a cost reached (the plan's or a baseline's) by at most
    ``BOUND_TOLERANCE`` is the solver's rounding: reported as that cost. Above it by more,
    the bound and that cost contradict each other: neither a bound nor a gap is reported,
    and a warning says so (it is not a tolerance)."""
    lower = bound_usd
    if lower is None:
        return None, None
    lower += existing_usd
    costs = {"the plan": total_usd, **{f"the policy '{k}'": v for k, v in baseline_usd.items()}}
    which = min(costs, key=lambda k: costs[k])
    feasible = costs[which]
    if lower > feasible * (1 + BOUND_TOLERANCE) + 1e-9:
        warnings.append(
            f"The solver's lower bound ${lower:,.2f} is above the cost of {which} "
            f"(${feasible:,.2f}) by more than its numerical tolerance "
            f"({BOUND_TOLERANCE:.1%}), so it is not a valid lower bound on this plan (or that "
            "cost is wrong); no bound or gap is reported. Please report it with the inputs."
        )
        return None, None
    lower = min(lower, feasible)
    gap = max(0.0, (total_usd - lower) / total_usd) if total_usd > 0 else None
    return lower, gap


def _costlier_than_baseline(best: str, best_usd: float, solution: FleetSolution) -> str:
    """The warning for a plan dearer than a simple policy, naming only remedies not yet tried."""
    head = f"The plan costs more than the simple policy '{best}' (${best_usd:,.2f})"
    fixes = []
    if solution.aggregation.get("mode") == "clustered":
        fixes.append("--aggregate exact")
    if solution.solver.time_limited or solution.solver.status != "optimal":
        fixes.append("a longer --time-limit")
    if fixes:
        return (
            f"{head}; the solver stopped early or aggregation lost precision. Try "
            f"{' or '.join(fixes)}."
        )
    return (
        f"{head} although the solve was exact and optimal: the policy and the plan are costed "
        "differently somewhere. Please report it with the inputs."
    )


def serving_text(serving: list[Mapping[str, Any]]) -> str:
    """A workload's deployments in a few words: ``H100-SXM fp8 TP2 pool 80%, API 20%``."""
    parts = []
    for s in serving:
        what = (
            "API" if s["source"] == "api" else f"{s['gpu']} {s['quant']} TP{s['tp']} {s['source']}"
        )
        parts.append(f"{what} {share_text(s['share_of_requests'])}")
    return ", ".join(parts) or "-"


def share_text(fraction: float) -> str:
    """A share of requests in whole percent, ``<1%`` or ``>99%`` where it rounds to 0% or
    100% without being it (0.3% to the API is not "API 0%")."""
    if 0 < fraction < 0.005:
        return "<1%"
    if 0.995 <= fraction < 1:
        return ">99%"
    return f"{fraction:.0%}"


# Costs closer than half a cent are the same cost: sums of float hourly costs differ by
# ~1e-12 USD where a plan and a policy pay for the same thing.
SAME_COST_USD = 0.005


def against_policy(policy_usd: float, plan_usd: float) -> str:
    """The plan against a policy's cost: 'saves 12.0%', 'costs 4.1% more' or 'costs the
    same' (within ``SAME_COST_USD``)."""
    if abs(policy_usd - plan_usd) < SAME_COST_USD:
        return "costs the same"
    frac = (policy_usd - plan_usd) / policy_usd
    return f"saves {frac:.1%}" if frac >= 0 else f"costs {-frac:.1%} more"


def savings_text(data: Mapping[str, Any]) -> str:
    """'saves $X (Y%)', 'costs $X more (Y%)' or 'costs the same as' the best simple policy."""
    sv = data["savings_vs_best_baseline_usd"]
    best = data["best_baseline"]
    if abs(sv) < SAME_COST_USD:
        return f"The plan costs the same as the best simple policy ({best})."
    frac = data.get("savings_vs_best_baseline_fraction")
    pct = "" if frac is None else f" ({abs(frac):.1%})"
    verb = f"saves ${sv:,.2f}" if sv >= 0 else f"costs ${-sv:,.2f} more"
    return f"Against the best simple policy ({best}) the plan {verb}{pct}."


def _add_serving(
    wl_data: dict[str, Any],
    schedule: pd.DataFrame,
    requests: np.ndarray,
    workloads: tuple[str, ...],
) -> None:
    """Per workload, the deployments (GPU, quantization, TP, source) and the API serving it,
    with their share of its requests, largest first."""
    for i, w in enumerate(workloads):
        rows = schedule[schedule["workload"] == w] if len(schedule) else schedule
        wl_data[w]["serving"] = serving_shares(rows, float(requests[:, i].sum()))


def serving_shares(rows: pd.DataFrame, total_requests: float) -> list[dict[str, Any]]:
    """One workload's schedule ``rows`` as its shares of ``total_requests`` per GPU,
    quantization, TP and source (the API's with no GPU), largest first: plan.json's
    ``serving``, as the plan writes it and the verifier recomputes it."""
    if not len(rows) or total_requests <= 0:
        return []
    grp = rows.groupby(["gpu", "quant", "tp", "source"], dropna=False)["requests"].sum()
    return [
        {
            "gpu": "" if s == "api" else str(g),
            "quant": "" if s == "api" else str(q),
            "tp": 0 if s == "api" else int(tp),
            "source": str(s),
            "share_of_requests": float(req) / total_requests,
        }
        for (g, q, tp, s), req in grp.sort_values(ascending=False).items()
        if req > 0
    ]


def pool_gpus_by_hour(
    reserved: Mapping[tuple[str, str], int], existing_gpus: Mapping[str, np.ndarray], H: int
) -> dict[str, np.ndarray]:
    """The reserved pool's units per pool and hour: new commitments plus existing ones
    (existing commitments are generic per-GPU pools, keyed by their GPU type)."""
    out = {g: np.asarray(v, dtype=float).copy() for g, v in existing_gpus.items()}
    for (g, _tier), n in reserved.items():
        out[g] = out.get(g, np.zeros(H)) + n
    return out


def marginal_by_workload(
    schedule: pd.DataFrame,
    opts: OptionSet,
    hours: pd.DatetimeIndex,
    workloads: Sequence[str],
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    pool_gpus: Mapping[str, np.ndarray],
) -> dict[str, float | None]:
    """Each workload's marginal cost per million output tokens on the plan's fleet (see
    :func:`marginal_usd_per_m_output`): the plan's figure, and the verifier's from the
    schedule it checked (``pool_gpus``: :func:`pool_gpus_by_hour`)."""
    H = len(hours)
    hour_index = {h: i for i, h in enumerate(pd.DatetimeIndex(hours).tz_convert("UTC"))}
    idle_share = pd.DataFrame({"t": [], "deployment": [], "source": [], "idle": []})
    pool_used: dict[str, np.ndarray] = {}
    if len(schedule):
        self_rows = schedule[schedule["source"] != "api"]
        t = pd.to_datetime(self_rows["hour"], utc=True, format="ISO8601").map(hour_index)
        lanes = (
            self_rows.assign(t=t.to_numpy())
            .groupby(["t", "deployment", "source"], sort=False)
            .agg(
                replicas=("replicas", "first"),
                used=("replica_share", "sum"),
                units=("instances", "first"),
                pool=("pool", "first"),
            )
            .reset_index()
        )
        lanes["idle"] = np.maximum(lanes["replicas"] - lanes["used"], 0.0)
        idle_share = lanes[lanes["idle"] > 1e-9][["t", "deployment", "source", "idle"]]
        pool = lanes[lanes["source"] == POOL]
        for g, grp in pool.groupby("pool"):
            used = np.zeros(H)
            np.add.at(used, grp["t"].to_numpy(dtype=int), grp["units"].to_numpy(dtype=float))
            pool_used[str(g)] = used
    return {
        w: marginal_usd_per_m_output(
            opts,
            w,
            requests[:, i],
            input_tokens[:, i],
            output_tokens[:, i],
            idle_share,
            pool_gpus,
            pool_used,
        )
        for i, w in enumerate(workloads)
    }


def marginal_usd_per_m_output(
    opts: OptionSet,
    workload: str,
    requests: np.ndarray,
    input_tokens: np.ndarray,
    output_tokens: np.ndarray,
    idle_share: pd.DataFrame,
    pool_gpus: Mapping[str, np.ndarray],
    pool_used: Mapping[str, np.ndarray],
) -> float | None:
    """What one more million output tokens of ``workload`` would cost on this fleet [USD].

    The million is spread over the hours like the workload's demand (``requests``,
    ``input_tokens``, ``output_tokens`` are its ``(H,)`` columns). Each hour first uses spare
    capacity the plan already pays for: unused shares of running replicas (``idle_share``:
    hour index ``t``, ``deployment``, ``source``, ``idle`` replicas) and idle pool GPUs of a
    type that can serve the workload (``pool_gpus`` minus ``pool_used``, units per pool and
    hour); then the cheapest per-request rate, the API or an hourly replica at full use.
    None when some of it could not be served at all.
    """
    total_out = float(output_tokens.sum())
    if total_out <= 0:
        return None
    wl = opts.workloads[workload]
    H = len(requests)
    options = opts.options_for(workload)
    lane_rate = math.inf
    for o in options:
        dep = o.deployment
        for s in opts.hourly_tiers(dep.pool_key) if dep.on_hourly else []:
            if s == "spot" and not wl.allow_spot:
                continue
            price = opts.gpu_usd_per_hour[(dep.pool_key, s)]
            lane_rate = min(
                lane_rate, price * dep.units / demand_covered(o.requests_per_hour, wl.headroom)
            )
    rate = np.full(H, lane_rate)
    api = opts.api_usd_per_m.get(workload)
    if api is not None:
        api_usd = api_usd_per_hour(api, input_tokens, output_tokens)
        per_req = np.divide(api_usd, requests, out=np.full(H, np.inf), where=requests > 0)
        rate = np.minimum(rate, per_req)
    caps = {o.key: demand_covered(o.requests_per_hour, wl.headroom) for o in options}
    spare = np.zeros(H)
    if not wl.allow_spot and len(idle_share):
        idle_share = idle_share[idle_share["source"] != "spot"]
    if len(idle_share):
        cap = idle_share["deployment"].map(caps).fillna(0.0).to_numpy(dtype=float)
        np.add.at(
            spare,
            idle_share["t"].to_numpy(dtype=int),
            idle_share["idle"].to_numpy(dtype=float) * cap,
        )
    for g, have in pool_gpus.items():
        on_g = [o for o in options if o.deployment.pool_key == g and o.deployment.on_pool]
        if not on_g:
            continue
        idle = np.maximum(np.asarray(have, dtype=float) - pool_used.get(g, 0.0), 0.0)
        spare += np.max(
            [np.floor(idle / o.deployment.units + 1e-9) * caps[o.key] for o in on_g], axis=0
        )
    extra = requests * TOKENS_PER_M / total_out
    short = np.maximum(extra - spare, 0.0)
    if np.any((short > 0) & ~np.isfinite(rate)):
        return None
    need = short > 0
    return float(np.sum(short[need] * rate[need]))


def commitment_use(
    existing: list[dict[str, Any]],
    schedule: pd.DataFrame,
    reserved: Mapping[tuple[str, str], int],
    hours: pd.DatetimeIndex,
) -> list[dict[str, Any]]:
    """Add to each commitment the load on its GPU type's pool while it is active, and flag it
    under-used below 50% (the pool's GPUs are interchangeable, so the load is shared pro rata).
    """
    if not existing:
        return []
    utc = pd.DatetimeIndex(hours).tz_convert("UTC")
    pool = schedule[schedule["source"] == POOL] if len(schedule) else schedule
    load = (
        (pool["replica_share"] * pool["tp"] / pool["gpus_per_unit"])
        .groupby([pool["pool"], pool["hour"]])
        .sum()
        if len(pool)
        else pd.Series(dtype=float)
    )

    def active(e: Mapping[str, Any]) -> np.ndarray:
        on = np.ones(len(utc), dtype=bool)
        if e.get("start"):
            on &= utc >= pd.Timestamp(e["start"])
        if e.get("end"):
            on &= utc < pd.Timestamp(e["end"])
        return on

    committed: dict[str, np.ndarray] = {}
    for e in existing:
        committed.setdefault(e["gpu"], np.zeros(len(utc)))
        committed[e["gpu"]] += e["count"] * active(e)
    out = []
    for e in existing:
        g = e["gpu"]
        on = active(e)
        per_hour = np.zeros(len(utc))
        if len(load) and g in load.index.get_level_values(0):
            lg = load.loc[g]
            lg.index = pd.DatetimeIndex(lg.index).tz_convert("UTC")
            per_hour = lg.reindex(utc, fill_value=0.0).to_numpy()
        capacity = committed[g] + sum(n for (gg, _), n in reserved.items() if gg == g)
        used = float(per_hour[on].sum())
        avail = float(capacity[on].sum())
        util = used / avail if avail > 0 else None
        out.append({**e, "pool_utilization": util, "under_used": util is not None and util < 0.5})
    return out


def _pool_fields(opts: OptionSet, pool: str) -> dict[str, Any]:
    """Provider, instance type, region and shape of an offer pool, for the plan's tables."""
    p = opts.pools.get(pool)
    if p is None:  # a generic pool known only from existing commitments
        return {
            "pool": pool,
            "provider": "generic",
            "instance": pool,
            "region": "",
            "gpus_per_instance": 1,
        }
    d = p.as_dict()
    return {k: d[k] for k in ("pool", "provider", "instance", "region", "gpus_per_instance")}


def _fleet_summary(
    schedule: pd.DataFrame,
    reserved: Mapping[tuple[str, str], int],
    horizon: float,
    opts: OptionSet | None = None,
) -> list[dict[str, Any]]:
    rows = []
    for (g, tier), n in sorted(reserved.items()):
        where = _pool_fields(opts, g) if opts is not None else {"pool": g}
        per = int(where.get("gpus_per_instance", 1))
        rows.append(
            {
                "gpu": opts.pools[g].gpu if opts is not None and g in opts.pools else g,
                "tier": tier,
                "peak_gpus": n * per,
                "mean_gpus": float(n * per),
                "gpu_hours": n * per * horizon,
                **where,
                "instances": n,
            }
        )
    if len(schedule):
        schedule = with_units(schedule)
        hourly = schedule[schedule["source"].isin(["on_demand", "spot", POOL])]
        per = hourly.drop_duplicates(["hour", "deployment", "source"])
        for (g, s), grp in per.groupby(["pool", "source"]):
            by_hour = grp.groupby("hour")["gpus"].sum()
            label = "pool (in use)" if s == POOL else str(s)
            where = _pool_fields(opts, str(g)) if opts is not None else {"pool": str(g)}
            rows.append(
                {
                    "gpu": str(grp["gpu"].iloc[0]),
                    "tier": label,
                    "peak_gpus": int(by_hour.max()),
                    "mean_gpus": float(by_hour.sum() / horizon),
                    "gpu_hours": float(by_hour.sum()),
                    **where,
                    "instances": float(grp.groupby("hour")["instances"].sum().max()),
                }
            )
    return rows


__all__ = [
    "BUY_FILE",
    "PLAN_FILES",
    "SAME_COST_USD",
    "Plan",
    "against_policy",
    "assemble_plan",
    "build_schedule",
    "cost_breakdown",
    "marginal_usd_per_m_output",
    "plan_summary_md",
    "pool_utilization",
    "read_buy_csv",
    "reading_edited",
    "savings_text",
    "serving_text",
    "share_text",
]
