"""The SLO capacity cache: in process and on disk, shared by every process of the user.

Entries are plain dicts keyed by a hash of every input that changes them (the caller's key).
The disk copy is one JSON file per capacity-model version in the user's cache folder
(``$ADVISOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/advisor`` or ``~/.cache/advisor``;
``ADVISOR_CACHE_DIR=off`` keeps the cache in process). Writes merge with what other processes
wrote and replace the file atomically (the last writer wins on a race, which costs only a
recomputation). A miss re-reads the file when another process has written it since, so two
solves running side by side share their capacities. A broken file is rebuilt, never trusted.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def cache_dir() -> Path | None:
    """Folder of the on-disk capacity cache, or None when disabled (``ADVISOR_CACHE_DIR=off``)."""
    env = os.environ.get("ADVISOR_CACHE_DIR")
    if env is not None:
        return None if env.strip().lower() in ("", "off", "0", "none") else Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "advisor"


def _read(f: Path) -> dict[str, dict]:
    try:
        got = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(got, dict):
        return {}
    return {k: v for k, v in got.items() if isinstance(v, dict)}


def _stamp(f: Path | None) -> tuple[int, int] | None:
    try:
        st = f.stat() if f is not None else None
    except OSError:
        return None
    return None if st is None else (st.st_mtime_ns, st.st_size)


class CapacityCache:
    """Capacities computed in this process or read from disk, by key."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.clear()

    def clear(self) -> None:
        """Forget everything held in process (the disk file is read again when needed)."""
        self._memo: dict[str, dict] = {}
        self._disk: dict[str, dict] | None = None
        self._stamp: tuple[int, int] | None = None
        self._new: dict[str, dict] = {}  # computed here and not yet written to disk
        self._taken: dict[str, dict] = {}  # computed here since the last take_new()

    def file(self) -> Path | None:
        d = cache_dir()
        return None if d is None else d / f"capacity-v{self.version}.json"

    def _load(self) -> dict[str, dict]:
        if self._disk is None:
            f = self.file()
            self._stamp = _stamp(f)
            self._disk = _read(f) if f is not None and self._stamp is not None else {}
        return self._disk

    def get(self, key: str) -> dict | None:
        """The entry for ``key``, or None; a miss re-reads a file another process rewrote."""
        hit = self._memo.get(key) or self._load().get(key)
        if hit is None:
            f = self.file()
            stamp = _stamp(f)
            if f is not None and stamp is not None and stamp != self._stamp:
                self._stamp = stamp
                self._load().update(_read(f))
                hit = self._load().get(key)
        if hit is not None:
            self._memo[key] = hit
        return hit

    def put(self, key: str, entry: dict) -> None:
        """Remember an entry computed in this process (written to disk by :meth:`flush`)."""
        self._keep(key, entry)
        self._taken[key] = entry

    def _keep(self, key: str, entry: dict) -> None:
        self._memo[key] = entry
        self._load()[key] = entry
        self._new[key] = entry

    def take_new(self) -> dict[str, dict]:
        """Entries computed in this process since the last call (a worker process returns
        them to its parent, which :meth:`add`\\ s them)."""
        taken, self._taken = self._taken, {}
        return taken

    def add(self, entries: dict[str, dict]) -> None:
        """Entries another process computed: kept in process and written by :meth:`flush`."""
        for key, entry in entries.items():
            if key not in self._memo:
                self._keep(key, entry)

    def flush(self) -> None:
        """Write the entries computed here to disk, merged with the file's (atomically)."""
        f = self.file()
        if not self._new or f is None:
            return
        try:
            f.parent.mkdir(parents=True, exist_ok=True)
            merged = _read(f) if f.is_file() else {}
            merged.update(self._new)
            fd, tmp = tempfile.mkstemp(dir=f.parent, prefix=".capacity-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(merged, fh)
            os.replace(tmp, f)
            self._load().update(merged)
            self._stamp = _stamp(f)
            self._new = {}
        except OSError:
            pass  # a read-only home: the in-process cache still works
