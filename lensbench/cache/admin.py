"""``lensbench cache``: what the cache holds, whether it is intact, and pruning it.

:func:`scan` lists every entry under a cache root: finished entries, ``.partial`` work folders
(a running step's, or one a killed run left) and entries moved aside to ``corrupt/``.
:func:`summary` counts them by step kind and by experiment (``meta.json`` records the experiment
and spec hash of the run that computed an entry), :func:`verify` checks every file's sha256, and
:func:`prune` removes entries last used before a time or not used by given run reports. Both take
each entry's lock without waiting: an entry a running lensbench holds is skipped, never touched.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from tqdm import tqdm

from lensbench.cache.integrity import META, entry_problem, read_meta
from lensbench.cache.lock import EXCLUSIVE, SHARED, entry_lock
from lensbench.cache.store import CORRUPT, Cache
from lensbench.errors import DataError, UsageError
from lensbench.humanize import human_bytes

FINISHED, PARTIAL, MOVED = "finished", "partial", "corrupt"


@dataclass
class Entry:
    """One folder of the cache.

    Attributes
    ----------
    kind, key : str
        Step kind and cache key.
    state : {"finished", "partial", "corrupt"}
        A finished entry, a work folder, or an entry moved aside.
    path : Path
        The folder.
    size : int
        Bytes of its files.
    last_used : float
        Unix time (s) of its last use: ``meta.json``'s modification time for a finished entry
        (touched on every reuse), the newest file's for a work folder or a moved entry.
    meta : dict
        Its intact ``meta.json``, else empty.
    """

    kind: str
    key: str
    state: str
    path: Path
    size: int
    last_used: float
    meta: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        """``kind/key`` (``kind/key.partial`` for a work folder, the moved folder's name for a moved entry)."""
        suffix = {FINISHED: "", PARTIAL: ".partial", MOVED: self.path.name[len(self.key):]}[self.state]
        return f"{self.kind}/{self.key}{suffix}"


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def _entry(kind: str, key: str, state: str, folder: Path) -> Entry:
    files = _files(folder)
    stats = [p.stat() for p in files]
    meta = read_meta(folder)[0] if state == FINISHED else None
    used = (folder / META).stat().st_mtime if meta is not None else max([s.st_mtime for s in stats],
                                                                         default=folder.stat().st_mtime)
    return Entry(kind, key, state, folder, sum(s.st_size for s in stats), used, meta or {})


def scan(root: Path) -> list[Entry]:
    """Every entry under the cache ``root``, sorted by kind and key."""
    root = Path(root)
    entries = []
    for kind_dir in sorted(p for p in root.glob("*") if p.is_dir()):
        if kind_dir.name == CORRUPT:
            for folder in sorted(p for p in kind_dir.glob("*/*") if p.is_dir()):
                entries.append(_entry(folder.parent.name, folder.name.split(".")[0], MOVED, folder))
            continue
        for folder in sorted(p for p in kind_dir.glob("??/*") if p.is_dir()):
            key, _, suffix = folder.name.partition(".")
            entries.append(_entry(kind_dir.name, key, PARTIAL if suffix == "partial" else FINISHED, folder))
    return entries


def summary(cache: Cache) -> list[str]:
    """``lensbench cache info``: size and entries by step kind and by experiment (spec sha256)."""
    entries = scan(cache.root)
    finished = [e for e in entries if e.state == FINISHED]
    lines = [f"cache {cache.root}: {len(finished)} entries, {human_bytes(sum(e.size for e in finished))}"]
    for state, what in ((PARTIAL, "work folder(s) of running or interrupted steps (.partial)"),
                        (MOVED, f"bad entr(y/ies) moved aside to {cache.root / CORRUPT}")):
        chosen = [e for e in entries if e.state == state]
        if chosen:
            lines.append(f"  + {len(chosen)} {what}, {human_bytes(sum(e.size for e in chosen))}")
    groups = (("step kind", lambda e: e.kind),
              ("experiment (spec sha256)", lambda e: f"{e.meta['experiment']} ({e.meta['spec_hash'][:12]})"
               if "experiment" in e.meta else "(not recorded)"))
    for title, label in groups:
        totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for e in finished:
            totals[label(e)][0] += 1
            totals[label(e)][1] += e.size
        if totals:
            lines.append(f"by {title}:")
            width = max(len(name) for name in totals)
            lines += [f"  {name:<{width}}  {count:>5}  {human_bytes(size):>9}" for name, (count, size) in sorted(totals.items())]
    return lines


def verify(cache: Cache, *, fix: bool = False, progress: bool = True,
           echo: Callable[[str], None] = print) -> tuple[int, list[tuple[Entry, str]]]:
    """Check the sha256 of every file of every finished entry.

    Parameters
    ----------
    fix : bool
        Move bad entries aside (to ``corrupt/``; the next run recomputes them).

    Returns
    -------
    (int, list of (Entry, str))
        How many entries were checked, and the bad ones with their problem. An entry that a
        running lensbench holds is skipped (and said so).
    """
    finished = [e for e in scan(cache.root) if e.state == FINISHED]
    checked, bad = 0, []
    for e in tqdm(finished, desc="verify", unit="entry", disable=not progress):
        lock = entry_lock(cache.lock_path(e.kind, e.key))
        if not lock.acquire(SHARED, wait=False):
            echo(f"busy: {e.name}: being written by a running lensbench; not checked")
            continue
        try:
            problem = entry_problem(e.path, full=True)
            checked += 1
            if problem is None:
                continue
            bad.append((e, problem))
            if not fix:
                echo(f"bad: {e.name}: {problem}")
            elif lock.acquire(EXCLUSIVE, wait=False):
                echo(f"bad: {e.name}: {problem}; moved to {cache.move_aside(e.kind, e.key, problem)}")
            else:
                echo(f"bad: {e.name}: {problem}; in use by a running lensbench, not moved")
        finally:
            lock.release()
    return checked, bad


_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_age(text: str) -> float:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` in seconds; UsageError otherwise."""
    match = _AGE.match(text)
    if not match:
        raise UsageError(f"--older-than {text!r}: expected a number and a unit, s, m, h, d or w (e.g. 30d)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def report_entries(report: Path) -> set[tuple[str, str]]:
    """``(kind, key)`` of every cache entry a run report used: its ``metrics.json``'s
    ``provenance.cache_entries`` (``{step id: "kind/key"}``).

    Raises
    ------
    DataError
        The folder has no readable ``metrics.json``, or one that does not list its cache entries.
    """
    path = Path(report) / "metrics.json"
    try:
        metrics = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "not found: --keep-report takes the folder of a run report") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(path, f"unreadable ({err})") from None
    used = metrics.get("provenance", {}).get("cache_entries") if isinstance(metrics, dict) else None
    if not isinstance(used, dict):
        raise DataError(path, "lists no provenance.cache_entries (written by an older lensbench): "
                              "rerun it to record which cache entries it uses")
    return {tuple(str(name).split("/", 1)) for name in used.values()}


@dataclass
class PruneResult:
    """What :func:`prune` removed (or, dry, would remove) and what it left because a run holds it."""

    removed: list[Entry] = field(default_factory=list)
    busy: list[Entry] = field(default_factory=list)

    @property
    def freed(self) -> int:
        """Bytes removed."""
        return sum(e.size for e in self.removed)


def prune(cache: Cache, *, older_than: float | None = None, keep_reports: Iterable[Path] = (),
          dry_run: bool = False, now: float | None = None) -> PruneResult:
    """Remove entries that match every criterion given: last used more than ``older_than``
    seconds ago; not used by any report of ``keep_reports``. Work folders of interrupted runs and
    moved-aside entries count too; an entry a running lensbench holds is never touched.

    Parameters
    ----------
    older_than : float, optional
        Age in seconds (:func:`parse_age`).
    keep_reports : iterable of Path
        Run report folders whose entries are kept (:func:`report_entries`).
    dry_run : bool
        Only say what would go.
    now : float, optional
        Unix time to measure ages from (default: now).
    """
    reports = list(keep_reports)
    if older_than is None and not reports:
        raise UsageError("cache prune needs --older-than AGE and/or --keep-report DIR (nothing is removed otherwise)")
    kept = set().union(*(report_entries(r) for r in reports)) if reports else set()
    now = time.time() if now is None else now
    result = PruneResult()
    for e in scan(cache.root):
        if (older_than is not None and now - e.last_used < older_than) or (reports and (e.kind, e.key) in kept):
            continue
        if e.state == MOVED:
            result.removed.append(e)
            if not dry_run:
                shutil.rmtree(e.path)
            continue
        lock = entry_lock(cache.lock_path(e.kind, e.key))
        if not lock.acquire(EXCLUSIVE, wait=False):
            result.busy.append(e)
            continue
        try:
            result.removed.append(e)
            if not dry_run:
                shutil.rmtree(e.path)
                if not (cache.path(e.kind, e.key).exists() or cache.partial(e.kind, e.key).exists()):
                    lock.path.unlink(missing_ok=True)  # while locked: a waiting process locks a new file
        finally:
            lock.release()
    return result
