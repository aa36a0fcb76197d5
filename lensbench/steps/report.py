"""The report step: gather every branch's results into report.md, report.html and metrics.json.

It always runs (it is cheap) and writes into the run's output folder, never into the cache.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

import numpy as np

from lensbench.report import figures as F
from lensbench.report.document import Code, Document, Figure, KeyValues, Paragraph, Section, Table
from lensbench.io.atomic import write_atomic
from lensbench.report.write import write_report
from lensbench.simulate.store import ShardedDataset
from lensbench.spec.dump import dumps
from lensbench.spec.load import display_path
from lensbench.steps import STEP_KINDS, StepContext

PACKAGES = ("lensbench", "numpy", "scipy", "torch", "healpy", "lenstronomy", "astropy", "scikit-learn", "matplotlib")

# metric key in results.json -> label in the report; the order is the table's
HEADLINE = {
    "auc": "AUC",
    "accuracy": "accuracy (0.5)",
    "precision": "precision (0.5)",
    "recall": "recall (0.5)",
    "f1": "F1 (0.5)",
    "accuracy_youden": "accuracy (Youden)",
    "f1_youden": "F1 (Youden)",
    "ece": "ECE",
    "brier": "Brier score",
    "macro_auc": "macro AUC",
}


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on."""
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit() -> str | None:
    """The commit of the lensbench source tree, if it is a git checkout."""
    try:
        root = Path(__file__).resolve().parents[2]
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return f"cuda ({torch.cuda.get_device_name(0)})"
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


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
        plan, records, out_dir = ctx.extra["plan"], ctx.extra["records"], ctx.extra["out_dir"]
        specs = plan.specs
        first = specs[0]
        branches = {}
        for spec in specs:
            steps = plan.roles[spec.branch_name]
            results = json.loads((ctx.inputs[steps["evaluate"]] / "results.json").read_text())
            history = json.loads((ctx.inputs[steps["train"]] / "history.json").read_text())
            results["curves"]["loss"] = {k: history[k] for k in ("train_loss", "val_loss", "lr", "epoch_seconds")
                                         if k in history}
            branches[spec.branch_name] = {"spec": spec, "results": results, "history": history, "steps": steps}
        wall = {r.id: round(r.wall_time_s, 3) for r in records}
        metrics = {
            "schema": "lensbench.metrics/1",
            "experiment": first.experiment.name,
            "preset": first.preset,
            "spec_hash": first.hash(),
            "seed": first.experiment.seed,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "branches": {name: b["results"] for name, b in branches.items()},
            "paper": {k: dict(v) for k, v in first.experiment.paper.table.items()},
            "provenance": {
                "git_commit": git_commit(),
                "packages": package_versions(),
                "device": _device_name(ctx.device),
                "python": platform.python_version(),
                "wall_time_s": wall,
                "total_wall_time_s": round(sum(wall.values()), 3),
                "compute_time_s": {r.id: round(r.compute_time_s, 3) for r in records},
            },
        }
        resolved = dumps(first.document, header=f"lensbench resolved spec of {display_path(first.source)}\n"
                         f"preset: {first.preset or 'none'}; sha256: {metrics['spec_hash']}")
        doc = build_document(ctx, branches, metrics, resolved)
        write_report(doc, out_dir, metrics, {"spec.resolved.toml": resolved})
        _copy_models(ctx, branches, out_dir)
        ctx.log.info("report written to %s", out_dir)
        return {"out_dir": str(out_dir)}


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


def _copy_models(ctx, branches: dict, out_dir: Path) -> None:
    """Put each branch's trained model beside the report (``model/``, or ``models/<branch>/`` for
    a grid), so ``lensbench apply --model REPORT_DIR`` works from the report folder alone."""
    for name, b in branches.items():
        target = out_dir / "model" if len(branches) == 1 else out_dir / "models" / name
        source = ctx.inputs[b["steps"]["train"]]
        for file in ("model.pt", "model.json"):
            link_or_copy(source / file, target / file)


def _paper_value(paper: dict, branch: str, metric: str):
    for name in (branch, "main"):
        if metric in paper.get(name, {}):
            return paper[name][metric]
    return None


def build_document(ctx: StepContext, branches: dict, metrics: dict, resolved_toml: str) -> Document:
    """The report's document: results beside the paper's, figures, provenance, resolved spec."""
    first = next(iter(branches.values()))["spec"]
    exp = first.experiment
    sections = [Section("Summary", _summary(first, branches, metrics))]
    by_task = {task: {n: b for n, b in branches.items() if b["results"]["task"] == task}
               for task in ("classify", "regress")}
    results = []
    if by_task["classify"]:
        results += _classification_blocks(by_task["classify"], metrics["paper"])
    if by_task["regress"]:
        results += _regression_blocks(ctx, by_task["regress"], metrics["paper"])
    sections.append(Section("Results", results))
    training = []
    for task, group in by_task.items():
        if group:
            training += _training_blocks(group, task)
    sections.append(Section("Training", training))
    sections += _kind_sections(ctx, branches)
    sections += _application_sections(ctx, branches)
    examples = _example_blocks(ctx, branches)
    if examples:
        sections.append(Section("Example images", examples))
    if exp.paper.citation or exp.paper.notes:
        blocks = [Paragraph(exp.paper.citation + (f" (arXiv:{exp.paper.arxiv})" if exp.paper.arxiv else ""))]
        if exp.paper.notes:
            blocks.append(Paragraph(exp.paper.notes))
        sections.append(Section("The paper", blocks))
    prov = metrics["provenance"]
    wall_rows = [(r.id, r.status, r.wall_time_s, r.compute_time_s) for r in ctx.extra["records"]]
    sections.append(Section("Provenance", [
        KeyValues({"spec": display_path(first.source), "preset": first.preset or "none", "spec sha256": metrics["spec_hash"],
                   "seed": exp.seed, "git commit": prov["git_commit"] or "unknown", "device": prov["device"],
                   "python": prov["python"], "created": metrics["created"],
                   "total wall time (s)": prov["total_wall_time_s"]}),
        Table(("package", "version"), tuple(prov["packages"].items()), "Package versions."),
        Table(("step", "status", "wall time in this run (s)", "compute time (s)"), tuple(wall_rows),
              "Wall time of every step in this run ('cached' steps were reused from the cache) and the time "
              "each step took when it was computed."),
    ]))
    sections.append(Section("Resolved spec", [Code(resolved_toml, "toml")]))
    return Document(first.report.title or f"lensbench: {exp.name}", sections)


def _summary(spec, branches: dict, metrics: dict) -> list:
    exp = spec.experiment
    preset = f"preset '{spec.preset}'" if spec.preset else "the paper's full scale (no preset)"
    rows = tuple((name, b["spec"].simulation_kind, b["spec"].experiment.task, b["spec"].model.architecture,
                  b["results"]["n_test"]) for name, b in branches.items())
    return [Paragraph(exp.description or exp.name),
            Paragraph(f"Run with {preset}; {len(branches)} branch(es)."),
            Table(("branch", "simulation", "task", "architecture", "test examples"), rows,
                  "What each branch of the grid simulates, learns and is tested on.")]


def _classification_blocks(branches: dict, paper: dict) -> list:
    blocks = []
    names = [k for k in HEADLINE if any(k in b["results"]["metrics"] for b in branches.values())]
    binary = all(len(b["results"]["class_names"]) == 2 for b in branches.values())
    labels = [HEADLINE[k] if binary else HEADLINE[k].replace("(0.5)", "(most probable class)") for k in names]
    caption = ("Test-set metrics (n = " + ", ".join(str(b["results"]["n_test"]) for b in branches.values()) + ")"
               " beside the paper's published values (a dash where the paper gives none). For two classes, "
               "'(0.5)' thresholds the positive-class probability at 0.5 and 'Youden' at the ROC point "
               "maximising TPR - FPR; macro AUC averages the one-vs-rest AUCs of several classes.")
    if len(branches) == 1:  # one column of ours, one of the paper's
        (branch, b), = branches.items()
        rows = tuple((label, b["results"]["metrics"].get(k), _paper_value(paper, branch, k))
                     for k, label in zip(names, labels))
        blocks.append(Table(("metric", "lensbench", "paper"), rows, caption))
    else:  # one row per branch; the paper's values in their own columns where it gives any
        with_paper = [k for k in names if any(_paper_value(paper, name, k) is not None for name in branches)]
        columns = ("branch", *labels, *[f"{HEADLINE[k]}, paper" for k in with_paper])
        rows = tuple((name, *[b["results"]["metrics"].get(k) for k in names],
                      *[_paper_value(paper, name, k) for k in with_paper]) for name, b in branches.items())
        blocks.append(Table(columns, rows, caption))
    roc = {name: {**b["results"]["curves"]["roc"], "auc": b["results"]["metrics"].get("auc")}
           for name, b in branches.items() if "roc" in b["results"]["curves"]}
    if roc:
        paper_auc = {name: _paper_value(paper, name, "auc") for name in roc}
        paper_auc = {k: v for k, v in paper_auc.items() if v is not None} or None
        blocks.append(Figure.from_matplotlib("roc", F.roc_curves(roc, paper_auc),
                                             "ROC curves on the test set; the dashed diagonal is chance."))
    rel = {name: b["results"]["curves"]["reliability"] for name, b in branches.items()
           if "reliability" in b["results"]["curves"]}
    if rel:
        ece = {name: branches[name]["results"]["metrics"].get("ece") for name in rel}
        blocks.append(Figure.from_matplotlib("reliability", F.reliability_diagram(rel, ece),
                                             "Reliability diagram: observed frequency of the positive class "
                                             "against the predicted probability, with the expected calibration "
                                             "error (ECE)."))
    for i, (name, b) in enumerate(branches.items()):
        matrix = b["results"]["metrics"].get("confusion")
        if matrix is not None:
            rule = "threshold 0.5" if len(b["results"]["class_names"]) == 2 else "the most probable class"
            blocks.append(Figure.from_matplotlib(f"confusion-{i}", F.confusion_matrix(
                np.asarray(matrix), b["results"]["class_names"]), f"Confusion matrix at {rule} ({name})."))
    return blocks


def _regression_blocks(ctx, branches: dict, paper: dict) -> list:
    blocks = []
    for i, (name, b) in enumerate(branches.items()):
        res = b["results"]
        m = res["metrics"]
        rows = tuple((label, m["mse"][label], m["r2"][label], _paper_value(paper, name, f"mse_{label}"))
                     for label in res["parameter_names"])
        blocks.append(Table(("parameter", "MSE", "R²", "paper MSE"), rows,
                            f"Test-set errors per parameter in the parameter's own units ({name})."))
        steps = b["steps"]
        test = ShardedDataset(ctx.inputs[steps["simulate:test"]])
        pred = np.load(ctx.inputs[steps["evaluate"]] / "predictions.npy")
        scale = np.array(_label_scale(test.manifest, res["parameter_names"]))
        blocks.append(Figure.from_matplotlib(f"agreement-{i}", F.agreement(test.labels * scale, pred * scale,
                                                                           res["parameter_names"]),
                                             f"Predicted against true parameters on the test set ({name})."))
    return blocks


def _label_scale(manifest: dict, labels: list[str]) -> list[float]:
    return [manifest.get("label_scale", {}).get(name, 1.0) for name in labels]


def _training_blocks(branches: dict, task: str) -> list:
    histories = {name: {k: v for k, v in b["history"].items() if k in ("train_loss", "val_loss", "train_acc",
                                                                         "val_acc")}
                 for name, b in branches.items()}
    rows = tuple((name, len(b["history"]["train_loss"]), b["history"].get("best_epoch"),
                  "yes" if b["history"].get("stopped_early") else "no") for name, b in branches.items())
    loss = "cross-entropy" if task == "classify" else "mean squared error of the scaled labels"
    return [Figure.from_matplotlib(f"loss-{task}", F.loss_curves(histories),
                                   f"Training and validation loss ({loss}) per epoch."),
            Table(("branch", "epochs run", "best epoch", "stopped early"), rows,
                  "The model kept is the one with the lowest validation loss (epochs counted from 0).")]


def _application_sections(ctx, branches: dict) -> list:
    """A summary of each branch's application to real data, its figures, and a copy of its report."""
    sections = []
    for name, b in branches.items():
        step = b["steps"].get("apply")
        if step is None:
            continue
        folder = ctx.inputs[step]
        summary = json.loads((folder / "apply.json").read_text())
        target = ctx.extra["out_dir"] / ("apply" if len(branches) == 1 else f"apply-{name}")
        for file in sorted(folder.rglob("*")):
            if file.is_file() and file.name not in ("meta.json", "step.log"):
                link_or_copy(file, target / file.relative_to(folder))
        ours = summary["predicted_positive"]
        rows = [("stamps read", summary["stamps_read"], summary.get("paper", {}).get("stamps_read")),
                ("unreadable inputs (named in the application report)", len(summary["problems"]), None)]
        rows += [(f"removed by cut '{cut}'", count, None) for cut, count in summary["cuts"].items()]
        rows += [("passed every cut", summary["passed"], summary.get("paper", {}).get("passed")),
                 ("scored", summary["scored"], None),
                 (f"predicted '{summary['positive_class']}'", ours["positive"],
                  summary.get("paper", {}).get("predicted_positive", {}).get("positive")),
                 (f"fraction '{summary['positive_class']}'", ours["fraction"],
                  summary.get("paper", {}).get("predicted_positive", {}).get("fraction")),
                 ("95 % interval (Wilson), low", ours["interval"][0] if ours["interval"] else None, None),
                 ("95 % interval (Wilson), high", ours["interval"][1] if ours["interval"] else None, None)]
        blocks = [Paragraph(f"The classifier of branch {name} applied to {', '.join(summary['inputs'])}. "
                            f"The full application report, with the table of every stamp, is in "
                            f"{target.name}/report.html (predictions.csv, predictions.fits)."),
                  Table(("quantity", "lensbench", "paper"), tuple(rows),
                        "Cuts, counts and the fraction of real galaxies predicted to have a halo, beside "
                        "Ko's COSMOS numbers (a stamp failing several cuts counts under each).")]
        for png in sorted((folder / "figures").glob("*.png")):
            blocks.append(Figure(f"apply-{len(sections)}-{png.stem}", png.read_bytes(),
                                 png.stem.replace("_", " ") + " (from the application report)."))
        sections.append(Section(f"Application to real data ({name})" if len(branches) > 1
                                else "Application to real data", blocks))
    return sections


def _kind_sections(ctx, branches: dict) -> list:
    """Sections that a simulation kind draws itself (sky maps, attributions), once per kind."""
    from lensbench.simulate.kinds import BranchOutputs
    from lensbench.simulate.register import SIMULATION_KINDS

    sections = []
    for kind_name in dict.fromkeys(b["spec"].simulation_kind for b in branches.values()):
        kind = SIMULATION_KINDS.get(kind_name)
        if kind.report_sections is None:
            continue
        outputs = {}
        for name, b in branches.items():
            if b["spec"].simulation_kind != kind_name:
                continue
            steps = b["steps"]
            signal = steps.get("signal:test")
            outputs[name] = BranchOutputs(spec=b["spec"], results=b["results"], model_dir=ctx.inputs[steps["train"]],
                                          test_dir=ctx.inputs[steps["simulate:test"]],
                                          signal_test_dir=ctx.inputs[signal] if signal else None)
        sections += kind.report_sections(outputs, ctx.device)
    return sections


def _example_blocks(ctx, branches: dict) -> list:
    """Example test images of every distinct test set (one figure per simulation)."""
    blocks, seen = [], set()
    for name, b in branches.items():
        per_class = b["spec"].report.examples_per_class
        step_id = b["steps"]["simulate:test"]
        if not per_class or step_id in seen:
            continue
        seen.add(step_id)
        test = ShardedDataset(ctx.inputs[step_id])
        labels = test.labels
        if test.class_names:
            index = np.concatenate([np.flatnonzero(labels == c)[:per_class] for c in range(len(test.class_names))])
            fig = F.example_images(test.images(index), labels[index], test.class_names, per_class=per_class)
        else:
            index = np.arange(min(len(test), 2 * per_class))
            fig = F.example_images(test.images(index), np.zeros(len(index), dtype=int), ["test"],
                                   per_class=len(index))
        label = "" if len(branches) == 1 else f" ({name})"
        blocks.append(Figure.from_matplotlib(f"examples-{len(seen)}", fig,
                                             f"Simulated test images{label}: the first of each class."))
    return blocks
