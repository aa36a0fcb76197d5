"""Tests of the report layer: document model, Markdown and HTML renderers, atomic writes,
figures, the metrics.json schema and ``compare``."""

from __future__ import annotations

import base64
import hashlib
import html as html_module
import io
import json
import os
import re

import numpy as np
import pytest
from matplotlib.figure import Figure as MatplotlibFigure
from PIL import Image

from lensbench.errors import DataError, UsageError
from lensbench.report import figures
from lensbench.metrics import roc, regression_metrics
from lensbench.report.compare import (
    compare_reports,
    flatten_spec,
    paper_table,
    scalar_metrics,
    unique_labels,
)
from lensbench.report.document import (
    MAX_FIGURE_BYTES,
    Code,
    Document,
    Figure,
    KeyValues,
    Paragraph,
    Section,
    Table,
    format_cell,
)
from lensbench.report.html import render_html
from lensbench.report.markdown import render_markdown
from lensbench.report.schema import validate_metrics
from lensbench.report.write import write_document, write_report

TRICKY_TEXT = "f_sub ~ U(0.001, 0.2) with *stars*, [brackets](x), <script>alert(1)</script> & #1 | 2"


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def small_figure(name="line", caption="A line (arcsec)."):
    fig = MatplotlibFigure(figsize=(2, 1.5))
    fig.subplots().plot([0, 1], [0, 1])
    return Figure.from_matplotlib(name, fig, caption)


def every_block_document(figure_names=("line",)):
    return Document(
        title="Report <A> & B",
        sections=[
            Section("Summary", [Paragraph(TRICKY_TEXT),
                                KeyValues({"seed": 7, "wall time (s)": 12.3456, "git commit": None})]),
            Section("Results", [
                Table(["branch", "AUC", "n_test"], [["scenario=A", 0.912345, 100], ["a|b", None, 5]],
                      caption="AUC per branch."),
                *[small_figure(name) for name in figure_names],
            ]),
            Section("Spec", [Code('[training]\nepochs = 3  # ``` fence inside\n', "toml")]),
        ],
    )


def roc_points(labels, scores):
    """ROC (fpr, tpr) of binary labels and scores, computed independently of the report code."""
    order = np.argsort(-scores, kind="stable")
    hits = labels[order]
    tpr = np.concatenate([[0.0], np.cumsum(hits) / hits.sum()])
    fpr = np.concatenate([[0.0], np.cumsum(1 - hits) / (1 - hits).sum()])
    return fpr, tpr


def synthetic_metrics(rng, separation, branches=("main",), seed=0):
    """A valid metrics.json for classifiers whose scores separate the classes by ``separation``."""
    result = {
        "schema": "lensbench.metrics/1", "experiment": "astrometric", "preset": "quick",
        "spec_hash": hashlib.sha256(f"{seed}".encode()).hexdigest(), "seed": seed,
        "created": "2025-06-11T12:00:00+00:00", "branches": {}, "paper": {"main": {"auc": 0.95}},
        "provenance": {"git_commit": None, "packages": {"numpy": np.__version__}, "device": "cpu",
                       "python": "3.11", "wall_time_s": {"simulate": 1.5, "train": 3.0},
                       "total_wall_time_s": 4.5},
    }
    for branch in branches:
        labels = rng.integers(0, 2, 400)
        scores = rng.normal(size=400) + separation * labels
        fpr, tpr = roc_points(labels, scores)
        result["branches"][branch] = {
            "task": "classify", "class_names": ["no substructure", "substructure"],
            "metrics": {"auc": float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)),
                        "confusion": [[150, 50], [40, 160]]},
            "curves": {"roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
                       "reliability": {"bin_centres": [0.25, 0.75], "observed": [0.2, None],
                                       "predicted": [0.3, None], "counts": [400, 0]},
                       "loss": {"train_loss": [0.7, 0.5], "val_loss": [0.72, 0.6]}},
            "n_test": 400,
        }
    return result


# --- document model ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, text", [
    (None, "—"), ("x", "x"), (12288, "12288"), (np.int64(3), "3"), (True, "yes"),
    (0.0, "0"), (0.987654, "0.9877"), (0.5, "0.5000"), (12345.6, "12346"), (3.1e-5, "3.100e-05"),
    (2.5e7, "2.500e+07"), (np.float32(0.25), "0.2500"), (float("nan"), "nan"),
])
def test_format_cell(value, text):
    assert format_cell(value) == text


def test_table_rejects_row_of_wrong_length():
    with pytest.raises(ValueError, match="row 1 has 1 cells, expected 2"):
        Table(["a", "b"], [[1, 2], [3]], caption="t")


def test_document_rejects_repeated_figure_names():
    figure = small_figure("same")
    with pytest.raises(ValueError, match="repeated: same"):
        Document("t", [Section("a", [figure]), Section("b", [figure])])


# --- renderers --------------------------------------------------------------------------------

def test_markdown_renders_every_block_type():
    doc = every_block_document()
    text, files = render_markdown(doc)
    assert text.startswith("# Report \\<A\\> \\& B\n")
    assert "## Summary" in text and "## Results" in text
    assert "| branch | AUC | n\\_test |\n|---|---:|---:|\n| scenario=A | 0.9123 | 100 |" in text
    assert "| a\\|b | — | 5 |" in text
    assert "![A line (arcsec).](figures/line.png)" in text
    assert "- **seed:** 7" in text and "- **git commit:** —" in text
    assert "````toml\n[training]\nepochs = 3  # ``` fence inside\n````" in text
    assert files == {"figures/line.png": doc.figures()[0].png_bytes}


def test_markdown_escaping_renders_back_to_the_plain_text():
    markdown_it = pytest.importorskip("markdown_it")
    text, _ = render_markdown(Document("t", [Section("s", [Paragraph(TRICKY_TEXT),
                                                            Paragraph("1. not a list")])]))
    rendered = markdown_it.MarkdownIt().render(text)
    paragraphs = [html_module.unescape(p) for p in re.findall(r"<p>(.*?)</p>", rendered)]
    assert paragraphs == [TRICKY_TEXT, "1. not a list"]


def test_html_renders_every_block_type_and_escapes_text():
    doc = every_block_document()
    page = render_html(doc)
    assert "<title>Report &lt;A&gt; &amp; B</title>" in page
    assert html_module.escape(TRICKY_TEXT) in page and "<script>" not in page
    assert '<td class="num">0.9123</td>' in page and "<td>a|b</td>" in page
    assert "<dt>wall time (s)</dt><dd>12.35</dd>" in page
    assert '<pre><code class="language-toml">[training]' in page
    embedded = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page).group(1)
    assert base64.b64decode(embedded) == doc.figures()[0].png_bytes
    anchors = re.findall(r'<a href="#([^"]+)">', page)
    assert anchors == ["summary", "results", "spec"]
    assert all(f'<section id="{anchor}">' in page for anchor in anchors)


def test_html_is_self_contained():
    page = render_html(every_block_document(figure_names=("one", "two")))
    assert not re.search(r"https?://", page)
    assert "<link" not in page and "<script" not in page and "@import" not in page
    sources = re.findall(r'\ssrc="([^"]*)"', page)
    assert len(sources) == 2 and all(source.startswith("data:image/png;base64,") for source in sources)
    assert all(href.startswith("#") for href in re.findall(r'\shref="([^"]*)"', page))


def test_a_report_with_heavy_figures_links_them_beside_the_page(tmp_path, monkeypatch):
    doc = every_block_document(figure_names=("one", "two"))
    monkeypatch.setattr("lensbench.report.write.INLINE_FIGURES_LIMIT", 0)  # any figure is too heavy
    write_document(doc, tmp_path)
    page = (tmp_path / "report.html").read_text()
    sources = re.findall(r'\ssrc="([^"]*)"', page)
    assert sources == ["figures/one.png", "figures/two.png"]
    assert all((tmp_path / source).is_file() for source in sources)
    assert "img-src 'self' data:" in page and "base64" not in page and not re.search(r"https?://", page)
    monkeypatch.setattr("lensbench.report.write.INLINE_FIGURES_LIMIT", 10**9)
    write_document(doc, tmp_path)
    assert all(s.startswith("data:image/png") for s in re.findall(r'\ssrc="([^"]*)"', (tmp_path / "report.html").read_text()))


# --- figures ----------------------------------------------------------------------------------

def assert_valid_png(figure: Figure):
    assert figure.png_bytes.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(figure.png_bytes) < MAX_FIGURE_BYTES
    image = Image.open(io.BytesIO(figure.png_bytes))
    image.verify()
    return image.size


def test_every_figure_is_a_valid_png_under_the_size_limit(rng):
    labels = np.repeat([0, 1, 2], 3)
    curve = {"fpr": [0, 0.2, 1], "tpr": [0, 0.7, 1], "auc": 0.75}
    reliability = {"bin_centres": [0.25, 0.75], "observed": [0.2, 0.8], "predicted": [0.3, 0.7],
                   "counts": [10, 12]}
    drawn = {
        "examples_two_channels": figures.example_images(rng.normal(size=(9, 2, 16, 32)), labels,
                                                        ["none", "cdm", "vortex"], per_class=2),
        "examples_one_channel": figures.example_images(rng.random((9, 1, 16, 16)), labels,
                                                       ["none", "cdm", "vortex"], per_class=4),
        "loss": figures.loss_curves({"a": {"train_loss": [1, 0.5], "val_loss": [1.1, 0.7],
                                           "val_acc": [0.6, 0.7]}}),
        "roc": figures.roc_curves({"a": curve}, paper_auc={"a": 0.8}),
        "reliability": figures.reliability_diagram({"a": reliability}, {"a": 0.1}),
        "confusion": figures.confusion_matrix([[5, 1], [0, 4]], ["no", "yes"]),
        "agreement": figures.agreement(rng.normal(size=(50, 2)), rng.normal(size=(50, 2)),
                                       ["theta_E (arcsec)", "f_sub"]),
        "histogram": figures.histogram(np.r_[rng.normal(size=100), np.nan], 10, "log10 M (Msun)"),
        "gallery": figures.image_gallery(rng.random((5, 16, 16)), [str(i) for i in range(5)], 3),
    }
    for name, fig in drawn.items():
        assert_valid_png(Figure.from_matplotlib(name, fig, name))


def test_noisy_images_are_shrunk_below_the_limit_and_rendering_is_reproducible(rng):
    noise = rng.normal(size=(2, 1, 256, 256))
    fig = figures.example_images(noise, np.array([0, 1]), ["a", "b"], per_class=1)
    full = Figure.from_matplotlib("full", fig, max_bytes=10**9)
    capped = Figure.from_matplotlib("capped", fig, max_bytes=len(full.png_bytes) // 2)
    assert len(capped.png_bytes) <= len(full.png_bytes) // 2
    assert assert_valid_png(capped)[0] < assert_valid_png(full)[0]
    assert Figure.from_matplotlib("again", fig, max_bytes=10**9).png_bytes == full.png_bytes
    with pytest.raises(ValueError, match="make the figure smaller"):
        Figure.from_matplotlib("impossible", fig, max_bytes=100)


def test_loss_curves_without_accuracy_have_one_panel():
    regression_history = {"train_loss": [1.0, 0.5], "val_loss": [1.2, 0.6], "train_acc": [],
                          "val_acc": [], "lr": [0.1, 0.1]}
    assert len(figures.loss_curves({"run": regression_history}).axes) == 1


def test_figure_rejects_bytes_that_are_not_png():
    with pytest.raises(ValueError, match="not a PNG"):
        Figure("bad", b"GIF89a....", "x")


# --- schema -----------------------------------------------------------------------------------

def test_schema_accepts_synthetic_metrics(rng):
    validate_metrics(synthetic_metrics(rng, 1.0, branches=("scenario=A", "scenario=D")))


def test_schema_accepts_what_lensbench_metrics_computes(rng):
    metrics = synthetic_metrics(rng, 1.0)
    labels = rng.integers(0, 2, 50)
    curve = roc(labels, rng.random(50) + 0.3 * labels)
    metrics["branches"]["main"]["curves"]["roc"] = {key: curve[key] for key in ("fpr", "tpr", "thresholds")}
    metrics["branches"]["main"]["metrics"]["one_vs_rest_auc"] = [0.7, None]
    truth, predicted = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    metrics["branches"]["fit"] = {
        "task": "regress", "parameter_names": ["theta_E (arcsec)", "f_sub"],
        "metrics": regression_metrics(truth, predicted, ["theta_E (arcsec)", "f_sub"]),
        "curves": {}, "n_test": 20}
    validate_metrics(metrics)


def test_schema_lists_every_problem(rng):
    metrics = synthetic_metrics(rng, 1.0)
    del metrics["seed"]
    del metrics["branches"]["main"]["task"]
    metrics["branches"]["main"]["metrics"]["auc"] = float("nan")
    metrics["branches"]["main"]["curves"]["roc"]["tpr"].pop()
    metrics["provenance"]["wall_time_s"]["train"] = -1.0
    with pytest.raises(ValueError) as caught:
        validate_metrics(metrics)
    message = str(caught.value)
    for problem in ["metrics: missing key 'seed'", "branches['main']: missing key 'task'",
                    "branches['main'].metrics.auc: nan is not allowed in JSON",
                    "branches['main'].curves.roc: lists differ in length",
                    "provenance.wall_time_s['train']: -1.0 is below 0"]:
        assert problem in message


def test_schema_rejects_unknown_keys_and_wrong_version(rng):
    metrics = synthetic_metrics(rng, 1.0)
    metrics["schema"] = "lensbench.metrics/0"
    metrics["provenance"]["gpu"] = "none"
    with pytest.raises(ValueError, match=r"(?s)expected 'lensbench.metrics/1'.*unknown key 'gpu'"):
        validate_metrics(metrics)


# --- writing ----------------------------------------------------------------------------------

def test_write_report_writes_every_file_and_replaces_an_old_report_whole(tmp_path, rng):
    metrics = synthetic_metrics(rng, 1.0)
    metrics["branches"]["main"]["metrics"]["brier"] = np.float32(0.125)
    write_report(every_block_document(("old", "kept")), tmp_path, metrics,
                 {"spec.resolved.toml": "[training]\nepochs = 3\n", "logs/notes.txt": b"\x00\x01"})
    assert sorted(p.name for p in (tmp_path / "figures").iterdir()) == ["kept.png", "old.png"]
    write_report(every_block_document(("kept",)), tmp_path, metrics,
                 {"spec.resolved.toml": "[training]\nepochs = 4\n"})
    files = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert files == ["figures/kept.png", "logs/notes.txt", "metrics.json", "report.html",
                     "report.md", "spec.resolved.toml"]
    assert "old.png" not in (tmp_path / "report.md").read_text()
    assert (tmp_path / "spec.resolved.toml").read_text() == "[training]\nepochs = 4\n"
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["branches"]["main"]["metrics"]["brier"] == 0.125
    validate_metrics(written)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, rng, monkeypatch):
    metrics = synthetic_metrics(rng, 1.0)
    write_report(every_block_document(), tmp_path, metrics)
    old_page = (tmp_path / "report.html").read_bytes()
    real_replace = os.replace

    def failing_replace(source, target):
        if str(target).endswith("report.html"):
            raise OSError("disk full")
        real_replace(source, target)

    monkeypatch.setattr(os, "replace", failing_replace)
    changed = Document("Another title", [Section("s", [Paragraph("p")])])
    with pytest.raises(OSError, match="disk full"):
        write_report(changed, tmp_path, metrics)
    assert (tmp_path / "report.html").read_bytes() == old_page
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_write_report_refuses_bad_metrics_before_writing_anything(tmp_path, rng):
    metrics = synthetic_metrics(rng, 1.0)
    del metrics["provenance"]
    with pytest.raises(ValueError, match="missing key 'provenance'"):
        write_report(every_block_document(), tmp_path / "out", metrics)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("path", ["../escape.txt", "/abs.txt", "report.html", "figures/x.png",
                                  "metrics.json"])
def test_write_report_refuses_extra_files_that_escape_or_collide(tmp_path, rng, path):
    with pytest.raises(ValueError, match="extra file"):
        write_report(every_block_document(), tmp_path, synthetic_metrics(rng, 1.0), {path: "x"})


# --- compare ----------------------------------------------------------------------------------

def write_run(directory, rng, separation, epochs, branches, seed):
    metrics = synthetic_metrics(rng, separation, branches=branches, seed=seed)
    spec = f'[experiment]\nname = "astrometric"\nseed = {seed}\n[training]\nepochs = {epochs}\nlr = 0.001\n'
    write_report(Document("run", [Section("s", [Paragraph("p")])]), directory, metrics,
                 {"spec.resolved.toml": spec})
    return metrics


def test_compare_writes_differences_roc_overlays_and_spec_differences(tmp_path, rng):
    first = write_run(tmp_path / "a" / "quick", rng, 0.5, 3, ("scenario=A", "scenario=D"), seed=1)
    second = write_run(tmp_path / "b" / "quick", rng, 2.0, 10, ("scenario=A",), seed=2)
    out = compare_reports([tmp_path / "a" / "quick", tmp_path / "b" / "quick"], tmp_path / "cmp")
    text = (out / "report.md").read_text()
    auc_first = first["branches"]["scenario=A"]["metrics"]["auc"]
    auc_second = second["branches"]["scenario=A"]["metrics"]["auc"]
    assert "| branch | metric | a/quick | b/quick | b/quick − a/quick |" in text
    assert (f"| scenario=A | AUC | {format_cell(auc_first)} | {format_cell(auc_second)} | "
            f"{format_cell(auc_second - auc_first)} |") in text
    assert "Only in a/quick (no other report ran the same task; its metrics are in its own report): scenario=D." in text
    assert "| experiment.seed | 1 | 2 |" in text and "| training.epochs | 3 | 10 |" in text
    assert "training.lr" not in text and "experiment.name" not in text
    assert [p.name for p in (out / "figures").iterdir()] == ["roc-1-scenario-a.png"]
    assert "data:image/png;base64," in (out / "report.html").read_text()


def test_compare_names_the_folder_that_is_not_a_report(tmp_path, rng):
    write_run(tmp_path / "good", rng, 1.0, 3, ("main",), seed=1)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=f"{tmp_path / 'empty'}: no metrics.json"):
        compare_reports([tmp_path / "good", tmp_path / "empty"], tmp_path / "cmp")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "metrics.json").write_text("{not json")
    with pytest.raises(DataError, match=f"{broken / 'metrics.json'}: not valid JSON"):
        compare_reports([tmp_path / "good", broken], tmp_path / "cmp")
    metrics = json.loads((tmp_path / "good" / "metrics.json").read_text())
    del metrics["branches"]
    (broken / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(DataError, match="missing key 'branches'"):
        compare_reports([tmp_path / "good", broken], tmp_path / "cmp")
    with pytest.raises(UsageError):
        compare_reports([tmp_path / "good"], tmp_path / "cmp")


def test_scalar_metrics_flattens_per_class_and_per_parameter_values():
    branch = {"task": "classify", "class_names": ["none", "cdm"], "n_test": 9,
              "metrics": {"auc": 0.9, "one_vs_rest_auc": [0.8, 0.95], "rmse": {"f_sub": 0.01},
                          "confusion": [[4, 1], [0, 4]]}}
    assert scalar_metrics(branch) == {"auc": 0.9, "one_vs_rest_auc[none]": 0.8,
                                      "one_vs_rest_auc[cdm]": 0.95, "rmse[f_sub]": 0.01, "n_test": 9}


def test_paper_table_puts_published_numbers_beside_ours(rng):
    metrics = synthetic_metrics(rng, 1.0)
    metrics["paper"] = {"main": {"auc": 0.95, "precision": 0.7}, "scenario=E": {"auc": 0.8}}
    table = paper_table(metrics)
    ours = metrics["branches"]["main"]["metrics"]["auc"]
    assert table.rows == (("main", "auc", ours, 0.95, ours - 0.95), ("main", "precision", None, 0.7, None),
                          ("scenario=E", "auc", None, 0.8, None))
    metrics["paper"] = {}
    assert paper_table(metrics) is None


def test_unique_labels_and_flatten_spec(tmp_path):
    assert unique_labels([tmp_path / "a" / "quick", tmp_path / "b" / "quick"]) == ["a/quick", "b/quick"]
    flat = flatten_spec({"a": {"b": 1, "c": {"d": "x"}}, "e": [1, 2.5], "f": True})
    assert flat == {"a.b": "1", "a.c.d": '"x"', "e": "[1, 2.5]", "f": "true"}
