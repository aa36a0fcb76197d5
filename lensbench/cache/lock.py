"""Per-entry file locks between processes sharing a cache (``fcntl.flock``: Linux and other
POSIX systems; not Windows).

Each cache entry has a lock file beside it, ``<root>/<kind>/<key[:2]>/<key>.lock``. A run holds
it

- **exclusive** while it checks, computes and commits the entry: the ``.partial`` work folder
  belongs to the holder alone, so no other process ever touches a running step's files;
- **shared** while it uses a finished entry (until the run ends), so no other process removes
  it (``--force``, ``lensbench cache prune``) or moves it aside under the run.

flock locks belong to an open file and disappear with the process that held them: the lock of a
run killed with ``kill -9`` is free at once, and the next run that takes it resumes (or prune
cleans) the ``.partial`` folder it left. A process keeps one open file per lock path
(:func:`entry_lock`), so two runs in one process never wait for each other.

Why not the ``filelock`` package: its ``FileLock`` is exclusive only and its ``ReadWriteLock``
(SQLite) cannot change mode, while a run first reads an entry under a shared lock and takes it
exclusive only when the entry must be (re)computed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Callable

SHARED = "shared"
EXCLUSIVE = "exclusive"


class EntryLock:
    """An flock on one lock file, held shared, exclusive or not at all.

    Parameters
    ----------
    path : Path
        The lock file (created when first locked; its content is never used).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.mode: str | None = None
        self._file = None

    def acquire(self, mode: str, *, wait: bool = True, on_wait: Callable[[], None] | None = None) -> bool:
        """Hold the lock in ``mode`` (``"shared"`` or ``"exclusive"``), converting any lock held now
        (flock converts by letting go first: another process may take the lock in between).

        Parameters
        ----------
        mode : {"shared", "exclusive"}
        wait : bool
            Wait until another process lets go; False returns False at once instead.
        on_wait : callable, optional
            Called once, before waiting (to say why a run stands still).

        Returns
        -------
        bool
            Whether the lock is held now (always True with ``wait``).
        """
        operation = fcntl.LOCK_EX if mode == EXCLUSIVE else fcntl.LOCK_SH
        while True:
            if self._file is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._file = open(self.path, "a+b")  # noqa: SIM115 - held open as long as the lock
            try:
                fcntl.flock(self._file.fileno(), operation | fcntl.LOCK_NB)
            except BlockingIOError:
                self.mode = None  # a failed conversion drops the lock held before
                if not wait:
                    self._close()
                    return False
                if on_wait is not None:
                    on_wait()
                    on_wait = None
                fcntl.flock(self._file.fileno(), operation)
            if self._still_linked():
                self.mode = mode
                return True
            self._close()  # prune removed the lock file while this process waited: lock the new one

    def release(self) -> None:
        """Let go of the lock (a no-op when none is held)."""
        self._close()

    def _still_linked(self) -> bool:
        try:
            here, there = os.fstat(self._file.fileno()), os.stat(self.path)
        except FileNotFoundError:
            return False
        return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)

    def _close(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file drops its flock
        self._file = None
        self.mode = None


_LOCKS: dict[Path, EntryLock] = {}


def entry_lock(path: Path) -> EntryLock:
    """This process's :class:`EntryLock` of ``path`` (one per lock file, so that two runs in
    one process convert one lock instead of waiting for each other)."""
    path = Path(path).absolute()
    return _LOCKS.setdefault(path, EntryLock(path))
