"""Forecast hourly demand from history: seasonality, trend, a backtest and scenario paths.

Method, per workload, on ``log(1 + requests)`` (seasonal swings scale with the level):

1. **Model.** MSTL (seasonal-trend decomposition by Loess with several periods: daily 24 h
   and, with at least two weeks of history, weekly 168 h), its trend-plus-remainder
   forecast by AutoETS (exponential smoothing, error/trend chosen by AICc), as implemented
   by the ``statsforecast`` package (the ``forecast`` extra). It was chosen by a backtest,
   ``python benchmarks/forecast_backtest.py``: on synthetic histories with daily and weekly
   cycles, trend, autocorrelated noise and spikes (8 weeks fitted, the next 2 held out),
   mean MAPE 8.9% against 10.3% for statsmodels' MSTL + ETS and 10.6% for the seasonal
   naive forecast (last week repeated).
2. **Backtest.** The last weeks of the history (two when there are at least six weeks, one
   from three, else the last quarter in whole days) are held out, the model is fitted on
   the rest, and the mean absolute percentage error over held-out hours with demand is
   reported beside the seasonal-naive one, so a user sees whether the model earns its keep.
3. **Point forecast.** The model refitted on the whole history, ``horizon`` hours ahead.
4. **Scenario paths** (the error model). On the log scale each path is the point forecast
   plus (a) a level shift ``z·σ_lvl(t)`` drawn once per path and workload, where
   ``σ_lvl(t)² = σ(t)² − σ(1)²`` and ``σ(t)`` is the model's own forecast standard deviation
   (from its 80% interval), i.e. the uncertainty that accumulates with the horizon, and
   (b) hourly noise, an AR(1) process with the lag-1 autocorrelation and standard deviation
   of the in-sample residuals. Paths are equally likely.
5. **Growth** the history cannot show (a launch, a new customer): each path is multiplied
   by a factor rising linearly from 1 at the first forecast hour to ``g`` at the last,
   where ``g`` is the given growth or, for a range ``(low, high)``, drawn uniformly per
   path; the point forecast uses the midpoint.

Tokens follow from requests at each workload's mean prompt and completion lengths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from advisor.demand import MAX_PER_HOUR, MIN_PER_HOUR, ONE_HOUR, Demand
from advisor.errors import AdvisorError, DemandError
from advisor.workloads import Workload

DAY_H = 24
WEEK_H = 168
#: z-score of the upper end of a central 80% interval
_Z80 = 1.2815515655446004


@dataclass(frozen=True)
class Backtest:
    """Backtest error of one workload's forecast on held-out history.

    Parameters
    ----------
    workload
        Workload name.
    holdout_hours
        Hours held out at the end of the history [hours].
    mape
        Mean absolute percentage error of the model over held-out hours with demand [fraction].
    naive_mape
        The same for the seasonal naive forecast (the last week, or day, repeated) [fraction].
    """

    workload: str
    holdout_hours: int
    mape: float
    naive_mape: float


@dataclass(frozen=True)
class Forecast:
    """A point forecast, scenario paths and the backtest behind them.

    Parameters
    ----------
    point
        The point forecast (growth at the midpoint of its range).
    paths
        Scenario demands, equally likely (empty when none were asked for).
    backtest
        One backtest per workload.
    seasons
        The seasonal periods fitted [hours].
    growth
        The growth range ``(low, high)`` [multiplier at the horizon's end].
    """

    point: Demand
    paths: tuple[Demand, ...]
    backtest: tuple[Backtest, ...]
    seasons: tuple[int, ...]
    growth: tuple[float, float]


def _demand_values(requests: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Forecast requests as a demand file holds them: below ``MIN_PER_HOUR`` (the fit's
    rounding, e.g. 8e-17 where the history is 0) they are 0."""
    return {w: np.where(r < MIN_PER_HOUR, 0.0, r) for w, r in requests.items()}


def _check_holdable(forecast: Demand, growth: tuple[float, float]) -> None:
    """A forecast whose requests or tokens exceed ``MAX_PER_HOUR`` is refused: a demand
    file could not hold it. The fix named is the one that applies: ``--growth`` above 1,
    else the trend of the history over a horizon too long for it."""
    peaks = forecast.peak_per_hour()
    j = int(np.argmax(peaks))
    if not peaks[j] <= MAX_PER_HOUR:
        fix = (
            "lower --growth"
            if max(growth) > 1.0
            else "the history's trend grows it that far: forecast fewer hours, or give a "
            "longer history"
        )
        raise AdvisorError(
            f"The forecast of '{forecast.workloads[j]}' reaches {peaks[j]:.3g} requests or "
            f"tokens per hour, above the {MAX_PER_HOUR:.0e} a demand file holds; {fix}."
        )


def parse_growth(text: str) -> tuple[float, float]:
    """Parse ``--growth``: one multiplier (``1.4``) or a range drawn per path (``1.1:1.8``)."""
    parts = text.split(":")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        raise AdvisorError(
            f"--growth must be a multiplier like 1.4 or a range like 1.1:1.8; got '{text}'."
        ) from None
    if len(values) not in (1, 2) or not all(math.isfinite(v) and v > 0 for v in values):
        raise AdvisorError(
            f"--growth must be one positive multiplier or a range LOW:HIGH; got '{text}'."
        )
    low, high = values[0], values[-1]
    if low > high:
        raise AdvisorError(f"--growth range {text}: LOW must not exceed HIGH.")
    return low, high


def _seasons(n_hours: int) -> tuple[int, ...]:
    if n_hours >= 2 * WEEK_H:
        return (DAY_H, WEEK_H)
    if n_hours >= 2 * DAY_H:
        return (DAY_H,)
    raise DemandError(
        f"The history has {n_hours} hours; a forecast needs at least two days (48 hours) for "
        "the daily cycle, and two weeks (336 hours) for the weekly one."
    )


def _holdout_hours(n_hours: int) -> int:
    if n_hours >= 6 * WEEK_H:
        return 2 * WEEK_H
    if n_hours >= 3 * WEEK_H:
        return WEEK_H
    return max(DAY_H, (n_hours // 4) // DAY_H * DAY_H)


def _fit(y_log: np.ndarray, horizon: int, seasons: tuple[int, ...], level: bool):
    """Fit MSTL + AutoETS on a log series; return (mean, sigma or None, residuals or None)."""
    try:
        from statsforecast import StatsForecast
        from statsforecast.models import MSTL, AutoETS
    except ImportError:  # pragma: no cover - the dev environment installs the extra
        raise AdvisorError(
            "advisor forecast needs the statsforecast package: pip install 'advisor[forecast]'."
        ) from None
    model = MSTL(season_length=list(seasons), trend_forecaster=AutoETS(model="ZZN"))
    frame = pd.DataFrame({"unique_id": "w", "ds": np.arange(len(y_log)), "y": y_log})
    sf = StatsForecast(models=[model], freq=1)
    if not level:
        out = sf.forecast(df=frame, h=horizon)
        return out["MSTL"].to_numpy(dtype=float), None, None
    out = sf.forecast(df=frame, h=horizon, level=[80], fitted=True)
    mean = out["MSTL"].to_numpy(dtype=float)
    sigma = (out["MSTL-hi-80"].to_numpy(dtype=float) - mean) / _Z80
    fitted = sf.forecast_fitted_values()["MSTL"].to_numpy(dtype=float)
    resid = y_log - fitted
    return mean, np.maximum(np.nan_to_num(sigma), 0.0), resid[np.isfinite(resid)]


def _mape(actual: np.ndarray, predicted: np.ndarray) -> float:
    ok = actual > 0
    if not ok.any():
        return 0.0
    return float(np.mean(np.abs(predicted[ok] - actual[ok]) / actual[ok]))


def backtest_workload(series: np.ndarray, name: str = "") -> Backtest:
    """Hold out the history's last weeks, fit on the rest, and score both forecasts."""
    n = len(series)
    hold = _holdout_hours(n)
    train = series[: n - hold]
    seasons = _seasons(len(train))
    mean, _, _ = _fit(np.log1p(train), hold, seasons, level=False)
    predicted = np.maximum(np.expm1(mean), 0.0)
    naive = np.resize(train[-seasons[-1] :], hold)
    actual = series[n - hold :]
    return Backtest(name, hold, _mape(actual, predicted), _mape(actual, naive))


def _ar1(resid: np.ndarray) -> tuple[float, float]:
    """Lag-1 autocorrelation (clipped to [0, 0.99]) and innovation sd of residuals."""
    if len(resid) < 3 or float(np.std(resid)) == 0.0:
        return 0.0, 0.0
    r = resid - resid.mean()
    phi = float(np.clip(np.dot(r[1:], r[:-1]) / np.dot(r, r), 0.0, 0.99))
    return phi, float(np.std(r) * math.sqrt(1.0 - phi**2))


def _ramp(horizon: int, growth: float) -> np.ndarray:
    return 1.0 + (growth - 1.0) * np.arange(1, horizon + 1) / horizon


def forecast_demand(
    history: Demand,
    workloads: Mapping[str, Workload],
    horizon: int,
    *,
    growth: tuple[float, float] = (1.0, 1.0),
    scenarios: int = 0,
    seed: int = 0,
    backtest: bool = True,
) -> Forecast:
    """Forecast ``horizon`` hours after the history, with ``scenarios`` sampled paths.

    Parameters
    ----------
    history
        Hourly demand to fit (at least two days; two weeks for the weekly cycle).
    workloads
        Workload definitions (their mean lengths turn requests into tokens).
    horizon
        Hours to forecast [hours].
    growth
        Multiplier at the horizon's end, as a range ``(low, high)`` drawn per path.
    scenarios
        Number of equally likely paths to draw (0: the point forecast only).
    seed
        Random seed of the paths; the same inputs give the same paths.
    backtest
        Score the model on held-out history (costs one more fit per workload); a history
        under 72 hours leaves too little to fit on once a day is held out, and has none.
    """
    if not (isinstance(horizon, int) and horizon >= 1):
        raise AdvisorError(f"--horizon must be a positive number of hours; got {horizon}.")
    if scenarios < 0:
        raise AdvisorError(f"--scenarios must be >= 0; got {scenarios}.")
    low, high = growth
    seasons = _seasons(history.n_hours)
    hours = pd.date_range(history.hours[-1] + ONE_HOUR, periods=horizon, freq="h")
    rng = np.random.default_rng(seed)
    names = history.workloads
    means: dict[str, np.ndarray] = {}
    paths: list[dict[str, np.ndarray]] = [{} for _ in range(scenarios)]
    growths = rng.uniform(low, high, size=scenarios) if high > low else np.full(scenarios, low)
    tests: list[Backtest] = []
    for j, name in enumerate(names):
        series = np.asarray(history.requests[:, j], dtype=float)
        if backtest and len(series) - _holdout_hours(len(series)) >= 2 * DAY_H:
            # the backtest fits on what is left after its holdout: two days at least
            tests.append(backtest_workload(series, name))
        mean, sigma, resid = _fit(np.log1p(series), horizon, seasons, level=True)
        with np.errstate(over="ignore"):  # a trend past any float: inf, refused below
            means[name] = np.maximum(np.expm1(mean), 0.0) * _ramp(horizon, 0.5 * (low + high))
        if not scenarios:
            continue
        level_sd = np.sqrt(np.maximum(sigma**2 - sigma[0] ** 2, 0.0))
        phi, innovation = _ar1(resid)
        shocks = rng.standard_normal((scenarios, horizon)) * innovation
        noise = np.empty_like(shocks)
        noise[:, 0] = shocks[:, 0] / math.sqrt(max(1e-12, 1.0 - phi**2))
        for t in range(1, horizon):
            noise[:, t] = phi * noise[:, t - 1] + shocks[:, t]
        z = rng.standard_normal(scenarios)
        for s in range(scenarios):
            log_path = mean + z[s] * level_sd + noise[s]
            with np.errstate(over="ignore"):
                paths[s][name] = np.maximum(np.expm1(log_path), 0.0) * _ramp(horizon, growths[s])
    lengths = {
        "prompt_tokens": {w: workloads[w].prompt_tokens for w in names},
        "completion_tokens": {w: workloads[w].completion_tokens for w in names},
    }
    source = f"forecast of {history.source}"
    with np.errstate(over="ignore"):  # tokens past any float: inf, refused below
        point = Demand.from_requests(hours, _demand_values(means), source=source, **lengths)
        drawn = tuple(
            Demand.from_requests(hours, _demand_values(p), source=source, **lengths) for p in paths
        )
    for d in (point, *drawn):
        _check_holdable(d, (low, high))
    return Forecast(point, drawn, tuple(tests), seasons, (low, high))
