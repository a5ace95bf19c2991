"""Tests for advisor.demand: the shipped examples, the CSV rules and synthetic demand."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from advisor.catalog import load_catalog
from advisor.demand import (
    Demand,
    load_demand,
    synthetic_demand,
    write_demand_csv,
)
from advisor.errors import DemandError
from advisor.workloads import Workload, load_workloads

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "demand"
EXAMPLES = ["high_steady", "spiky_diurnal", "business_hours_batch", "low_volume", "mixed_week"]

WORKLOADS = {
    "chat": Workload(
        name="chat",
        model="llama-3.1-70b",
        prompt_tokens=1000,
        completion_tokens=300,
        ttft_ms=2000,
        tpot_ms=50,
    ),
    "batch": Workload(
        name="batch",
        model="llama-3.1-70b",
        prompt_tokens=2000,
        completion_tokens=500,
        ttft_ms=60000,
        tpot_ms=200,
    ),
}

H0 = "2026-01-05T00:00:00Z"
H1 = "2026-01-05T01:00:00Z"
H2 = "2026-01-05T02:00:00Z"
HEADER = "hour,workload,requests,input_tokens,output_tokens\n"


@pytest.fixture(scope="module")
def shipped() -> dict[str, Workload]:
    return load_workloads(load_catalog())


def _csv(tmp_path: Path, text: str | bytes, name: str = "demand.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- the shipped examples --------------------------------------------------------------------


@pytest.mark.parametrize("name", EXAMPLES)
def test_shipped_example_loads(name: str, shipped: dict[str, Workload]) -> None:
    demand = load_demand(EXAMPLES_DIR / f"{name}.csv", shipped)
    assert demand.n_hours == 168
    assert demand.hours[0] == pd.Timestamp("2026-01-05T00:00:00Z")
    assert demand.hours[0].day_name() == "Monday"
    assert str(demand.hours.tz) == "UTC"
    assert set(demand.workloads) <= set(shipped)
    assert np.array_equal(demand.requests, np.rint(demand.requests))
    assert (demand.requests >= 0).all()
    assert demand.source.endswith(f"{name}.csv")


def test_shipped_example_shapes(shipped: dict[str, Workload]) -> None:
    def load(name: str) -> Demand:
        return load_demand(EXAMPLES_DIR / f"{name}.csv", shipped)

    chat = "llama-3.1-70b-interactive"
    steady = load("high_steady").requests[:, 0]
    assert 70_000 < steady.mean() < 90_000 and steady.max() / steady.min() < 1.5
    spiky = load("spiky_diurnal").requests[:, 0]
    assert spiky.max() / spiky.min() > 4
    bhb = load("business_hours_batch")
    batch = bhb.requests[:, bhb.workloads.index("llama-3.1-70b-batch")]
    nightly = (bhb.hours.hour >= 1) & (bhb.hours.hour < 5)
    assert (batch[~nightly] == 0).all() and (batch[nightly] > 5_000).all()
    low = load("low_volume")
    tokens_per_month = (low.input_tokens + low.output_tokens).sum() / 7 * 30
    assert tokens_per_month < 10e6
    mixed = load("mixed_week")
    assert mixed.workloads == tuple(
        sorted(["llama-3.1-8b-interactive", chat, "mixtral-8x7b-batch"])
    )


# --- reading good files ----------------------------------------------------------------------


def test_effective_requests_rule(tmp_path: Path) -> None:
    text = (
        HEADER
        + f"{H0},chat,10,,\n"  # requests only
        + f"{H1},chat,,50000,\n"  # input only: 50 requests at 1000 tokens
        + f"{H2},chat,,,6000\n"  # output only: 20 requests at 300 tokens
        + f"{H0},batch,10,100000,1000\n"  # input dominates: 50 requests
        + f"{H1},batch,10,1000,10000\n"  # output dominates: 20 requests
        + f"{H2},batch,30,1000,1000\n"  # requests dominate
    )
    demand = load_demand(_csv(tmp_path, text), WORKLOADS)
    assert demand.workloads == ("batch", "chat")
    np.testing.assert_allclose(demand.requests, [[50, 10], [20, 50], [30, 20]])
    # Tokens as given, or effective requests × mean length when not given.
    np.testing.assert_allclose(demand.input_tokens, [[100000, 10000], [1000, 50000], [1000, 20000]])
    np.testing.assert_allclose(demand.output_tokens, [[1000, 3000], [10000, 15000], [1000, 6000]])


def test_optional_columns_and_order(tmp_path: Path) -> None:
    text = "workload,output_tokens,hour\nchat,300,2026-01-05T00:00:00\nchat,600,2026-01-05T01:00\n"
    demand = load_demand(_csv(tmp_path, text), WORKLOADS)
    np.testing.assert_allclose(demand.requests[:, 0], [1, 2])
    assert str(demand.hours.tz) == "UTC"  # naive hours are read as UTC


def test_fixed_offset_kept(tmp_path: Path) -> None:
    text = (
        "hour,workload,requests\n"
        "2026-01-05T00:00:00+01:00,chat,1\n"
        "2026-01-05T01:00:00+01:00,chat,2\n"
    )
    demand = load_demand(_csv(tmp_path, text), WORKLOADS)
    assert demand.hours[0] == pd.Timestamp("2026-01-04T23:00:00Z")
    assert demand.hours[0].utcoffset() == dt.timedelta(hours=1)


def test_bom_blank_lines_and_whitespace(tmp_path: Path) -> None:
    text = "\ufeffhour, workload ,requests\r\n\r\n" + f"{H0}, chat , 5 \r\n\r\n{H1},chat,6\r\n"
    demand = load_demand(_csv(tmp_path, text), WORKLOADS)
    np.testing.assert_allclose(demand.requests[:, 0], [5, 6])


def test_round_trip(tmp_path: Path) -> None:
    demand = synthetic_demand(WORKLOADS, 30, mean_requests_per_hour=[100.5, 7], seed=3)
    path = write_demand_csv(demand, tmp_path / "sub" / "rt.csv")
    again = load_demand(path, WORKLOADS)
    assert again.workloads == demand.workloads
    assert again.hours.equals(demand.hours)
    for name in ("requests", "input_tokens", "output_tokens"):
        np.testing.assert_allclose(getattr(again, name), getattr(demand, name), rtol=1e-12)
    assert [p.name for p in path.parent.iterdir()] == ["rt.csv"]  # no temp file left


# --- bad input -------------------------------------------------------------------------------

BAD = [
    pytest.param("", ["the file is empty", "hour,workload,requests"], id="empty"),
    pytest.param(" \n\n", ["the file is empty"], id="blank"),
    pytest.param(HEADER, ["header but no data rows", "Add one row"], id="header-only"),
    pytest.param(
        b"hour,workload,requests\n2026-01-05T00:00:00Z,chat,1\n2026-01-05T01:00:00Z,ch\xe9t,1\n",
        ["line 3:", "not UTF-8", "Save it as UTF-8"],
        id="not-utf8",
    ),
    pytest.param(
        f"hour;workload;requests\n{H0};chat;1\n", ["line 1:", "';'", "Use commas"], id="semicolon"
    ),
    pytest.param(f"hour\tworkload\trequests\n{H0}\tchat\t1\n", ["a tab", "Use commas"], id="tab"),
    pytest.param("workload,requests\nchat,1\n", ["no 'hour' column"], id="no-hour-column"),
    pytest.param(f"hour,requests\n{H0},1\n", ["no 'workload' column"], id="no-workload-column"),
    pytest.param(
        f"hour,workload\n{H0},chat\n", ["no quantity column", "requests, input_tokens"], id="no-qty"
    ),
    pytest.param(
        f"hour,workload,reqests\n{H0},chat,1\n",
        ["line 1: column 'reqests' is unknown. Did you mean 'requests'?", "Rename or remove"],
        id="unknown-column",
    ),
    pytest.param(
        f"hour,workload,requests,requests\n{H0},chat,1,1\n",
        ["column 'requests' appears twice"],
        id="duplicate-column",
    ),
    pytest.param(
        f"hour,workload,requests,\n{H0},chat,1,\n", ["column 4 of the header has no name"], id="e"
    ),
    pytest.param(
        "hour,workload,requests\n2026-13-05T00:00:00Z,chat,1\n",
        ["line 2: column 'hour': '2026-13-05T00:00:00Z' is not an ISO 8601", "Write e.g."],
        id="bad-hour",
    ),
    pytest.param(
        "hour,workload,requests\n,chat,1\n", ["line 2: column 'hour' is empty"], id="empty-hour"
    ),
    pytest.param(
        "hour,workload,requests\n2026-01-05T00:30:00Z,chat,1\n",
        ["line 2:", "is not a whole hour", "give the hour's start"],
        id="not-whole-hour",
    ),
    pytest.param(
        "hour,workload,requests\n9999-12-31T00:00:00Z,chat,1\n",
        ["line 2:", "outside the years 1970-2200", "Check the year"],
        id="far-year",
    ),
    pytest.param(
        "hour,workload,requests\n2026-01-05T00:00:00+05:30:15,chat,1\n",
        ["line 2:", "a UTC offset with seconds", "+05:30"],
        id="offset-with-seconds",
    ),
    pytest.param(
        "hour,workload,requests\n"
        "2026-03-29T01:00:00+01:00,chat,1\n"
        "2026-03-29T03:00:00+02:00,chat,1\n",
        ["line 3:", "UTC offset +02:00", "line 2 has UTC offset +01:00", "daylight-saving", "UTC"],
        id="mixed-time-zones",
    ),
    pytest.param(
        "hour,workload,requests\n2026-01-05T00:00:00,chat,1\n2026-01-05T01:00:00Z,chat,1\n",
        ["line 3:", "line 2 has no time zone", "Naive and zoned", "append 'Z'"],
        id="naive-and-zoned",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},chat,1\n{H0},chat,2\n",
        ["line 3: a second row for hour", "(the first is line 2)", "Keep one row"],
        id="duplicate-row",
    ),
    pytest.param(
        f"hour,workload,requests\n{H1},chat,1\n{H0},chat,2\n",
        ["line 3:", "must ascend by hour", "sort the file"],
        id="out-of-order",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},chat,1\n{H2},chat,2\n",
        ["no row for workload 'chat' at hour 2026-01-05T01:00:00+00:00", "Add the missing row"],
        id="gap-in-hours",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},chat,1\n{H0},batch,1\n{H1},chat,1\n",
        ["no row for workload 'batch' at hour 2026-01-05T01:00:00+00:00", "0 for no demand"],
        id="workload-missing-for-an-hour",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},chat,lots\n",
        ["line 2: column 'requests': 'lots' is not a number", "leave the cell empty"],
        id="non-numeric",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},chat,-5\n",
        ["line 2: column 'requests': -5 is negative", "write 0"],
        id="negative",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},chat,nan\n",
        ["line 2: column 'requests': 'nan' (not a number) is not allowed", "Leave the cell empty"],
        id="nan",
    ),
    pytest.param(
        f"hour,workload,input_tokens\n{H0},chat,NaN\n",
        ["line 2: column 'input_tokens': 'NaN'"],
        id="NaN",
    ),
    pytest.param(
        f"hour,workload,output_tokens\n{H0},chat,inf\n",
        ["line 2: column 'output_tokens': 'inf' is infinite", "finite"],
        id="infinite",
    ),
    pytest.param(
        f"hour,workload,input_tokens\n{H0},chat,2e15\n",
        ["line 2: column 'input_tokens': 2e15 is above the limit of 1e+15 per hour", "per hour"],
        id="absurd",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},chatt,1\n",
        [
            "line 2: column 'workload': unknown workload 'chatt'. Did you mean 'chat'?",
            "--workloads",
        ],
        id="unknown-workload",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},,1\n",
        ["line 2: column 'workload' is empty"],
        id="empty-workload",
    ),
    pytest.param(
        HEADER + f"{H0},chat,,,\n",
        ["line 2: no quantity for workload 'chat'", "Fill at least one of requests"],
        id="no-quantity-in-row",
    ),
    pytest.param(
        f"hour,workload,requests\n{H0},chat\n",
        ["line 2: 2 fields, but the header has 3"],
        id="short-row",
    ),
    pytest.param(
        f'hour,workload,requests\n{H0},chat,"1\n',
        ["line 2:", "the CSV cannot be parsed", "Check quotes"],
        id="unterminated-quote",
    ),
]


@pytest.mark.parametrize(("text", "fragments"), BAD)
def test_bad_demand(tmp_path: Path, text: str | bytes, fragments: list[str]) -> None:
    path = _csv(tmp_path, text)
    with pytest.raises(DemandError) as info:
        load_demand(path, WORKLOADS)
    message = str(info.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DemandError, match=r"does not exist\. Check the path"):
        load_demand(tmp_path / "nope.csv", WORKLOADS)


def test_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DemandError, match="is not a file"):
        load_demand(tmp_path, WORKLOADS)


# --- Demand and synthetic demand -------------------------------------------------------------


def test_synthetic_shape_and_determinism() -> None:
    kwargs = {"mean_requests_per_hour": [1000.0, 50.0], "seed": 7}
    a = synthetic_demand(WORKLOADS, 336, **kwargs)  # type: ignore[arg-type]
    b = synthetic_demand(WORKLOADS, 336, **kwargs)  # type: ignore[arg-type]
    c = synthetic_demand(WORKLOADS, 336, mean_requests_per_hour=[1000.0, 50.0], seed=8)
    assert a.requests.shape == (336, 2) and a.workloads == ("batch", "chat")
    assert np.array_equal(a.requests, b.requests) and not np.array_equal(a.requests, c.requests)
    assert a.hours[0] == pd.Timestamp(H0) and a.hours.freq is not None
    # Order of means follows the order of workloads given; columns are sorted by name.
    assert a.requests[:, 1].mean() == pytest.approx(1000, rel=0.02)
    np.testing.assert_allclose(a.input_tokens, a.requests * [2000, 1000])
    np.testing.assert_allclose(a.output_tokens, a.requests * [500, 300])


def test_synthetic_shape_parameters() -> None:
    d = synthetic_demand(
        ["x"],
        168,
        mean_requests_per_hour=[100],
        peak_to_trough=4.0,
        weekly_dip=0.5,
        noise=0.0,
        prompt_tokens={"x": 10},
        completion_tokens={"x": 5},
    )
    r = d.requests[:, 0]
    assert r.mean() == pytest.approx(100)
    monday = r[:24]
    assert monday.max() / monday.min() == pytest.approx(4.0)
    assert int(np.argmax(monday)) == 15  # afternoon peak (UTC)
    assert r[5 * 24 : 6 * 24].max() == pytest.approx(0.5 * monday.max())  # Saturday
    flat = synthetic_demand(
        ["x"], 48, mean_requests_per_hour=[7.4], peak_to_trough=1, weekly_dip=0, noise=0,
        prompt_tokens={"x": 1}, completion_tokens={"x": 1}, integer=True,
    )  # fmt: skip
    assert (flat.requests == 7).all()


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"mean_requests_per_hour": [1, 2, 3]}, "3 values for 2 workloads"),
        ({"mean_requests_per_hour": [-1, 2]}, "finite and >= 0"),
        ({"mean_requests_per_hour": [1, 2], "peak_to_trough": 0.5}, "peak_to_trough"),
        ({"mean_requests_per_hour": [1, 2], "weekly_dip": 1.0}, "weekly_dip"),
        ({"mean_requests_per_hour": [1, 2], "start": "2026-01-05T00:10:00Z"}, "whole hour"),
    ],
)
def test_synthetic_rejects_bad_arguments(kwargs: dict, fragment: str) -> None:
    with pytest.raises(DemandError, match=fragment):
        synthetic_demand(WORKLOADS, 24, **kwargs)


def test_synthetic_needs_lengths_for_names() -> None:
    with pytest.raises(DemandError, match="prompt_tokens and completion_tokens"):
        synthetic_demand(["x"], 24, mean_requests_per_hour=[1])


def test_demand_methods() -> None:
    d = synthetic_demand(WORKLOADS, 24, mean_requests_per_hour=[10, 20], seed=1)
    frame = d.frame()
    assert list(frame.columns) == ["hour", "workload", "requests", "input_tokens", "output_tokens"]
    assert len(frame) == 48 and list(frame["workload"][:2]) == ["batch", "chat"]
    assert frame["requests"].to_numpy() == pytest.approx(d.requests.ravel())
    doubled = d.scaled(2.0)
    np.testing.assert_allclose(doubled.output_tokens, 2 * d.output_tokens)
    only = d.subset(["chat"])
    assert only.workloads == ("chat",)
    np.testing.assert_array_equal(only.requests[:, 0], d.requests[:, 1])
    with pytest.raises(DemandError, match="Did you mean 'chat'"):
        d.subset(["chta"])
    with pytest.raises(DemandError, match="scale factor"):
        d.scaled(-1)
    with pytest.raises(ValueError):
        d.requests[0, 0] = 1.0  # arrays are read-only


def test_demand_rejects_inconsistent_arrays() -> None:
    hours = pd.date_range(H0, periods=3, freq="h")
    ok = np.zeros((3, 1))
    with pytest.raises(DemandError, match="shape"):
        Demand(hours, ("a",), np.zeros((2, 1)), ok, ok)
    with pytest.raises(DemandError, match="time-zone aware"):
        Demand(hours.tz_localize(None), ("a",), ok, ok, ok)
    with pytest.raises(DemandError, match="consecutive"):
        Demand(hours[[0, 2, 1]], ("a",), ok, ok, ok)
