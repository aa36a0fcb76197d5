"""The run report: one document over every grid branch of a run, and its ``metrics.json``.

The report step (:mod:`lensbench.steps.report`) gathers plain data — a :class:`RunInfo`, one
:class:`~lensbench.report.branch.BranchData` per branch, and the sections that tasks, paper
analyses and applications contributed — and :func:`run_document` lays them out:

Summary (the scale banner, the headline table beside the paper's numbers: :mod:`lensbench.report.summary`),
Results, Training (the tasks' sections, in task order), the paper analyses' sections, Application to
real data, Simulated surveys, Example images, The paper, Provenance, Resolved spec.
"""

from __future__ import annotations

import datetime as dt
import platform
from dataclasses import dataclass, field

import numpy as np

from lensbench.report import figures as F
from lensbench.report.document import Code, Document, Figure, KeyValues, Paragraph, Section, Table
from lensbench.report.provenance import device_name, git_commit, package_versions
from lensbench.report.summary import headline_table, scale_blocks, setup_paragraphs, survey_tables
from lensbench.simulate.store import ShardedDataset

METRICS_SCHEMA = "lensbench.metrics/1"


@dataclass(frozen=True)
class StepTime:
    """How one step went in this run: ``cached`` or ``ran``, its wall time now and when computed (s),
    and its cache entry (``kind/key``; empty for a step that is not cached, such as the report)."""

    id: str
    status: str
    wall_time_s: float
    compute_time_s: float
    cache_entry: str = ""


@dataclass(frozen=True)
class RunInfo:
    """What a run report says about the run as a whole.

    Attributes
    ----------
    experiment, description, title : str
        ``[experiment] name`` and ``description``, ``[report] title`` (may be empty).
    spec_path : str
        The spec file as the user would type it.
    preset : str or None
        The preset applied, None for the paper's scale.
    seed : int
        ``[experiment] seed``.
    spec_hash : str
        sha256 of the resolved spec.
    citation, arxiv, notes : str
        ``[experiment.paper]``.
    paper_table : dict[str, dict[str, float]]
        ``[experiment.paper.table]``.
    resolved_toml : str
        The resolved spec, as written to ``spec.resolved.toml``.
    steps : list of StepTime
        Every step of the run, in order.
    device : str
        ``cpu`` or ``cuda``.
    """

    experiment: str
    description: str
    title: str
    spec_path: str
    preset: str | None
    seed: int
    spec_hash: str
    citation: str = ""
    arxiv: str = ""
    notes: str = ""
    paper_table: dict = field(default_factory=dict)
    resolved_toml: str = ""
    steps: tuple[StepTime, ...] = ()
    device: str = "cpu"


def run_metrics(run: RunInfo, branches: dict) -> dict:
    """The run's ``metrics.json`` (schema in :mod:`lensbench.report.schema`)."""
    wall = {s.id: round(s.wall_time_s, 3) for s in run.steps}
    return {
        "schema": METRICS_SCHEMA,
        "experiment": run.experiment,
        "preset": run.preset,
        "spec_hash": run.spec_hash,
        "seed": run.seed,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "branches": {name: b.results for name, b in branches.items()},
        "paper": {k: dict(v) for k, v in run.paper_table.items()},
        "provenance": {
            "git_commit": git_commit(),
            "packages": package_versions(),
            "device": device_name(run.device),
            "python": platform.python_version(),
            "wall_time_s": wall,
            "total_wall_time_s": round(sum(wall.values()), 3),
            "compute_time_s": {s.id: round(s.compute_time_s, 3) for s in run.steps},
            "cache_entries": {s.id: s.cache_entry for s in run.steps if s.cache_entry},
        },
    }


def run_document(run: RunInfo, branches: dict, metrics: dict, task_sections: list[dict[str, list]],
                 extra_sections: list[Section] = (), *, paper_value) -> Document:
    """The run report.

    Parameters
    ----------
    run : RunInfo
        The run as a whole.
    branches : dict[str, BranchData]
        Every branch by name.
    metrics : dict
        The run's ``metrics.json`` (:func:`run_metrics`).
    task_sections : list of dict
        Each task's ``{section title: blocks}``; blocks under the same title share a section.
    extra_sections : list of Section
        Paper analyses and applications to real data, after the tasks' sections.
    paper_value : callable
        ``paper_value(branch, key) -> float or None``, the paper's value of a metric
        (:meth:`lensbench.tasks.ReportContext.paper_value`).
    """
    sections = [Section("Summary", _summary(run, branches, paper_value))]
    merged: dict[str, list] = {}
    for contribution in task_sections:
        for title, blocks in contribution.items():
            merged.setdefault(title, []).extend(blocks)
    sections += [Section(title, blocks) for title, blocks in merged.items() if blocks]
    sections += list(extra_sections)
    surveys = survey_tables(branches)
    if surveys:
        sections.append(Section("Simulated surveys", surveys))
    examples = example_blocks(branches)
    if examples:
        sections.append(Section("Example images", examples))
    if run.citation or run.notes:
        blocks = [Paragraph(run.citation + (f" (arXiv:{run.arxiv})" if run.arxiv else ""))]
        if run.notes:
            blocks.append(Paragraph(run.notes))
        blocks += setup_paragraphs(branches)
        sections.append(Section("The paper", blocks))
    sections.append(_provenance(run, metrics))
    sections.append(Section("Resolved spec", [Code(run.resolved_toml, "toml")]))
    return Document(run.title or f"lensbench: {run.experiment}", sections)


def _summary(run: RunInfo, branches: dict, paper_value) -> list:
    rows = tuple((name, b.simulation_kind, b.task, b.architecture, b.results.get("n_test"))
                 for name, b in branches.items())
    banner, *scale_details = scale_blocks(run.preset, branches)
    return [banner,
            Paragraph(run.description or run.experiment),
            headline_table(branches, paper_value),
            *setup_paragraphs(branches),
            *scale_details,
            Table(("branch", "simulation", "task", "architecture", "test examples"), rows,
                  f"What each of the {len(branches)} branch(es) of the grid simulates, learns and is tested on.")]


def _provenance(run: RunInfo, metrics: dict) -> Section:
    prov = metrics["provenance"]
    wall_rows = tuple((s.id, s.status, s.wall_time_s, s.compute_time_s) for s in run.steps)
    return Section("Provenance", [
        KeyValues({"spec": run.spec_path, "preset": run.preset or "none", "spec sha256": run.spec_hash,
                   "seed": run.seed, "git commit": prov["git_commit"] or "unknown", "device": prov["device"],
                   "python": prov["python"], "created": metrics["created"],
                   "total wall time (s)": prov["total_wall_time_s"]}),
        Table(("package", "version"), tuple(prov["packages"].items()), "Package versions."),
        Table(("step", "status", "wall time in this run (s)", "compute time (s)"), wall_rows,
              "Wall time of every step in this run ('cached' steps were reused from the cache) and the time "
              "each step took when it was computed."),
    ])


def example_blocks(branches: dict) -> list:
    """Example test images of every distinct test set (one figure per simulation)."""
    blocks, seen = [], set()
    for name, b in branches.items():
        per_class = b.examples_per_class
        folder = b.outputs.get("simulate:test")
        if not per_class or folder is None or folder in seen:
            continue
        seen.add(folder)
        test = ShardedDataset(folder)
        labels = test.labels
        if test.class_names:
            index = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(test.class_names))])
            fig = F.example_images(test.images(index), labels[index], test.class_names, per_class=per_class,
                                   channels=b.channels)
        else:
            index = np.arange(min(len(test), 2 * per_class))
            fig = F.example_images(test.images(index), np.zeros(len(index), dtype=int), ["test"],
                                   per_class=len(index), channels=b.channels)
        label = "" if len(branches) == 1 else f" ({name})"
        blocks.append(Figure.from_matplotlib(f"examples-{len(seen)}", fig,
                                             f"Simulated test images{label}: the first of each class, one colour scale per channel "
                                             "spanning its 0.5th to 99.5th percentiles (values beyond in the end colours)."))
    return blocks
