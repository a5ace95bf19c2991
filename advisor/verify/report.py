"""Shared pieces of the verifier: the report, the plan as the checks read it, what the
caller read beside the plan, and the small number helpers every check uses."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from advisor.catalog import Catalog
from advisor.errors import PlanError

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
    (``buy.csv``'s and ``scenarios.csv``'s rows, ``summary.md``'s text, None where the folder
    has none), the warnings the inputs imply (catalog, commitments, workloads) and the
    demand's scenarios (an ``advisor.scenarios.ScenarioSet``; None where verify was given one
    demand)."""

    buy_file: Sequence[Mapping[str, Any]] | None = None
    scenario_table: Sequence[Mapping[str, Any]] | None = None
    summary_file: str | None = None
    implied_warnings: Sequence[str] | None = None
    scenarios: Any = None


@dataclass(frozen=True)
class Case:
    """A plan as every check after the first reads it: plan.json's fields, its schedule
    (with units and UTC hours), the demand it serves (arrays of shape (hours, workloads),
    ``workloads`` order; ``hour_index``: each demand hour's row) and the catalog."""

    plan_data: Mapping[str, Any]
    sched: pd.DataFrame
    hours: pd.DatetimeIndex
    hour_index: Mapping[pd.Timestamp, int]
    workloads: Sequence[str]
    requests: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    catalog: Catalog

    @property
    def n_hours(self) -> int:
        """The horizon [hours]."""
        return len(self.hours)


def is_number(v: Any) -> bool:
    """Whether ``v`` is a finite int or float (a bool is not a number here)."""
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def close(a: float, b: float, tol: float = REL_TOL) -> bool:
    """Whether ``a`` and ``b`` agree within relative ``tol`` (or 1e-9 absolute)."""
    return math.isclose(a, b, rel_tol=tol, abs_tol=1e-9)


def summarize(problems: list[str]) -> str:
    """The first problem, with how many more there are."""
    return problems[0] + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else "")


class Same:
    """Collects the reported figures that differ from their recomputed value."""

    def __init__(self) -> None:
        self.bad: list[str] = []

    def __call__(self, label: str, reported: Any, value: float | None) -> None:
        if value is None:
            if reported is not None:
                self.bad.append(f"{label}: reported {reported!r}, expected none")
        elif not is_number(reported) or not close(float(reported), value):
            self.bad.append(f"{label}: reported {reported!r}, recomputed {value:,.6g}")


def spot_aware_price(catalog: Catalog, gpu: str, tier: str) -> float:
    """Price per unit-hour of pool ``gpu`` (a GPU type or an instance pool) on ``tier``."""
    if (gpu, tier) not in catalog.offers:
        raise PlanError(
            f"The plan buys {gpu} on {tier}, which the catalog does not offer. Verify with "
            "the price profile (--prices) and --catalog folders the plan was solved with."
        )
    return catalog.unit_price(gpu, tier)
