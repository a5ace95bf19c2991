"""Backtest that chose ``advisor forecast``'s model (not part of the tests).

    .venv/bin/python benchmarks/forecast_backtest.py [--series 8]

Synthetic hourly histories with what LLM-serving demand shows: a daily cycle (random
amplitude and peak hour), a weekend dip, growth, AR(1) noise on the log scale and rare
spikes. Each model is fitted on 8 weeks and scored on the next 2 (mean absolute percentage
error, MAPE). Candidates: the seasonal naive forecast (last week repeated), statsmodels'
MSTL with an ETS forecast of trend plus remainder (trend chosen by AIC), and statsforecast's
MSTL with AutoETS. All on ``log(1 + y)``. Measured 2026-11-30 (8 series): statsforecast
8.9%, statsmodels 10.3%, seasonal naive 10.6%.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd


def synthetic(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    base = rng.uniform(2e3, 5e4)
    amp_d, amp_w = rng.uniform(0.2, 0.6), rng.uniform(0.05, 0.3)
    peak = rng.integers(0, 24)
    daily = 1 + amp_d * np.cos(2 * np.pi * (t % 24 - peak) / 24)
    daily += 0.15 * amp_d * np.cos(4 * np.pi * (t % 24) / 24)
    weekly = np.where((t // 24) % 7 >= 5, 1 - amp_w, 1 + 0.3 * amp_w)
    trend = (1 + rng.uniform(-0.1, 0.6)) ** (t / 8760 * 4)
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = 0.7 * e[i - 1] + rng.normal(0, 0.06)
    spikes = np.where(rng.random(n) < 0.01, rng.uniform(0.2, 1.0, n), 0)
    return base * daily * weekly * trend * np.exp(e) * (1 + spikes)


def seasonal_naive(y: np.ndarray, h: int) -> np.ndarray:
    return np.resize(y[-168:], h)


def statsmodels_mstl_ets(y: np.ndarray, h: int) -> np.ndarray:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel
    from statsmodels.tsa.seasonal import MSTL

    ly = np.log1p(y)
    seasonal = MSTL(ly, periods=(24, 168)).fit().seasonal
    rest = ly - seasonal.sum(axis=1)
    fits = [
        ETSModel(rest, error="add", trend=tr, damped_trend=d).fit(disp=False)
        for tr, d in ((None, False), ("add", False), ("add", True))
    ]
    best = min(fits, key=lambda m: m.aic)
    season = sum(np.resize(seasonal[-p:, k], h) for k, p in enumerate((24, 168)))
    return np.expm1(best.forecast(h) + season)


def statsforecast_mstl_autoets(y: np.ndarray, h: int) -> np.ndarray:
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, AutoETS

    frame = pd.DataFrame({"unique_id": "a", "ds": np.arange(len(y)), "y": np.log1p(y)})
    model = MSTL(season_length=[24, 168], trend_forecaster=AutoETS(model="ZZN"))
    out = StatsForecast(models=[model], freq=1).forecast(df=frame, h=h)
    return np.expm1(out["MSTL"].to_numpy())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=8)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    fit_h, hold_h = 8 * 168, 2 * 168
    models = {
        "seasonal naive": seasonal_naive,
        "statsmodels MSTL + ETS": statsmodels_mstl_ets,
        "statsforecast MSTL + AutoETS": statsforecast_mstl_autoets,
    }
    rows = []
    for seed in range(args.series):
        y = synthetic(seed, fit_h + hold_h)
        train, test = y[:fit_h], y[fit_h:]
        for name, fn in models.items():
            t0 = time.perf_counter()
            f = fn(train, hold_h)
            rows.append((name, float(np.mean(np.abs(f - test) / test)), time.perf_counter() - t0))
    table = pd.DataFrame(rows, columns=["model", "mape", "seconds"]).groupby("model").mean()
    print(table.sort_values("mape").to_string(float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
