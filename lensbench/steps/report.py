"""The report step: the adapter between a run's specs and step folders and the run report.

It turns every grid branch into plain :class:`~lensbench.report.branch.BranchData`, asks each
branch's task for its report sections, the paper analysis named by ``[experiment.paper]
analysis`` for its own, puts each application to real data beside them, and writes report.md,
report.html, metrics.json and spec.resolved.toml (:mod:`lensbench.report.run`). It always runs
(it is cheap) and writes into the run's output folder, never into the cache.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

from lensbench.errors import SpecError
from lensbench.io.atomic import write_atomic
from lensbench.io.paths import inside, safe_component
from lensbench.models.saved import MODEL_FILES
from lensbench.papers import PAPER_ANALYSES
from lensbench.report.apply import application_blocks
from lensbench.report.branch import BranchData, Scale
from lensbench.report.document import Section
from lensbench.report.run import RunInfo, StepTime, run_document, run_metrics
from lensbench.report.write import write_report
from lensbench.simulate.register import SIMULATION_KINDS
from lensbench.spec import load_raw, load_spec
from lensbench.spec.dump import dumps, resolved_surveys
from lensbench.spec.load import display_path, flatten
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.tasks import TASKS, ReportContext

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@STEP_KINDS.register("report")
class ReportStep:
    """Write the run's report from the outputs of every branch."""

    VERSION = 1
    CACHED = False

    @staticmethod
    def params(specs) -> dict:
        return {"branches": [s.branch_name for s in specs]}

    @staticmethod
    def run(ctx: StepContext) -> dict:
        plan, out_dir = ctx.extra["plan"], ctx.extra["out_dir"]
        first = plan.specs[0]
        paper_scale, differences = paper_scales(first), setup_differences(plan.specs)
        branches = {spec.branch_name: branch_data(spec, plan.roles[spec.branch_name], ctx.inputs,
                                                  paper_scale.get(spec.branch_name),
                                                  differences.get(spec.branch_name, ()))
                    for spec in plan.specs}
        run = run_info(plan.specs, ctx.extra["records"], ctx.device)
        metrics = run_metrics(run, branches)
        context = ReportContext(paper=run.paper_table, device=ctx.device)
        task_sections = [TASKS.get(name).report({n: b for n, b in branches.items() if b.task == name}, context)
                         for name in TASKS if any(b.task == name for b in branches.values())]
        extra = []
        if first.experiment.paper.analysis:
            extra += PAPER_ANALYSES.get(first.experiment.paper.analysis)(branches, run.paper_table, ctx.device)
        extra += _application_sections(branches, out_dir)
        write_report(run_document(run, branches, metrics, task_sections, extra, paper_value=context.paper_value),
                     out_dir, metrics,
                     {"spec.resolved.toml": run.resolved_toml})
        _link_models(branches, out_dir)
        ctx.log.info("report written to %s", out_dir)
        return {"out_dir": str(out_dir)}


def branch_data(spec, roles: dict[str, str], inputs: dict[str, Path], paper_scale: Scale | None = None,
                paper_setup_differences: tuple[str, ...] = ()) -> BranchData:
    """Plain data of one branch: its spec's values, the folders of its steps by role, and how it
    stands against the paper (:func:`paper_scales`, :func:`setup_differences`)."""
    outputs = {role: inputs[step_id] for role, step_id in roles.items() if step_id in inputs}
    results = _read_json(outputs.get("evaluate"), "results.json")
    for role in TASKS.get(spec.experiment.task).metric_roles:
        extra = _read_json(outputs.get(role), "results.json").get("metrics", {})
        if results:
            results["metrics"].update({k: v for k, v in extra.items() if k not in results["metrics"]})
    history = _read_json(outputs.get("train"), "history.json")
    channels = SIMULATION_KINDS.get(spec.simulation_kind).channels
    if results and history:
        results["curves"]["loss"] = {k: history[k] for k in ("train_loss", "val_loss", "lr", "epoch_seconds")
                                     if k in history}
    return BranchData(name=spec.branch_name, task=spec.experiment.task, simulation_kind=spec.simulation_kind,
                      simulation=spec.simulation, survey=spec.survey, survey_scenario=spec.survey_scenario,
                      architecture=spec.model.architecture if TASKS.get(spec.experiment.task).trains_model else "—",
                      seed=spec.experiment.seed,
                      examples_per_class=spec.report.examples_per_class, outputs=outputs, results=results,
                      history=history, training=spec.training, scale=scale_of(spec), paper_scale=paper_scale,
                      paper_setup_differences=paper_setup_differences,
                      channels=tuple(channels(spec.simulation)) if channels else ())


def scale_of(spec) -> Scale | str:
    """How many images (per class for a task labelled by classes) and epochs ``spec`` asks for,
    or the task's own description of its size (:attr:`lensbench.tasks.Task.scale`)."""
    task = TASKS.get(spec.experiment.task)
    if task.scale is not None:
        return task.scale(spec)
    data = spec.data
    return Scale(data.n_train, data.n_val, data.n_test, task.labels == "classes", spec.training.epochs)


def paper_scales(first) -> dict[str, Scale | str]:
    """Each branch's scale in the spec file loaded alone, without preset or ``--set`` (the paper's
    scale); empty when the file no longer loads."""
    try:
        return {spec.branch_name: scale_of(spec) for spec in load_spec(first.source)}
    except SpecError:
        return {}


def paper_spec_file(source) -> Path:
    """The file that states the paper's numbers: ``source`` or the nearest base of its ``extends``
    chain whose own TOML has an ``[experiment.paper.table]``."""
    path = Path(source).resolve()
    while True:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        if data.get("experiment", {}).get("paper", {}).get("table") or not isinstance(data.get("extends"), str):
            return path
        path = (path.parent / data["extends"]).resolve()


def setup_differences(specs) -> dict[str, tuple[str, ...]]:
    """Branch name -> the ``simulation.*``/``survey.*`` keys whose resolved values differ from those
    of the same branch (or the only one) of the file that states the paper's table, loaded alone
    with the run's preset where it has it: a spec that ``extends`` a paper's spec, or ``--set``,
    and changes its physics. Empty for branches with the paper's setup or without a counterpart."""
    first = specs[0]
    if not first.experiment.paper.table:
        return {}
    path = paper_spec_file(first.source)
    try:
        preset = first.preset if first.preset in load_raw(path).presets else None
        reference = {spec.branch_name: spec for spec in load_spec(path, preset=preset)}
    except SpecError as err:
        reason = f"not checked: {display_path(path)} does not load alone ({len(err.issues)} problem(s))"
        return {spec.branch_name: (reason,) for spec in specs}
    out = {}
    for spec in specs:
        paper = reference.get(spec.branch_name) or (next(iter(reference.values())) if len(reference) == 1 else None)
        if paper is not None:
            ours, theirs = _physics(spec), _physics(paper)
            out[spec.branch_name] = tuple(key for key in sorted(ours.keys() | theirs.keys())
                                          if ours.get(key) != theirs.get(key))
    return out


def _physics(spec) -> dict:
    """The resolved simulation and survey of ``spec`` as flat dotted keys."""
    return {"simulation.kind": spec.simulation_kind,
            **flatten({"simulation": dataclasses.asdict(spec.simulation), "survey": dataclasses.asdict(spec.survey)})}


def run_info(specs, records, device: str) -> RunInfo:
    """The run as a whole: the experiment, its paper, the resolved spec and every step's time."""
    first = specs[0]
    exp = first.experiment
    spec_hash = first.hash()
    resolved = dumps(first.document, header=f"lensbench resolved spec of {display_path(first.source)}\n"
                     f"preset: {first.preset or 'none'}; sha256: {spec_hash}") + resolved_surveys(specs)
    return RunInfo(experiment=exp.name, description=exp.description, title=first.report.title,
                   spec_path=display_path(first.source), preset=first.preset, seed=exp.seed, spec_hash=spec_hash,
                   citation=exp.paper.citation, arxiv=exp.paper.arxiv, notes=exp.paper.notes,
                   paper_table={k: dict(v) for k, v in exp.paper.table.items()}, resolved_toml=resolved,
                   steps=tuple(StepTime(r.id, r.status, r.wall_time_s, r.compute_time_s, f"{r.kind}/{r.key}")
                               for r in records),  # the report's own record comes after it
                   device=device)


def _read_json(folder: Path | None, name: str) -> dict:
    return json.loads((folder / name).read_text()) if folder is not None else {}


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source`` (cached files never change, and a VGG-11 is 0.5 GB),
    or an atomic copy where a link cannot be made (another file system)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.link")
    temporary.unlink(missing_ok=True)
    try:
        os.link(source, temporary)
        os.replace(temporary, target)
    except OSError:
        write_atomic(target, source.read_bytes())


def _link_models(branches: dict, out_dir: Path) -> None:
    """Put each branch's trained model beside the report (``model/``, or ``models/<branch>/`` for
    a grid), so ``lensbench apply --model REPORT_DIR`` works from the report folder alone; a
    likelihood-ratio model gets its histogram calibration (``calibration.npz``) beside it."""
    for name, b in branches.items():
        if "train" not in b.outputs:
            continue
        target = out_dir / "model" if len(branches) == 1 else inside(out_dir / "models", safe_component(name))
        for file in MODEL_FILES:
            link_or_copy(b.outputs["train"] / file, target / file)
        calibrate = b.outputs.get("calibrate")
        if calibrate is not None and (calibrate / "calibration.npz").is_file():
            link_or_copy(calibrate / "calibration.npz", target / "calibration.npz")


def _application_sections(branches: dict, out_dir: Path) -> list[Section]:
    """Each branch's application to real data: its report copied beside the run's, and a summary."""
    sections = []
    for name, b in branches.items():
        folder = b.outputs.get("apply")
        if folder is None:
            continue
        target = out_dir / "apply" if len(branches) == 1 else inside(out_dir, safe_component(f"apply-{name}"))
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file.name not in ("meta.json", "step.log"):
                link_or_copy(file, target / file.relative_to(folder))
        summary = json.loads((folder / "apply.json").read_text())
        title = f"Application to real data ({name})" if len(branches) > 1 else "Application to real data"
        sections.append(Section(title, application_blocks(summary, folder, name, target.name)))
    return sections
