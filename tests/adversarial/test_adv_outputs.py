"""Outputs as a transaction: a plan folder holds the old plan or the new one, whole, whatever
happens to the writer; the user's files are never touched; --out is checked before solving."""

from __future__ import annotations

import json
import os
import signal
import stat
import threading
from pathlib import Path

import pytest

from advisor import files
from advisor.errors import OutputError
from advisor.files import PlanFolder, leftovers, visible
from advisor.pipeline import solve_plan
from advisor.plan import PLAN_FILES, Plan
from tests.adversarial.helpers import FAST, assert_clean, invoke, snapshot, write

STEPS = [
    "staged",
    "journal",
    "move:schedule.csv",
    "move:summary.md",
    "move:plan.json",
    "manifest",
]


@pytest.fixture(scope="module")
def two_plans(api_demand: Path) -> tuple[Plan, Plan]:
    """Two different plans (an old and a new one) from one tiny solve."""
    old = solve_plan(api_demand, solver="highs", time_limit_s=30)
    new = Plan(data={**old.data, "total_cost_usd": old.total_cost_usd}, schedule=old.schedule)
    new.schedule = old.schedule.iloc[::-1].reset_index(drop=True)  # other bytes, same plan
    new.data["warnings"] = ["the second run"]
    return old, new


def _identity(folder: Path) -> str:
    """Which plan a folder holds, after checking it is whole (each file matches plan.json)."""
    plan = Plan.load(folder)
    manifest = files.read_manifest(folder)["files"]
    for name in PLAN_FILES:
        assert files.sha256((folder / name).read_bytes()) == manifest[name]["sha256"], name
    return "new" if plan.data["warnings"] == ["the second run"] else "old"


def _save_in_child(plan: Plan, out: Path, kill_at: str) -> int:
    """Save ``plan`` in a forked child that SIGKILLs itself at step ``kill_at``."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        try:

            def hook(step: str) -> None:
                if step == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

            files.STEP_HOOK = hook
            plan.save(out)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_during_a_rewrite_leaves_old_or_new_whole(
    step: str, two_plans: tuple[Plan, Plan], tmp_path: Path
) -> None:
    old, new = two_plans
    out = tmp_path / "plan"
    old.save(out)
    write(out / "notes.txt", "mine\n")
    status = _save_in_child(new, out, step)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    # before the commit point the old plan stands; after it the next reader finishes the move
    expect = "old" if step == "staged" else "new"
    assert _identity(out) == expect
    assert (out / "notes.txt").read_text() == "mine\n"
    assert not leftovers(out)


@pytest.mark.parametrize("step", STEPS)
def test_kill_9_during_a_first_write(step: str, two_plans: tuple[Plan, Plan], tmp_path: Path):
    _, new = two_plans
    out = tmp_path / "plan"
    _save_in_child(new, out, step)
    if step == "staged":
        assert not (out / "plan.json").exists()  # no plan at all, never a partial one
        assert visible(out) == []
    else:
        assert _identity(out) == "new"


def test_the_next_writer_finishes_an_interrupted_write(two_plans, tmp_path: Path) -> None:
    old, new = two_plans
    out = tmp_path / "plan"
    old.save(out)
    _save_in_child(new, out, "move:summary.md")
    with PlanFolder(out):  # a writer opening the folder rolls the journal forward
        pass
    assert not leftovers(out)
    assert _identity(out) == "new"


def test_a_reader_waits_for_a_commit_in_progress(two_plans, tmp_path: Path) -> None:
    old, new = two_plans
    out = tmp_path / "plan"
    old.save(out)
    paused, resume = threading.Event(), threading.Event()

    def hook(step: str) -> None:
        if step == "move:summary.md":
            paused.set()
            resume.wait(30)

    files.STEP_HOOK = hook
    try:
        writer = threading.Thread(target=new.save, args=(out,))
        writer.start()
        assert paused.wait(30)
        # mid-commit: schedule.csv is new, plan.json old; a reader must not see that
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.append(_identity(out)))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive(), "the reader read a folder in mid-commit"
        resume.set()
        writer.join(30)
        reader.join(30)
    finally:
        files.STEP_HOOK = None
        resume.set()
    assert seen == ["new"]


def test_a_second_writer_is_refused(api_demand: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    with PlanFolder(out):
        res = invoke("solve", api_demand, "--out", out, *FAST)
        assert_clean(res, 2, "Another advisor process (pid", str(out), "choose another --out")
    assert not (out / "plan.json").exists()


def test_a_second_writer_in_another_process_is_refused(api_demand: Path, tmp_path: Path):
    out = tmp_path / "plan"
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child: hold the folder until the parent says done
        try:
            folder = PlanFolder(out)
            folder.open()
            os.write(ready_w, b"x")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    try:
        assert os.read(ready_r, 1) == b"x"
        res = invoke("solve", api_demand, "--out", out, *FAST)
        assert_clean(res, 2, f"Another advisor process (pid {pid})")
    finally:
        os.write(done_w, b"y")
        os.waitpid(pid, 0)
        for fd in (ready_r, ready_w, done_r, done_w):
            os.close(fd)
    res = invoke("solve", api_demand, "--out", out, *FAST)  # free again
    assert_clean(res, 0)


def test_users_summary_is_never_overwritten(api_demand: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    write(out / "summary.md", "my own notes\n")
    before = snapshot(tmp_path)
    res = invoke("solve", api_demand, "--out", out, *FAST)
    assert_clean(res, 2, "summary.md", "not written by advisor", "Move it away")
    assert snapshot(tmp_path) == before


def test_edited_plan_file_is_the_users(api_demand: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    assert_clean(invoke("solve", api_demand, "--out", out, *FAST), 0)
    (out / "summary.md").write_text("edited by hand\n")
    res = invoke("solve", api_demand, "--out", out, *FAST)
    assert_clean(res, 2, "summary.md", "not written by advisor")
    assert (out / "summary.md").read_text() == "edited by hand\n"


def test_other_files_are_kept_and_stale_reports_removed(api_demand: Path, tmp_path: Path):
    out = tmp_path / "plan"
    write(out / "notes.txt", "mine\n")
    write(out / "sub" / "data.csv", "a,b\n")
    assert_clean(invoke("solve", api_demand, "--out", out, *FAST), 0)
    assert_clean(invoke("report", out), 0)
    assert (out / "report.html").exists() and (out / "report.md").exists()
    assert_clean(invoke("solve", api_demand, "--out", out, *FAST), 0)
    assert visible(out) == [
        "buy.csv",
        "notes.txt",
        "plan.json",
        "schedule.csv",
        "sub",
        "summary.md",
    ]
    assert (out / "notes.txt").read_text() == "mine\n"
    assert (out / "sub" / "data.csv").read_text() == "a,b\n"
    assert not leftovers(out)


def test_a_report_the_user_edited_is_kept(api_demand: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    assert_clean(invoke("solve", api_demand, "--out", out, *FAST), 0)
    assert_clean(invoke("report", out), 0)
    (out / "report.md").write_text("annotated\n")
    assert_clean(invoke("solve", api_demand, "--out", out, *FAST), 0)
    assert (out / "report.md").read_text() == "annotated\n"
    assert not (out / "report.html").exists()
    res = invoke("report", out)  # and a new report will not overwrite it
    assert_clean(res, 2, "report.md", "not written by advisor")


@pytest.mark.parametrize("value", ["", " "])
def test_empty_out_is_refused_before_solving(
    value: str, api_demand: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    res = invoke("solve", api_demand, "--out", value, *FAST)
    assert_clean(res, 2, "--out is empty", "--out .")
    assert visible(tmp_path) == []


def test_out_dot_is_allowed_when_named(
    api_demand: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert_clean(invoke("solve", api_demand, "--out", ".", *FAST), 0)
    assert visible(tmp_path) == ["buy.csv", "plan.json", "schedule.csv", "summary.md"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_permissions_follow_the_umask(umask: int, api_demand: Path, tmp_path: Path) -> None:
    old = os.umask(umask)
    try:
        out = tmp_path / "new" / "plan"
        assert_clean(invoke("solve", api_demand, "--out", out, *FAST), 0)
    finally:
        os.umask(old)
    for d in (out, out.parent):
        assert stat.S_IMODE(d.stat().st_mode) == 0o777 & ~umask
    for name in PLAN_FILES:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o666 & ~umask


def _root() -> bool:
    return os.geteuid() == 0


@pytest.mark.skipif(_root(), reason="permissions are not enforced for root")
def test_writable_out_inside_a_read_only_parent(api_demand: Path, tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    out = parent / "plan"
    out.mkdir(parents=True)
    parent.chmod(0o555)
    try:
        assert_clean(invoke("solve", api_demand, "--out", out, *FAST), 0)
        assert visible(out) == ["buy.csv", "plan.json", "schedule.csv", "summary.md"]
        assert visible(parent) == ["plan"]
    finally:
        parent.chmod(0o755)


@pytest.mark.skipif(_root(), reason="permissions are not enforced for root")
def test_read_only_out_is_refused_before_solving(api_demand: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    out.mkdir()
    out.chmod(0o555)
    try:
        res = invoke("solve", api_demand, "--out", out, *FAST)
        assert_clean(res, 2, "permission denied", "writable --out")
    finally:
        out.chmod(0o755)
    assert visible(out) == []


def test_failed_solve_removes_the_folder_it_created(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", "hour,workload,requests\n")
    out = tmp_path / "a" / "b" / "plan"
    res = invoke("solve", bad, "--out", out, *FAST)
    assert_clean(res, 2, "bad.csv")
    assert visible(tmp_path) == ["bad.csv"]


def test_failed_solve_keeps_an_existing_plan(api_demand: Path, tmp_path: Path) -> None:
    out = tmp_path / "plan"
    assert_clean(invoke("solve", api_demand, "--out", out, *FAST), 0)
    before = snapshot(out)
    bad = write(tmp_path / "bad.csv", "hour,workload,requests\n")
    assert_clean(invoke("solve", bad, "--out", out, *FAST), 2)
    assert snapshot(out) == before


def test_library_save_refuses_a_users_file(two_plans, tmp_path: Path) -> None:
    old, _ = two_plans
    out = tmp_path / "plan"
    write(out / "plan.json", json.dumps({"mine": True}))
    with pytest.raises(OutputError, match="not written by advisor"):
        old.save(out)
    assert json.loads((out / "plan.json").read_text()) == {"mine": True}


def test_plan_without_bookkeeping_still_loads(two_plans, tmp_path: Path) -> None:
    """A plan folder copied without its hidden folder (or written before it existed)."""
    old, _ = two_plans
    out = tmp_path / "plan"
    old.save(out)
    import shutil

    shutil.rmtree(out / files.META_DIR)
    assert Plan.load(out).total_cost_usd == pytest.approx(old.total_cost_usd)
    old.save(out)  # and advisor recognises its own files there
    assert not leftovers(out)
