"""The MILP's rows come in the families its docstring names, each row named by what it is."""

from __future__ import annotations

from typing import Any

import numpy as np

from advisor.demand import Demand
from advisor.milp import ModelInput, build_model
from advisor.pipeline import load_inputs, option_set
from tests.test_review import DEMAND


def first_hours(d: Demand, n: int, **kw: Any) -> ModelInput:
    """The first ``n`` hours of a demand as model points, in time order."""
    arrays = (np.asarray(a)[:n] for a in (d.requests, d.input_tokens, d.output_tokens))
    return ModelInput(d.workloads, *arrays, np.ones(n), **kw)


FAMILIES = {"cover", "share", "pool", "avail", "apilimit", "gpu", "start", "hold"}


def test_rows_are_named_by_family_and_what_they_bind() -> None:
    inputs = load_inputs(DEMAND / "mixed_week.csv")
    d = inputs.demand
    fm = build_model(option_set(inputs), first_hours(d, 4))
    names = list(fm.prob.constraints)
    assert {n.split("_")[0] for n in names} <= FAMILIES
    assert len(names) == fm.n_constraints
    covers = [n for n in names if n.startswith("cover_")]
    for w in d.workloads:  # one cover row per workload and point with demand
        mine = [n for n in covers if w.replace("-", "_").replace(".", "_") in n]
        assert len(mine) == int((np.asarray(d.requests)[:4, d.workloads.index(w)] > 0).sum())
    # the pool rows the bound prices are the model's own pool rows
    assert set(fm.pool_rows.values()) == {
        fm.prob.constraints[n] for n in names if n.startswith("pool_")
    }
