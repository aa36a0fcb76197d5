"""``lensbench compare``: branches lined up by the task they ran, readable metric names, the paper
column, overlaid ROC curves and a readable spec-difference table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lensbench.report.compare import (
    MAX_SPEC_TEXT,
    build_comparison,
    compare_reports,
    readable_metric,
    spec_differences,
    unique_labels,
)
from lensbench.report.document import Figure, Table
from lensbench.report.lineup import LoadedReport, line_up, load_report

REFERENCE = Path(__file__).resolve().parents[2] / "reports" / "reference"


def branch(task="classify", labels=("no_halo", "halo")):
    """A metrics.json branch entry with only what lining up reads."""
    key = "class_names" if task == "classify" else "parameter_names"
    return {"task": task, key: list(labels), "metrics": {}, "n_test": 1}


def loaded(branches: dict, kinds: dict) -> LoadedReport:
    """A report whose branches ran ``kinds`` (branch -> simulation kind)."""
    return LoadedReport(path=Path("x"), metrics={"branches": branches, "paper": {}}, spec=None,
                        branch_specs={name: (kind, {}) for name, kind in kinds.items()})


def test_line_up_matches_equal_tasks_across_names_and_refuses_ambiguity():
    strong = loaded({"main": branch()}, {"main": "strong_lensing"})
    grid = loaded({"main": branch("regress", ["theta_E"]), "variant=x": branch(), "variant=y": branch()},
                  {"main": "strong_lensing", "variant=x": "strong_lensing", "variant=y": "galaxy"})
    assert line_up([strong, grid]) == [("main", "variant=x"), (None, "main"), (None, "variant=y")]
    # Two branches of the same task in one report: no way to tell which one to line up.
    scenarios = loaded({"scenario=A": branch(), "scenario=B": branch()},
                       {"scenario=A": "strong_lensing", "scenario=B": "strong_lensing"})
    assert line_up([strong, scenarios]) == [("main", None), (None, "scenario=A"), (None, "scenario=B")]
    # Equal names of the same task line up, whatever else there is.
    assert line_up([scenarios, scenarios]) == [("scenario=A", "scenario=A"), ("scenario=B", "scenario=B")]


def test_readable_metric_names():
    binary = branch()
    assert readable_metric("auc", binary) == "AUC"
    assert readable_metric("accuracy_youden", binary) == "accuracy (Youden)"
    assert readable_metric("r2[theta_E]", branch("regress", ["theta_E"])) == "R² [theta_E]"
    assert readable_metric("n_test", binary) == "test images"


def test_spec_differences_are_plain_text_cut_to_fit():
    long_text = "Ko reports \"accuracy\" 0.733\nafter 27 epochs " + "x" * 100
    rows = spec_differences([
        {"experiment": {"notes": long_text, "tags": ["a", "b"], "seed": 1, "paper": {"table": {"main": {"f1": 1}}}},
         "same": 3},
        {"experiment": {"notes": "short", "tags": ["a"], "seed": 1}, "same": 3},
        None,
    ])
    assert rows == (
        ("experiment.notes", long_text.replace("\n", " ")[:MAX_SPEC_TEXT - 1] + "…", "short", None),
        ("experiment.tags", "a, b", "a", None),
    )


@pytest.fixture(scope="module")
def reference_pair():
    folders = [REFERENCE / "nfw_detection-quick", REFERENCE / "cosmos-quick"]
    if not all((folder / "metrics.json").is_file() for folder in folders):
        pytest.skip("reference reports not found")
    return folders


def test_compare_lines_up_kos_strong_lensing_detection_of_two_specs(reference_pair, tmp_path):
    reports = [load_report(folder) for folder in reference_pair]
    assert line_up(reports)[0] == ("main", "variant=nfw_strong")
    labels = unique_labels(reference_pair)
    document = build_comparison(reports, labels)
    metrics = next(section for section in document.sections if section.title == "Metrics")
    table = metrics.blocks[0]
    assert isinstance(table, Table)
    assert table.columns == ("branch", "metric", *labels, "paper", f"{labels[1]} − {labels[0]}")
    rows = {row[1]: row for row in table.rows if row[0] == "main ≡ variant=nfw_strong"}
    ours = [json.loads((folder / "metrics.json").read_text()) for folder in reference_pair]
    auc = [ours[0]["branches"]["main"]["metrics"]["auc"], ours[1]["branches"]["variant=nfw_strong"]["metrics"]["auc"]]
    assert rows["AUC"][2:] == (auc[0], auc[1], None, auc[1] - auc[0])
    assert rows["accuracy (0.5)"][4] == ours[0]["paper"]["main"]["accuracy"] == 0.733
    roc = next(section for section in document.sections if section.title == "ROC curves")
    assert [block.name for block in roc.blocks if isinstance(block, Figure)] == ["roc-1-main-variant-nfw-strong"]
    spec = next(section for section in document.sections if section.title == "Spec differences")
    tables = [block for block in spec.blocks if isinstance(block, Table)]
    keys = [row[0] for table in tables for row in table.rows]
    values = [cell for table in tables for row in table.rows for cell in row[1:] if cell is not None]
    assert "training.epochs" in keys and not any(key.startswith("experiment.paper.table") for key in keys)
    assert all(len(value) <= MAX_SPEC_TEXT and not value.startswith('"') and "\\" not in value for value in values)

    out = compare_reports(reference_pair, tmp_path / "cmp")
    assert (out / "figures" / "roc-1-main-variant-nfw-strong.png").is_file()
    assert "main ≡ variant=nfw\\_strong" in (out / "report.md").read_text()
