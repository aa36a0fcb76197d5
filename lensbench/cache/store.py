"""The cache folder: where entries live, how a run claims, reuses and commits one.

Layout of ``<root>``::

    <kind>/<key[:2]>/<key>/            a finished entry: the step's files and meta.json
    <kind>/<key[:2]>/<key>.partial/    a step at work, or one a killed run left (resumed later)
    <kind>/<key[:2]>/<key>.lock        the entry's lock file (:mod:`lensbench.cache.lock`)
    corrupt/<kind>/<key>.<time>/       bad entries moved aside, with reason.txt

A run claims each entry (:meth:`Cache.claim`): under a shared lock it checks the finished entry
(sizes of every file always, their sha256 on the first use in this process,
:mod:`lensbench.cache.integrity`) and keeps that lock while it uses it. A missing or bad entry
is claimed exclusively instead: a bad one is moved aside (its problem is reported by name), and
the step computes into ``.partial`` (resuming what an interrupted run left there) and commits it,
in one ``os.rename``. A second run that needs the same entry waits for the first and reuses its
result.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from lensbench.cache.integrity import META, entry_problem, read_meta, sealed_meta
from lensbench.cache.lock import EXCLUSIVE, SHARED, EntryLock, entry_lock
from lensbench.io.atomic import write_atomic, write_json
from lensbench.io.canonical import sha256_of

CORRUPT = "corrupt"
"""Folder of ``<root>`` where bad entries are moved aside."""

_HASHED: set[Path] = set()
"""Entries whose every file's sha256 was checked (or written) in this process."""


def default_root() -> Path:
    """``$LENSBENCH_CACHE``, else ``$XDG_CACHE_HOME/lensbench``, else ``~/.cache/lensbench``."""
    if os.environ.get("LENSBENCH_CACHE"):
        return Path(os.environ["LENSBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lensbench"


def step_key(kind: str, version: int, config: Any, input_keys: list[str], environment: dict | None = None) -> str:
    """sha256 of (step kind, step version, config, input keys) as canonical JSON
    (:func:`lensbench.io.canonical.sha256_of`): the order of a spec's tables does not matter.

    ``environment`` holds what besides the configuration changes the step's results (the torch
    CPU thread count of a training step); it is hashed in only when given.
    """
    content = {"kind": kind, "version": version, "config": config, "inputs": list(input_keys)}
    return sha256_of(content if environment is None else {**content, "environment": environment})


def now_stamp() -> str:
    """UTC time as ``YYYY-mm-ddTHH:MM:SSZ``."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Claim:
    """A run's hold on one entry, from :meth:`Cache.claim`.

    Attributes
    ----------
    path : Path or None
        The finished, checked entry (held shared), or None: the caller holds the entry
        exclusively and computes it in :meth:`begin`'s folder, then calls :meth:`commit`.
    meta : dict
        The entry's ``meta.json`` (empty until there is one).
    """

    def __init__(self, cache: "Cache", kind: str, key: str, lock: EntryLock, path: Path | None, meta: dict):
        self.cache, self.kind, self.key, self.lock = cache, kind, key, lock
        self.path, self.meta = path, meta

    def begin(self) -> Path:
        """The work folder, created (and kept if an earlier run left one)."""
        return self.cache.begin(self.kind, self.key)

    def commit(self, meta: dict) -> Path:
        """Seal and rename the work folder into place; hold the finished entry shared from now."""
        self.path = self.cache.commit(self.kind, self.key, meta)
        self.meta = read_meta(self.path)[0]
        self.lock.acquire(SHARED)
        return self.path


class Cache:
    """The folder of finished and partial step outputs.

    Parameters
    ----------
    root : Path, optional
        Cache folder; :func:`default_root` by default.
    """

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_root()
        self._held: list[EntryLock] = []

    def path(self, kind: str, key: str) -> Path:
        """Folder of the finished output of step ``kind`` with ``key``."""
        return self.root / kind / key[:2] / key

    def partial(self, kind: str, key: str) -> Path:
        """Work folder of a step still running (or interrupted)."""
        return self.root / kind / key[:2] / f"{key}.partial"

    def lock_path(self, kind: str, key: str) -> Path:
        """Lock file of an entry."""
        return self.root / kind / key[:2] / f"{key}.lock"

    def has(self, kind: str, key: str) -> bool:
        """Whether a finished output exists (not checked: see :meth:`lookup`)."""
        return (self.path(kind, key) / META).is_file()

    def lookup(self, kind: str, key: str) -> tuple[Path | None, str | None]:
        """``(folder, None)`` for an intact finished entry, ``(None, problem)`` for a bad one and
        ``(None, None)`` when there is none. Sizes are checked every time, content hashes on the
        entry's first use in this process."""
        folder = self.path(kind, key)
        if not folder.exists():
            return None, None
        problem = entry_problem(folder, full=folder not in _HASHED)
        if problem:
            return None, problem
        _HASHED.add(folder)
        return folder, None

    def claim(self, kind: str, key: str, *, force: bool = False,
              notify: Callable[[str], None] | None = None) -> Claim:
        """Take hold of an entry for a run: reuse it if it is intact, else hold it to compute it.

        Parameters
        ----------
        kind, key : str
            The step kind and its cache key.
        force : bool
            Throw away the finished entry (once no other run uses it) and any partial work.
        notify : callable, optional
            Told, in words, when the run waits for another one and when a bad entry is moved aside.

        The lock stays held until :meth:`release`.
        """
        say = notify or (lambda message: None)
        lock = entry_lock(self.lock_path(kind, key))
        if lock not in self._held:
            self._held.append(lock)

        def waiting():
            say(f"waiting for another lensbench run holding cache entry {kind}/{key[:12]}")

        if not force:
            lock.acquire(SHARED, on_wait=waiting)
            found, _ = self.lookup(kind, key)
            if found:
                return self._reuse(kind, key, lock, found)
        lock.acquire(EXCLUSIVE, on_wait=waiting)
        if force:
            self.remove(kind, key)
            return Claim(self, kind, key, lock, None, {})
        found, problem = self.lookup(kind, key)  # another run may have computed it meanwhile
        if found:
            lock.acquire(SHARED)
            return self._reuse(kind, key, lock, found)
        if problem:
            moved = self.move_aside(kind, key, problem)
            say(f"bad cache entry {kind}/{key[:12]}: {problem}; moved to {moved.relative_to(self.root)}; recomputing")
        return Claim(self, kind, key, lock, None, {})

    def _reuse(self, kind: str, key: str, lock: EntryLock, folder: Path) -> Claim:
        try:
            os.utime(folder / META)  # last use, for `lensbench cache prune --older-than`
        except OSError:
            pass  # a read-only cache is still usable
        return Claim(self, kind, key, lock, folder, read_meta(folder)[0])

    def release(self) -> None:
        """Let go of every entry claimed through this cache."""
        for lock in self._held:
            lock.release()
        self._held.clear()

    def begin(self, kind: str, key: str) -> Path:
        """The work folder for a step, created (and kept if an earlier run left one)."""
        work = self.partial(kind, key)
        work.mkdir(parents=True, exist_ok=True)
        return work

    def commit(self, kind: str, key: str, meta: dict) -> Path:
        """Write ``meta.json`` (with every file's size and sha256, :func:`sealed_meta`) into the
        work folder and rename it into place. Temporary files of :func:`lensbench.io.atomic.write_atomic`
        that an interrupted run left there are removed first (the caller holds the entry exclusively)."""
        work = self.partial(kind, key)
        for temporary in work.rglob(".*.tmp"):  # left by a write a killed run never finished
            temporary.unlink()
        write_json(work / META, sealed_meta({**meta, "created": now_stamp()}, work))
        final = self.path(kind, key)
        if final.exists():
            shutil.rmtree(final)
        os.rename(work, final)
        _HASHED.add(final)
        return final

    def remove(self, kind: str, key: str) -> None:
        """Forget a finished output and any partial work of it (for ``--force``)."""
        for path in (self.path(kind, key), self.partial(kind, key)):
            if path.exists():
                shutil.rmtree(path)
        _HASHED.discard(self.path(kind, key))

    def move_aside(self, kind: str, key: str, reason: str) -> Path:
        """Move a bad entry to ``<root>/corrupt/<kind>/<key>.<time>/`` with ``reason.txt``."""
        target = self.root / CORRUPT / kind / f"{key}.{now_stamp().replace(':', '')}.{os.getpid()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(self.path(kind, key), target)
        write_atomic(target / "reason.txt", reason + "\n")
        _HASHED.discard(self.path(kind, key))
        return target
