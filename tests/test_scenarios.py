"""Tests for advisor.scenarios: scenario and quantile columns in a demand CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advisor.demand import load_demand, write_scenarios_csv
from advisor.errors import DemandError
from advisor.scenarios import ScenarioSet, has_scenarios, load_scenarios
from tests.test_demand import H0, H1, HEADER, WORKLOADS


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "demand.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_plain_file_is_one_scenario(tmp_path: Path) -> None:
    path = _csv(tmp_path, HEADER + f"{H0},chat,10,,\n{H1},chat,20,,\n")
    scen = load_scenarios(path, WORKLOADS)
    assert scen.n == 1 and scen.names == ("base",) and scen.weights.tolist() == [1.0]
    assert np.array_equal(scen.demands[0].requests, load_demand(path, WORKLOADS).requests)
    assert not has_scenarios(path)
    assert scen.mean_demand() is scen.demands[0]


@pytest.mark.parametrize(
    ("low", "high", "weights", "mean"),
    [
        ("1", "3", [0.25, 0.75], [25.0, 50.0]),
        # regression: two weights of 1e308 summed to inf and both became 0 (a $0 expectation)
        ("1e308", "1e308", [0.5, 0.5], [20.0, 40.0]),
    ],
)
def test_scenario_column_with_weights_is_normalized(
    tmp_path: Path, low: str, high: str, weights: list[float], mean: list[float]
) -> None:
    text = (
        "scenario,scenario_weight,"
        + HEADER
        + f"low,{low},{H0},chat,10,,\nlow,{low},{H1},chat,20,,\n"
        + f"high,{high},{H0},chat,30,,\nhigh,{high},{H1},chat,60,,\n"
    )
    scen = load_scenarios(_csv(tmp_path, text), WORKLOADS)
    assert scen.names == ("low", "high")
    assert scen.weights.tolist() == weights
    assert scen.mean_demand().requests[:, 0].tolist() == mean


def test_scenarios_round_trip_through_the_writer(tmp_path: Path) -> None:
    text = (
        "scenario,"
        + HEADER
        + f"a,{H0},chat,10,,\na,{H1},chat,20,,\nb,{H0},chat,1,,\nb,{H1},chat,2,,\n"
    )
    scen = load_scenarios(_csv(tmp_path, text), WORKLOADS)
    assert scen.weights.tolist() == [0.5, 0.5]
    out = write_scenarios_csv(scen.demands, scen.names, scen.weights, tmp_path / "rt.csv")
    back = load_scenarios(out, WORKLOADS)
    assert back.names == scen.names
    for a, b in zip(back.demands, scen.demands, strict=True):
        assert np.array_equal(a.requests, b.requests)


def test_quantile_columns_become_weighted_scenarios(tmp_path: Path) -> None:
    text = (
        "hour,workload,requests_p10,requests_p50,requests_p90\n"
        f"{H0},chat,5,10,20\n{H1},chat,6,12,30\n"
    )
    scen = load_scenarios(_csv(tmp_path, text), WORKLOADS)
    assert scen.names == ("p10", "p50", "p90")
    assert scen.weights == pytest.approx([0.3, 0.4, 0.3])  # Swanson-Megill
    assert scen.demands[2].requests[:, 0].tolist() == [20.0, 30.0]
    assert "quantile" in scen.method


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "scenario,scenario_weight," + HEADER + f"a,1,{H0},chat,1,,\na,2,{H1},chat,1,,\n",
            "same weight",
        ),
        ("scenario,scenario_weight," + HEADER + f"a,0,{H0},chat,1,,\n", "> 0"),
        ("scenario,scenario_weight," + HEADER + f"a,x,{H0},chat,1,,\n", "not a number"),
        (
            "scenario," + HEADER + f"a,{H0},chat,1,,\na,{H1},chat,1,,\nb,{H0},chat,1,,\n",
            "same hours",
        ),
        ("scenario_weight," + HEADER + f"1,{H0},chat,1,,\n", "without a 'scenario'"),
        ("hour,workload,requests_p10,requests_p90\n" + f"{H0},chat,5,4\n", "decrease"),
        (
            "hour,workload,requests_p10,requests_p90,input_tokens_p50\n" + f"{H0},chat,5,6,7\n",
            "same levels",
        ),
        ("scenario,hour,workload,requests_p50\n" + f"a,{H0},chat,5\n", "one way"),
        ("scenario," + HEADER + f",{H0},chat,1,,\n", "is empty"),
        # a row of 'a ' is one of 'a': the error names the scenario
        (
            "scenario," + HEADER + f"a,{H0},chat,1,,\na ,{H0},chat,2,,\nb,{H0},chat,1,,\n",
            "scenario 'a': .* a second row for hour",
        ),
        # two columns of one level were two scenarios; p150 was "not read by this command"
        ("hour,workload,requests_p10,requests_p10.0\n" + f"{H0},chat,1,5\n", "appears twice"),
        # the same column twice: the second was dropped without a word
        (
            "hour,workload,requests_p50,requests_p50\n" + f"{H0},chat,5,500\n",
            "column 'requests_p50' appears twice",
        ),
        ("hour,workload,requests_p50,requests_p150\n" + f"{H0},chat,1,5\n", "between 0 and 100"),
    ],
)
def test_bad_scenario_files_are_clear_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(DemandError, match=match):
        load_scenarios(_csv(tmp_path, text), WORKLOADS)


def test_scenarios_over_other_hours_name_the_file_and_the_hour(tmp_path: Path) -> None:
    """Scenario 'b' without the second hour: the error names the file, the scenario and the
    hour (it named neither file nor hour)."""
    text = "scenario," + HEADER + f"a,{H0},chat,1,,\na,{H1},chat,2,,\nb,{H0},chat,3,,\n"
    with pytest.raises(
        DemandError, match=rf"demand\.csv: scenario 'b' lacks hour {H1[:13]}.*unlike scenario 'a'"
    ):
        load_scenarios(_csv(tmp_path, text), WORKLOADS)


def test_a_scenario_set_checks_its_parts(tmp_path: Path) -> None:
    d = load_demand(_csv(tmp_path, HEADER + f"{H0},chat,10,,\n"), WORKLOADS)
    with pytest.raises(DemandError, match="finite and > 0"):
        ScenarioSet(("a",), np.array([-1.0]), (d,))


def test_a_one_scenario_reader_names_scenario_columns(tmp_path: Path) -> None:
    path = _csv(tmp_path, "scenario," + HEADER + f"a,{H0},chat,1,,\n")
    with pytest.raises(DemandError, match="describes demand scenarios"):
        load_demand(path, WORKLOADS)
