"""Comparing saved plans side by side (the quarterly procurement review).

Works purely from plan files: ``compare_plans`` reads each plan's ``plan.json`` content
(``Plan.data``) and lines up cost, fleet, utilization, SLO margins and solver quality, with
the difference of every plan against the first one (absolute and relative) and whether that
difference is better, worse or merely a change.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from advisor.errors import AdvisorError
from advisor.plan import EDITED_NOTE, Plan, for_reading, reading_edited

#: Cost tiers in display order (``plan.json`` ``cost_by_tier_usd`` keys).
TIER_ORDER = ("reserved", "owned", "existing", "on_demand", "spot", "api", "overhead")

_REL_TOL = 1e-6
_ABS_TOL = 1e-9


def _name_for(plan: Plan, i: int) -> str:
    if plan.path is not None:
        name = plan.path.name or str(plan.path)
        if name:
            return name
    return f"plan{i + 1}"


def _unique(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = seen.get(n, 0)
        seen[n] = k + 1
        out.append(n if k == 0 else f"{n} ({k + 1})")
    return out


def _min_or_none(values: Sequence[Any]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return min(vals) if vals else None


def _plan_view(plan: Plan, name: str) -> dict[str, Any]:
    """The figures of one plan that the comparison lines up."""
    d = plan.data
    reserved: dict[str, int] = {}
    for r in d.get("reserved", []):
        # a generic pool is its GPU type; an instance pool is provider/instance[/region]
        key = f"{r.get('pool', r['gpu'])} {r['tier']}"
        # GPUs, as every other fleet row counts (a reserved row's count is instances)
        reserved[key] = reserved.get(key, 0) + int(r["count"]) * int(r.get("gpus_per_instance", 1))
    existing: dict[str, int] = {}
    for r in d.get("existing", []):
        key = f"{r['gpu']} {r['tier']}"
        existing[key] = existing.get(key, 0) + int(r["count"])
    hourly: dict[str, dict[str, dict[str, float]]] = {"on_demand": {}, "spot": {}}
    for r in d.get("fleet", []):
        tier = r["tier"]
        if tier in hourly:
            entry = hourly[tier].setdefault(
                r.get("pool", r["gpu"]), {"peak_gpus": 0.0, "mean_gpus": 0.0}
            )
            entry["peak_gpus"] += float(r["peak_gpus"])
            entry["mean_gpus"] += float(r["mean_gpus"])
    workloads: dict[str, dict[str, Any]] = {}
    for w, wd in d.get("workloads", {}).items():
        deps = wd.get("deployments") or []
        workloads[w] = {
            "usd_per_m_output_tokens": wd.get("usd_per_m_output_tokens"),
            "api_usd_per_m_output_tokens": wd.get("api_usd_per_m_output_tokens"),
            "api_all_in_usd_per_m_output_tokens": wd.get("api_all_in_usd_per_m_output_tokens"),
            "cost_usd": wd.get("cost_usd"),
            "min_tpot_margin": _min_or_none([x.get("tpot_margin") for x in deps]),
            "min_ttft_margin": _min_or_none([x.get("ttft_margin") for x in deps]),
        }
    solver = d.get("solver") or {}
    return {
        "name": name,
        "path": None if plan.path is None else str(plan.path),
        "demand": (d.get("demand") or {}).get("source"),
        # the demand file is told apart by its checksum, not the path it was named by
        "demand_sha256": (d.get("input_sha256") or {}).get("demand"),
        # a sweep's case changed the inputs after they were read (``advisor sweep``)
        "sweep_case": (d.get("sweep_case") or {}).get("case"),
        # the catalog as solved on (prices included): its checksum and price profile
        "catalog_sha256": (d.get("input_sha256") or {}).get("catalog"),
        "prices": (d.get("inputs") or {}).get("prices"),
        # the existing commitments solved with (their checksum) and their spend
        "fleet_sha256": (d.get("input_sha256") or {}).get("fleet"),
        "existing_count": len(d.get("existing") or []),
        "existing_usd": float((d.get("cost_by_tier_usd") or {}).get("existing", 0.0)),
        "policy": d.get("policy") if isinstance(d.get("policy"), dict) else None,
        "horizon_hours": d.get("horizon_hours"),
        "verified": d.get("verified"),
        "edited": any(EDITED_NOTE in str(w) for w in d.get("warnings") or []),
        "total_cost_usd": float(d["total_cost_usd"]),
        "cost_by_tier_usd": {k: float(v) for k, v in d.get("cost_by_tier_usd", {}).items()},
        "usd_per_m_output_tokens": d.get("usd_per_m_output_tokens"),
        "workloads": workloads,
        "fleet": {"reserved": reserved, "existing": existing, **hourly},
        "reserved_utilization": d.get("reserved_utilization"),
        "savings_vs_best_baseline_fraction": d.get("savings_vs_best_baseline_fraction"),
        "best_baseline": d.get("best_baseline"),
        "solver": {
            "name": solver.get("name"),
            "status": solver.get("status"),
            "gap": d.get("gap", solver.get("gap")),
            "seconds": solver.get("seconds"),
        },
    }


def _ordered(keys: set[str], order: Sequence[str] = ()) -> list[str]:
    first = [k for k in order if k in keys]
    return first + sorted(keys - set(first))


def _num(v: Any) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _row(
    group: str,
    metric: str,
    label: str,
    unit: str,
    better: str,
    values: list[Any],
) -> dict[str, Any]:
    """One compared quantity: values per plan, deltas vs the first, and their verdicts.

    ``better`` is ``lower``, ``higher`` or ``neutral`` (a change, neither good nor bad);
    ``unit`` is ``usd``, ``usd_per_m``, ``fraction``, ``gpus``, ``seconds`` or ``text``.
    """
    base = values[0]
    deltas: list[float | None] = [None]
    relative: list[float | None] = [None]
    verdict: list[str | None] = [None]
    for v in values[1:]:
        if unit == "text":
            deltas.append(None)
            relative.append(None)
            verdict.append("same" if v == base else "changed")
            continue
        a, b = _num(base), _num(v)
        if a is None or b is None:
            deltas.append(None)
            relative.append(None)
            verdict.append("same" if a is None and b is None else "changed")
            continue
        diff = b - a
        deltas.append(diff)
        relative.append(diff / abs(a) if a != 0 else None)
        if abs(diff) <= max(_ABS_TOL, _REL_TOL * max(abs(a), abs(b))):
            verdict.append("same")
        elif better == "lower":
            verdict.append("better" if diff < 0 else "worse")
        elif better == "higher":
            verdict.append("better" if diff > 0 else "worse")
        else:
            verdict.append("changed")
    return {
        "group": group,
        "metric": metric,
        "label": label,
        "unit": unit,
        "better": better,
        "values": values,
        "deltas": deltas,
        "relative": relative,
        "highlight": verdict,
    }


def compare_plans(plans: Sequence[Plan], names: Sequence[str] | None = None) -> dict[str, Any]:
    """Line up ``plans`` side by side; differences are against the first plan.

    Returns ``{"names", "reference", "plans", "rows", "notes"}``: ``plans`` holds each plan's
    figures; ``rows`` one entry per compared quantity with ``values`` (one per plan),
    ``deltas`` and ``relative`` (``None`` for the first plan) and ``highlight`` (``better``,
    ``worse``, ``changed`` or ``same`` against the first plan).
    """
    if len(plans) < 2:
        raise AdvisorError(f"Compare needs at least two plans; got {len(plans)}.")
    plans = [for_reading(p) for p in plans]
    if names is None:
        names = [_name_for(p, i) for i, p in enumerate(plans)]
    elif len(names) != len(plans):
        raise AdvisorError(f"Got {len(names)} names for {len(plans)} plans; give one per plan.")
    names = _unique([str(n) for n in names])
    views = []
    for p, n in zip(plans, names, strict=True):
        with reading_edited(p):
            views.append(_plan_view(p, n))
    r = _Rows(views)
    wls = _ordered(set().union(*(v["workloads"] for v in views)))
    _cost_rows(r, wls)
    _fleet_rows(r)
    _slo_and_solver_rows(r, wls)
    return {
        "names": list(names),
        "reference": names[0],
        "plans": views,
        "rows": r.rows,
        "notes": _notes(views),
    }


class _Rows:
    """The compared rows, built against the plans' views."""

    def __init__(self, views: list[dict[str, Any]]) -> None:
        self.views = views
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        group: str,
        metric: str,
        label: str,
        unit: str,
        better: str,
        get: Any,
        *,
        skip_zero: bool = False,
    ) -> None:
        values = [get(v) for v in self.views]
        if skip_zero and all(_num(x) in (None, 0.0) for x in values):
            return
        self.rows.append(_row(group, metric, label, unit, better, values))


def _cost_rows(r: _Rows, wls: list[str]) -> None:
    """Total, per tier, USD/M output tokens (all and per workload), saving vs baselines."""
    r.add(
        "cost", "total_cost_usd", "Total cost (USD)", "usd", "lower", lambda v: v["total_cost_usd"]
    )
    tiers = set().union(*(v["cost_by_tier_usd"] for v in r.views))
    for t in _ordered(tiers, TIER_ORDER):
        vals = [v["cost_by_tier_usd"].get(t, 0.0) for v in r.views]
        if any(abs(x) > 0 for x in vals):
            r.add(
                "cost",
                f"cost_by_tier_usd.{t}",
                f"{t} (USD)",
                "usd",
                "lower",
                lambda v, t=t: v["cost_by_tier_usd"].get(t, 0.0),
            )
    r.add(
        "cost",
        "usd_per_m_output_tokens",
        "All workloads (USD/M output tokens)",
        "usd_per_m",
        "lower",
        lambda v: v["usd_per_m_output_tokens"],
    )
    for w in wls:
        r.add(
            "cost",
            f"workloads.{w}.usd_per_m_output_tokens",
            f"{w} (USD/M output tokens)",
            "usd_per_m",
            "lower",
            lambda v, w=w: v["workloads"].get(w, {}).get("usd_per_m_output_tokens"),
        )
    r.add(
        "cost",
        "savings_vs_best_baseline_fraction",
        "Saving vs best simple policy",
        "fraction",
        "higher",
        lambda v: v["savings_vs_best_baseline_fraction"],
    )


def _fleet_rows(r: _Rows) -> None:
    """Reserved and existing GPUs, hourly GPUs (peak and mean), pool utilization."""
    for kind in ("reserved", "existing"):
        keys = _ordered(set().union(*(v["fleet"][kind] for v in r.views)))
        for k in keys:
            r.add(
                "fleet",
                f"fleet.{kind}.{k}",
                f"{k} ({kind} GPUs)",
                "gpus",
                "neutral",
                lambda v, kind=kind, k=k: v["fleet"][kind].get(k, 0),
                skip_zero=True,
            )
    for tier in ("on_demand", "spot"):
        gpus = _ordered(set().union(*(v["fleet"][tier] for v in r.views)))
        for g in gpus:
            for stat, word in (("peak_gpus", "peak"), ("mean_gpus", "mean")):
                r.add(
                    "fleet",
                    f"fleet.{tier}.{g}.{stat}",
                    f"{g} {tier} ({word} GPUs)",
                    "gpus",
                    "neutral",
                    lambda v, tier=tier, g=g, stat=stat: v["fleet"][tier].get(g, {}).get(stat, 0.0),
                    skip_zero=True,
                )
    r.add(
        "fleet",
        "reserved_utilization",
        "Reserved-pool utilization",
        "fraction",
        "higher",
        lambda v: v["reserved_utilization"],
    )


def _slo_and_solver_rows(r: _Rows, wls: list[str]) -> None:
    """Each workload's smallest SLO margins; the solver's status, gap and time; verified."""
    # -- SLO margins ----------------------------------------------------------------------------
    for w in wls:
        for m, word in (("min_tpot_margin", "TPOT"), ("min_ttft_margin", "TTFT")):
            r.add(
                "slo",
                f"workloads.{w}.{m}",
                f"{w} min {word} margin",
                "fraction",
                "higher",
                lambda v, w=w, m=m: v["workloads"].get(w, {}).get(m),
            )
    # -- solver ---------------------------------------------------------------------------------
    r.add(
        "solver",
        "solver.status",
        "Solver status",
        "text",
        "neutral",
        lambda v: v["solver"]["status"],
    )
    r.add("solver", "solver.gap", "Solver gap", "fraction", "lower", lambda v: v["solver"]["gap"])
    r.add(
        "solver",
        "solver.seconds",
        "Solver time (s)",
        "seconds",
        "neutral",
        lambda v: v["solver"]["seconds"],
    )
    r.add("solver", "verified", "Verified", "text", "neutral", lambda v: v["verified"])


def _notes(views: list[dict[str, Any]]) -> list[str]:
    """What makes the plans hard to compare: other demand, sweep cases, other catalogs or
    prices, other horizons, unverified. Each difference: what tells the plans apart (None:
    unknown, not counted), what a note shows of each plan, the note."""
    differ: list[tuple[Callable[[dict], Any], Callable[[dict], str], str]] = [
        (
            lambda v: v["demand_sha256"] or v["demand"],
            lambda v: v["demand"],
            "The plans were solved for different demand files ({}); their costs answer "
            "different questions.",
        ),
        (
            lambda v: v["sweep_case"] or "",
            lambda v: v["sweep_case"] or "no change",
            "The plans are cases of a sweep ({}): each solved its inputs with that change made.",
        ),
        (
            lambda v: v["catalog_sha256"],  # None: not recorded, so not told apart
            lambda v: f"{v['prices'] or 'unknown'} prices",
            "The plans were solved on different catalogs or prices ({}); their costs differ by "
            "the prices as well as by the plans.",
        ),
        (
            lambda v: v["fleet_sha256"],  # None: not recorded, so not told apart
            _commitments_text,
            "The plans were solved with different existing commitments ({}); each total "
            "includes its commitments' spend, paid whatever the plan does.",
        ),
        (
            lambda v: None if v["policy"] is None else json.dumps(v["policy"], sort_keys=True),
            lambda v: _policy_text(v["policy"] or {}),
            "The plans were solved under different procurement policies ({}); each chose only "
            "among what its policy allows.",
        ),
        (
            lambda v: v["horizon_hours"],
            lambda v: f"{v['horizon_hours']:g} h",
            "The plans cover different horizons ({}); compare USD/M output tokens rather than "
            "total cost.",
        ),
    ]
    notes = [
        text.format(", ".join(f"{v['name']}: {shown(v)}" for v in views))
        for key, shown, text in differ
        if len({k for v in views if (k := key(v)) is not None}) > 1
    ]
    for v in views:
        if v["edited"]:
            notes.append(
                f"Plan '{v['name']}' is not verified: its plan.json {EDITED_NOTE} "
                "(`advisor verify` checks it against your inputs)."
            )
        elif v["verified"] is False:
            notes.append(f"Plan '{v['name']}' is not verified.")
    return notes


def _commitments_text(view: Mapping[str, Any]) -> str:
    """``none`` or ``2 commitments ($3,014.40)`` (those with hours in the horizon)."""
    n = view["existing_count"]
    if not n:
        return "none"
    return f"{n} commitment{'s' if n != 1 else ''} (${view['existing_usd']:,.2f})"


def _policy_text(policy: Mapping[str, Any]) -> str:
    """``gpus H100-SXM; max_gpu_types 1`` (the rules a plan records), or ``no rules``."""
    rules = [
        f"{k} {','.join(str(x) for x in v) if isinstance(v, list) else v}"
        for k, v in sorted(policy.items())
        if v is not None
    ]
    return "; ".join(rules) or "no rules"


# --- formatting ------------------------------------------------------------------------------


def format_value(v: Any, unit: str) -> str:
    """A value as shown in the tables."""
    if v is None:
        return "n/a"
    if unit == "text":
        return str(v)
    f = _num(v)
    if f is None:
        return str(v)
    if unit == "usd":
        return f"{f:,.2f}"
    if unit == "usd_per_m":
        return f"{f:.3f}"
    if unit == "fraction":
        return f"{f:.2%}"
    if unit == "gpus":
        return f"{f:g}" if f == int(f) else f"{f:.2f}"
    if unit == "seconds":
        return f"{f:.2f}"
    return f"{f:g}"


def format_delta(row: Mapping[str, Any], i: int) -> str:
    """The difference of plan ``i`` against the first plan, e.g. ``-120.50 (-4.1%)``."""
    verdict = row["highlight"][i]
    if verdict is None:
        return ""
    if row["unit"] == "text" or row["deltas"][i] is None:
        return "=" if verdict == "same" else "changed"
    if verdict == "same":
        return "="
    d = float(row["deltas"][i])
    unit = row["unit"]
    if unit == "fraction":
        text = f"{d * 100:+.2f} pp"
    elif unit == "usd":
        text = f"{d:+,.2f}"
    elif unit == "usd_per_m":
        text = f"{d:+.3f}"
    elif unit == "gpus":
        text = f"{d:+g}" if d == int(d) else f"{d:+.2f}"
    else:
        text = f"{d:+.2f}"
    rel = row["relative"][i]
    if rel is not None and unit != "fraction":
        text += f" ({rel:+.1%})"
    return text


def compare_table_md(result: Mapping[str, Any]) -> str:
    """The comparison as a Markdown table; differences vs the first plan in bold, with a
    verdict (better / worse / changed)."""
    names = result["names"]
    ref = names[0]
    head = ["metric", f"{ref} (reference)"]
    for n in names[1:]:
        head += [n, f"Δ vs {ref}"]
    lines = [
        f"# Plan comparison (differences against '{ref}')",
        "",
        "| " + " | ".join(_md_escape(h) for h in head) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|",
    ]
    group = None
    for r in result["rows"]:
        if r["group"] != group:
            group = r["group"]
            lines.append("| **" + group + "** |" + " |" * (len(head) - 1))
        cells = [_md_escape(r["label"]), format_value(r["values"][0], r["unit"])]
        for i in range(1, len(names)):
            cells.append(format_value(r["values"][i], r["unit"]))
            verdict = r["highlight"][i]
            delta = format_delta(r, i)
            if verdict in ("better", "worse", "changed"):
                delta = f"**{delta}** {verdict}" if delta != "changed" else "**changed**"
            cells.append(_md_escape(delta))
        lines.append("| " + " | ".join(cells) + " |")
    if result.get("notes"):
        lines += ["", *[f"- {n}" for n in result["notes"]]]
    lines += ["", "Plans:", ""]
    for p in result["plans"]:
        lines.append(f"- **{_md_escape(p['name'])}**: `{p['path']}` (demand `{p['demand']}`)")
    return "\n".join(lines) + "\n"


def _md_escape(s: str) -> str:
    return str(s).replace("|", "\\|")


__all__ = ["compare_plans", "compare_table_md", "format_delta", "format_value"]
