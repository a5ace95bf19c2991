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
    held exclusively while files are moved into place, shared by readers (``Plan.load``), so
    an advisor reader never sees two runs mixed.
``stage-*/`` and ``commit.json``
    a write stages every file, then records what it will move (``commit.json``, written
    atomically: the commit point), then moves the files in. A process killed before the commit
    point leaves the old plan; one killed after it leaves a journal that the next writer or
    reader rolls forward, giving the new plan whole. Files advisor wrote for the older plan
    (reports, figures) are removed in the same step.

New files and folders get the permissions the umask gives (``0o666``/``0o777`` less it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import json
import math
import os
import shutil
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
    probe = out if out.exists() else next((p for p in out.parents if p.exists()), Path("."))
    if not probe.is_dir():
        raise OutputError(
            f"Cannot write to '{out}': '{probe}' is a file, not a folder. Give an --out path "
            "whose parent folders are folders."
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(
            f"Cannot write to '{out}': permission denied on '{probe}'. Choose a writable --out "
            "folder."
        )
    return out


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
            fd = os.open(self.meta / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            self._undo_created()
            raise self._path_error(exc) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise OutputError(
                    f"Another advisor process (pid {holder}) is writing a plan into '{self.out}'. "
                    "Wait for it to finish, or choose another --out folder."
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd
        try:
            recover(self.out)
        except OSError as exc:
            self.close()
            raise _fail(self.out, exc) from None

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
        stale = [n for n in old if n not in files and n not in keep]
        stage = self.meta / f"stage-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            os.mkdir(stage, 0o777)
            for name, payload in files.items():
                _write_new(stage / name, payload)
            _step("staged")
            journal = {
                "stage": stage.name,
                "move": list(files),
                "remove": {n: old[n]["sha256"] for n in stale},
                "manifest": {"files": {**keep, **new_entries}, "plan": plan_id},
            }
            write_atomically(self.meta / JOURNAL, to_json(journal))
            _step("journal")
            recover(self.out)
        except OSError as exc:
            shutil.rmtree(stage, ignore_errors=True)
            raise _fail(self.out, exc) from None
        self._committed = True
        self._created = []


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
    return _legacy_plan_file(out, name)


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


@contextlib.contextmanager
def _commit_lock(out: Path, exclusive: bool) -> Iterator[None]:
    path = out / META_DIR / COMMIT_LOCK
    fd = None
    if fcntl is not None:
        try:
            fd = (
                os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
                if exclusive
                else os.open(path, os.O_RDONLY)
            )
        except OSError:
            fd = None  # a reader of a folder it cannot write, or one without bookkeeping
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)


def recover(out: Path) -> None:
    """Finish a write whose commit point passed (``commit.json`` exists); drop stages of
    writes that never reached it. Safe to call any time; a no-op on a clean folder."""
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
    if pid == os.getpid():
        return True
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
    return sorted(found)


def visible(out: Path | str) -> list[str]:
    """The names in ``out`` a user sees: everything but advisor's bookkeeping folder."""
    return sorted(p.name for p in Path(out).iterdir() if p.name != META_DIR)


@contextlib.contextmanager
def reading(out: Path) -> Iterator[None]:
    """Hold the folder steady while its files are read: no commit moves files meanwhile, and
    an interrupted one is finished first where the folder is writable."""
    meta = out / META_DIR
    if meta.is_dir() and any(
        p.name == JOURNAL or p.name.startswith("stage-") for p in meta.iterdir()
    ):
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
