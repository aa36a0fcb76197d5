"""The top of a run report: the scale banner, the headline table beside the paper's numbers, and the
simulated surveys.

* :func:`scale_blocks`: the preset, the images and epochs of each branch against the paper's scale
  (the spec file without preset or ``--set``), and that a reduced run is not comparable to the paper.
* :func:`headline_table`: one row per branch, its headline metric beside the paper's and the
  difference, in at most 7 columns so it fits a page; the complete metric tables follow in the
  tasks' Results section.
* :func:`survey_tables`: the resolved values of every distinct survey (a named scenario included).

Everything reads plain :class:`~lensbench.report.branch.BranchData`.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Callable

import numpy as np

from lensbench.metrics import headline_metrics, metric_label
from lensbench.report.document import Notice, Paragraph, Table
from lensbench.spec.fielddoc import meaning, unit_of

#: Report labels of metrics that have none in the metric registry (the regression metrics).
PLAIN_LABELS = {"r2": "R²", "bias": "bias"}

PaperValue = Callable[[str, str], "float | None"]


def paper_column(branches: dict) -> str:
    """The header of a column of the paper's values: ``paper``, or ``paper, for a different setup``
    when a branch's simulation or survey differs from the one the paper's numbers were stated for."""
    return "paper, for a different setup" if any(b.paper_setup_differences for b in branches.values()) else "paper"


def setup_paragraphs(branches: dict) -> list:
    """A sentence naming the branches whose setup differs from the paper's, and the keys (none when
    every branch has the paper's setup)."""
    differing = {name: b.paper_setup_differences for name, b in branches.items() if b.paper_setup_differences}
    if not differing:
        return []
    keys = sorted({key for found in differing.values() for key in found})
    shown = ", ".join(keys[:8]) + (f" and {len(keys) - 8} more" if len(keys) > 8 else "")
    return [Notice(f"The paper's numbers are for a different setup: {len(differing)} of {len(branches)} branch(es) "
                   f"({', '.join(differing)}) simulate other physics than the spec that states the paper's table "
                   f"(differing: {shown}). The paper's values are shown for orientation only.")]


# ----- scale ----------------------------------------------------------------------------------


def scale_blocks(preset: str | None, branches: dict) -> list:
    """The scale banner: a :class:`Notice` for a run that is not at the paper's scale (a preset or
    ``--set`` sizes), a :class:`Paragraph` for one that is; then, when branches differ, a table of
    each group's scale (the run report shows it below the headline table)."""
    groups: dict[tuple, list[str]] = {}
    for name, b in branches.items():
        groups.setdefault((b.scale, b.paper_scale), []).append(name)
    reduced = any(ours != paper for ours, paper in groups)
    where = "the paper's scale is the spec file's without a preset or --set"
    if not reduced:
        lead = f"Preset '{preset}', at the paper's scale" if preset else "At the paper's scale (no preset)"
        if len(groups) > 1:
            return [Paragraph(f"{lead}; each branch's images and epochs are in the table below the headline table."),
                    _scale_table(groups)]
        (ours, _), = groups
        return [Paragraph(f"{lead}: {_scale_text(ours)}.")]
    lead = (f"Preset '{preset}': a reduced run; its numbers are not comparable to the paper's."
            if preset else "Not at the paper's scale (--set changed the sizes): its numbers are not comparable to "
            "the paper's.")
    run_paper = "Run without --preset for the paper's scale (meant for a GPU)."
    if len(groups) == 1:
        (ours, paper), = groups
        return [Notice(f"{lead} It used {_scale_text(ours)}, against {_scale_text(paper)} at the paper's scale; "
                       f"{where}. {run_paper}")]
    return [Notice(f"{lead} Each branch's images and epochs against the paper's are in the table below the "
                   f"headline table; {where}. {run_paper}"),
            _scale_table(groups)]


def _scale_table(groups: dict) -> Table:
    if any(isinstance(scale, str) for pair in groups for scale in pair):  # a task's own description
        rows = tuple((", ".join(names), _scale_text(ours), _scale_text(paper)) for (ours, paper), names in groups.items())
        return Table(("branches", "this run", "the paper's scale"), rows,
                     "This run's scale against the paper's, per group of branches.")
    rows = tuple((", ".join(names), _images(ours), _epochs(ours), _images(paper), _epochs(paper))
                 for (ours, paper), names in groups.items())
    return Table(("branches", "images (train / val / test)", "epochs", "paper's images", "paper's epochs"), rows,
                 "This run's scale against the paper's, per group of branches.")


def _scale_text(scale) -> str:
    if scale is None:
        return "an unknown scale (the branch is not in the spec without preset)"
    if isinstance(scale, str):
        return scale
    return f"{scale.sizes()} images {scale.counted} (train / val / test) and at most {scale.epochs} epoch(s)"


def _images(scale) -> str | None:
    return scale.images() if scale is not None else None


def _epochs(scale) -> int | None:
    return scale.epochs if scale is not None else None


# ----- headline -------------------------------------------------------------------------------


def headline_table(branches: dict, paper_value: PaperValue) -> Table:
    """One row per branch: its headline metric, ours beside the paper's, and the difference.

    The headline metric is the first of the branch's metrics (in :func:`lensbench.metrics.headline_metrics`
    order, then in the order of ``results["metrics"]``, per-parameter ones per parameter) that the
    paper gives; without one, our first single-number metric, else the mean R² over the
    regressed parameters.

    Parameters
    ----------
    branches : dict[str, BranchData]
        Every branch by name.
    paper_value : callable
        ``paper_value(branch, key) -> float or None``
        (:meth:`lensbench.tasks.ReportContext.paper_value`).
    """
    rows = []
    for name, b in branches.items():
        label, ours, paper = _headline(name, b.results, paper_value)
        difference = ours - paper if ours is not None and paper is not None else None
        rows.append((name, b.task, label, ours, paper, difference, b.results.get("n_test")))
    column = paper_column(branches)
    return Table(("branch", "task", "headline metric", "lensbench", column, "lensbench − paper", "test examples"),
                 tuple(rows),
                 "Each branch's headline metric beside the paper's: the first of its metrics the paper gives, else "
                 "ours alone (a dash in the paper's column); lensbench − paper is the difference. Every metric "
                 "follows in Results.")


def _headline(branch: str, results: dict, paper_value: PaperValue) -> tuple:
    """(label, ours, paper) of a branch's headline metric; (None, None, None) without metrics."""
    metrics = results.get("metrics", {})
    binary = len(results.get("class_names", ())) == 2
    candidates = list(_candidates(metrics, binary))
    for key, label, value in candidates:
        paper = paper_value(branch, key)
        if paper is not None:
            return label, value, paper
    whole = [(label, value) for key, label, value in candidates if key in metrics]
    if whole:
        return (*whole[0], None)
    r2 = metrics.get("r2")
    if isinstance(r2, dict) and r2:
        return f"R² (mean of {len(r2)} parameters)", float(np.mean(list(r2.values()))), None
    return (candidates[0][1], candidates[0][2], None) if candidates else (None, None, None)


def _candidates(metrics: dict, binary: bool):
    """(paper key, label, value) of every single number in ``metrics``; a per-parameter (or
    per-class) metric gives ``<metric>_<name>`` keys."""
    preferred = [key for key in headline_metrics() if key in metrics]
    for key in preferred + [key for key in metrics if key not in preferred]:
        value = metrics[key]
        if _is_number(value):
            yield key, _label(key, binary), float(value)
        elif isinstance(value, dict):
            for part, number in value.items():
                if _is_number(number):
                    yield f"{key}_{part}", f"{_label(key, binary)} of {part}", float(number)


def _label(key: str, binary: bool) -> str:
    try:
        return metric_label(key, binary=binary)
    except ValueError:  # a registered metric without a label: MSE, MAE, RMSE
        return PLAIN_LABELS.get(key, key.upper())
    except KeyError:  # a task's own number, e.g. "f sub low calibrated n5"
        return PLAIN_LABELS.get(key, key.replace("_", " "))


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# ----- surveys --------------------------------------------------------------------------------


def survey_tables(branches: dict) -> list[Table]:
    """The resolved values of each distinct simulated survey: one table per kind of survey, one
    row per key with its unit (read from the survey's documentation, as ``lensbench explain``
    shows it), one column per distinct survey."""
    distinct: dict = {}
    for name, b in branches.items():
        if dataclasses.is_dataclass(b.survey):
            distinct.setdefault(b.survey, (b.survey_scenario, []))[1].append(name)
    by_type: dict[type, list] = {}
    for survey, (scenario, names) in distinct.items():
        by_type.setdefault(type(survey), []).append((survey, scenario, names))
    tables = []
    for cls, surveys in by_type.items():
        labels = [scenario or names[0] for _, scenario, names in surveys]
        labels = [label if labels.count(label) == 1 else f"{label} ({names[0]})"
                  for label, (_, _, names) in zip(labels, surveys)]
        rows = [("branches", "", *[", ".join(names) for _, _, names in surveys])]
        rows += [(f.name, unit_of(f, meaning(cls, f)), *[_cell(getattr(survey, f.name)) for survey, _, _ in surveys])
                 for f in dataclasses.fields(cls)]
        tables.append(Table(("survey", "unit", *labels), tuple(rows),
                            f"The simulated survey{'s' if len(surveys) > 1 else ''} ({cls.__name__}), every value "
                            "resolved, a named scenario's included ('none': the key is unset; `lensbench explain "
                            "survey` says what that means)."))
    return tables


def _cell(value):
    if value is None:
        return "none"
    if isinstance(value, (str, bool)) or _is_number(value):
        return value
    return str(value)
