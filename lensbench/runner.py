"""Run a plan: each step from the cache when its key is there, else computed and cached.

>>> from lensbench.runner import run_spec
>>> result = run_spec("specs/examples/nfw_detection.toml", preset="smoke")
>>> result.out_dir / "report.html"
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from lensbench.cache import Cache
from lensbench.errors import LensbenchError, StepError, UsageError
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


def default_out_dir(plan: Plan) -> Path:
    """``reports/<experiment>/<preset or 'default'>`` below the working directory."""
    spec = plan.specs[0]
    return Path("reports") / spec.experiment.name / (spec.preset or "default")


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


def run_plan(plan: Plan, *, cache: Cache, out_dir: Path, device: str = "cpu", force: tuple[str, ...] = (),
             progress: bool = True, echo=print) -> RunResult:
    """Run every step of ``plan`` in order; see :func:`run_spec`."""
    unknown = [f for f in force if f != "all" and not any(_matches(s, (f,)) for s in plan.steps)]
    if unknown:
        ids = ", ".join(s.id for s in plan.steps)
        raise UsageError(f"--force {unknown[0]}: no such step; steps: {ids} (or a kind: simulate, train, ...)")
    result = RunResult(plan=plan, out_dir=out_dir)
    started = time.perf_counter()
    folders: dict[str, Path] = {}
    for step in plan.steps:
        kind = STEP_KINDS.get(step.kind)
        cached = getattr(kind, "CACHED", True)
        if cached and _matches(step, force):
            cache.remove(step.kind, step.key)
        if cached and cache.has(step.kind, step.key):
            folders[step.id] = cache.path(step.kind, step.key)
            made = json.loads((folders[step.id] / "meta.json").read_text()).get("wall_time_s", 0.0)
            result.records.append(StepRecord(step.id, step.kind, step.key, "cached", 0.0, folders[step.id],
                                             folders[step.id] / "step.log", made))
            echo(f"  {step.id:<40} cached")
            continue
        work = cache.begin(step.kind, step.key) if cached else out_dir
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
        folder = cache.commit(step.kind, step.key, {"step": step.id, "kind": step.kind, "key": step.key,
                                                    "summary": summary, "wall_time_s": wall}) if cached else work
        folders[step.id] = folder
        result.records.append(StepRecord(step.id, step.kind, step.key, "ran", wall, folder, folder / "step.log", wall))
        echo(f"  {step.id:<40} done in {wall:.1f} s")
    result.wall_time_s = time.perf_counter() - started
    return result


def run_spec(path, preset: str | None = None, overrides=(), *, out: Path | None = None, cache: Path | None = None,
             device: str = "auto", force: tuple[str, ...] = (), progress: bool = True, echo=print) -> RunResult:
    """Validate the spec at ``path``, plan it and run it; returns where the report went.

    Parameters
    ----------
    path : str or Path
        The spec file.
    preset : str, optional
        A ``[presets.NAME]`` table to apply (``smoke``, ``quick``, ...).
    overrides : sequence of str
        ``KEY=VALUE`` overrides (``--set``), applied last.
    out : Path, optional
        Report folder; ``reports/<experiment>/<preset>`` by default.
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
    out_dir = Path(out) if out is not None else default_out_dir(plan)
    echo(f"lensbench: {specs[0].experiment.name} ({len(specs)} branch{'es' if len(specs) > 1 else ''}, "
         f"{len(plan.steps)} steps, device {resolved})")
    return run_plan(plan, cache=Cache(cache), out_dir=out_dir, device=resolved, force=tuple(force),
                    progress=progress, echo=echo)
