"""Every file advisor writes goes through here: one JSON encoder, one atomic writer, and plan
folders written as transactions.

A plan folder (``advisor solve --out DIR``) holds the user's files and advisor's. advisor keeps
its bookkeeping in ``DIR/.advisor/``:

``manifest.json``
    the files advisor wrote (name → SHA-256 and the plan they belong to). A file that is not
    listed, or whose bytes changed since, is the user's: advisor never replaces or removes it.
``lock``
    held (``flock``) by the one process writing into the folder, from before its solve to the
    end of its write: a second writer is refused with the first one's process id.
``commit.lock``
    held exclusively while a new folder is swapped in (or files are moved in), shared by
    readers (``Plan.load``), so an advisor reader never sees two runs mixed.

A write swaps the whole folder (``swap``): it builds the new folder beside ``DIR`` in its
parent (``.DIR.advisor-PID-XXXXXXXX``: the new files, hard links to every file it keeps, its
own bookkeeping), then exchanges the two folders in one ``renameat2(RENAME_EXCHANGE)`` call and
removes the old one. Any reader, advisor or not, sees the old folder or the new one; a process
killed at any point leaves one of them whole in ``DIR`` (and, at worst, a dotted leftover in the
parent that the next advisor command removes). A file the user adds to ``DIR`` during the swap
is moved back into the new folder.

Where the swap cannot be made (no ``renameat2``, a parent advisor may not write, ``DIR`` a
symbolic link, a mount point or another user's, or holding folders of the user's) a write moves
files in under a journal instead: it stages every file in ``.advisor/stage-*/``, records what it
will move (``commit.json``, written atomically: the commit point), then moves the files in. A
process killed before the commit point leaves the old plan; one killed after it leaves a journal
that the next writer or reader rolls forward, giving the new plan whole. Either way, files
advisor wrote for the older plan (reports, figures) are removed in the same step.

New files and folders get the permissions the umask gives (``0o666``/``0o777`` less it); a
swapped-in folder keeps the old folder's mode.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as dt
import errno
import hashlib
import json
import math
import os
import re
import shutil
import stat
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from advisor.errors import OutputError

try:  # POSIX advisory locks; elsewhere the folder is written without them
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

META_DIR = ".advisor"
MANIFEST = "manifest.json"
JOURNAL = "commit.json"
WRITER_LOCK = "lock"
COMMIT_LOCK = "commit.lock"

#: Called with a step name between the steps of a folder write (tests pause or kill there).
STEP_HOOK: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if STEP_HOOK is not None:
        STEP_HOOK(name)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _load_exchange() -> Callable[[Path, Path], None] | None:
    """``renameat2(a, b, RENAME_EXCHANGE)`` where the C library has it (Linux), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int

    def exchange(a: Path, b: Path) -> None:
        if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(b))

    return exchange


#: Exchanges two folders in one step; None where the system cannot (writes use the journal).
EXCHANGE: Callable[[Path, Path], None] | None = _load_exchange()


# --- JSON --------------------------------------------------------------------------------------


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values: numpy and pandas scalars unwrapped, paths and times as
    text, and non-finite floats as ``None`` (JSON has no NaN or infinity)."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        return [jsonable(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, dt.date | dt.datetime):
        return obj.isoformat()
    if hasattr(obj, "isoformat"):  # pandas Timestamp
        return obj.isoformat()
    if hasattr(obj, "item"):  # other numpy scalars
        return jsonable(obj.item())
    return obj


def to_json(obj: Any, *, indent: int | None = 2) -> str:
    """``obj`` as JSON text (see ``jsonable``), ending in a newline."""
    return json.dumps(jsonable(obj), indent=indent, allow_nan=False) + "\n"


def sha256(payload: str | bytes) -> str:
    """Hex SHA-256 of text (UTF-8) or bytes."""
    return hashlib.sha256(payload.encode() if isinstance(payload, str) else payload).hexdigest()


# --- one file ----------------------------------------------------------------------------------


def _write_new(path: Path, payload: str | bytes) -> None:
    """Create ``path`` (it must not exist) with ``payload``, flushed to disk; mode 0o666 less
    the umask, as any program's new file."""
    data = payload.encode() if isinstance(payload, str) else payload
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)


def _fail(target: Path, exc: OSError) -> OutputError:
    if isinstance(exc, PermissionError):
        return OutputError(
            f"Cannot write to '{target}': permission denied. Choose a writable --out folder."
        )
    if exc.errno == errno.ENOSPC:
        return OutputError(f"Cannot write to '{target}': the disk is full. Free space and retry.")
    return OutputError(f"Cannot write to '{target}': {exc.strerror or exc}.")


def write_atomically(path: Path | str, payload: str | bytes) -> Path:
    """Write one file so that a reader sees the old or the new content, never part of it:
    a temporary file beside it, flushed, then renamed over it."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_new(tmp, payload)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _fail(path, exc) from None
    return path


# --- plan folders ------------------------------------------------------------------------------


def check_out_path(out: Path | str) -> Path:
    """Fail early, before any work, when ``out`` cannot become a folder of outputs."""
    text = str(out)
    if not text.strip():
        raise OutputError("--out is empty; name a folder (write --out . for the current folder).")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out '{out}' is a file; give a folder path.")
    probe = out if out.exists() else _existing_folder_above(out, "an --out")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(
            f"Cannot write to '{out}': permission denied on '{probe}'. Choose a writable --out "
            "folder."
        )
    return out


def check_out_file(
    path: Path | str, option: str, inputs: Mapping[str, Path | str | None] | None = None
) -> Path:
    """Fail early, before any work, when ``path`` (the value of ``option``) cannot become a
    file: a folder, under a file, or in a folder that takes no new file; or when writing it
    would destroy what the command reads or a plan holds: one of ``inputs`` (what each is →
    its path, e.g. ``{"history file": history}``) or a file advisor wrote into a plan folder
    (its ``plan.json``, ``schedule.csv``, ...)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} '{path}' is a folder; give a file path.")
    if path.is_file():
        _check_not_read(path, option, inputs or {})
    probe = _existing_folder_above(path, f"a {option}")
    try:  # what os.access cannot tell (a read-only mount, /proc, root's bypass): try it
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".advisor-probe-"):
            pass
    except OSError as exc:
        raise _fail(path, exc) from None
    return path


def _check_not_read(path: Path, option: str, inputs: Mapping[str, Path | str | None]) -> None:
    """``path`` (an existing file) is neither one of ``inputs`` nor a plan folder's file."""
    for what, source in inputs.items():
        if source is not None and Path(source).is_file() and path.samefile(source):
            raise OutputError(f"{option} '{path}' is the {what}; write the output elsewhere.")
    if owned_by_advisor(path.parent, path.name):
        raise OutputError(
            f"{option} '{path}' is a file of the plan in '{path.parent}' (advisor wrote it "
            "there); writing it would break that plan. Write the output elsewhere."
        )


def _existing_folder_above(path: Path, what: str) -> Path:
    """The nearest existing parent of ``path`` (where its missing folders would be made),
    which must be a folder; ``what`` names the option in the error ("an --out")."""
    probe = next((p for p in path.parents if p.exists()), Path("."))
    if not probe.is_dir():
        raise OutputError(
            f"Cannot write to '{path}': '{probe}' is a file, not a folder. Give {what} path "
            "whose parent folders are folders."
        )
    return probe


class PlanFolder:
    """An output folder written as a transaction (see the module docstring).

    >>> with PlanFolder("out/x") as folder:       # doctest: +SKIP
    ...     folder.claim(["plan.json", "schedule.csv", "summary.md"])
    ...     folder.commit({"plan.json": "...", ...}, replaces_all=True)

    ``open`` checks the path, creates the folder if needed and takes the writer lock;
    ``close`` releases it and removes what ``open`` created if nothing was committed.
    """

    def __init__(self, out: Path | str) -> None:
        self.out = check_out_path(out)
        self.meta = self.out / META_DIR
        self._lock_fd: int | None = None
        self._created: list[Path] = []
        self._committed = False

    # -- lifetime -------------------------------------------------------------------------
    def __enter__(self) -> PlanFolder:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Create the folder (if needed) and take the writer lock; finish an interrupted
        write found there."""
        try:
            missing = [p for p in (self.out, *self.out.parents) if not p.exists()]
            for p in reversed(missing):
                os.mkdir(p, 0o777)
                self._created.append(p)
            if not self.meta.exists():
                os.mkdir(self.meta, 0o777)
                self._created.append(self.meta)
            fd = self._take_writer_lock()
        except OSError as exc:
            self._undo_created()
            raise self._path_error(exc) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd
        try:
            recover(self.out)
        except OSError as exc:
            self.close()
            raise _fail(self.out, exc) from None

    def _take_writer_lock(self) -> int:
        """The folder's writer lock, held; refused (OutputError) while another process holds
        it. A lock taken on a folder swapped out meanwhile is let go and taken again."""
        path = self.meta / WRITER_LOCK
        while True:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            if fcntl is None:
                return fd
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                self._undo_created()
                raise OutputError(
                    f"Another advisor process (pid {holder}) is writing a plan into '{self.out}'. "
                    "Wait for it to finish, or choose another --out folder."
                ) from None
            if _is_at(fd, path):
                return fd
            os.close(fd)

    def close(self) -> None:
        """Release the lock; if nothing was committed, remove what ``open`` created."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None
        if not self._committed:
            self._undo_created()

    def _undo_created(self) -> None:
        if self.meta in self._created:
            shutil.rmtree(self.meta, ignore_errors=True)
        for p in reversed(self._created):
            if p != self.meta:
                with contextlib.suppress(OSError):
                    p.rmdir()  # only if still empty
        self._created = []

    def _path_error(self, exc: OSError) -> OutputError:
        blocker = next((p for p in self.out.parents if p.exists() and not p.is_dir()), None)
        if blocker is not None:
            return OutputError(
                f"Cannot write to '{self.out}': '{blocker}' is a file, not a folder. Give an "
                "--out path whose parent folders are folders."
            )
        return _fail(self.out, exc)

    # -- what is whose ----------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return read_manifest(self.out)

    def owned(self, name: str) -> bool:
        """Whether ``name`` in the folder is absent or is, byte for byte, a file advisor wrote."""
        return owned_by_advisor(self.out, name)

    def claim(self, names: list[str] | tuple[str, ...]) -> None:
        """Refuse (before any work) to replace a file advisor did not write."""
        for name in names:
            if not self.owned(name):
                raise OutputError(
                    f"'{self.out / name}' exists and was not written by advisor (or was edited "
                    "since); advisor will not replace it. Move it away or choose another --out "
                    "folder."
                )

    # -- writing ----------------------------------------------------------------------------
    def commit(
        self,
        files: Mapping[str, str | bytes],
        *,
        plan_id: str,
        replaces_all: bool,
        drop: tuple[str, ...] = (),
    ) -> None:
        """Move ``files`` into the folder as one step.

        ``replaces_all``: the files are a new plan; every other file advisor wrote for an
        older plan (reports, figures) is removed. Otherwise they are added to the current
        plan's files (a report), and advisor files they do not replace are kept, except those
        named in ``drop`` (an earlier report's figure this one lacks).
        """
        if self._lock_fd is None:
            raise RuntimeError("PlanFolder.commit before open")
        self.claim(list(files))
        old = self.manifest().get("files", {})
        new_entries = {n: {"sha256": sha256(p), "plan": plan_id} for n, p in files.items()}
        keep = (
            {}
            if replaces_all
            else {n: e for n, e in old.items() if n not in files and n not in drop}
        )
        stale = {n: old[n]["sha256"] for n in old if n not in files and n not in keep}
        manifest = {"files": {**keep, **new_entries}, "plan": plan_id}
        try:
            if not self._swap(files, stale, manifest):
                self._journal(files, stale, manifest)
        except OSError as exc:
            raise _fail(self.out, exc) from None
        self._committed = True
        self._created = []

    def _swap(
        self, files: Mapping[str, str | bytes], stale: dict[str, str], manifest: dict[str, Any]
    ) -> bool:
        """Build the new folder beside this one and exchange the two in one step; False, with
        nothing changed, where that cannot be done (see the module docstring)."""
        if EXCHANGE is None:
            return False
        out = Path(os.path.abspath(self.out))
        keep = _swap_keeps(out, files, stale)
        if keep is None:
            return False
        new = out.parent / f".{out.name}.advisor-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        lock_fd = None
        try:
            lock_fd = _build_folder(new, out, files, keep, manifest)
            _step("staged")
            with _commit_lock(out, exclusive=True):
                _step("locked")
                EXCHANGE(new, out)
        except BaseException as exc:  # nothing changed in ``out``: undo, then fall back or stop
            if lock_fd is not None:
                os.close(lock_fd)
            shutil.rmtree(new, ignore_errors=True)
            if isinstance(exc, OSError):
                return False
            raise
        _step("exchanged")
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self._lock_fd = lock_fd
        _return_late_files(new, out, files, keep)
        shutil.rmtree(new, ignore_errors=True)  # the old folder
        return True

    def _journal(
        self, files: Mapping[str, str | bytes], stale: dict[str, str], manifest: dict[str, Any]
    ) -> None:
        """Stage the files, record the move (the commit point), then move them in."""
        stage = self.meta / f"stage-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.mkdir(stage, 0o777)
            for name, payload in files.items():
                _write_new(stage / name, payload)
            _step("staged")
            journal = {
                "stage": stage.name,
                "move": list(files),
                "remove": stale,
                "manifest": manifest,
            }
            write_atomically(self.meta / JOURNAL, to_json(journal))
            _step("journal")
            recover(self.out)
        except OSError:
            shutil.rmtree(stage, ignore_errors=True)
            raise


def _swap_keeps(
    out: Path, files: Mapping[str, str | bytes], stale: dict[str, str]
) -> set[str] | None:
    """The names the new folder keeps (the user's files, and advisor's not replaced), or
    None where a whole-folder swap cannot be made."""
    try:
        st, parent = os.lstat(out), os.stat(out.parent)
        if stat.S_ISLNK(st.st_mode) or st.st_dev != parent.st_dev:
            return None  # a symbolic link or a mount point
        if Path.cwd().resolve().is_relative_to(out.resolve()):
            return None  # this process's folder: swapping it would strand the shell
        if st.st_uid != os.geteuid() or not os.access(out.parent, os.W_OK | os.X_OK):
            return None
        entries = list(os.scandir(out))
    except OSError:
        return None
    keep: set[str] = set()
    for entry in entries:
        name = entry.name
        if name == META_DIR or name in files:
            continue
        if name in stale and _file_sha(out / name) == stale[name]:
            continue  # advisor's, for the older plan: dropped
        if entry.is_dir(follow_symlinks=False):
            return None  # a folder of the user's: hard links cannot keep it
        keep.add(name)
    return keep


def _build_folder(
    new: Path,
    old: Path,
    files: Mapping[str, str | bytes],
    keep: set[str],
    manifest: dict[str, Any],
) -> int:
    """Make ``new``: ``files``, hard links to ``old``'s files named in ``keep``, and its own
    bookkeeping, with ``old``'s mode. Returns its writer lock, held by this process."""
    os.mkdir(new, 0o700)
    meta = new / META_DIR
    os.mkdir(meta, 0o777)
    fd = os.open(meta / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        os.close(os.open(meta / COMMIT_LOCK, os.O_RDWR | os.O_CREAT, 0o666))
        for name, payload in files.items():
            _write_new(new / name, payload)
        for name in keep:
            os.link(old / name, new / name, follow_symlinks=False)
        _write_new(meta / MANIFEST, to_json(manifest))
        os.chmod(new, stat.S_IMODE(os.stat(old).st_mode))
        _fsync_dir(meta)
        _fsync_dir(new)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _return_late_files(
    old: Path, out: Path, files: Mapping[str, str | bytes], keep: set[str]
) -> None:
    """Move back into ``out`` what the user put in the old folder while the new one was
    built (a new file, or a kept file replaced meanwhile)."""
    for entry in os.scandir(old):
        name = entry.name
        if name == META_DIR or name in files:
            continue
        with contextlib.suppress(OSError):
            if name in keep:
                if not os.path.samestat(entry.stat(follow_symlinks=False), os.lstat(out / name)):
                    os.replace(old / name, out / name)
            elif not os.path.lexists(out / name) and not _dropped(old, name):
                os.rename(old / name, out / name)


def _dropped(old: Path, name: str) -> bool:
    """Whether ``old/name`` is a file advisor wrote for the older plan (dropped by design)."""
    entry = read_manifest(old).get("files", {}).get(name)
    return entry is not None and _file_sha(old / name) == entry.get("sha256")


def read_manifest(out: Path) -> dict[str, Any]:
    try:
        data = json.loads((out / META_DIR / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else {}


def owned_by_advisor(out: Path, name: str) -> bool:
    """Whether ``out/name`` is absent or holds exactly what advisor wrote there."""
    path = out / name
    if not path.exists() and not path.is_symlink():
        return True
    if path.is_symlink() or not path.is_file():
        return False
    entry = read_manifest(out).get("files", {}).get(name)
    if entry is not None:
        return _file_sha(path) == entry.get("sha256")
    if name in LEGACY_SCENARIO_FILES:
        return _legacy_scenario_file(out)
    return _legacy_plan_file(out, name)


#: A scenario plan's files that versions before 2026-12-01 wrote beside the plan, outside the
#: manifest.
LEGACY_SCENARIO_FILES = ("scenarios.csv", "scenarios.png")


def _legacy_scenario_file(out: Path) -> bool:
    """A scenario plan's table or figure written outside the manifest is advisor's where the
    plan.json beside it is advisor's and has scenarios."""
    if not (out / "plan.json").is_file() or not owned_by_advisor(out, "plan.json"):
        return False
    try:
        data = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and isinstance(data.get("scenarios"), dict)


def _file_sha(path: Path) -> str | None:
    try:
        return sha256(path.read_bytes())
    except OSError:
        return None


def _legacy_plan_file(out: Path, name: str) -> bool:
    """A plan folder written before the manifest: plan.json and the schedule whose checksum
    it records are advisor's; so is a summary.md beside them."""
    if name not in ("plan.json", "schedule.csv", "buy.csv", "summary.md"):
        return False
    try:
        data = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict) or "total_cost_usd" not in data:
        return False
    want = data.get("schedule_sha256")
    return bool(want) and _file_sha(out / "schedule.csv") == want


def _is_at(fd: int, path: Path) -> bool:
    """Whether the open file ``fd`` is still the one at ``path`` (not swapped out meanwhile)."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


@contextlib.contextmanager
def _commit_lock(out: Path, exclusive: bool) -> Iterator[None]:
    path = out / META_DIR / COMMIT_LOCK
    fd = None
    while fcntl is not None:
        try:
            fd = (
                os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
                if exclusive
                else os.open(path, os.O_RDONLY)
            )
        except OSError:
            fd = None  # a reader of a folder it cannot write, or one without bookkeeping
            break
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        if _is_at(fd, path):
            break
        os.close(fd)  # the folder was swapped while this waited: lock the new one
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def _swap_leftovers(out: Path) -> list[Path]:
    """Folders beside ``out`` left by a swap whose process is gone: a new folder never
    swapped in, or the old one swapped out but not yet removed."""
    out = Path(os.path.abspath(out))
    pattern = re.compile(rf"\.{re.escape(out.name)}\.advisor-(\d+)-[0-9a-f]{{8}}")
    try:
        entries = list(os.scandir(out.parent))
    except OSError:
        return []
    found = []
    for entry in entries:
        m = pattern.fullmatch(entry.name)
        if m and entry.is_dir(follow_symlinks=False) and _process_is_gone(int(m.group(1))):
            found.append(Path(entry.path))
    return found


def recover(out: Path) -> None:
    """Finish a write whose commit point passed (``commit.json`` exists); drop stages of
    writes that never reached it, and folders a swap left beside it. Safe to call any time;
    a no-op on a clean folder."""
    for p in _swap_leftovers(out):
        shutil.rmtree(p, ignore_errors=True)
    meta = out / META_DIR
    if not meta.is_dir():
        return
    journal_path = meta / JOURNAL
    with _commit_lock(out, exclusive=True):
        if journal_path.exists():
            journal = json.loads(journal_path.read_text(encoding="utf-8"))
            stage = meta / journal["stage"]
            for name in journal["move"]:
                if (stage / name).exists():
                    _step(f"move:{name}")
                    os.replace(stage / name, out / name)
            for name, digest in journal["remove"].items():
                if _file_sha(out / name) == digest:
                    (out / name).unlink()
            write_atomically(meta / MANIFEST, to_json(journal["manifest"]))
            _step("manifest")
            journal_path.unlink()
        for p in meta.glob("stage-*"):
            if _stage_is_abandoned(p):
                shutil.rmtree(p, ignore_errors=True)


def _stage_is_abandoned(p: Path) -> bool:
    """A stage of a process that is gone (or of this one, whose write finished)."""
    try:
        pid = int(p.name.split("-")[1])
    except (IndexError, ValueError):
        return True
    return pid == os.getpid() or _process_is_gone(pid)


def _process_is_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    return False


def leftovers(out: Path | str) -> list[str]:
    """Temporary files, stages and unfinished journals in ``out`` (none after a clean write)."""
    out = Path(out)
    found = [p.name for p in out.iterdir() if p.name.startswith(".") and p.name != META_DIR]
    meta = out / META_DIR
    if meta.is_dir():
        found += [
            f"{META_DIR}/{p.name}"
            for p in meta.iterdir()
            if p.name.startswith(("stage-", ".")) or p.name == JOURNAL
        ]
    found += [f"../{p.name}" for p in _swap_leftovers(out)]
    return sorted(found)


def visible(out: Path | str) -> list[str]:
    """The names in ``out`` a user sees: everything but advisor's bookkeeping folder."""
    return sorted(p.name for p in Path(out).iterdir() if p.name != META_DIR)


@contextlib.contextmanager
def reading(out: Path) -> Iterator[None]:
    """Hold the folder steady while its files are read: no commit moves files meanwhile, and
    an interrupted one is finished first where the folder is writable."""
    meta = out / META_DIR
    journal = meta.is_dir() and any(
        p.name == JOURNAL or p.name.startswith("stage-") for p in meta.iterdir()
    )
    if journal or _swap_leftovers(out):
        # read-only: the reader's checksums catch a mixed folder
        with contextlib.suppress(OSError):
            recover(out)
    with _commit_lock(out, exclusive=False):
        yield


__all__ = [
    "PlanFolder",
    "check_out_path",
    "jsonable",
    "leftovers",
    "owned_by_advisor",
    "reading",
    "recover",
    "sha256",
    "to_json",
    "visible",
    "write_atomically",
]
