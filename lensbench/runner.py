"""Run a plan: each step from the cache when its key is there, else computed and cached.

>>> from lensbench.runner import run_spec
>>> result = run_spec("specs/examples/nfw_detection.toml", preset="smoke")
>>> result.out_dir / "report.html"
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from lensbench.cache import Cache, Claim
from lensbench.errors import LensbenchError, StepError, UsageError
from lensbench.estimate import preflight
from lensbench.io.paths import safe_component
from lensbench.plan import Plan, Step, make_plan
from lensbench.spec import load_spec
from lensbench.steps import STEP_KINDS, StepContext


@dataclass
class StepRecord:
    """How one step went: ``cached`` (reused) or ``ran``, its wall time in this run, the time it
    took when it was computed (the same for a step that ran), its folder and log."""

    id: str
    kind: str
    key: str
    status: str
    wall_time_s: float
    folder: Path | None
    log: Path | None
    compute_time_s: float = 0.0


@dataclass
class RunResult:
    """The outcome of :func:`run_spec`."""

    plan: Plan
    out_dir: Path
    records: list[StepRecord] = field(default_factory=list)
    wall_time_s: float = 0.0


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is usable, else ``cpu``; ``cuda`` without a GPU is an error."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda: no CUDA device is available on this machine (use --device cpu or auto)")
    return requested


#: Hex digits of the overrides' sha256 in the name of a ``--set`` run's default report folder.
OVERRIDES_HASH_LENGTH = 8
#: The file that marks a folder as a run's report (and holds the spec hash that wrote it).
REPORT_MARKER = "metrics.json"


def default_out_dir(plan: Plan, overrides=()) -> Path:
    """``reports/<experiment>/<preset or 'default'>`` below the working directory; a run with
    ``--set`` overrides gets its own folder, ``<preset or 'default'>-<hash>`` with ``hash`` the
    first :data:`OVERRIDES_HASH_LENGTH` hex digits of the sha256 of the overrides in order."""
    spec = plan.specs[0]
    name = spec.preset or "default"
    if overrides:
        name += "-" + hashlib.sha256("\n".join(overrides).encode("utf-8")).hexdigest()[:OVERRIDES_HASH_LENGTH]
    return Path("reports") / safe_component(spec.experiment.name) / safe_component(name)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _report_folder_above(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that holds a run's report, else None."""
    return next((folder for folder in (path, *path.parents) if (folder / REPORT_MARKER).is_file()), None)


def _check_writable(flag: str, path: Path) -> None:
    """UsageError unless ``path`` is a folder, or can be made one, that this user may write in."""
    existing = next(folder for folder in (path, *path.parents) if folder.exists())
    if not existing.is_dir():
        what = "is a file" if existing == path else f"lies below the file {existing}"
        raise UsageError(f"{flag} {path}: {what}, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write in {existing} (permission denied)")


def check_run_folders(out_dir: Path, cache_root: Path, spec_hash: str, *, explicit_out: bool) -> None:
    """Refuse, before any step runs, a report or cache folder the run could not or must not write.

    Parameters
    ----------
    out_dir : Path
        The report folder.
    cache_root : Path
        The cache folder.
    spec_hash : str
        sha256 of the resolved spec of this run (:meth:`lensbench.spec.Spec.hash`).
    explicit_out : bool
        Whether the user named ``out_dir`` (``--out``). Only then may the run replace the
        report of a different spec; the default folder is never overwritten by another spec.

    Raises
    ------
    UsageError
        (exit 2) When either folder is a file, lies below a file or cannot be written; when the
        report folder lies inside the cache or inside another run's report folder, or the cache
        inside a report folder; when the report folder holds another spec's report and was not
        named with ``--out``.
    """
    _check_writable("--out", out_dir)
    _check_writable("--cache", cache_root)
    out, cache = out_dir.resolve(), cache_root.resolve()
    if _inside(out, cache):
        raise UsageError(f"--out {out_dir}: inside the cache {cache_root}; choose a report folder outside it")
    report_above = _report_folder_above(cache)
    if _inside(cache, out) or report_above is not None:
        raise UsageError(f"--cache {cache_root}: inside the report folder {report_above or out_dir}; "
                         "choose a cache folder outside it")
    report_above = _report_folder_above(out.parent)
    if report_above is not None:
        raise UsageError(f"--out {out_dir}: inside the report folder {report_above} of another run")
    written_by = _spec_hash_of_report(out / REPORT_MARKER)
    if written_by not in (None, spec_hash) and not explicit_out:
        raise UsageError(f"{out_dir} holds the report of another spec (sha256 {written_by[:12]}, this run "
                         f"{spec_hash[:12]}); pass --out {out_dir} to replace it, or --out FOLDER to keep both")


def _spec_hash_of_report(marker: Path) -> str | None:
    """The spec hash recorded in a report's metrics.json; '' when it cannot be read; None without one."""
    if not marker.is_file():
        return None
    try:
        return str(json.loads(marker.read_text(encoding="utf-8")).get("spec_hash", ""))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return ""


def _step_logger(step: Step, path: Path) -> tuple[logging.Logger, logging.Handler]:
    logger = logging.getLogger(f"lensbench.step.{step.id}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger, handler


def _matches(step: Step, names: tuple[str, ...]) -> bool:
    return any(name in ("all", step.id, step.kind) for name in names)


def _claim(cache: Cache, step: Step, force: tuple[str, ...], echo) -> Claim:
    """Hold ``step``'s cache entry for the run (:meth:`lensbench.cache.Cache.claim`): reused when
    intact, else held exclusively to compute; says why the run waits or recomputes."""
    return cache.claim(step.kind, step.key, force=_matches(step, force),
                       notify=lambda message: echo(f"  {step.id:<40} {message}"))


def _entry_meta(plan: Plan, step: Step, summary: dict, wall: float) -> dict:
    """What a committed entry's ``meta.json`` says besides its files: the step, the run's
    experiment and spec hash (for ``lensbench cache info``), its summary and compute time (s)."""
    return {"step": step.id, "kind": step.kind, "key": step.key, "experiment": plan.specs[0].experiment.name,
            "spec_hash": plan.specs[0].hash(), "branches": step.branches, "summary": summary, "wall_time_s": wall}


def run_plan(plan: Plan, *, cache: Cache, out_dir: Path, device: str = "cpu", force: tuple[str, ...] = (),
             progress: bool = True, echo=print) -> RunResult:
    """Run every step of ``plan`` in order; see :func:`run_spec`."""
    unknown = [f for f in force if f != "all" and not any(_matches(s, (f,)) for s in plan.steps)]
    if unknown:
        ids = ", ".join(s.id for s in plan.steps)
        raise UsageError(f"--force {unknown[0]}: no such step; steps: {ids} (or a kind: simulate, train, ...)")
    result = RunResult(plan=plan, out_dir=out_dir)
    started = time.perf_counter()
    try:
        _run_steps(plan, cache, out_dir, device, force, progress, echo, result)
    finally:  # also when a step fails: the entries this run holds are free for the next
        cache.release()
    result.wall_time_s = time.perf_counter() - started
    return result


def _run_steps(plan: Plan, cache: Cache, out_dir: Path, device: str, force: tuple[str, ...], progress: bool, echo,
               result: RunResult) -> None:
    """Each step from the cache or computed and committed, its record appended to ``result``."""
    folders: dict[str, Path] = {}
    for step in plan.steps:
        kind = STEP_KINDS.get(step.kind)
        cached = getattr(kind, "CACHED", True)
        claim = _claim(cache, step, force, echo) if cached else None
        if claim is not None and claim.path is not None:
            folders[step.id] = claim.path
            made = claim.meta.get("wall_time_s", 0.0)
            result.records.append(StepRecord(step.id, step.kind, step.key, "cached", 0.0, folders[step.id],
                                             folders[step.id] / "step.log", made))
            echo(f"  {step.id:<40} cached")
            continue
        work = claim.begin() if cached else out_dir
        work.mkdir(parents=True, exist_ok=True)
        log_path = work / "step.log"
        logger, handler = _step_logger(step, log_path)
        ctx = StepContext(step_id=step.id, params=step.params, work=work,
                          inputs={role: folders[i] for role, i in step.inputs.items()}, log=logger,
                          progress=progress, device=device,
                          extra={"plan": plan, "records": result.records, "out_dir": out_dir, "cache": cache,
                                 "execution": plan.specs[0].execution})
        echo(f"  {step.id:<40} running")
        t0 = time.perf_counter()
        try:
            summary = kind.run(ctx)
        except LensbenchError:
            raise
        except Exception as err:  # any failure inside a step becomes a StepError naming it
            logger.error("step failed:\n%s", traceback.format_exc())
            raise StepError(step.id, f"{type(err).__name__}: {err}", log=log_path) from err
        finally:
            logger.removeHandler(handler)
            handler.close()
        wall = time.perf_counter() - t0
        folder = claim.commit(_entry_meta(plan, step, summary, wall)) if cached else work
        folders[step.id] = folder
        result.records.append(StepRecord(step.id, step.kind, step.key, "ran", wall, folder, folder / "step.log", wall))
        echo(f"  {step.id:<40} done in {wall:.1f} s")


def run_spec(path, preset: str | None = None, overrides=(), *, out: Path | None = None, cache: Path | None = None,
             device: str = "auto", force: tuple[str, ...] = (), progress: bool = True, echo=print,
             yes: bool = False, ask=None) -> RunResult:
    """Validate the spec at ``path``, plan it and run it; returns where the report went.

    Before any step runs, :func:`lensbench.estimate.preflight` refuses a plan the machine cannot
    hold and asks (``ask``, unless ``yes``) before one that would take hours on a CPU.

    Parameters
    ----------
    path : str or Path
        The spec file.
    preset : str, optional
        A ``[presets.NAME]`` table to apply (``smoke``, ``quick``, ...).
    overrides : sequence of str
        ``KEY=VALUE`` overrides (``--set``), applied last.
    out : Path, optional
        Report folder; by default :func:`default_out_dir` (``reports/<experiment>/<preset>``, with
        overrides ``<preset>-<hash of the overrides>``), which is never overwritten by the
        report of a different spec (:func:`check_run_folders`).
    cache : Path, optional
        Cache folder; see :func:`lensbench.cache.default_root`.
    device : {"auto", "cpu", "cuda"}
        Where training and inference run (``auto``: the spec's ``training.device``, then a GPU
        if there is one).
    force : sequence of str
        Step ids or kinds to recompute even when cached (``all`` for every step).
    """
    specs = load_spec(path, preset=preset, overrides=overrides)
    plan = make_plan(specs)
    wanted = device if device != "auto" else specs[0].training.device
    resolved = resolve_device(wanted)
    out_dir = Path(out) if out is not None else default_out_dir(plan, overrides)
    store = Cache(cache)
    check_run_folders(out_dir, store.root, specs[0].hash(), explicit_out=out is not None)
    preflight(plan, store, resolved, yes=yes, ask=ask, echo=echo)
    echo(f"lensbench: {specs[0].experiment.name} ({len(specs)} branch{'es' if len(specs) > 1 else ''}, "
         f"{len(plan.steps)} steps, device {resolved})")
    return run_plan(plan, cache=store, out_dir=out_dir, device=resolved, force=tuple(force),
                    progress=progress, echo=echo)
