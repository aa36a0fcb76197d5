"""The report step: the adapter between a run's specs and step folders and the run report.

It turns every grid branch into plain :class:`~lensbench.report.branch.BranchData`, asks each
branch's task for its report sections, the paper analysis named by ``[experiment.paper]
analysis`` for its own, puts each application to real data beside them, and writes report.md,
report.html, metrics.json and spec.resolved.toml (:mod:`lensbench.report.run`). It always runs
(it is cheap) and writes into the run's output folder, never into the cache.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from lensbench.io.atomic import write_atomic
from lensbench.models.saved import MODEL_FILES
from lensbench.papers import PAPER_ANALYSES
from lensbench.report.apply import application_blocks
from lensbench.report.branch import BranchData
from lensbench.report.document import Section
from lensbench.report.run import RunInfo, StepTime, run_document, run_metrics
from lensbench.report.write import write_report
from lensbench.spec.dump import dumps
from lensbench.spec.load import display_path
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.tasks import TASKS, ReportContext


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
        branches = {spec.branch_name: branch_data(spec, plan.roles[spec.branch_name], ctx.inputs)
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
        write_report(run_document(run, branches, metrics, task_sections, extra), out_dir, metrics,
                     {"spec.resolved.toml": run.resolved_toml})
        _link_models(branches, out_dir)
        ctx.log.info("report written to %s", out_dir)
        return {"out_dir": str(out_dir)}


def branch_data(spec, roles: dict[str, str], inputs: dict[str, Path]) -> BranchData:
    """Plain data of one branch: its spec's values and the folders of its steps by role."""
    outputs = {role: inputs[step_id] for role, step_id in roles.items() if step_id in inputs}
    results = _read_json(outputs.get("evaluate"), "results.json")
    history = _read_json(outputs.get("train"), "history.json")
    if results and history:
        results["curves"]["loss"] = {k: history[k] for k in ("train_loss", "val_loss", "lr", "epoch_seconds")
                                     if k in history}
    return BranchData(name=spec.branch_name, task=spec.experiment.task, simulation_kind=spec.simulation_kind,
                      simulation=spec.simulation, survey=spec.survey, survey_scenario=spec.survey_scenario,
                      architecture=spec.model.architecture, seed=spec.experiment.seed,
                      examples_per_class=spec.report.examples_per_class, outputs=outputs, results=results,
                      history=history)


def run_info(specs, records, device: str) -> RunInfo:
    """The run as a whole: the experiment, its paper, the resolved spec and every step's time."""
    first = specs[0]
    exp = first.experiment
    spec_hash = first.hash()
    resolved = dumps(first.document, header=f"lensbench resolved spec of {display_path(first.source)}\n"
                     f"preset: {first.preset or 'none'}; sha256: {spec_hash}")
    return RunInfo(experiment=exp.name, description=exp.description, title=first.report.title,
                   spec_path=display_path(first.source), preset=first.preset, seed=exp.seed, spec_hash=spec_hash,
                   citation=exp.paper.citation, arxiv=exp.paper.arxiv, notes=exp.paper.notes,
                   paper_table={k: dict(v) for k, v in exp.paper.table.items()}, resolved_toml=resolved,
                   steps=tuple(StepTime(r.id, r.status, r.wall_time_s, r.compute_time_s) for r in records),
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
    a grid), so ``lensbench apply --model REPORT_DIR`` works from the report folder alone."""
    for name, b in branches.items():
        if "train" not in b.outputs:
            continue
        target = out_dir / "model" if len(branches) == 1 else out_dir / "models" / name
        for file in MODEL_FILES:
            link_or_copy(b.outputs["train"] / file, target / file)


def _application_sections(branches: dict, out_dir: Path) -> list[Section]:
    """Each branch's application to real data: its report copied beside the run's, and a summary."""
    sections = []
    for name, b in branches.items():
        folder = b.outputs.get("apply")
        if folder is None:
            continue
        target = out_dir / ("apply" if len(branches) == 1 else f"apply-{name}")
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file.name not in ("meta.json", "step.log"):
                link_or_copy(file, target / file.relative_to(folder))
        summary = json.loads((folder / "apply.json").read_text())
        title = f"Application to real data ({name})" if len(branches) > 1 else "Application to real data"
        sections.append(Section(title, application_blocks(summary, folder, name, target.name)))
    return sections
