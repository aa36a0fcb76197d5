"""``lensbench compare``: several reports side by side.

Reads each report folder's ``metrics.json`` (schema :mod:`lensbench.report.schema`) and
``spec.resolved.toml`` and writes a comparison ``report.md`` / ``report.html``: which runs are
compared, every scalar metric of each lined-up branch with its difference to the first report and
the paper's value where a report gives one, overlaid ROC curves, wall time per step, and the spec
keys whose values differ.

Branches are lined up by the task they ran (:func:`line_up`): the same simulation kind, task and
classes (or regressed parameters). Branches of equal name and task line up first; then, of the
branches left, those that are the only one of their task in each report, whatever their names (the
strong-lensing NFW detection is ``main`` in ``nfw_detection`` and ``variant=nfw_strong`` in
``cosmos``). A branch's simulation kind and resolved tables come from validating the report's
``spec.resolved.toml`` again; when that fails (a spec of an older version), the kind is unknown and
spec differences are taken over the whole files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from lensbench.errors import UsageError
from lensbench.report import figures
from lensbench.report.document import Document, Figure, Paragraph, Section, Table
from lensbench.report.lineup import SPEC_FILE, LoadedReport, line_up, load_report, ordered_union, row_label
from lensbench.report.write import write_document

SHORT_HASH_LENGTH = 12
#: Longest spec value shown in the spec-difference table (characters); longer text is cut with "…".
MAX_SPEC_TEXT = 60
#: Spec keys below this are the paper's numbers, shown in the metric table rather than as spec differences.
PAPER_TABLE_KEY = "experiment.paper.table."
#: Labels of the metrics.json scalars that :func:`lensbench.metrics.metric_label` does not label.
OTHER_LABELS = {"n_test": "test images", "n_positive": "positive test images",
                "youden_threshold": "Youden threshold", "mse": "MSE", "rmse": "RMSE", "mae": "MAE",
                "bias": "bias", "r2": "R²", "one_vs_rest_auc": "one-vs-rest AUC"}


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
    rows = line_up(reports)
    return Document(
        title=f"Comparison of {len(reports)} reports",
        sections=(
            _runs_section(reports, labels),
            _metrics_section(reports, labels, rows),
            _roc_section(reports, labels, rows),
            _wall_time_section(reports, labels),
            _spec_section(reports, labels, rows),
        ),
    )


def readable_metric(name: str, branch: dict) -> str:
    """The report label of a flat metric name of :func:`scalar_metrics` (``auc`` -> "AUC",
    ``r2[theta_E]`` -> "R² [theta_E]"), from :func:`lensbench.metrics.metric_label` where it has one."""
    from lensbench.metrics import metric_label

    base, bracket, rest = name.partition("[")
    try:
        label = metric_label(base, binary=len(branch.get("class_names", [])) <= 2)
    except (KeyError, ValueError):
        label = OTHER_LABELS.get(base, base)
    return f"{label} [{rest}" if bracket else label


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


def _metrics_section(reports, labels, lined_up) -> Section:
    """The metrics of the branches lined up across reports, the paper column only where some
    report gives a published value; the branches only one report has are named, not tabulated."""
    rows, matrices, alone = [], set(), {label: [] for label in labels}
    for row in lined_up:
        entries = [report.metrics["branches"][name] if name else None for report, name in zip(reports, row)]
        if sum(entry is not None for entry in entries) < 2:
            alone[labels[next(i for i, name in enumerate(row) if name)]].append(row_label(row))
            continue
        scalars = [scalar_metrics(entry) if entry else {} for entry in entries]
        matrices.update(name for entry in entries if entry for name in matrix_metrics(entry))
        first = next(entry for entry in entries if entry)
        for name in sorted(ordered_union(scalars), key=_headline_position):
            values = [values.get(name) for values in scalars]
            rows.append([row_label(row), readable_metric(name, first), *values,
                         _paper_value(reports, row, name), *_with_differences(values)[len(values):]])
    columns = ["branch", "metric", *labels, "paper", *_difference_columns(labels)]
    caption = ("Scalar metrics of the branches that ran the same task (simulation kind, task and classes; "
               "a ≡ joins branches of different names); a dash where a report lacks one.")
    if any(row[len(labels) + 2] is not None for row in rows):
        caption += " The paper column is the published value either report's spec gives."
    else:
        columns.remove("paper")
        rows = [row[:len(labels) + 2] + row[len(labels) + 3:] for row in rows]
    blocks = [Table(columns=columns, rows=rows, caption=caption) if rows else
              Paragraph("No branch of one report ran the same task as a branch of another.")]
    blocks.extend(Paragraph(f"Only in {label} (no other report ran the same task; its metrics are in its "
                            f"own report): {', '.join(names)}.") for label, names in alone.items() if names)
    if matrices:
        blocks.append(Paragraph("Matrix-valued metrics are not compared here: "
                                + ", ".join(sorted(matrices)) + "."))
    return Section("Metrics", tuple(blocks))


def _headline_position(name: str) -> int:
    """Where a flat metric name sorts: headline metrics in :func:`lensbench.metrics.headline_metrics`
    order, then the rest (the sort is stable, so they keep their order)."""
    from lensbench.metrics import headline_metrics

    order = headline_metrics()
    base = name.partition("[")[0]
    return order.index(base) if base in order else len(order)


def _paper_value(reports, row, metric: str):
    """The published value of ``metric`` for a lined-up row: the one value the reports' papers
    give, or the distinct values joined by " / " when they disagree; None when none gives one."""
    given = [report.metrics["paper"].get(name, {}).get(metric) for report, name in zip(reports, row) if name]
    values = list(dict.fromkeys(value for value in given if value is not None))
    if len(values) <= 1:
        return values[0] if values else None
    return " / ".join(f"{value:g}" for value in values)


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


def _roc_section(reports, labels, lined_up) -> Section:
    blocks = []
    for row in lined_up:
        curves, reports_with_roc, renamed = {}, 0, len(set(row) - {None}) > 1
        for report, label, name in zip(reports, labels, row):
            roc = report.metrics["branches"][name].get("curves", {}).get("roc") if name else None
            if roc is not None:
                curves.update(_named_roc_curves(roc, f"{label} · {name}" if renamed else label))
                reports_with_roc += 1
        if reports_with_roc >= 2:
            fig = figures.roc_curves(curves)
            branch = row_label(row)
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
    steps = ordered_union(wall_times)
    rows = [[step, *_with_differences([times.get(step) for times in wall_times])] for step in steps]
    total = [report.metrics["provenance"]["total_wall_time_s"] for report in reports]
    rows.append(["total", *_with_differences(total)])
    return Section("Wall time", (
        Table(columns=["step", *labels, *_difference_columns(labels)], rows=rows,
              caption="Wall time per step in seconds (a cached step takes almost none)."),
    ))


def _spec_section(reports, labels, lined_up) -> Section:
    """Per lined-up row of two or more reports, the keys of the branches' resolved tables that
    differ; rows with the same differences share one table. Without such rows, the whole files."""
    blocks = []
    missing = [label for report, label in zip(reports, labels) if report.spec is None]
    if missing:
        blocks.append(Paragraph(f"No {SPEC_FILE} in: {', '.join(missing)}; their spec keys show "
                                "as missing."))
    shared = [row for row in lined_up if sum(name is not None for name in row) >= 2]
    tables: dict[tuple, list[str]] = {}
    for row in shared or [(None,) * len(reports)]:
        specs = [report.tables(name) if name or not shared else None for report, name in zip(reports, row)]
        tables.setdefault(spec_differences(specs), []).append(row_label(row))
    for rows, branches in tables.items():
        scope = f" of branch{'es' if len(branches) > 1 else ''} {', '.join(branches)}" if shared else ""
        if rows:
            blocks.append(Table(columns=["key", *labels], rows=rows,
                                caption=f"Resolved spec keys{scope} whose values differ (long text cut "
                                        f"at {MAX_SPEC_TEXT} characters; the paper's numbers are in the "
                                        "metric table)."))
        else:
            blocks.append(Paragraph(f"The resolved specs{scope} are identical."))
    return Section("Spec differences", tuple(blocks))


def spec_differences(specs: Sequence[dict | None]) -> tuple:
    """Rows (key, value per spec as display text) of the keys whose values differ among the
    specs that are not None (None: a report without the branch, shown as a dash). The paper's
    table is left out: its values are the metric table's paper column, keyed by branch name."""
    flat = [{key: value for key, value in _flat_items(spec) if not key.startswith(PAPER_TABLE_KEY)}
            if spec is not None else None for spec in specs]
    present = [f for f in flat if f is not None]
    keys = sorted(ordered_union(present))
    return tuple((key, *[_display_text(f.get(key)) if f is not None else None for f in flat]) for key in keys
                 if len({_toml_text(f[key]) if key in f else None for f in present}) > 1)


def _flat_items(spec: dict, prefix: str = ""):
    """(dotted key, value) of every leaf of a spec's tables (arrays, strings, numbers, dates)."""
    for key, value in spec.items():
        if isinstance(value, dict):
            yield from _flat_items(value, prefix=f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def flatten_spec(spec: dict, prefix: str = "") -> dict[str, str]:
    """Dotted key -> value written as TOML-like text (``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``).

    Tables recurse; arrays, strings, numbers, booleans and dates are leaves, written exactly
    (no rounding), so two values differ here only if they differ in the spec.
    """
    return {key: _toml_text(value) for key, value in _flat_items(spec, prefix)}


def _display_text(value) -> str | None:
    """A spec value for reading: strings without quotes or escapes, arrays as ``a, b``, text
    longer than :data:`MAX_SPEC_TEXT` cut; None stays None (a dash)."""
    if value is None:
        return None
    if isinstance(value, list):
        text = ", ".join(_display_text(item) or "" for item in value)
    elif isinstance(value, str):
        text = " ".join(value.split())
    else:
        text = _toml_text(value)
    return text if len(text) <= MAX_SPEC_TEXT else text[:MAX_SPEC_TEXT - 1] + "…"


def _toml_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, list)):
        return json.dumps(value, default=str, ensure_ascii=False)
    return str(value)
