"""The two-stage plan's scenario checks: names and weights, the figures that follow from the
per-scenario costs, the bounds, and scenarios.csv."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from advisor.errors import AdvisorError
from advisor.verify.report import REL_TOL, Given, Same, VerifyReport, close, is_number, summarize

#: How far a figure priced by a solve may sit below a bound a solve proved (the solver's
#: tolerance and the tie-breaking cost its objective carries).
BOUND_TOL = 1e-3


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


def check_scenarios(
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
    same = Same()
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
        summarize(same.bad)
        if same.bad
        else f"{len(names)} scenarios: weights"
        + (" as the demand gives them" if given.scenarios is not None else " sum to 1")
        + ", expected, worst, CVaR, regret, VSS, EVPI, objective and gap follow from the "
        "per-scenario costs; those costs and the bounds are other solves' and are not "
        "recomputed",
    )


def _scenario_names(same: Same, s: Any, scenarios: Any) -> tuple[list[str], np.ndarray]:
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
        or not all(is_number(x) and x > 0 for x in weights)
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


def _by_scenario(same: Same, s: Mapping[str, Any], key: str, names: list[str]) -> Any:
    """A per-scenario figure as an array in ``names`` order (None where malformed)."""
    d = s.get(key)
    if (
        not isinstance(d, Mapping)
        or sorted(d) != sorted(names)
        or not all(is_number(v) for v in d.values())
    ):
        same.bad.append(f"scenarios.{key} must give a finite number per scenario")
        return None
    return np.array([float(d[n]) for n in names])


def _scenario_figures(
    same: Same,
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
    if not (is_number(alpha) and 0 <= alpha < 1):
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
    if risk.kind == "cvar" and not close(risk.alpha, float(alpha)):
        same.bad.append(f"scenarios.cvar_alpha {alpha!r} is not the risk's {risk.alpha:g}")
    objective = float(risk.value(two, w))
    same("scenarios.objective_usd", s.get("objective_usd"), objective)
    _scenario_bound(same, s, objective, risk.kind, float(w @ own))


def _scenario_plan_figures(
    same: Same, plan_data: Mapping[str, Any], s: Mapping[str, Any], two: np.ndarray, total: float
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
    if is_number(lower) and two[i] < lower * (1 - BOUND_TOL) - 1e-6:
        same.bad.append(
            f"scenarios: the plan's scenario costs ${two[i]:,.2f}, below the plan's own lower "
            f"bound ${lower:,.2f}"
        )


def _scenario_bound(
    same: Same, s: Mapping[str, Any], objective: float, kind: str, own_mean: float
) -> None:
    """The bound is at most the objective, the gap follows from it, and (expected cost) it is
    the larger of the first-stage and wait-and-see bounds, the latter at most the scenarios'
    own optima."""
    bound, gap = s.get("bound_usd"), s.get("gap")
    if bound is None:
        if gap is not None:
            same.bad.append(f"scenarios.gap {gap!r} without a bound")
        return
    if not is_number(bound) or bound > objective * (1 + REL_TOL) + 1e-6:
        same.bad.append(f"scenarios.bound_usd {bound!r} is above the objective {objective:,.2f}")
        return
    if objective > 0:
        same("scenarios.gap", gap, max(0.0, (objective - bound) / objective))
    elif gap not in (None, 0, 0.0):
        same.bad.append(f"scenarios.gap {gap!r} on an objective of {objective:g}")
    ws, fs = s.get("wait_and_see_bound_usd"), s.get("first_stage_bound_usd")
    if is_number(ws) and ws > own_mean * (1 + BOUND_TOL) + 1e-6:
        same.bad.append(f"scenarios.wait_and_see_bound_usd {ws!r} is above the own optima's mean")
    if kind == "expected" and "first_stage_bound_usd" in s and (ws is not None or fs is not None):
        parts = [float(x) for x in (ws if ws is not None else 0.0, fs) if is_number(x)]
        same("scenarios.bound_usd", bound, min(max(parts), objective))


def _scenario_table(
    same: Same,
    s: Mapping[str, Any],
    names: list[str],
    table: Sequence[Mapping[str, Any]] | None,
) -> None:
    """scenarios.csv (where the folder has it) repeats plan.json's per-scenario figures, in
    exactly its columns."""
    if table is None:
        return
    rows = list(table)
    # exactly its columns: one a reader would take as the plan's is not advisor's
    extra = sorted({str(c) for r in rows for c in r} - {"scenario", "weight", *_SCENARIO_COLUMNS})
    if extra:
        same.bad.append(f"scenarios.csv has columns advisor does not write: {extra}")
        return
    if [str(r.get("scenario")) for r in rows] != names:
        same.bad.append(f"scenarios.csv lists {[r.get('scenario') for r in rows]}, not {names}")
        return
    for r, n, wt in zip(rows, names, s["weights"], strict=True):
        same(f"scenarios.csv {n} weight", r.get("weight"), float(wt))
        for col, key in _SCENARIO_COLUMNS.items():
            same(f"scenarios.csv {n} {col}", r.get(col), float(s[key][n]))
