"""Input that was accepted, rounded or crashed on, and messages that named the wrong thing:
each case here once exited 0 with a wrong or silent result, printed a traceback, or named a
column or list the user could not find."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result

from advisor.catalog import Catalog, load_catalog
from advisor.cli_base import MAX_TIME_LIMIT_S, check_solver_limits
from advisor.errors import AdvisorError, CatalogError, DemandError
from advisor.fleet import MAX_COMMITMENT_COUNT, load_fleet
from advisor.prices import read_offer_sheet
from advisor.workloads import MAX_HEADROOM, load_workloads
from tests.adversarial.helpers import API_CSV, invoke, write

FAST = ["--capacity-model", "roofline", "--solver", "highs", "--quiet"]
ROOFLINE_8B = ["roofline", "--model", "llama-3.1-8b", "--gpu", "H100-SXM", "--quant", "bf16"]
CAPACITY = [
    "capacity",
    "--users",
    "1000",
    "--sessions-per-user",
    "2",
    "--tokens-per-session",
    "1000",
    "--tokens-per-s-per-gpu",
    "1000",
]
WORKLOAD = """\
workloads:
  - name: chat
    model: llama-3.1-8b
    prompt_tokens: 800
    completion_tokens: 200
    ttft_ms: 1000
    tpot_ms: 40
"""


def assert_refused(res: Result, *fragments: str) -> None:
    """Exit 2, no traceback, and the message names what it must."""
    text = res.stdout + res.stderr
    assert "Traceback" not in text and "Exception in thread" not in text, text
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 2, text
    for f in fragments:
        assert f in res.stderr, f"{f!r} not in stderr:\n{res.stderr}"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(prices="snapshot")


@pytest.fixture(scope="module")
def demand(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write(tmp_path_factory.mktemp("demand") / "demand.csv", API_CSV)


# --- 1. --time-limit has a documented maximum --------------------------------------------------


@pytest.mark.parametrize("limit", ["1e12", "1e308", str(MAX_TIME_LIMIT_S * 2)])
def test_solve_time_limit_above_the_maximum(demand: Path, limit: str, tmp_path: Path) -> None:
    """1e12 crashed cbc's watchdog thread (OverflowError in kill_after) and exited 0."""
    out = tmp_path / "plan"
    res = invoke("solve", demand, *FAST, "--time-limit", limit, "--out", out)
    assert_refused(res, "--time-limit", "30 days", f"got {float(limit)}")
    assert not out.exists()


def test_sweep_time_limit_above_the_maximum(demand: Path, tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    res = invoke("sweep", demand, "--vary", "demand=1,2", "--time-limit", "1e12", "--out", out)
    assert_refused(res, "--time-limit", "30 days", f"got {1e12}")
    assert not out.exists()


def test_stress_time_limit_above_the_maximum(demand: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan"
    assert invoke("solve", demand, *FAST, "--out", plan).exit_code == 0
    res = invoke("stress", plan, "--demand", demand, "--time-limit", "1e12")
    assert_refused(res, "--time-limit", "30 days", f"got {1e12}")


def test_time_limit_maximum_itself_is_accepted() -> None:
    check_solver_limits(MAX_TIME_LIMIT_S, 1e-3)
    with pytest.raises(AdvisorError, match="at most"):
        check_solver_limits(MAX_TIME_LIMIT_S * 1.0001, 1e-3)


@pytest.mark.parametrize("command", ["solve", "sweep", "stress"])
def test_time_limit_help_states_the_maximum(command: str) -> None:
    res = invoke(command, "--help")
    assert "30 days" in " ".join(res.stdout.split()), res.stdout


# --- 2. commitment times are whole UTC hours ---------------------------------------------------


def _fleet(tmp_path: Path, line: str) -> Path:
    return write(tmp_path / "fleet.yaml", "commitments:\n  - " + line + "\n")


@pytest.mark.parametrize("field", ["start", "end"])
def test_commitment_half_hour_offset_is_not_a_whole_utc_hour(
    tmp_path: Path, catalog: Catalog, field: str
) -> None:
    """12:00+05:30 is 06:30 UTC: it passed the local whole-hour check and was rounded."""
    other = "end: 2026-02-01T00:00:00Z" if field == "start" else "start: 2025-01-01T00:00:00Z"
    path = _fleet(
        tmp_path,
        "{gpu: H100-SXM, count: 2, tier: reserved_1y, usd_per_hour: 2.9, "
        f'{field}: "2026-01-05T12:00:00+05:30", {other}}}',
    )
    with pytest.raises(DemandError) as exc:
        load_fleet(path, catalog)
    msg = str(exc.value)
    assert str(path) in msg and "commitments[#1]" in msg and f"field '{field}'" in msg
    assert "06:30" in msg and "UTC" in msg


def test_commitment_whole_utc_hour_with_half_hour_offset_is_accepted(
    tmp_path: Path, catalog: Catalog
) -> None:
    """12:30+05:30 is 07:00 UTC, a whole hour: it was refused as 'not a whole hour'."""
    path = _fleet(
        tmp_path,
        "{gpu: H100-SXM, count: 2, tier: reserved_1y, usd_per_hour: 2.9, "
        'end: "2026-01-05T12:30:00+05:30"}',
    )
    (c,) = load_fleet(path, catalog)
    import pandas as pd

    hours = pd.date_range("2026-01-05T00:00:00Z", periods=24, freq="h")
    assert int(c.active(hours).sum()) == 7


# --- 3. a commitment's count has a maximum -----------------------------------------------------


def test_commitment_count_above_the_maximum(tmp_path: Path, catalog: Catalog) -> None:
    """count: 1000000000000 gave a $69.6 trillion plan without a word."""
    path = _fleet(
        tmp_path, "{gpu: H100-SXM, count: 1000000000000, tier: reserved_1y, usd_per_hour: 2.9}"
    )
    with pytest.raises(DemandError) as exc:
        load_fleet(path, catalog)
    msg = str(exc.value)
    assert str(path) in msg and "commitments[#1]" in msg and "field 'count'" in msg
    assert f"{MAX_COMMITMENT_COUNT:,}" in msg


def test_commitment_count_maximum_itself_is_accepted(tmp_path: Path, catalog: Catalog) -> None:
    path = _fleet(
        tmp_path,
        f"{{gpu: H100-SXM, count: {MAX_COMMITMENT_COUNT}, tier: owned, usd_per_hour: 0}}",
    )
    assert load_fleet(path, catalog)[0].count == MAX_COMMITMENT_COUNT


# --- 4. headroom is a fraction -----------------------------------------------------------------

HEADROOM_HINT = "headroom is a fraction: 0.2 means 20% spare"


def test_workload_headroom_above_one(tmp_path: Path, catalog: Catalog) -> None:
    """headroom: 2 (triple the capacity) was accepted; anything below 10 was."""
    path = write(tmp_path / "w.yaml", WORKLOAD + "    headroom: 2\n")
    with pytest.raises(DemandError) as exc:
        load_workloads(catalog, [path])
    msg = str(exc.value)
    assert str(path) in msg and "workloads[chat]" in msg and "field 'headroom'" in msg
    assert HEADROOM_HINT in msg and "got 2" in msg


def test_workload_headroom_of_one_is_accepted(tmp_path: Path, catalog: Catalog) -> None:
    path = write(tmp_path / "w.yaml", WORKLOAD + f"    headroom: {MAX_HEADROOM}\n")
    assert load_workloads(catalog, [path])["chat"].headroom == MAX_HEADROOM


@pytest.mark.parametrize("value", ["20", "1.5", "-0.1", "nan", "inf"])
def test_capacity_headroom_flag_outside_the_fraction(value: str) -> None:
    """--headroom 20 (meant 20%) sized 21 times the GPUs."""
    res = invoke(*CAPACITY, "--headroom", value)
    assert_refused(res, "--headroom", HEADROOM_HINT, f"got {value}")


def test_capacity_headroom_flag_of_one_is_accepted() -> None:
    assert invoke(*CAPACITY, "--headroom", "1").exit_code == 0


# --- 5. an empty --workloads file --------------------------------------------------------------


@pytest.mark.parametrize("content", ["", "workloads:\n", "workloads: []\n"])
def test_empty_workloads_file(tmp_path: Path, catalog: Catalog, content: str) -> None:
    path = write(tmp_path / "w0.yaml", content)
    with pytest.raises(DemandError) as exc:
        load_workloads(catalog, [path])
    assert f"{path}: 'workloads' must be a non-empty list of entries" in str(exc.value)


def test_empty_workloads_file_on_the_command_line(demand: Path, tmp_path: Path) -> None:
    path = write(tmp_path / "w0.yaml", "")
    res = invoke("solve", demand, *FAST, "--workloads", path)
    assert_refused(res, str(path), "'workloads' must be a non-empty list")


# --- 6. a price sheet's errors name the sheet's own columns ------------------------------------

SHEET_HEAD = "provider,instance,tier,"


@pytest.mark.parametrize(
    ("columns", "row", "fragments"),
    [
        ("price", "$20", ["line 2", "column 'price'", "'$20' is not a number"]),
        ("usd_per_instance_hour", "x", ["line 2", "column 'usd_per_instance_hour'"]),
        ("price,min_count", "20,x", ["line 2", "column 'min_count'"]),
        (
            "price,gpu,gpus_per_instance",
            "-20,H100-SXM,8",
            ["line 2", "column 'price'", "greater than 0"],
        ),
    ],
)
def test_sheet_errors_name_the_sheet_column(
    tmp_path: Path, columns: str, row: str, fragments: list[str]
) -> None:
    sheet = write(tmp_path / "s.csv", f"{SHEET_HEAD}{columns}\naws,p5.48xlarge,on_demand,{row}\n")
    with pytest.raises(CatalogError) as exc:
        read_offer_sheet(sheet)
    msg = str(exc.value)
    assert "usd_per_hour" not in msg and "min_instances" not in msg, msg
    for f in fragments:
        assert f in msg, msg


@pytest.mark.parametrize("columns", ["price,usd_per_instance_hour", "price,price"])
def test_sheet_with_two_price_columns(tmp_path: Path, columns: str) -> None:
    """Two columns of one field: one of them was silently dropped."""
    sheet = write(tmp_path / "s.csv", f"{SHEET_HEAD}{columns}\naws,p5.48xlarge,on_demand,20,30\n")
    with pytest.raises(CatalogError) as exc:
        read_offer_sheet(sheet)
    assert "line 1" in str(exc.value) and "price" in str(exc.value)


def test_offers_import_names_the_sheet_column(tmp_path: Path) -> None:
    sheet = write(tmp_path / "s.csv", f"{SHEET_HEAD}price\naws,p5.48xlarge,on_demand,$20\n")
    out = tmp_path / "my-prices"
    res = invoke("offers", "import", sheet, "--out", out)
    assert_refused(res, "line 2", "column 'price'")
    assert not out.exists()


# --- 7. unknown names list the valid ones ------------------------------------------------------


def test_unknown_gpu_lists_the_gpus() -> None:
    res = invoke("roofline", "--model", "llama-3.1-8b", "--gpu", "Foo")
    assert_refused(res, "Unknown GPU 'Foo'", "H100-SXM", "B200", "MI300X")
    assert "See the catalog" not in res.stderr


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        ("    providers: [zzz]\n", ["field 'providers'", "aws", "lambda", "together"]),
        ("    gpus: [zzz]\n", ["field 'gpus'", "H100-SXM", "B200"]),
        ("    zzzq: 1\n", ["field 'zzzq'", "headroom", "tpot_ms"]),
    ],
)
def test_unknown_workload_names_list_the_valid_ones(
    tmp_path: Path, catalog: Catalog, extra: str, fragments: list[str]
) -> None:
    path = write(tmp_path / "w.yaml", WORKLOAD + extra)
    with pytest.raises(DemandError) as exc:
        load_workloads(catalog, [path])
    msg = str(exc.value)
    assert "See the catalog" not in msg, msg
    for f in fragments:
        assert f in msg, msg


# --- 8. the roofline table says why an option does not fit -------------------------------------


def test_roofline_table_shows_the_reason() -> None:
    res = invoke(*ROOFLINE_8B, "--tp", "1", "--input-tokens", "200000", "--output-tokens", "100")
    assert res.exit_code == 0, res.stdout + res.stderr
    text = " ".join(res.stdout.split())
    assert "exceeds the model's 131072-token context" in text, res.stdout


def test_roofline_table_says_why_none_is_shown() -> None:
    """Every option hidden (none fits, no --all): an empty table said nothing."""
    res = invoke(
        "roofline", "--model", "llama-3.1-8b", "--input-tokens", "200000", "--output-tokens", "1"
    )
    assert res.exit_code == 0, res.stdout + res.stderr
    assert "--all" in res.stdout and "no option fits" in res.stdout.lower(), res.stdout


# --- 9. --plot writes a PNG: its name must say so ----------------------------------------------


@pytest.mark.parametrize("name", ["x.txt", "x", "x.pdf"])
def test_roofline_plot_needs_a_png_name(tmp_path: Path, name: str) -> None:
    plot = tmp_path / name
    res = invoke(*ROOFLINE_8B, "--tp", "1", "--capacity-model", "roofline", "--plot", plot)
    assert_refused(res, "--plot", ".png", name)
    assert not plot.exists()


def test_roofline_plot_png_is_written(tmp_path: Path) -> None:
    plot = tmp_path / "x.PNG"
    res = invoke(*ROOFLINE_8B, "--tp", "1", "--capacity-model", "roofline", "--plot", plot)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert plot.read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("limit", [1e12, -1.0, float("nan")])
def test_the_library_refuses_a_time_limit_out_of_range(tmp_path: Path, limit: float) -> None:
    """The bound held on the command line only: solve_plan(time_limit_s=1e12) reached the
    watchdog thread's OverflowError."""
    from advisor.errors import SolverError
    from advisor.pipeline import solve_plan

    with pytest.raises(SolverError, match="30 days"):
        solve_plan(write(tmp_path / "d.csv", API_CSV), time_limit_s=limit)
