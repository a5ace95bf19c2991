"""Write the shipped example demand CSVs and their README (deterministic).

Run from the repository root::

    python demand/make_examples.py

Every example covers one week (168 hours) from Monday 2026-01-05T00:00Z, uses shipped
workload names, and gives whole requests per hour. Change the volumes in the parameter block
below and re-run; the README's tokens/day figures are recomputed from the written files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from advisor.catalog import load_catalog
from advisor.demand import (
    Demand,
    load_demand,
    synthetic_demand,
    write_demand_csv,
    write_scenarios_csv,
)
from advisor.workloads import Workload, load_workloads

# --- parameters [requests/hour unless stated] -----------------------------------------------
START = "2026-01-05T00:00:00Z"  # a Monday
HOURS = 168
INTERACTIVE_70B = "llama-3.1-70b-interactive"

HIGH_STEADY_MEAN = 80_000  # flat day, no weekend dip
HIGH_STEADY_NOISE = 0.05  # log-std of multiplicative noise (about ±5 %)

SPIKY_PEAK = 100_000  # daily peak before noise
SPIKY_PEAK_TO_TROUGH = 5.0
SPIKY_NOISE = 0.05

BUSINESS_HOURS = (9, 18)  # [start, end) UTC, Monday to Friday
BUSINESS_INTERACTIVE_ON = 12_000
BUSINESS_INTERACTIVE_OFF = 600
NIGHTLY_HOURS = (1, 5)  # [start, end) UTC, every day
NIGHTLY_BATCH_ON = 40_000
BATCH_70B = "llama-3.1-70b-batch"
BUSINESS_NOISE = 0.05

LOW_VOLUME_MEAN = 9  # about 2M tokens/week at 1,300 tokens/request: < 10M tokens/month
LOW_VOLUME_PEAK_TO_TROUGH = 3.0
LOW_VOLUME_NOISE = 0.3

MIXED = {  # workload: (mean, peak_to_trough, weekly_dip)
    "llama-3.1-8b-interactive": (100_000, 3.0, 0.3),
    "llama-3.1-70b-interactive": (30_000, 4.0, 0.3),
    "mixtral-8x7b-batch": (15_000, 1.0, 0.0),
}
MIXED_NOISE = 0.05

# spiky_growth_scenarios: the spiky week scaled by an uncertain growth, three scenarios
GROWTH_SCENARIOS = {"flat": (0.8, 0.3), "expected": (1.2, 0.5), "breakout": (2.0, 0.2)}
# ---------------------------------------------------------------------------------------------

HERE = Path(__file__).resolve().parent


def _pick(workloads: dict[str, Workload], names: list[str]) -> dict[str, Workload]:
    return {n: workloads[n] for n in names}


def high_steady(wl: dict[str, Workload]) -> Demand:
    return synthetic_demand(
        _pick(wl, [INTERACTIVE_70B]),
        HOURS,
        start=START,
        mean_requests_per_hour=[HIGH_STEADY_MEAN],
        peak_to_trough=1.0,
        weekly_dip=0.0,
        noise=HIGH_STEADY_NOISE,
        seed=1,
        integer=True,
    )


def spiky_diurnal(wl: dict[str, Workload]) -> Demand:
    # The daily cosine's peak is mean × 2r / (r + 1) for a peak-to-trough ratio r.
    r = SPIKY_PEAK_TO_TROUGH
    return synthetic_demand(
        _pick(wl, [INTERACTIVE_70B]),
        HOURS,
        start=START,
        mean_requests_per_hour=[SPIKY_PEAK * (r + 1) / (2 * r)],
        peak_to_trough=r,
        weekly_dip=0.0,
        noise=SPIKY_NOISE,
        seed=2,
        integer=True,
    )


def business_hours_batch(wl: dict[str, Workload]) -> Demand:
    hours = pd.date_range(START, periods=HOURS, freq="h")
    hod = np.asarray(hours.hour)
    weekday = np.asarray(hours.day_of_week < 5)
    office = weekday & (hod >= BUSINESS_HOURS[0]) & (hod < BUSINESS_HOURS[1])
    nightly = (hod >= NIGHTLY_HOURS[0]) & (hod < NIGHTLY_HOURS[1])
    rng = np.random.default_rng(3)
    noise = np.exp(BUSINESS_NOISE * rng.standard_normal((HOURS, 2)) - 0.5 * BUSINESS_NOISE**2)
    interactive = np.where(office, BUSINESS_INTERACTIVE_ON, BUSINESS_INTERACTIVE_OFF)
    batch = np.where(nightly, NIGHTLY_BATCH_ON, 0)
    names = [INTERACTIVE_70B, BATCH_70B]
    return Demand.from_requests(
        hours,
        {
            INTERACTIVE_70B: np.rint(interactive * noise[:, 0]),
            BATCH_70B: np.rint(batch * noise[:, 1]),
        },
        prompt_tokens={n: wl[n].prompt_tokens for n in names},
        completion_tokens={n: wl[n].completion_tokens for n in names},
    )


def low_volume(wl: dict[str, Workload]) -> Demand:
    return synthetic_demand(
        _pick(wl, [INTERACTIVE_70B]),
        HOURS,
        start=START,
        mean_requests_per_hour=[LOW_VOLUME_MEAN],
        peak_to_trough=LOW_VOLUME_PEAK_TO_TROUGH,
        weekly_dip=0.3,
        noise=LOW_VOLUME_NOISE,
        seed=4,
        integer=True,
    )


def mixed_week(wl: dict[str, Workload]) -> Demand:
    names = list(MIXED)
    return synthetic_demand(
        _pick(wl, names),
        HOURS,
        start=START,
        mean_requests_per_hour=[MIXED[n][0] for n in names],
        peak_to_trough=[MIXED[n][1] for n in names],
        weekly_dip=[MIXED[n][2] for n in names],
        noise=MIXED_NOISE,
        seed=5,
        integer=True,
    )


def spiky_growth_scenarios(wl: dict[str, Workload]) -> list[tuple[str, float, Demand]]:
    """The spiky week under three growth outcomes: (name, probability, demand)."""
    base = spiky_diurnal(wl)
    w = wl[INTERACTIVE_70B]
    out = []
    for name, (growth, weight) in GROWTH_SCENARIOS.items():
        req = np.rint(base.requests[:, 0] * growth)
        d = Demand.from_requests(
            base.hours,
            {INTERACTIVE_70B: req},
            prompt_tokens={INTERACTIVE_70B: w.prompt_tokens},
            completion_tokens={INTERACTIVE_70B: w.completion_tokens},
        )
        out.append((name, weight, d))
    return out


EXAMPLES = {
    "high_steady": (high_steady, "steady load, about ±5 % hour to hour, no daily shape"),
    "spiky_diurnal": (
        spiky_diurnal,
        f"diurnal, {SPIKY_PEAK_TO_TROUGH:g}× peak to trough (peak at 15:00 UTC)",
    ),
    "business_hours_batch": (
        business_hours_batch,
        "interactive in business hours (Mon–Fri 09–18 UTC) plus a nightly batch job "
        "(01–05 UTC, every day)",
    ),
    "low_volume": (low_volume, "a trickle: well under 10M tokens per month"),
    "mixed_week": (mixed_week, "three workloads on three models, diurnal with weekend dips"),
}

README_HEAD = """\
# Example demand

Written by `python demand/make_examples.py` (deterministic; edit the parameters at the top of
the script and re-run). Each file covers one week, 168 hours from Monday 2026-01-05T00:00Z,
and uses the shipped workload classes (`catalogs/workloads.yaml`).

## CSV format

```
hour,workload,requests,input_tokens,output_tokens
2026-01-05T00:00:00Z,llama-3.1-70b-interactive,30000,30000000,9000000
```

| column | unit | meaning |
| --- | --- | --- |
| `hour` | ISO 8601 timestamp | start of the hour; required |
| `workload` | name | a defined workload (shipped, `--catalog`, or `--workloads` file); required |
| `requests` | requests/hour | optional column |
| `input_tokens` | tokens/hour | prompt tokens; optional column |
| `output_tokens` | tokens/hour | completion tokens; optional column |

- At least one of `requests`, `input_tokens`, `output_tokens` must be a column, and every row
  must fill at least one of them. An empty cell means "not given"; `nan` is an error.
- One row per hour and workload. Rows of each workload ascend by hour, and every workload has
  a row for every hour from the first to the last (write 0 for no demand). Hours are whole
  hours.
- Time zones: give an offset (`Z` or `+01:00`); a timestamp without one is read as UTC. All
  rows must share one UTC offset, so a file spanning a daylight-saving change must be written
  in UTC (or one fixed offset).
- Effective requests: capacity is sized in requests at the workload's mean prompt and
  completion lengths, so each row's requests are the largest of `requests`,
  `input_tokens / prompt_tokens` and `output_tokens / completion_tokens` (of those given).
  Token counts not given are effective requests × the mean length.
- Values must be finite, >= 0 and at most 1e15 per hour.

## Scenarios

A file may describe several futures of the same hours (`advisor/scenarios.py`):

- a `scenario` column naming each row's scenario and an optional `scenario_weight` column
  (its probability: the same on every row of a scenario; normalized; equal when absent).
  Every scenario is a complete table over the same hours and workloads;
- or quantile columns `requests_pNN` (and `input_tokens_pNN`, `output_tokens_pNN`, with the
  same levels), e.g. `requests_p10,requests_p50,requests_p90`: each level becomes a scenario
  in which every hour sits at that level, weighted by the band between the midpoints to its
  neighbouring levels (p10/p50/p90 get 0.3/0.4/0.3). Quantiles must not decrease with the
  level.

A file without these columns is one scenario.

## Examples

Tokens/day = mean over the week of input + output tokens per day, computed from each file.

"""


def main() -> None:
    catalog = load_catalog()
    workloads = load_workloads(catalog)
    lines = []
    for name, (make, shape) in EXAMPLES.items():
        path = HERE / f"{name}.csv"
        write_demand_csv(make(workloads), path)
        demand = load_demand(path, workloads)  # round trip through the reader
        tokens_per_day = (demand.input_tokens + demand.output_tokens).sum() / (demand.n_hours / 24)
        per_wl = ", ".join(
            f"{w} mean {col.mean():,.0f} / peak {col.max():,.0f}"
            for w, col in zip(demand.workloads, demand.requests.T, strict=True)
        )
        lines.append(
            f"- `{name}.csv`: {shape}. Requests/hour: {per_wl}. "
            f"**{tokens_per_day / 1e6:,.1f}M tokens/day** "
            f"({tokens_per_day * 30 / 1e6:,.0f}M tokens/month)."
        )
        print(f"wrote {path.name}: {tokens_per_day / 1e6:,.2f}M tokens/day")
    scen = spiky_growth_scenarios(workloads)
    path = HERE / "spiky_growth_scenarios.csv"
    write_scenarios_csv(
        [d for _, _, d in scen], [n for n, _, _ in scen], [p for _, p, _ in scen], path
    )
    outcomes = ", ".join(f"{n} ×{GROWTH_SCENARIOS[n][0]:g} (p = {p:g})" for n, p, _ in scen)
    lines.append(
        "- `spiky_growth_scenarios.csv`: demand scenarios (columns `scenario`, "
        f"`scenario_weight`): the spiky week scaled by an uncertain growth: {outcomes}. "
        "`advisor solve` gives it a two-stage plan."
    )
    print(f"wrote {path.name}: {len(scen)} scenarios")
    (HERE / "README.md").write_text(README_HEAD + "\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
