"""`advisor compare` and `advisor report` on plans saved by an earlier run: the comparison
object and table, clean errors, the written report and its figures, and the HTML page
rendered in a real headless browser (skipped when no Chromium is installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from advisor.cli import app
from advisor.compare import compare_plans, compare_table_md
from advisor.files import leftovers, sha256
from advisor.pipeline import solve_plan
from advisor.plan import Plan
from advisor.report import (
    FIGURE_FILES,
    MAX_LOAD_FIGURES,
    pool_utilization_by_hour_of_week,
    savings_bar_labels,
)
from advisor.solve import available_solvers

ROOT = Path(__file__).resolve().parents[1]
DEMAND = ROOT / "demand"
SOLVER = "highs" if "highs" in available_solvers() else "cbc"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

runner = CliRunner()


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two small plans solved through the library and saved: the low-volume example (all
    hourly/API, no pool) and the first two days of the spiky diurnal one (a reserved pool)."""
    root = tmp_path_factory.mktemp("plans")
    lines = (DEMAND / "spiky_diurnal.csv").read_text(encoding="utf-8").splitlines()
    spiky = root / "spiky_48h.csv"
    spiky.write_text("\n".join(lines[:49]) + "\n", encoding="utf-8")
    out = {}
    for name, demand in (("low", DEMAND / "low_volume.csv"), ("spiky", spiky)):
        plan = solve_plan(demand, solver=SOLVER, time_limit_s=60, gap=1e-3)
        assert plan.verified, plan.data["verification"]
        out[name] = plan.save(root / name)
    return out


def test_compare_json(saved: dict[str, Path]) -> None:
    a, b = saved["spiky"], saved["low"] / "plan.json"
    res = runner.invoke(app, ["compare", str(a), str(b), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["names"] == ["spiky", "low"]
    assert [p["name"] for p in data["plans"]] == ["spiky", "low"]
    rows = {r["metric"]: r for r in data["rows"]}
    pa, pb = Plan.load(a), Plan.load(b)
    total = rows["total_cost_usd"]
    assert total["values"] == pytest.approx([pa.total_cost_usd, pb.total_cost_usd])
    assert total["deltas"][0] is None
    assert total["deltas"][1] == pytest.approx(pb.total_cost_usd - pa.total_cost_usd)
    assert total["relative"][1] == pytest.approx(
        (pb.total_cost_usd - pa.total_cost_usd) / pa.total_cost_usd
    )
    # the low-volume plan is far cheaper than two busy days: highlighted as better
    assert total["highlight"] == [None, "better"]
    # per-tier cost, $/M per workload, fleet, utilization, SLO margins, solver all present
    metrics = set(rows)
    assert {"cost_by_tier_usd.reserved", "cost_by_tier_usd.owned"} & metrics  # the pool
    assert any(m.startswith("fleet.reserved.") for m in metrics)
    assert "reserved_utilization" in metrics
    assert "solver.gap" in metrics and "solver.status" in metrics
    for w in pa.data["workloads"]:
        assert f"workloads.{w}.usd_per_m_output_tokens" in metrics
        assert f"workloads.{w}.min_tpot_margin" in metrics
        deps = pa.data["workloads"][w]["deployments"]
        want = min(d["tpot_margin"] for d in deps)
        assert rows[f"workloads.{w}.min_tpot_margin"]["values"][0] == pytest.approx(want)
    assert data["notes"]  # different demand files and horizons are pointed out


def test_compare_table_colours_and_markdown(saved: dict[str, Path]) -> None:
    res = runner.invoke(app, ["compare", str(saved["spiky"]), str(saved["low"])])
    assert res.exit_code == 0, res.output
    assert "Total cost (USD)" in res.stdout and "Δ vs spiky" in res.stdout
    plans = [Plan.load(saved["spiky"]), Plan.load(saved["low"])]
    result = compare_plans(plans, names=["A", "B"])
    md = compare_table_md(result)
    assert md.startswith("# Plan comparison (differences against 'A')")
    assert "| Total cost (USD) |" in md and "better" in md
    # a plan against itself: nothing differs
    same = compare_plans([plans[0], plans[0]])
    assert same["names"] == ["spiky", "spiky (2)"]
    assert all(r["highlight"][1] == "same" for r in same["rows"])


@pytest.mark.parametrize("bad", ["missing_dir", "missing_dir/plan.json"])
def test_compare_bad_path_is_a_clean_error(
    saved: dict[str, Path], tmp_path: Path, bad: str
) -> None:
    missing = tmp_path / bad
    res = runner.invoke(app, ["compare", str(saved["low"]), str(missing)])
    assert res.exit_code == 2
    assert str(missing) in res.stderr.replace("\n", "")
    assert "Traceback" not in res.output
    assert isinstance(res.exception, SystemExit)


def test_compare_needs_two_plans(saved: dict[str, Path]) -> None:
    res = runner.invoke(app, ["compare", str(saved["low"])])
    assert res.exit_code == 2
    assert "at least two" in res.stderr


def _check_png(path: Path) -> None:
    blob = path.read_bytes()
    assert blob[:8] == PNG_SIGNATURE, path
    assert len(blob) > 5_000, (path, len(blob))


def test_report_writes_markdown_html_and_figures(saved: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "rep"
    res = runner.invoke(
        app, ["report", str(saved["spiky"] / "plan.json"), "--out", str(out), "--json"]
    )
    assert res.exit_code == 0, res.output
    paths = {k: Path(v) for k, v in json.loads(res.stdout).items()}
    assert paths["html"] == out / "report.html" and paths["markdown"] == out / "report.md"
    assert set(FIGURE_FILES) <= set(paths)  # the spiky plan has a pool: all five figures
    for key, name in FIGURE_FILES.items():
        assert paths[key] == out / name
        _check_png(paths[key])
    md = paths["markdown"].read_text(encoding="utf-8")
    for name in FIGURE_FILES.values():
        assert f"]({name})" in md
    # a load figure per deployment the plan uses most, from the catalog the plan names
    loads = sorted(k for k in paths if k.startswith("load_"))
    assert 1 <= len(loads) <= MAX_LOAD_FIGURES
    for key in loads:
        assert paths[key] == out / f"report_{key}.png"
        _check_png(paths[key])
        assert f"](report_{key}.png)" in md
    assert "## Deployments under load" in md and "capacity the plan sizes replicas at" in md
    html = paths["html"].read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == len(FIGURE_FILES) + len(loads)
    assert "http://" not in html and "https://" not in html  # self-contained
    assert not leftovers(out)  # no temp files left


def test_report_default_folder_and_no_pool(saved: dict[str, Path]) -> None:
    plan = Plan.load(saved["low"])
    assert not plan.data["reserved"] and not plan.data["existing"]
    assert pool_utilization_by_hour_of_week(plan) is None
    res = runner.invoke(app, ["report", str(saved["low"])])
    assert res.exit_code == 0, res.output
    md = (saved["low"] / "report.md").read_text(encoding="utf-8")
    assert "No reserved pool" in md
    assert "Deployments under load" not in md  # every request goes to the API
    assert not list(saved["low"].glob("report_load_*.png"))
    assert not (saved["low"] / FIGURE_FILES["pool_utilization"]).exists()
    for key in ("capacity", "cost_by_tier", "usd_per_m", "savings"):
        _check_png(saved["low"] / FIGURE_FILES[key])
    # the plan itself still loads: report files do not disturb the plan folder
    assert Plan.load(saved["low"]).total_cost_usd == pytest.approx(plan.total_cost_usd)


def test_pool_utilization_matches_plan(saved: dict[str, Path]) -> None:
    plan = Plan.load(saved["spiky"])
    util = pool_utilization_by_hour_of_week(plan)
    assert util is not None and len(util) == 168
    seen = util.dropna()
    assert len(seen) == 48  # two days of the week observed
    assert ((seen >= 0) & (seen <= 1 + 1e-9)).all()
    # one week or less: the mean of the hourly ratios is the whole-horizon utilization
    assert seen.mean() == pytest.approx(plan.data["reserved_utilization"])


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def test_report_html_renders_in_headless_browser(saved: dict[str, Path], tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no Chromium on PATH (apt-get install chromium) to render report.html")
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", str(saved["spiky"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    shot = tmp_path / "shot.png"
    cmd = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2000",
        "--enable-logging=stderr",
        "--v=0",
        (out / "report.html").resolve().as_uri(),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    except (subprocess.TimeoutExpired, OSError) as exc:
        pytest.skip(f"Chromium could not run here: {exc}")
    if not shot.exists():
        pytest.skip(f"Chromium wrote no screenshot (rc {proc.returncode}): {proc.stderr[-500:]}")
    blob = shot.read_bytes()
    assert blob[:8] == PNG_SIGNATURE
    assert len(blob) > 20_000  # a rendered page with figures, not a blank canvas
    page_errors = [
        line
        for line in proc.stderr.splitlines()
        if "Uncaught" in line or "ERROR:CONSOLE" in line or ":CONSOLE(" in line
    ]
    assert not page_errors, page_errors


def test_report_names_the_deployments_it_does_not_draw(
    saved: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: past the first MAX_LOAD_FIGURES deployments the report dropped the rest
    without a word. Each one it does not draw is named, with a roofline command that draws
    it."""
    import advisor.report

    monkeypatch.setattr(advisor.report, "MAX_LOAD_FIGURES", 0)
    out = tmp_path / "rep"
    res = runner.invoke(app, ["report", str(saved["spiky"] / "plan.json"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "## Deployments under load" in md and not list(out.glob("report_load_*.png"))
    sched = Plan.load(saved["spiky"]).schedule
    served = sched[(sched["source"] != "api") & (sched["requests"] > 0)]
    pairs = served.groupby(["deployment", "workload"]).size().index
    assert len(pairs) >= 1
    for dep, w in pairs:
        assert f"{w} on {dep} (" in md
    command = md.split("`advisor roofline ", 1)[1].split("`", 1)[0]
    png = tmp_path / "first.png"
    args = ["roofline", *command.replace("FILE.png", str(png)).split()]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    _check_png(png)


def _edited_copy(
    src: Path, dest: Path, change: dict, schedule_line: tuple[int, str, str] | None = None
) -> Path:
    """A copy of the plan folder ``src`` with ``change`` applied to plan.json, and a
    schedule cell rewritten (line, column, value) with its checksum updated to match."""
    shutil.copytree(src, dest)
    data = json.loads((dest / "plan.json").read_text(encoding="utf-8"))
    if schedule_line is not None:
        line, column, value = schedule_line
        lines = (dest / "schedule.csv").read_text(encoding="utf-8").splitlines()
        cells = lines[line - 1].split(",")
        cells[lines[0].split(",").index(column)] = value
        lines[line - 1] = ",".join(cells)
        text = "\n".join(lines) + "\n"
        (dest / "schedule.csv").write_text(text, encoding="utf-8")
        data["schedule_sha256"] = sha256(text)
    data.update(change)
    (dest / "plan.json").write_text(json.dumps(data), encoding="utf-8")
    return dest


def test_an_edited_plan_is_not_reported_as_verified(saved: dict[str, Path], tmp_path: Path) -> None:
    """A plan.json changed after advisor wrote it keeps its figures in the report and the
    comparison, but not its 'Verified: True': that verdict was given to another file."""
    forged = _edited_copy(saved["low"], tmp_path / "forged", {"total_cost_usd": 1000.0})
    res = runner.invoke(app, ["report", str(forged), "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    text = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "Verified: False" in text and "Verified: True" not in text
    assert "was changed after advisor wrote it" in text
    res = runner.invoke(app, ["compare", str(saved["low"]), str(forged), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [p["verified"] for p in data["plans"]] == [True, False]
    assert any("changed after advisor wrote it" in n for n in data["notes"])
    # the untouched plan still reads as verified
    res = runner.invoke(app, ["report", str(saved["low"]), "--out", str(tmp_path / "r0")])
    assert "Verified: True" in (tmp_path / "r0" / "report.md").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("change", "cell", "says"),
    [
        ({"total_cost_usd": float("nan")}, None, "total_cost_usd is nan"),
        ({}, (2, "replicas", "two"), "line 2: replicas 'two' is not a number"),
        ({}, (2, "workload", "no-such-workload"), "workload 'no-such-workload'"),
    ],
)
def test_report_on_an_unreadable_plan_is_a_clean_error(
    saved: dict[str, Path],
    tmp_path: Path,
    change: dict,
    cell: tuple[int, str, str] | None,
    says: str,
) -> None:
    """A schedule naming a workload plan.json lacks (was a KeyError traceback), a number that
    is not one, or a total that is not finite: one error naming it, nothing written."""
    forged = _edited_copy(saved["spiky"], tmp_path / "forged", change, cell)
    out = tmp_path / "r"
    res = runner.invoke(app, ["report", str(forged), "--out", str(out)])
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
    assert not out.exists()
    res = runner.invoke(app, ["compare", str(saved["spiky"]), str(forged)])
    assert res.exit_code == 2 and says in res.output


def test_a_schedule_that_is_a_folder_is_named_as_such(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    """A schedule.csv that is a folder was reported as 'missing'."""
    copy = tmp_path / "p"
    shutil.copytree(saved["low"], copy)
    (copy / "schedule.csv").unlink()
    (copy / "schedule.csv").mkdir()
    res = runner.invoke(app, ["report", str(copy), "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "schedule.csv: not a file" in res.output


def test_a_report_is_not_written_into_another_plans_folder(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    """`advisor report A --out B` (B another plan's folder) replaced B's report with A's: B's
    folder then held plan B beside a report of plan A."""
    other = tmp_path / "spiky"
    shutil.copytree(saved["spiky"], other)
    res = runner.invoke(app, ["report", str(other)])
    assert res.exit_code == 0, res.output
    before = (other / "report.md").read_bytes()
    res = runner.invoke(app, ["report", str(saved["low"]), "--out", str(other)])
    assert res.exit_code == 2, res.output
    assert "holds another plan" in res.output, res.output
    assert (other / "report.md").read_bytes() == before
    # beside its own plan, or in a copy of it, is fine
    mine = tmp_path / "low"
    shutil.copytree(saved["low"], mine)
    res = runner.invoke(app, ["report", str(saved["low"]), "--out", str(mine)])
    assert res.exit_code == 0, res.output


def test_plans_on_other_prices_say_so(saved: dict[str, Path], tmp_path: Path) -> None:
    """Two plans of one demand solved on the seeds and the snapshot prices were compared with
    no note: their difference in cost read as a difference of plans."""
    other = solve_plan(
        DEMAND / "low_volume.csv", solver=SOLVER, time_limit_s=60, gap=1e-3, prices="snapshot"
    ).save(tmp_path / "snapshot")
    res = runner.invoke(app, ["compare", str(saved["low"]), str(other), "--json"])
    assert res.exit_code == 0, res.output
    notes = json.loads(res.stdout)["notes"]
    assert any("different catalogs or prices" in n and "snapshot prices" in n for n in notes)
    res = runner.invoke(app, ["compare", str(saved["low"]), str(saved["low"]), "--json"])
    assert not any("prices" in n for n in json.loads(res.stdout)["notes"])


def test_one_demand_file_by_two_paths_is_one_demand(saved: dict[str, Path], tmp_path: Path) -> None:
    """Regression: compare told demand files apart by the path a plan was solved with, so
    one file named once relatively and once absolutely (or copied) read as "different demand
    files", and a file changed in place between two solves read as the same. The file's
    checksum decides."""
    copy = tmp_path / "same_demand.csv"
    shutil.copyfile(DEMAND / "low_volume.csv", copy)
    elsewhere = solve_plan(copy, solver=SOLVER, time_limit_s=60, gap=1e-3).save(tmp_path / "a")
    res = runner.invoke(app, ["compare", str(saved["low"]), str(elsewhere), "--json"])
    assert res.exit_code == 0, res.output
    assert not any("demand" in n for n in json.loads(res.stdout)["notes"])
    lines = copy.read_text(encoding="utf-8").splitlines()
    cells = lines[1].split(",")
    cells[2] = str(int(cells[2]) + 1)  # one more request in the first hour
    copy.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n", encoding="utf-8")
    changed = solve_plan(copy, solver=SOLVER, time_limit_s=60, gap=1e-3).save(tmp_path / "b")
    res = runner.invoke(app, ["compare", str(elsewhere), str(changed), "--json"])
    notes = json.loads(res.stdout)["notes"]
    assert any("different demand" in n for n in notes), notes
    # a sweep's cases share the file: the note names each case
    case = Plan.load(elsewhere).with_sweep_case("price.spot", 2.0, "price.spot=2")
    res = runner.invoke(app, ["compare", str(elsewhere), str(case.save(tmp_path / "c")), "--json"])
    notes = json.loads(res.stdout)["notes"]
    assert any("a: no change, c: price.spot=2" in n for n in notes), notes


CONTRACT_8X = """\
offers:
  - {provider: acme, instance: 8xH100, gpu: H100-SXM, gpus_per_instance: 8, interconnect: nvlink,
     tier: reserved_1y, usd_per_hour: 2.00, term_months: 12, source: "quote #42",
     as_of: 2026-11-20}
"""


def test_compare_counts_the_gpus_of_a_reserved_instance(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    """A plan reserving one 8-GPU instance compared as "acme/8xH100 reserved_1y (reserved
    GPUs): 1": the row counted instances under a label of GPUs (existing commitments, and
    the hourly rows beside it, count GPUs)."""
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "offers.yaml").write_text(CONTRACT_8X, encoding="utf-8")
    lines = (DEMAND / "high_steady.csv").read_text(encoding="utf-8").splitlines()
    demand = tmp_path / "hs6.csv"
    demand.write_text("\n".join(lines[:7]) + "\n", encoding="utf-8")
    plan = solve_plan(
        demand, catalog_dirs=[tmp_path / "cat"], prices="seeds", solver=SOLVER, time_limit_s=60
    )
    rows = [r for r in plan.data["reserved"] if r["instance"] == "8xH100"]
    assert [(r["gpus_per_instance"], r["count"]) for r in rows] == [(8, 1)]
    got = compare_plans([Plan.load(saved["low"]), plan])
    row = {r["metric"]: r for r in got["rows"]}["fleet.reserved.acme/8xH100 reserved_1y"]
    assert row["values"] == [0, 8]


def test_compare_notes_plans_solved_with_other_commitments_or_policy(
    saved: dict[str, Path], tmp_path: Path
) -> None:
    """The same demand solved with and without existing commitments compared as 'Total cost
    +44.7%' (spiky_diurnal, seeds, 14 committed GPUs: $3,014.40 of it paid whatever the
    plan does), and with and without a --gpus policy, with no note, where other demand files,
    catalogs and horizons each get one."""
    from advisor.policy import Policy

    demand = saved["spiky"].parent / "spiky_48h.csv"
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(
        "commitments:\n  - {gpu: H100-SXM, count: 2, tier: owned, usd_per_hour: 1.0}\n",
        encoding="utf-8",
    )
    with_fleet = solve_plan(demand, fleet_file=fleet, solver=SOLVER, time_limit_s=60, gap=1e-3)
    only = solve_plan(
        demand, policy=Policy(gpus=["H100-SXM"]), solver=SOLVER, time_limit_s=60, gap=1e-3
    )
    base = Plan.load(saved["spiky"])
    notes = compare_plans([base, with_fleet], names=["a", "b"])["notes"]
    (note,) = [n for n in notes if "commitments" in n]
    assert "a: none" in note and "b: 1 commitment ($96.00)" in note, note
    notes = compare_plans([base, only], names=["a", "c"])["notes"]
    (note,) = [n for n in notes if "policies" in n]
    assert "a: no rules" in note and "c: gpus H100-SXM" in note, note
    assert not [n for n in compare_plans([base, base], names=["a", "d"])["notes"]]


def test_the_savings_figure_calls_a_policy_with_no_cost_not_applicable() -> None:
    # a policy with no cost is one the inputs leave out (no reserved tier, an API rate limit),
    # and the figure labelled it 'n/a (infeasible)'
    data = {
        "total_cost_usd": 90.0,
        "baselines": {
            "all_api": {"total_cost_usd": 100.0},
            "reserved_peak": {"total_cost_usd": None, "note": "not applicable: no reserved"},
        },
    }
    labels = savings_bar_labels(data)
    assert labels == ["$90", "$100 — plan saves 10.0%", "not applicable (see its note)"]
    assert not any("infeasible" in label for label in labels)
