"""The out-of-sample check of the calibration (``benchmarks/calibration_cv.py``, run outside
the suite): each fold fits on the other suites only, and predicts every held-out row."""

from __future__ import annotations

from typing import Any

import pytest

import advisor.validate as V
from advisor.catalog import load_catalog
from benchmarks.calibration_cv import ONLINE_CHECKS, cross_validate, with_combine


def test_each_fold_fits_without_its_held_out_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    fits: list[tuple[set[str], set[str]]] = []
    held: list[set[str]] = []
    real_validate = V.validate

    def fake_calibrate(catalog, rows, grid, online) -> dict[str, dict[str, Any]]:
        fits.append((set(rows["suite"]), set(online["suite"])))
        return {
            f: {"mbu": e.mbu, "mfu": e.mfu, "max_batch": e.max_batch, "calibrated": True}
            for f, e in catalog.efficiency.items()
        }

    def spy_validate(catalog, rows):
        held.append(set(rows["suite"]))
        return real_validate(catalog, rows)

    online_held: list[tuple[set[str], set[str]]] = []

    def spy_validate_serving(catalog, rows):
        # the online runs a fold predicts: their suites and scenarios (no simulation here)
        online_held.append((set(rows["suite"]), set(rows["scenario"].str.lower())))
        table = rows.assign(status="ok", holdout=False, throughput_error=0.1)
        errors = {c: 0.2 for c in ONLINE_CHECKS.values()}
        return {"rows": table.assign(**errors), "summary": {}}

    monkeypatch.setattr(V, "calibrate", fake_calibrate)
    monkeypatch.setattr(V, "validate", spy_validate)
    monkeypatch.setattr(V, "validate_serving", spy_validate_serving)
    catalog = with_combine(load_catalog(), "sum")
    assert {e.step_combine for e in catalog.efficiency.values()} == {"sum"}
    folds, pooled, online_errors = cross_validate(catalog, V.DEFAULT_GRID)
    suites = set(V.calibration_rows()["suite"])
    assert len(fits) == len(held) == len(suites)
    for (train, online), out in zip(fits, held, strict=True):
        assert len(out) == 1 and not out & train and not out & online
        assert train | out == suites
    # every usable held-out row is predicted once
    assert len(pooled) == folds["rows"].sum() == real_validate(catalog, V.calibration_rows()).n_used
    # the online runs are predicted by the fold that held their suite out, and only those
    assert online_held, "no fold predicted an online run"
    for suites_seen, scenarios in online_held:
        assert len(suites_seen) == 1 and suites_seen <= {s for out in held for s in out}
        assert scenarios and not scenarios & {"offline", *V.KNOWN_LOAD_SCENARIOS}
    runs = V.load_serving_runs()
    kind = runs["scenario"].str.lower()
    at_rate = runs[(kind != "offline") & ~kind.isin(V.KNOWN_LOAD_SCENARIOS)]
    in_folds = at_rate[at_rate["suite"].isin(suites)]
    assert len(online_errors["online TPOT@rate"]) == len(in_folds)
