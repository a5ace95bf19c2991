"""Demand scenarios: several futures of the same hours, each with a probability.

A demand CSV describes scenarios in one of two ways (a file with neither is one scenario):

- **Scenario columns.** ``scenario`` names the scenario of each row and ``scenario_weight``
  its probability (the same on every row of a scenario; any positive numbers, normalized to
  sum to 1; equal weights when the column is absent). Each scenario is a complete demand
  table of its own (every hour and workload), and all scenarios cover the same hours and
  workloads.
- **Quantile columns.** ``requests_p10``, ``requests_p50``, ``requests_p90`` … (and likewise
  ``input_tokens_pNN``, ``output_tokens_pNN``): per row, the quantiles of that hour's demand.
  Each quantile level becomes one scenario named ``pNN`` in which every hour and workload
  sits at that level (the futures are comonotone: a high scenario is high all along, which
  is what a commitment has to survive), weighted by the probability band the level stands
  for, from the midpoint to its lower neighbour to the midpoint to its upper one (0 and 1
  at the ends). For p10/p50/p90 that is 0.3/0.4/0.3, the extended Swanson–Megill rule. A
  plain quantity column beside them applies to every scenario; quantiles of one row must
  not decrease with the level.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from advisor.demand import (
    QUANTITIES,
    Demand,
    check_header,
    demand_from_rows,
    load_demand,
    read_rows,
)
from advisor.errors import DemandError
from advisor.workloads import Workload

SCENARIO = "scenario"
WEIGHT = "scenario_weight"
_QUANTILE = re.compile(r"^(requests|input_tokens|output_tokens)_p(\d+(?:\.\d+)?)$")


def _difference(d: Demand, first: Demand) -> str:
    """What ``d`` covers that ``first`` does not, or the other way round (the first of it)."""
    for a, b, verb in ((d, first, "has"), (first, d, "lacks")):
        extra = sorted(set(a.workloads) - set(b.workloads))
        if extra:
            return f"{verb} workload '{extra[0]}', unlike"
        hours = a.hours.difference(b.hours)
        if len(hours):
            return f"{verb} hour {hours[0].isoformat()}, unlike"
    return "covers its hours in another order than"


@dataclass(frozen=True, eq=False)
class ScenarioSet:
    """Scenario demands over the same hours and workloads, with probabilities.

    Parameters
    ----------
    names
        Scenario names, in file order.
    weights
        Probabilities, one per scenario, summing to 1.
    demands
        One ``Demand`` per scenario.
    method
        How the scenarios were read (``"one scenario"``, ``"scenario column"`` or the
        quantile rule).
    """

    names: tuple[str, ...]
    weights: np.ndarray
    demands: tuple[Demand, ...]
    method: str = "one scenario"

    def __post_init__(self) -> None:
        w = np.asarray(self.weights, dtype=float)
        if not (len(self.names) == len(self.demands) == len(w) >= 1):
            raise DemandError("A scenario set needs one name, weight and demand per scenario.")
        if not (np.all(np.isfinite(w)) and np.all(w > 0)):
            raise DemandError("Scenario weights must be finite and > 0.")
        w = w / w.max()  # relative weights: 1e308 each must not overflow their sum
        w = w / w.sum()
        w.setflags(write=False)
        object.__setattr__(self, "weights", w)
        first = self.demands[0]
        for name, d in zip(self.names, self.demands, strict=True):
            if d.workloads != first.workloads or not d.hours.equals(first.hours):
                where = "" if d.source == "synthetic" else f"{d.source}: "
                raise DemandError(
                    f"{where}scenario '{name}' {_difference(d, first)} scenario "
                    f"'{self.names[0]}'; every scenario must cover the same hours and "
                    "workloads."
                )

    @classmethod
    def single(cls, demand: Demand) -> ScenarioSet:
        """One scenario of probability 1 (a demand file without scenarios)."""
        return cls(("base",), np.ones(1), (demand,))

    @property
    def n(self) -> int:
        """Number of scenarios."""
        return len(self.names)

    def mean_demand(self) -> Demand:
        """The probability-weighted mean demand (what a single forecast would plan for)."""
        if self.n == 1:
            return self.demands[0]
        first = self.demands[0]
        arrays = {
            a: sum(p * getattr(d, a) for p, d in zip(self.weights, self.demands, strict=True))
            for a in ("requests", "input_tokens", "output_tokens")
        }
        return Demand(
            first.hours, first.workloads, source=f"weighted mean of {first.source}", **arrays
        )


def has_scenarios(path: Path) -> bool:
    """Whether a demand CSV's header has scenario or quantile columns."""
    header, _ = read_rows(Path(path))
    return any(c in (SCENARIO, WEIGHT) or _QUANTILE.match(c) for c in header)


def load_scenarios(path: Path | str, workloads: Mapping[str, Workload]) -> ScenarioSet:
    """Read a demand CSV as scenarios (format in the module docstring).

    Raises
    ------
    DemandError
        The file or a scenario is malformed; the message names the file and line.
    """
    path = Path(path)
    header, rows = read_rows(path)
    header = [c.strip() for c in header]
    quantile_cols = [c for c in header if _QUANTILE.match(c)]
    if SCENARIO not in header and WEIGHT not in header and not quantile_cols:
        return ScenarioSet.single(load_demand(path, workloads))
    if quantile_cols and (SCENARIO in header or WEIGHT in header):
        raise DemandError(
            f"{path}: line 1: the header has both quantile columns ({quantile_cols[0]}) and "
            "scenario columns; use one way of describing scenarios."
        )
    if quantile_cols:
        return _from_quantiles(path, header, rows, quantile_cols, workloads)
    names = check_header(path, header, extra=(SCENARIO, WEIGHT))
    if SCENARIO not in names:
        raise DemandError(
            f"{path}: line 1: column '{WEIGHT}' without a '{SCENARIO}' column. Name each "
            "row's scenario, or drop the weights."
        )
    return _from_scenario_column(path, names, rows, workloads)


def _from_scenario_column(
    path: Path,
    names: list[str],
    rows: list[tuple[int, list[str]]],
    workloads: Mapping[str, Workload],
) -> ScenarioSet:
    i_s = names.index(SCENARIO)
    i_w = names.index(WEIGHT) if WEIGHT in names else None
    groups: dict[str, list[tuple[int, list[str]]]] = {}
    weights: dict[str, tuple[float, int]] = {}
    for line, row in rows:
        if len(row) != len(names):
            raise DemandError(
                f"{path}: line {line}: {len(row)} fields, but the header has {len(names)} "
                f"({','.join(names)}). Give every row the header's columns."
            )
        name = row[i_s].strip()
        if not name:
            raise DemandError(f"{path}: line {line}: column '{SCENARIO}' is empty. Name it.")
        groups.setdefault(name, []).append((line, row))
        if i_w is None:
            continue
        text = row[i_w].strip()
        try:
            weight = float(text)
        except ValueError:
            raise DemandError(
                f"{path}: line {line}: column '{WEIGHT}': '{text}' is not a number. Give the "
                "scenario's probability (any positive number; weights are normalized)."
            ) from None
        if not (math.isfinite(weight) and weight > 0):
            raise DemandError(
                f"{path}: line {line}: column '{WEIGHT}': {text} must be finite and > 0."
            )
        if name in weights and weights[name][0] != weight:
            raise DemandError(
                f"{path}: line {line}: scenario '{name}' has weight {text} here but "
                f"{weights[name][0]:g} on line {weights[name][1]}. Give every row of a "
                "scenario the same weight."
            )
        weights.setdefault(name, (weight, line))
    if not groups:
        raise DemandError(f"{path}: the file has a header but no data rows.")
    demands = tuple(_scenario_demand(path, names, n, g, workloads) for n, g in groups.items())
    order = tuple(groups)
    w = np.array([weights[n][0] if i_w is not None else 1.0 for n in order])
    return ScenarioSet(order, w, demands, "scenario column")


def _scenario_demand(
    path: Path,
    names: list[str],
    scenario: str,
    rows: list[tuple[int, list[str]]],
    workloads: Mapping[str, Workload],
) -> Demand:
    """One scenario's demand; an error in its rows names the scenario (names are read
    without surrounding spaces, so 'a' and 'a ' are one scenario)."""
    try:
        return demand_from_rows(path, names, rows, workloads)
    except DemandError as exc:
        raise DemandError(f"scenario '{scenario}': {exc}") from None


def _level_text(level: str) -> str:
    return f"p{level}"


def _from_quantiles(
    path: Path,
    names: list[str],
    rows: list[tuple[int, list[str]]],
    quantile_cols: list[str],
    workloads: Mapping[str, Workload],
) -> ScenarioSet:
    by_quantity: dict[str, dict[str, str]] = {}
    for i, col in enumerate(quantile_cols):
        if quantile_cols.index(col) != i:
            raise DemandError(
                f"{path}: line 1: column '{col}' appears twice in the header. Keep one."
            )
        m = _QUANTILE.match(col)
        assert m is not None
        by_quantity.setdefault(m.group(1), {})[m.group(2)] = col
    level_sets = {q: sorted(cols, key=float) for q, cols in by_quantity.items()}
    levels = next(iter(level_sets.values()))
    for q, ls in level_sets.items():
        if ls != levels:
            raise DemandError(
                f"{path}: line 1: {q} has quantile levels {ls} but another quantity has "
                f"{levels}; give every quantity the same levels."
            )
    values = [float(v) for v in levels]
    if any(not 0 < v < 100 for v in values):
        raise DemandError(f"{path}: line 1: quantile levels must lie strictly between 0 and 100.")
    for a, b in itertools.pairwise(levels):
        if float(a) == float(b):
            raise DemandError(
                f"{path}: line 1: the quantile level {float(a):g} appears twice (p{a} and "
                f"p{b}); keep one column per level."
            )
    for q in by_quantity:
        if q in names:
            raise DemandError(
                f"{path}: line 1: both '{q}' and its quantile columns; keep one of them."
            )
    check_header(path, [c for c in names if c not in quantile_cols] + list(by_quantity))
    plain = [q for q in QUANTITIES if q in names]
    base = ["hour", "workload", *plain, *by_quantity]
    idx = {c: names.index(c) for c in names}
    per_level: list[list[tuple[int, list[str]]]] = [[] for _ in levels]
    for line, row in rows:
        if len(row) != len(names):
            raise DemandError(
                f"{path}: line {line}: {len(row)} fields, but the header has {len(names)} "
                f"({','.join(names)}). Give every row the header's columns."
            )
        for q, cols in by_quantity.items():
            cells = [row[idx[cols[lv]]].strip() for lv in levels]
            nums = []
            for lv, c in zip(levels, cells, strict=True):
                try:
                    nums.append(float(c) if c else math.nan)
                except ValueError:
                    raise DemandError(
                        f"{path}: line {line}: column '{cols[lv]}': '{c}' is not a number."
                    ) from None
            if any(b < a for a, b in itertools.pairwise(nums)):
                raise DemandError(
                    f"{path}: line {line}: the quantiles of {q} decrease with the level "
                    f"({', '.join(cells)}); quantiles must not decrease from low to high "
                    "levels."
                )
        for k, lv in enumerate(levels):
            cells = [row[idx["hour"]], row[idx["workload"]]]
            cells += [row[idx[q]] for q in plain]
            cells += [row[idx[by_quantity[q][lv]]] for q in by_quantity]
            per_level[k].append((line, cells))
    demands = tuple(demand_from_rows(path, base, g, workloads) for g in per_level)
    p = np.array(values) / 100.0
    mids = np.concatenate([[0.0], (p[1:] + p[:-1]) / 2.0, [1.0]])
    weights = np.diff(mids)
    method = (
        "quantile columns: one scenario per level, weighted by the band between midpoints "
        "to its neighbours"
    )
    return ScenarioSet(tuple(_level_text(v) for v in levels), weights, demands, method)
