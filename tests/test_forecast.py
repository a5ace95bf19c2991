"""Tests for advisor.forecast and ``advisor forecast``: known seasonality is recovered."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from advisor.catalog import load_catalog
from advisor.cli import app
from advisor.demand import Demand, write_demand_csv
from advisor.errors import AdvisorError, DemandError
from advisor.forecast import forecast_demand, parse_growth
from advisor.scenarios import load_scenarios
from advisor.workloads import load_workloads

NAME = "llama-3.1-70b-interactive"


@pytest.fixture(scope="module")
def workloads():
    return load_workloads(load_catalog())


def _truth(
    n_hours: int, start: str = "2026-01-05T00:00:00Z"
) -> tuple[pd.DatetimeIndex, np.ndarray]:
    """Daily cosine (peak 15:00 UTC, 3x peak to trough) times a 40% weekend dip."""
    hours = pd.date_range(start, periods=n_hours, freq="h")
    hod = np.asarray(hours.hour, dtype=float)
    weekend = np.asarray(hours.day_of_week >= 5)
    shape = (1.0 + 0.5 * np.cos(2 * np.pi * (hod - 15) / 24)) * np.where(weekend, 0.6, 1.0)
    return hours, 20_000.0 * shape


def _history(workloads, weeks: int = 4, noise: float = 0.03) -> Demand:
    hours, truth = _truth(weeks * 168)
    rng = np.random.default_rng(1)
    req = truth * np.exp(noise * rng.standard_normal(len(truth)))
    w = workloads[NAME]
    return Demand.from_requests(
        hours,
        {NAME: req},
        prompt_tokens={NAME: w.prompt_tokens},
        completion_tokens={NAME: w.completion_tokens},
        source="synthetic history",
    )


@pytest.fixture(scope="module")
def fitted(workloads):
    return forecast_demand(_history(workloads), workloads, 168, scenarios=20, seed=3)


def test_known_daily_and_weekly_seasonality_is_recovered(fitted) -> None:
    hours, truth = _truth(5 * 168)
    point = fitted.point
    assert fitted.seasons == (24, 168)
    assert point.hours[0] == hours[4 * 168]
    got = point.requests[:, 0]
    want = truth[4 * 168 :]
    assert np.mean(np.abs(got - want) / want) < 0.05
    # the daily peak hour and the weekend dip are where the truth has them
    daily = pd.Series(got, index=point.hours).groupby(point.hours.hour).mean()
    assert daily.idxmax() in (14, 15, 16)
    weekend = np.asarray(point.hours.day_of_week >= 5)
    assert got[weekend].mean() / got[~weekend].mean() == pytest.approx(0.6, abs=0.06)


def test_backtest_error_is_small_and_beats_nothing_silly(fitted) -> None:
    (bt,) = fitted.backtest
    assert bt.holdout_hours == 168
    assert 0 <= bt.mape < 0.06
    assert bt.naive_mape < 0.1


def test_scenario_paths_scatter_around_the_point_forecast(fitted) -> None:
    paths = np.stack([p.requests[:, 0] for p in fitted.paths])
    assert paths.shape == (20, 168)
    assert np.all(paths >= 0)
    ratio = paths.mean(axis=0) / fitted.point.requests[:, 0]
    assert np.median(ratio) == pytest.approx(1.0, abs=0.05)
    assert paths.std(axis=0).mean() > 0  # the error model draws something


def test_growth_range_is_drawn_per_path(workloads) -> None:
    fc = forecast_demand(
        _history(workloads, weeks=3),
        workloads,
        48,
        growth=(1.0, 2.0),
        scenarios=8,
        seed=0,
        backtest=False,
    )
    ends = [p.requests[-24:, 0].sum() for p in fc.paths]
    assert max(ends) / min(ends) > 1.2
    # the point forecast grows to the midpoint, 1.5x, along the horizon (Mon and Tue alike)
    day1, day2 = fc.point.requests[:24, 0].sum(), fc.point.requests[24:, 0].sum()
    assert day2 / day1 == pytest.approx(1.375 / 1.125, rel=0.05)


def test_too_short_history_is_a_clear_error(workloads) -> None:
    short = _history(workloads, weeks=1)
    short = Demand(
        short.hours[:30],
        short.workloads,
        short.requests[:30],
        short.input_tokens[:30],
        short.output_tokens[:30],
    )
    with pytest.raises(DemandError, match="at least two days"):
        forecast_demand(short, workloads, 24)


@pytest.mark.parametrize("text", ["x", "0", "2:1", "1:2:3", "-1"])
def test_bad_growth_is_a_clear_error(text: str) -> None:
    with pytest.raises(AdvisorError, match="--growth"):
        parse_growth(text)


def test_cli_forecast_writes_scenarios_and_prints_the_backtest(workloads, tmp_path: Path) -> None:
    hist = write_demand_csv(_history(workloads, weeks=3), tmp_path / "history.csv")
    out = tmp_path / "demand.csv"
    res = CliRunner().invoke(
        app,
        [
            "forecast",
            str(hist),
            "--horizon",
            "48",
            "--growth",
            "1.1:1.3",
            "--scenarios",
            "3",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "MAPE" in res.output and "seasonal naive" in res.output
    scen = load_scenarios(out, workloads)
    assert scen.n == 3 and scen.names == ("s1", "s2", "s3")
    assert np.allclose(scen.weights, 1 / 3)
    assert scen.demands[0].n_hours == 48
    res = CliRunner().invoke(
        app, ["forecast", str(hist), "--horizon", "24", "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert doc["backtest"][0]["workload"] == NAME and doc["backtest"][0]["mape"] < 0.1
    assert load_scenarios(out, workloads).n == 1


def test_a_sparse_history_forecasts_values_a_demand_file_holds(workloads, tmp_path) -> None:
    """Regression: 100 requests at midnight and 0 otherwise forecast 8e-17 requests in the
    quiet hours, which ``solve`` then refused (below the smallest nonzero quantity)."""
    hours = pd.date_range("2026-01-05T00:00:00Z", periods=168, freq="h")
    w = workloads[NAME]
    past = Demand.from_requests(
        hours,
        {NAME: np.where(hours.hour == 0, 100.0, 0.0)},
        prompt_tokens={NAME: w.prompt_tokens},
        completion_tokens={NAME: w.completion_tokens},
    )
    fc = forecast_demand(past, workloads, 48, scenarios=3, seed=1)
    for d in (fc.point, *fc.paths):
        r = d.requests[:, 0]
        assert np.all((r == 0) | (r >= 1e-6)) and r.max() > 0
    path = write_demand_csv(fc.point, tmp_path / "f.csv")
    assert load_scenarios(path, workloads).demands[0].requests.max() > 0


def test_a_forecast_beyond_what_a_demand_file_holds_is_refused(workloads) -> None:
    with pytest.raises(AdvisorError, match="above the 1e\\+15 a demand file holds; lower --growth"):
        forecast_demand(_history(workloads, weeks=1), workloads, 24, growth=(1e300, 1e300))
    # without --growth it is the history's own trend: 'lower --growth' was no fix
    hist = _history(workloads, weeks=2)
    steep = np.exp(np.arange(len(hist.hours)) / 8.0)
    grown = Demand.from_requests(
        hist.hours,
        {NAME: hist.requests[:, 0] * steep},
        prompt_tokens={NAME: workloads[NAME].prompt_tokens},
        completion_tokens={NAME: workloads[NAME].completion_tokens},
    )
    with pytest.raises(AdvisorError, match="history's trend grows it that far") as exc:
        forecast_demand(grown, workloads, 24 * 365, backtest=False)
    assert "--growth" not in str(exc.value)


def test_two_days_of_history_forecast_without_a_backtest(workloads, tmp_path) -> None:
    """Regression: 48 hours passed the check, then the backtest (a day held out) refused its
    24 hours with "the history has 24 hours"."""
    hours, truth = _truth(48)
    w = workloads[NAME]
    past = Demand.from_requests(
        hours,
        {NAME: truth},
        prompt_tokens={NAME: w.prompt_tokens},
        completion_tokens={NAME: w.completion_tokens},
    )
    fc = forecast_demand(past, workloads, 24)
    assert fc.backtest == () and fc.point.n_hours == 24
    history = write_demand_csv(past, tmp_path / "h.csv")
    res = CliRunner().invoke(app, ["forecast", str(history), "--out", str(tmp_path / "f.csv")])
    assert res.exit_code == 0, res.output
    assert "no backtest: the history is under 72 hours" in res.output
    res = CliRunner().invoke(app, ["forecast", str(history), "--out", str(history)])
    assert res.exit_code == 2 and "is the history file" in res.output


def test_a_growth_range_needs_scenarios(workloads, tmp_path: Path) -> None:
    """--growth 1:2 without --scenarios wrote the point forecast at the midpoint, 1.5, without
    a word: the range is drawn per scenario path, and the point forecast has none."""
    hist = write_demand_csv(_history(workloads, weeks=3), tmp_path / "history.csv")
    out = tmp_path / "demand.csv"
    res = CliRunner().invoke(app, ["forecast", str(hist), "--growth", "1:2", "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert "--growth 1:2 is a range" in res.output and "--growth 1.5" in res.output
    assert not out.exists()
    res = CliRunner().invoke(app, ["forecast", str(hist), "--growth", "1.5:1.5", "--out", str(out)])
    assert res.exit_code == 0, res.output
