"""Outputs as a transaction: a plan folder holds the old plan or the new one, whole, whatever
happens to the writer; the user's files are never touched; --out is checked before solving."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from advisor import files
from advisor.errors import OutputError
from advisor.files import PlanFolder, leftovers, visible
from advisor.pipeline import solve_plan
from advisor.plan import PLAN_FILES, Plan
from tests.adversarial.helpers import FAST, assert_clean, invoke, snapshot, write

#: The steps of a write, where a test pauses or kills the writer: a whole-folder swap, and the
#: journal used where the swap cannot be made.
SWAP_STEPS = ["staged", "locked", "exchanged"]
JOURNAL_STEPS = [
    "staged",
    "journal",
    "move:schedule.csv",
    "move:summary.md",
    "move:plan.json",
    "manifest",
]
KILLS = [("swap", s) for s in SWAP_STEPS] + [("journal", s) for s in JOURNAL_STEPS]


@pytest.fixture(params=["swap", "journal"])
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Write plan folders by the whole-folder swap or by the journal."""
    if request.param == "swap":
        if files.EXCHANGE is None:
            pytest.skip("this system cannot exchange two folders in one step")
    else:
        monkeypatch.setattr(files, "EXCHANGE", None)
    return request.param


@pytest.fixture(scope="module")
def two_plans(api_demand: Path) -> tuple[Plan, Plan]:
    """Two different plans (an old and a new one) from one tiny solve."""
    old = solve_plan(api_demand, solver="highs", time_limit_s=30)
    new = dataclasses.replace(
        old.with_warnings(["the second run"]),
        schedule=old.schedule.iloc[::-1].reset_index(drop=True),  # other bytes, same plan
    )
    return old, new


def _identity(folder: Path) -> str:
    """Which plan a folder holds, after checking it is whole (each file matches plan.json)."""
    plan = Plan.load(folder)
    manifest = files.read_manifest(folder)["files"]
    for name in PLAN_FILES:
        assert files.sha256((folder / name).read_bytes()) == manifest[name]["sha256"], name
    return "new" if plan.data["warnings"] == ["the second run"] else "old"


def _raw_identity(folder: Path) -> str:
    """The same, read as a program other than advisor would: the bytes on disk as they are,
    nothing finished or cleaned first."""
    data = json.loads((folder / "plan.json").read_bytes())
    assert files.sha256((folder / "schedule.csv").read_bytes()) == data["schedule_sha256"]
    manifest = json.loads((folder / files.META_DIR / files.MANIFEST).read_bytes())["files"]
    for name in PLAN_FILES:
        assert files.sha256((folder / name).read_bytes()) == manifest[name]["sha256"], name
    return "new" if data["warnings"] == ["the second run"] else "old"


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


def _expect_after_kill(mode: str, step: str) -> str:
    """Before the swap (or the journal's commit point) the old plan stands; after it, the new."""
    before = {"swap": ("staged", "locked"), "journal": ("staged",)}[mode]
    return "old" if step in before else "new"


@pytest.mark.parametrize(("mode", "step"), KILLS, indirect=["mode"])
def test_kill_9_during_a_rewrite_leaves_old_or_new_whole(
    mode: str, step: str, two_plans: tuple[Plan, Plan], tmp_path: Path
) -> None:
    old, new = two_plans
    out = tmp_path / "plan"
    old.save(out)
    write(out / "notes.txt", "mine\n")
    status = _save_in_child(new, out, step)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
    expect = _expect_after_kill(mode, step)
    if mode == "swap":  # whole on disk at once, before any advisor command runs again
        assert _raw_identity(out) == expect
    assert _identity(out) == expect  # the journal: the next reader finishes the move
    assert (out / "notes.txt").read_text() == "mine\n"
    assert not leftovers(out)
    assert visible(tmp_path) == ["plan"]


@pytest.mark.parametrize(("mode", "step"), KILLS, indirect=["mode"])
def test_kill_9_during_a_first_write(
    mode: str, step: str, two_plans: tuple[Plan, Plan], tmp_path: Path
) -> None:
    _, new = two_plans
    out = tmp_path / "plan"
    _save_in_child(new, out, step)
    if _expect_after_kill(mode, step) == "old":
        assert not (out / "plan.json").exists()  # no plan at all, never a partial one
        assert visible(out) == []
        with PlanFolder(out):  # the next writer removes what the killed one left
            pass
    else:
        if mode == "swap":
            assert _raw_identity(out) == "new"
        assert _identity(out) == "new"
    assert not leftovers(out)


@pytest.mark.parametrize(
    ("mode", "step"),
    [("swap", "exchanged"), ("journal", "move:summary.md")],
    indirect=["mode"],
)
def test_the_next_writer_finishes_an_interrupted_write(
    mode: str, step: str, two_plans, tmp_path: Path
) -> None:
    old, new = two_plans
    out = tmp_path / "plan"
    old.save(out)
    _save_in_child(new, out, step)
    with PlanFolder(out):  # a writer opening the folder cleans up (or rolls forward)
        pass
    assert not leftovers(out)
    assert _identity(out) == "new"


@pytest.fixture
def swap_folder(two_plans: tuple[Plan, Plan], tmp_path: Path) -> tuple[Plan, Path]:
    """The new plan, and a folder holding the old one, where folders can be swapped."""
    if files.EXCHANGE is None:
        pytest.skip("this system cannot exchange two folders in one step")
    old, new = two_plans
    out = tmp_path / "plan"
    old.save(out)
    return new, out


@contextlib.contextmanager
def _writer_paused_at(plan: Plan, out: Path, step: str) -> Iterator[None]:
    """Save ``plan`` into ``out`` in a thread paused at ``step`` while the body runs."""
    paused, resume = threading.Event(), threading.Event()

    def hook(at: str) -> None:
        if at == step:
            paused.set()
            resume.wait(30)

    files.STEP_HOOK = hook
    writer = threading.Thread(target=plan.save, args=(out,))
    try:
        writer.start()
        assert paused.wait(30)
        yield
    finally:
        resume.set()
        writer.join(30)
        files.STEP_HOOK = None


@pytest.mark.parametrize(
    ("mode", "step"),
    [("swap", "locked"), ("journal", "move:summary.md")],
    indirect=["mode"],
)
def test_a_reader_waits_for_a_commit_in_progress(
    mode: str, step: str, two_plans, tmp_path: Path
) -> None:
    old, new = two_plans
    out = tmp_path / "plan"
    old.save(out)
    seen: list[str] = []
    with _writer_paused_at(new, out, step):
        # mid-commit; a reader must wait, then see the new plan whole
        reader = threading.Thread(target=lambda: seen.append(_identity(out)))
        reader.start()
        reader.join(0.3)
        assert reader.is_alive(), "the reader read a folder in mid-commit"
    reader.join(30)
    assert seen == ["new"]


def test_a_writer_is_refused_while_another_swaps(swap_folder: tuple[Plan, Path]) -> None:
    """The lock moves with the folder: a second writer arriving just after the swap meets
    the first writer's lock on the new folder."""
    new, out = swap_folder
    refused = pytest.raises(OutputError, match=f"Another advisor process \\(pid {os.getpid()}\\)")
    with _writer_paused_at(new, out, "exchanged"), refused:
        PlanFolder(out).open()
    assert _raw_identity(out) == "new"
    assert not leftovers(out)


def test_a_file_added_during_a_swap_is_kept(swap_folder: tuple[Plan, Path]) -> None:
    new, out = swap_folder
    write(out / "notes.txt", "v1\n")

    def hook(at: str) -> None:
        if at == "locked":  # the new folder is built; the user writes into the old one
            write(out / "late.txt", "late\n")
            write(out / "notes.txt", "v2\n")

    files.STEP_HOOK = hook
    try:
        new.save(out)
    finally:
        files.STEP_HOOK = None
    assert (out / "late.txt").read_text() == "late\n"
    assert (out / "notes.txt").read_text() == "v2\n"
    assert _raw_identity(out) == "new"
    assert not leftovers(out)


def test_the_swap_keeps_the_folder_mode_and_user_files(swap_folder: tuple[Plan, Path]) -> None:
    new, out = swap_folder
    notes = write(out / "notes.txt", "mine\n")
    (out / "link.txt").symlink_to("notes.txt")
    out.chmod(0o750)
    inode = notes.stat().st_ino
    new.save(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o750
    assert (out / "notes.txt").stat().st_ino == inode  # the same file, not a copy
    assert os.readlink(out / "link.txt") == "notes.txt"
    assert _raw_identity(out) == "new"


@pytest.mark.parametrize("where", ["cwd", "subfolder", "symlink"])
def test_folders_the_swap_must_not_move_use_the_journal(
    where: str, two_plans, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The working folder (a shell would be left in a removed folder), a folder holding the
    user's folders, and a symbolic link are written in place, under the journal."""
    old, new = two_plans
    real = tmp_path / "plan"
    old.save(real)
    out = real
    if where == "cwd":
        monkeypatch.chdir(real)
        out = Path(".")
    elif where == "subfolder":
        write(real / "mine" / "notes.txt", "mine\n")
    else:
        out = tmp_path / "link"
        out.symlink_to(real)
    inode = real.stat().st_ino
    new.save(out)
    assert real.stat().st_ino == inode  # the same folder, written in place
    assert out.is_symlink() == (where == "symlink")
    assert _raw_identity(real) == "new"
    assert not leftovers(real)


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
