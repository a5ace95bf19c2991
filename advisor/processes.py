"""Solver child processes and their temporary files, ended with the run however it ends.

PuLP runs CBC as a child process that writes its model and solution to temporary files. A
run interrupted by SIGINT or SIGTERM must not leave CBC running (it would keep a core busy for
the rest of its time limit) or its files behind. ``solver_run`` gives the run a temporary
folder of its own (PuLP writes there), turns SIGTERM into an exception like SIGINT's, and on
the way out ends every process the run started (children of children too: a sweep's workers
and their CBC) and removes the folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path


class Interrupted(Exception):
    """The run was stopped by a signal (``signum``)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """128 + the signal's number, as shells report it (130 for SIGINT, 143 for SIGTERM)."""
        return 128 + self.signum


def descendants(pid: int | None = None) -> list[int]:
    """Process ids of every live descendant of ``pid`` (this process by default); Linux
    ``/proc``, an empty list elsewhere."""
    root = os.getpid() if pid is None else pid
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for name in entries:
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[0] != "Z":
            children.setdefault(int(fields[1]), []).append(int(name))
    found, stack = [], [root]
    while stack:
        for c in children.get(stack.pop(), []):
            found.append(c)
            stack.append(c)
    return found


def descendants_with(marker: str) -> list[int]:
    """Live descendants of this process whose command line contains ``marker``."""
    found = []
    for p in descendants():
        try:
            cmdline = Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker.encode() in cmdline:
            found.append(p)
    return found


#: How often ``kill_after`` looks again for a process that had not started by its deadline [s].
KILL_POLL_S = 0.05


def kill_after(marker: str, wait_s: float, stop: threading.Event, killed: threading.Event) -> None:
    """Unless ``stop`` is set within ``wait_s`` seconds, SIGKILL the descendants whose command
    line contains ``marker`` and set ``killed``; one that starts after the deadline (its
    parent was still writing its input) is killed as soon as it appears, until ``stop``. Not
    reaped here: their parent waits on them."""
    if stop.wait(wait_s):
        return
    while not killed.is_set():
        for p in descendants_with(marker):
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
                killed.set()
        if stop.wait(KILL_POLL_S):
            return


def end_processes(pids: list[int], grace_s: float = 1.0) -> None:
    """SIGTERM ``pids``, then SIGKILL whichever still run after ``grace_s``; reap our own."""
    for p in pids:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    alive = list(pids)
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if _alive(p)]
        if alive:
            time.sleep(0.02)
    for p in alive:
        with contextlib.suppress(OSError):
            os.kill(p, signal.SIGKILL)
    for p in pids:
        with contextlib.suppress(OSError):
            os.waitpid(p, os.WNOHANG)


def _alive(pid: int) -> bool:
    with contextlib.suppress(OSError):
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return False  # our child, now reaped
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rfind(")") + 2 :].split()[:1] != ["Z"]


#: Processes that ran before the current ``solver_run`` began (not ours to end).
_before: set[int] = set()


def _raise(signum: int, frame: object) -> None:
    # end the run's processes at once: a process pool would otherwise wait for its workers
    end_processes([p for p in descendants() if p not in _before])
    raise Interrupted(signum)


@contextlib.contextmanager
def solver_run() -> Iterator[Path]:
    """Run a solve with its own temporary folder; SIGINT and SIGTERM raise ``Interrupted``.

    On leaving (normally or not) the processes the run started are ended and the folder is
    removed. Only the main thread can install signal handlers; elsewhere the folder and the
    clean-up still apply.
    """
    global _before
    before = _before = set(descendants())
    folder = Path(tempfile.mkdtemp(prefix="advisor-run-"))
    saved_env = {k: os.environ.get(k) for k in ("TMPDIR", "TMP", "TEMP")}
    saved_tempdir = tempfile.tempdir
    handlers: dict[int, object] = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(ValueError):  # not the main thread
                handlers[sig] = signal.signal(sig, _raise)
        for k in saved_env:
            os.environ[k] = str(folder)  # PuLP puts its model and solution files here
        tempfile.tempdir = str(folder)
        yield folder
    finally:
        # new handlers first: a second signal during the clean-up must not cut it short
        for sig in handlers:
            with contextlib.suppress(ValueError):
                signal.signal(sig, signal.SIG_IGN)
        end_processes([p for p in descendants() if p not in before])
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        tempfile.tempdir = saved_tempdir
        shutil.rmtree(folder, ignore_errors=True)
        for sig, h in handlers.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, h)  # type: ignore[arg-type]
