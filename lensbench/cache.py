"""Content-addressed cache of step outputs.

A step's output lives in ``<root>/<kind>/<key[:2]>/<key>/`` with a ``meta.json``. While it runs,
the step works in ``<key>.partial/``; that folder survives an interruption so the step can resume
(finished simulation shards, training checkpoints), and it is renamed into place, in one atomic
``os.rename``, only when the step has finished.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from lensbench.io.atomic import write_json
from lensbench.io.canonical import sha256_of


def default_root() -> Path:
    """``$LENSBENCH_CACHE``, else ``$XDG_CACHE_HOME/lensbench``, else ``~/.cache/lensbench``."""
    if os.environ.get("LENSBENCH_CACHE"):
        return Path(os.environ["LENSBENCH_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lensbench"


def step_key(kind: str, version: int, config: Any, input_keys: list[str]) -> str:
    """sha256 of (step kind, step version, config, input keys) as canonical JSON
    (:func:`lensbench.io.canonical.sha256_of`): the order of a spec's tables does not matter."""
    return sha256_of({"kind": kind, "version": version, "config": config, "inputs": list(input_keys)})


class Cache:
    """The folder of finished and partial step outputs.

    Parameters
    ----------
    root : Path, optional
        Cache folder; :func:`default_root` by default.
    """

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else default_root()

    def path(self, kind: str, key: str) -> Path:
        """Folder of the finished output of step ``kind`` with ``key``."""
        return self.root / kind / key[:2] / key

    def partial(self, kind: str, key: str) -> Path:
        """Work folder of a step still running (or interrupted)."""
        return self.root / kind / key[:2] / f"{key}.partial"

    def has(self, kind: str, key: str) -> bool:
        """Whether a finished output exists."""
        return (self.path(kind, key) / "meta.json").is_file()

    def begin(self, kind: str, key: str) -> Path:
        """The work folder for a step, created (and kept if an earlier run left one)."""
        work = self.partial(kind, key)
        work.mkdir(parents=True, exist_ok=True)
        return work

    def commit(self, kind: str, key: str, meta: dict) -> Path:
        """Write ``meta.json`` into the work folder and rename it into place."""
        work = self.partial(kind, key)
        write_json(work / "meta.json", meta)
        final = self.path(kind, key)
        if final.exists():
            shutil.rmtree(final)
        os.rename(work, final)
        return final

    def remove(self, kind: str, key: str) -> None:
        """Forget a finished output and any partial work of it (for ``--force``)."""
        for path in (self.path(kind, key), self.partial(kind, key)):
            if path.exists():
                shutil.rmtree(path)
