"""``lensbench compare``: several reports side by side.

Reads each report folder's ``metrics.json`` (schema :mod:`lensbench.report.schema`) and
``spec.resolved.toml`` and writes a comparison ``report.md`` / ``report.html``: which runs are
compared, every scalar metric per branch with its difference to the first report, overlaid ROC
curves of branches that several reports share, wall time per step, and the spec keys whose values
differ.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from lensbench.errors import DataError, UsageError
from lensbench.report import figures
from lensbench.report.document import Document, Figure, Paragraph, Section, Table
from lensbench.report.schema import validate_metrics
from lensbench.report.write import write_document

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

METRICS_FILE = "metrics.json"
SPEC_FILE = "spec.resolved.toml"
SHORT_HASH_LENGTH = 12


@dataclass(frozen=True)
class LoadedReport:
    """One report folder as read from disk.

    Parameters
    ----------
    path : Path
        The folder.
    metrics : dict
        Its ``metrics.json``, valid against the schema.
    spec : dict or None
        Its ``spec.resolved.toml``, or None when the folder has none.
    """

    path: Path
    metrics: dict
    spec: dict | None


def compare_reports(report_dirs: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Compare report folders and write ``report.md``, ``report.html`` and figures to ``out_dir``.

    Parameters
    ----------
    report_dirs : sequence of paths
        Two or more report folders; differences are taken against the first.
    out_dir : path
        Folder for the comparison; created when missing.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    UsageError
        With fewer than two folders.
    DataError
        Naming the folder or file, when a folder has no ``metrics.json``, or it or
        ``spec.resolved.toml`` cannot be read or breaks the schema.
    """
    if len(report_dirs) < 2:
        raise UsageError("compare needs at least two report folders")
    reports = [load_report(Path(directory)) for directory in report_dirs]
    labels = unique_labels([report.path for report in reports])
    return write_document(build_comparison(reports, labels), out_dir)


def load_report(directory: Path) -> LoadedReport:
    """Read and check one report folder (see :class:`LoadedReport`); raises DataError."""
    if not directory.is_dir():
        raise DataError(directory, "not a folder; expected a lensbench report folder")
    metrics_path = directory / METRICS_FILE
    if not metrics_path.is_file():
        raise DataError(directory, f"no {METRICS_FILE}; is this a lensbench report folder?")
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DataError(metrics_path, f"not valid JSON ({error})") from error
    try:
        validate_metrics(metrics)
    except ValueError as error:
        raise DataError(metrics_path, str(error)) from error
    return LoadedReport(path=directory, metrics=metrics, spec=_load_spec(directory / SPEC_FILE))


def _load_spec(spec_path: Path) -> dict | None:
    if not spec_path.is_file():
        return None
    try:
        return tomllib.loads(spec_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise DataError(spec_path, f"not valid TOML ({error})") from error


def unique_labels(paths: Sequence[Path]) -> list[str]:
    """Shortest trailing parts of each path that tell the paths apart (``a/quick``, ``b/quick``)."""
    parts = [Path(path).resolve().parts for path in paths]
    longest = max(len(p) for p in parts)
    for depth in range(1, longest + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{label} #{index + 1}" for index, label in enumerate(labels)]


def build_comparison(reports: Sequence[LoadedReport], labels: Sequence[str]) -> Document:
    """The comparison document of loaded reports, each named by its label."""
    return Document(
        title=f"Comparison of {len(reports)} reports",
        sections=(
            _runs_section(reports, labels),
            _metrics_section(reports, labels),
            _roc_section(reports, labels),
            _wall_time_section(reports, labels),
            _spec_section(reports, labels),
        ),
    )


def _runs_section(reports, labels) -> Section:
    facts = [_run_facts(report) for report in reports]
    rows = [[name, *[fact[name] for fact in facts]] for name in facts[0]]
    return Section("Runs", (
        Paragraph(f"Differences below are each report minus the first, {labels[0]}."),
        Table(columns=["", *labels], rows=rows, caption="The compared runs."),
    ))


def _run_facts(report: LoadedReport) -> dict:
    metrics, provenance = report.metrics, report.metrics["provenance"]
    return {
        "folder": str(report.path),
        "experiment": metrics["experiment"],
        "preset": metrics["preset"],
        "spec hash": metrics["spec_hash"][:SHORT_HASH_LENGTH],
        "seed": metrics["seed"],
        "created": metrics["created"],
        "git commit": provenance["git_commit"],
        "device": provenance["device"],
        "total wall time (s)": provenance["total_wall_time_s"],
    }


def _difference_columns(labels) -> list[str]:
    return [f"{label} − {labels[0]}" for label in labels[1:]]


def _with_differences(values: list) -> list:
    return values + [_difference(value, values[0]) for value in values[1:]]


def _difference(value, reference):
    return value - reference if _is_number(value) and _is_number(reference) else None


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ordered_union(sequences) -> list:
    return list(dict.fromkeys(item for sequence in sequences for item in sequence))


def _metrics_section(reports, labels) -> Section:
    branches = _ordered_union(report.metrics["branches"] for report in reports)
    rows, matrices = [], set()
    for branch in branches:
        entries = [report.metrics["branches"].get(branch) for report in reports]
        scalars = [scalar_metrics(entry) if entry else {} for entry in entries]
        matrices.update(name for entry in entries if entry for name in matrix_metrics(entry))
        for name in _ordered_union(scalars):
            rows.append([branch, name, *_with_differences([values.get(name) for values in scalars])])
    blocks = [Table(columns=["branch", "metric", *labels, *_difference_columns(labels)], rows=rows,
                    caption="Scalar metrics of every branch; a dash where a report lacks one.")]
    if matrices:
        blocks.append(Paragraph("Matrix-valued metrics are not compared here: "
                                + ", ".join(sorted(matrices)) + "."))
    return Section("Metrics", tuple(blocks))


def matrix_metrics(branch: dict) -> list[str]:
    """Names of a branch's matrix-valued metrics (confusion matrices)."""
    return [name for name, value in branch["metrics"].items()
            if isinstance(value, list) and value and isinstance(value[0], list)]


def scalar_metrics(branch: dict) -> dict[str, float | int | None]:
    """Every scalar of one branch of metrics.json under a flat name, plus ``n_test``.

    Per-class lists become ``name[class]`` (``name[index]`` when the lengths disagree),
    per-parameter objects ``name[parameter]``; matrices are left out.
    """
    classes = branch.get("class_names", [])
    matrices = set(matrix_metrics(branch))
    flat: dict[str, float | int | None] = {}
    for name, value in branch["metrics"].items():
        if name in matrices:
            continue
        if isinstance(value, dict):
            flat.update({f"{name}[{key}]": item for key, item in value.items()})
        elif isinstance(value, list):
            keys = classes if len(classes) == len(value) else range(len(value))
            flat.update({f"{name}[{key}]": item for key, item in zip(keys, value)})
        else:
            flat[name] = value
    flat["n_test"] = branch["n_test"]
    return flat


def paper_table(metrics: dict) -> Table | None:
    """Our metrics beside the paper's (the spec's ``[experiment.paper]`` table), or None if empty.

    Parameters
    ----------
    metrics : dict
        A metrics.json object; its ``paper`` maps branch -> metric -> published value, using
        the flat metric names of :func:`scalar_metrics`.

    Returns
    -------
    Table or None
        Rows (branch, metric, ours, paper, ours - paper); "ours" is a dash when the run has no
        such branch or metric.
    """
    rows = []
    for branch, published in metrics["paper"].items():
        entry = metrics["branches"].get(branch)
        ours = scalar_metrics(entry) if entry else {}
        for name, paper_value in published.items():
            our_value = ours.get(name)
            rows.append([branch, name, our_value, paper_value, _difference(our_value, paper_value)])
    if not rows:
        return None
    return Table(columns=["branch", "metric", "ours", "paper", "ours − paper"], rows=rows,
                 caption="Our results beside the published ones.")


def _roc_section(reports, labels) -> Section:
    branches = _ordered_union(report.metrics["branches"] for report in reports)
    blocks = []
    for branch in branches:
        curves, reports_with_roc = {}, 0
        for report, label in zip(reports, labels):
            roc = report.metrics["branches"].get(branch, {}).get("curves", {}).get("roc")
            if roc is not None:
                curves.update(_named_roc_curves(roc, label))
                reports_with_roc += 1
        if reports_with_roc >= 2:
            fig = figures.roc_curves(curves)
            caption = (f"ROC curves of branch {branch} (true- against false-positive rate); "
                       "AUC is the area under each drawn curve.")
            blocks.append(Figure.from_matplotlib(f"roc-{len(blocks) + 1}-{_slug(branch)}", fig,
                                                 caption))
    if not blocks:
        blocks.append(Paragraph("No branch has ROC curves in two or more of the reports."))
    return Section("ROC curves", tuple(blocks))


def _named_roc_curves(roc: dict, label: str) -> dict:
    if "fpr" in roc:
        return {label: _with_area(roc)}
    return {f"{label} · {class_name}": _with_area(curve) for class_name, curve in roc.items()}


def _with_area(curve: dict) -> dict:
    fpr = np.asarray(curve["fpr"], dtype=np.float64)
    tpr = np.asarray(curve["tpr"], dtype=np.float64)
    area = float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))
    return {"fpr": fpr, "tpr": tpr, "auc": area}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "branch"


def _wall_time_section(reports, labels) -> Section:
    wall_times = [report.metrics["provenance"]["wall_time_s"] for report in reports]
    steps = _ordered_union(wall_times)
    rows = [[step, *_with_differences([times.get(step) for times in wall_times])] for step in steps]
    total = [report.metrics["provenance"]["total_wall_time_s"] for report in reports]
    rows.append(["total", *_with_differences(total)])
    return Section("Wall time", (
        Table(columns=["step", *labels, *_difference_columns(labels)], rows=rows,
              caption="Wall time per step in seconds (a cached step takes almost none)."),
    ))


def _spec_section(reports, labels) -> Section:
    blocks = []
    missing = [label for report, label in zip(reports, labels) if report.spec is None]
    if missing:
        blocks.append(Paragraph(f"No {SPEC_FILE} in: {', '.join(missing)}; their spec keys show "
                                "as missing."))
    flat = [flatten_spec(report.spec or {}) for report in reports]
    keys = sorted(_ordered_union(flat))
    rows = [[key, *[f.get(key) for f in flat]] for key in keys
            if len({f.get(key) for f in flat}) > 1]
    if rows:
        blocks.append(Table(columns=["key", *labels], rows=rows,
                            caption="Resolved spec keys whose values differ (TOML values)."))
    else:
        blocks.append(Paragraph("The resolved specs are identical."))
    return Section("Spec differences", tuple(blocks))


def flatten_spec(spec: dict, prefix: str = "") -> dict[str, str]:
    """Dotted key -> value written as TOML-like text (``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``).

    Tables recurse; arrays, strings, numbers, booleans and dates are leaves, written exactly
    (no rounding), so two values differ here only if they differ in the spec.
    """
    flat: dict[str, str] = {}
    for key, value in spec.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_spec(value, prefix=f"{dotted}."))
        else:
            flat[dotted] = _toml_text(value)
    return flat


def _toml_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)
