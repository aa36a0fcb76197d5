"""Tests of the top of a run report (lensbench.report.summary, lensbench.report.run): the headline
table beside the paper's numbers, the scale banner, the simulated surveys, the paper marked for a
different setup, and the rendered HTML of a report built from hand-made branch data."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np

from lensbench.report.branch import BranchData, Scale
from lensbench.report.document import Notice, Paragraph, Table
from lensbench.report.html import render_html
from lensbench.report.markdown import render_markdown
from lensbench.report.run import RunInfo, run_document, run_metrics
from lensbench.report.summary import headline_table, paper_column, scale_blocks, survey_tables
from lensbench.report.supervised import classification_sections, regression_sections
from lensbench.simulate.astrometric import SCENARIOS
from lensbench.simulate.strong import SURVEY_PRESETS
from lensbench.tasks import ReportContext

PAPER = {"variant=A": {"auc": 0.5}, "variant=B": {"auc": 0.96}, "variant=C": {"auc": 0.723}}
QUICK = Scale(250, 50, 150, True, 3)
PAPER_SCALE = Scale(25000, 2500, 2500, True, 50)


def classifier(name: str, auc: float, scenario: str = "A", *, scale=QUICK, paper_scale=PAPER_SCALE,
               differences=()) -> BranchData:
    """A finished two-class branch with metrics and a short history (no figures of test images)."""
    history = {"train_loss": [0.69, 0.4, 0.2], "val_loss": [0.68, 0.6, 0.9], "train_acc": [0.5, 0.8, 0.9],
               "val_acc": [0.5, 0.6, 0.55], "best_epoch": 1, "stopped_early": False}
    metrics = {"auc": auc, "accuracy": 0.6, "precision": 0.7, "recall": 0.5, "f1": 0.58, "accuracy_youden": 0.61,
               "f1_youden": 0.6, "ece": 0.05, "brier": 0.2}  # no confusion matrix: fewer figures to draw
    return BranchData(name=name, task="classify", simulation_kind="astrometric", simulation=None,
                      survey=SCENARIOS[scenario], survey_scenario=scenario, architecture="resnet18", seed=1,
                      results={"metrics": metrics, "class_names": ["no_subhalos", "subhalos"], "n_test": 300,
                               "curves": {}},
                      history=history, scale=scale, paper_scale=paper_scale, paper_setup_differences=differences)


def branches(**kwargs) -> dict:
    found = {f"variant={s}": classifier(f"variant={s}", auc, s, **kwargs)
             for s, auc in zip("ABCDE", (0.51, 0.9, 0.7, 0.99, 0.75))}
    found["variant=C_alexnet"] = classifier("variant=C_alexnet", 0.6, "C", **kwargs)
    found["variant=C_vgg11"] = classifier("variant=C_vgg11", 0.65, "C", **kwargs)
    return found


def document(run_branches: dict, preset="quick"):
    run = RunInfo(experiment="astrometric", description="Subhalos in proper-motion maps.", title="",
                  spec_path="specs/papers/astrometric.toml", preset=preset, seed=1, spec_hash="0" * 64,
                  citation="Vattis+21", notes="AUCs from the text.", paper_table=PAPER)
    context = ReportContext(paper=PAPER)
    return run_document(run, run_branches, run_metrics(run, run_branches),
                        [classification_sections(run_branches, context)], paper_value=context.paper_value)


class _Tables(HTMLParser):
    """Every <table> of a page as (header cells, body rows), and whether it sits in a scroll box."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell, self._row, self._in = [], None, None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self._in = {"columns": [], "rows": []}
        elif tag == "tr" and self._in is not None:
            self._row = []
        elif tag in ("th", "td") and self._row is not None:
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("th", "td") and self._cell is not None:
            self._row.append((tag, self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            cells = [text for _, text in self._row]
            if all(kind == "th" for kind, _ in self._row):
                self._in["columns"] = cells
            else:
                self._in["rows"].append(cells)
            self._row = None
        elif tag == "table":
            self.tables.append(self._in)
            self._in = None


def html_tables(page: str) -> list[dict]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def test_html_report_opens_with_a_banner_and_a_narrow_headline_table_with_the_papers_values():
    page = render_html(document(branches()))
    summary = page[page.index('<section id="summary">'):page.index("</section>")]
    assert summary.index('class="notice"') < summary.index("<table")  # the banner comes first
    assert "Preset &#x27;quick&#x27;" in summary and "not comparable to the paper" in summary
    headline = next(t for t in html_tables(summary) if "headline metric" in t["columns"])
    assert len(headline["columns"]) <= 8
    paper = headline["columns"].index("paper")
    ours = headline["columns"].index("lensbench")
    by_branch = {row[0]: row for row in headline["rows"]}
    assert len(by_branch) == 7
    assert by_branch["variant=B"][paper] == "0.9600" and by_branch["variant=B"][ours] == "0.9000"
    assert by_branch["variant=C"][paper] == "0.7230"
    assert by_branch["variant=D"][paper] == "—"  # the paper gives no number for D here
    difference = headline["columns"].index("lensbench − paper")
    assert float(by_branch["variant=B"][difference]) == -0.06
    # the main element is wide enough for the table at 1400 px
    width = float(re.search(r"main \{ max-width: ([0-9.]+)rem", page).group(1))
    assert 16 * width <= 1400 - 2 * 16


def test_headline_picks_the_first_metric_the_paper_gives_or_ours_alone():
    found = branches()
    table = headline_table(found, ReportContext(paper={"variant=E": {"f1": 0.5}}).paper_value)
    rows = {row[0]: row for row in table.rows}
    assert rows["variant=E"][2:6] == ("F1 (0.5)", 0.58, 0.5, 0.58 - 0.5)
    assert rows["variant=A"][2:6] == ("AUC", 0.51, None, None)


def test_headline_of_a_regression_is_the_papers_mse_or_our_mean_r2():
    results = {"metrics": {"mse": {"theta_E": 0.01, "gamma": 0.04}, "r2": {"theta_E": 0.9, "gamma": 0.5}},
               "parameter_names": ["theta_E", "gamma"], "n_test": 50}
    b = {"main": BranchData("main", "regress", "strong_lensing", None, None, None, "cnn", 1, results=results)}
    ours = headline_table(b, ReportContext(paper={}).paper_value).rows[0]
    assert ours[2:5] == ("R² (mean of 2 parameters)", 0.7, None)
    paper = headline_table(b, ReportContext(paper={"main": {"mse_gamma": 0.03}}).paper_value).rows[0]
    assert paper[2:6] == ("MSE of gamma", 0.04, 0.03, 0.04 - 0.03)


def test_scale_banner_names_the_preset_and_both_scales_or_says_the_papers_scale():
    reduced = scale_blocks("smoke", {"main": classifier("main", 0.5)})
    assert isinstance(reduced[0], Notice)
    assert "Preset 'smoke'" in reduced[0].text and "not comparable" in reduced[0].text
    assert "250 / 50 / 150 images per class" in reduced[0].text
    assert "25,000 / 2,500 / 2,500 images per class" in reduced[0].text
    assert "3 epoch" in reduced[0].text and "50 epoch" in reduced[0].text
    full = scale_blocks(None, {"main": classifier("main", 0.5, scale=PAPER_SCALE)})
    assert isinstance(full[0], Paragraph) and full[0].text.startswith("At the paper's scale (no preset)")
    mixed = {"a": classifier("a", 0.5), "b": classifier("b", 0.5, scale=Scale(10, 5, 5, True, 1))}
    notice, table = scale_blocks("quick", mixed)
    assert isinstance(table, Table) and len(table.rows) == 2 and table.rows[1][:3] == ("b", "10 / 5 / 5 per class", 1)


def test_markdown_shows_the_banner_as_a_note():
    text, _ = render_markdown(document({"main": classifier("main", 0.5)}))
    assert "> **Note.** Preset 'quick'" in text


def test_paper_numbers_for_a_different_setup_are_marked():
    same = branches()
    assert paper_column(same) == "paper"
    moved = branches(differences=("simulation.truncation_deg",))
    assert paper_column(moved) == "paper, for a different setup"
    page = render_html(document({name: moved[name] for name in ("variant=A", "variant=B")}))
    headline = next(t for t in html_tables(page) if "headline metric" in t["columns"])
    assert "paper, for a different setup" in headline["columns"]
    assert "simulation.truncation_deg" in page and "for a different setup" in page


def test_survey_table_shows_every_resolved_value_of_each_distinct_survey_with_units():
    found = branches()
    table, = survey_tables(found)
    assert table.columns == ("survey", "unit", "A", "B", "C", "D", "E")
    rows = {row[0]: row for row in table.rows}
    assert rows["sigma_u"][1] == "muas/yr" and rows["sigma_u"][2:] == (1.0, 0.1, 1.0, 0.1, 1.0)
    assert rows["branches"][4] == "variant=C, variant=C_alexnet, variant=C_vgg11"
    hst = BranchData("main", "classify", "strong_lensing", None, SURVEY_PRESETS["hst"], "hst", "cnn", 1)
    rows = {row[0]: row for row in survey_tables({"main": hst})[0].rows}
    assert rows["pixel_scale"][1:] == ("arcsec", 0.08) and rows["background_rms"][2] == "none"


def test_training_section_numbers_epochs_from_one_and_names_overfitting():
    found = {"main": classifier("main", 0.5)}
    sections = classification_sections(found, ReportContext(paper={}))
    table = next(b for b in sections["Training"] if isinstance(b, Table))
    assert table.rows[0][1:] == (3, 2, "no", "overfitting")  # best_epoch 1 (0-based) is epoch 2
    text = " ".join(b.text for b in sections["Training"] if isinstance(b, Paragraph))
    assert "Overfitting: main (validation loss lowest at epoch 2" in text and "more training images" in text


def test_regression_table_marks_the_papers_column(tmp_path):
    from lensbench.simulate.store import write_manifest, write_shard

    labels = np.array([[0.1, 0.2], [0.3, 0.4]], dtype=np.float32)
    write_shard(tmp_path / "test", 0, np.zeros((2, 1, 8, 8), np.float32), labels, {})
    write_manifest(tmp_path / "test", {"n": 2, "image_shape": [1, 8, 8], "dtype": "float32", "task": "regress",
                                       "classes": [], "labels": ["a", "b"], "label_scale": {}, "kind": "galaxy",
                                       "split": "test", "seed": 1, "shard_size": 2,
                                       "shards": [{"index": 0, "n": 2}]})
    (tmp_path / "evaluate").mkdir()
    np.save(tmp_path / "evaluate" / "predictions.npy", labels)
    results = {"metrics": {"mse": {"a": 0.0, "b": 0.0}, "r2": {"a": 1.0, "b": 1.0}}, "parameter_names": ["a", "b"],
               "n_test": 2}
    b = BranchData("main", "regress", "galaxy", None, None, None, "cnn", 1,
                   outputs={"simulate:test": tmp_path / "test", "evaluate": tmp_path / "evaluate"}, results=results,
                   history={"train_loss": [1.0], "val_loss": [1.0], "best_epoch": 0},
                   paper_setup_differences=("survey.pixel_scale",))
    blocks = regression_sections({"main": b}, ReportContext(paper={"main": {"mse_a": 0.1}}))["Results"]
    assert blocks[0].columns == ("parameter", "MSE", "R²", "MSE, paper, for a different setup")
    assert blocks[0].rows[0][3] == 0.1
