"""The application report (:mod:`lensbench.report.apply`): the ``lensbench apply`` document built
from a scorer's results, and the run report's "Application to real data" blocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lensbench.io.fits import InputProblem, Stamp
from lensbench.io.preprocess import Preprocessing, apply_cuts
from lensbench.report.apply import MISSING_FORMAT, application_blocks, write_apply_report
from lensbench.report.document import Document, Figure, Paragraph, Section, Table
from lensbench.scoring import ApplyResult, Gallery
from lensbench.scoring.controls import RADIUS_EDGES_ARCSEC, ZoomCurve
from lensbench.scoring.domain import domain_check
from lensbench.scoring.outputs import summarise
from lensbench.scoring.stream import Rows

CARD = {"architecture": "cnn", "classes": ["no_halo", "halo"], "input_size": [64, 64],
        "normalize": "max", "simulation_kind": "galaxy", "pixel_scale": 0.03}
#: A size-matched control as the scorer records it (20 % of matched no-halo galaxies 'halo').
CONTROL = {"pool": {"size": 100, "fraction": 0.3}, "neighbours": 5, "matched_stamps": 5,
           "pixel_scale": 0.03, "fraction": 0.2, "interval": [0.05, 0.4],
           "median_radius_ratio": 1.01, "median_flux_ratio": 0.98,
           "radius_histogram": {"edges": RADIUS_EDGES_ARCSEC.tolist(),
                                "real": [1] * 5 + [0] * 20, "pool": [4] * 25,
                                "matched": [5] * 5 + [0] * 20}}
KO_COSMOS = {"source": "Ko (2024), Sec. III.C", "stamps_read": 29062, "passed": 3707,
             "positive": 3689}
#: Stamp sides (pixels): two too small, one too large, five passing the cuts.
SIDES = (40, 45, 90, 60, 60, 70, 75, 80)


def scored_result(out_dir: Path, *, paper=None, problems=(), gallery_size=2,
                  sides=SIDES) -> ApplyResult:
    """What the scorer returns for stamps of the given sides, the passing ones given rising
    scores (the last of them above 0.5, so 'halo'), without running a network."""
    prep = Preprocessing(normalisation="none")
    rows = Rows()
    passing = []
    for index, side in enumerate(sides):
        stamp = Stamp(f"stamp{index}", "stamps.fits", index, np.full((side, side), 0.5, "f4"))
        row = rows.add(stamp, apply_cuts(stamp, prep))
        if min(stamp.image.shape) >= 50 and max(stamp.image.shape) <= 80:
            passing.append(row)
    scores = np.linspace(0.1, 0.6, len(passing))
    radii = np.linspace(4.0, 9.0, len(passing))  # network pixels: score rises with size
    rows.set_predictions(np.array(passing, dtype=np.int64),
                         np.stack([1.0 - scores, scores], axis=1))
    rows.set_sizes(np.array(passing, dtype=np.int64), radii, np.full(len(passing), 20.0))
    zoom = ZoomCurve((0.9, 1.0, 1.1))
    for index, threshold in enumerate((0.6, 0.5, 0.3)):
        zoom.add(index, scores > threshold)
    diagnostics = {"domain": domain_check(CARD, prep, "galaxy", np.full(len(passing), 0.03),
                                          np.array([SIDES[row] for row in passing])),
                   "size": {"score_radius_spearman": {"rho": 1.0, "p_value": 0.0, "n": len(passing)},
                            "median_radius_px": float(np.median(radii)) if passing else None},
                   "zoom": zoom.to_dict(), "control": CONTROL if passing else {"skipped": "nothing scored"}}
    summary = summarise(rows, CARD, prep, Path("models/m"), ["stamps.fits"], list(problems),
                        paper, diagnostics)
    images = np.random.default_rng(0).uniform(0, 1, (len(passing), 64, 64)).astype("f4")
    high = (len(passing) + 1) // 2
    order = np.argsort(-scores, kind="stable")[:min(gallery_size, high)]
    reverse = np.argsort(scores, kind="stable")[:min(gallery_size, len(passing) - high)]
    return ApplyResult(out_dir, Path("models/m"), prep, summary, np.array(rows.scores),
                       np.array(rows.radii),
                       Gallery(tuple(f"stamp{passing[i]}" for i in order), scores[order],
                               images[order]),
                       Gallery(tuple(f"stamp{passing[i]}" for i in reverse), scores[reverse],
                               images[reverse]),
                       tuple(problems))


def test_report_has_cuts_predictions_paper_and_galleries(tmp_path):
    out = write_apply_report(scored_result(tmp_path, paper=KO_COSMOS))
    for name in ("report.md", "report.html", "figures/score_histogram.png",
                 "figures/highest_scores.png", "figures/lowest_scores.png",
                 "figures/zoom_curve.png", "figures/score_vs_radius.png",
                 "figures/radius_distributions.png"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "5 of 8 stamps pass every cut" in report
    assert "Ko (2024), Sec. III.C: 3707 of 29062 stamps pass (12.8%)." in report
    assert r"| too\_small | a side under 50 px | 2 |" in report
    assert r"| too\_large | a side over 80 px | 1 |" in report
    assert "| these inputs | 1 | 5 |" in report and "| paper | 3689 | 3707 |" in report
    assert "The 2 lowest-scoring stamps, as in Ko's Fig 5" in report
    assert "no stamp is in both galleries" in report and "confiden" not in report
    assert "training normalisation (model.json normalize)" in report
    assert "## Training domain" in report and "match the model's training domain" in report
    assert "## What the fraction means" in report
    assert "It is not a count of galaxies with halos." in report
    assert "matched to the real stamps in half-light radius and flux" in report
    assert r"are called 'halo' 20.0% \[5.0%, 40.0%\] of the time" in report
    assert "from 0.9 to 1.1 moves the fraction from 0.0% to 60.0%" in report
    assert "The paper's 99.5% is shown beside ours with this caveat, not as a target." in report
    assert "cropped about the centre or padded with noise" in report


def test_report_without_paper_problems_listed_and_nothing_scored(tmp_path):
    problem = InputProblem("missing.fits", None, "no such file")
    out = write_apply_report(scored_result(tmp_path, problems=[problem], sides=(40, 90)))
    report = (out / "report.md").read_text()
    assert "| paper |" not in report and "Ko (2024)" not in report
    assert "missing.fits" in report and "no such file" in report
    assert "No stamp passed the cuts: nothing was scored." in report
    assert "Galleries" not in report and not (out / "figures" / "lowest_scores.png").exists()
    assert "What the fraction means" not in report


def test_application_blocks_summarise_the_folder_beside_the_paper(tmp_path):
    folder = write_apply_report(scored_result(tmp_path / "apply", paper=KO_COSMOS))
    summary = json.loads(json.dumps(scored_result(folder, paper=KO_COSMOS).summary))
    blocks = application_blocks(summary, folder, "variant=nfw_galaxy", "apply-variant=nfw_galaxy")
    paragraph, domain, meaning, table, *figures = blocks
    assert isinstance(paragraph, Paragraph) and isinstance(table, Table)
    assert "training domain" in domain.text and "not as a target" in meaning.text
    assert "branch variant=nfw_galaxy" in paragraph.text
    assert "apply-variant=nfw_galaxy/report.html" in paragraph.text
    values = {row[0]: row[1:] for row in table.rows}
    assert values["stamps read"] == (8, 29062)
    assert values["passed every cut"] == (5, 3707)
    assert values["predicted 'halo'"] == (1, 3689)
    assert values["fraction 'halo'"][1] == pytest.approx(3689 / 3707)
    assert values["removed by cut 'too_small'"] == (2, None)
    assert values["fraction 'halo', simulated, no halo, size-matched"] == (0.2, None)
    assert values["fraction 'halo', simulated, no halo, training prior"] == (0.3, None)
    assert values["fraction at zoom 1.1"] == (0.6, None)
    assert values["Spearman rho, score vs half-light radius"] == (1.0, None)
    assert "Ko (2024), Sec. III.C" in table.caption
    assert [figure.name for figure in figures] == [f"apply-variant-nfw_galaxy-{name}" for name in (
        "score_histogram", "highest_scores", "lowest_scores", "zoom_curve", "score_vs_radius",
        "radius_distributions")]
    assert all(isinstance(figure, Figure) for figure in figures)
    Document("run", [Section("Application to real data", blocks)])


def test_application_blocks_without_paper_leave_its_column_empty(tmp_path):
    folder = write_apply_report(scored_result(tmp_path))
    table = application_blocks(scored_result(folder).summary, folder, "main", "apply")[3]
    assert all(row[2] is None for row in table.rows)


def test_application_blocks_say_what_is_missing_and_how_to_get_it(tmp_path):
    summary = {"format": MISSING_FORMAT, "inputs": ["/data/cosmos/sample"],
               "missing": ["/data/cosmos/sample"], "fetch_hint": "Run `lensbench fetch cosmos`."}
    [paragraph] = application_blocks(summary, tmp_path, "variant=nfw_galaxy", "apply")
    assert "Not run" in paragraph.text and "/data/cosmos/sample not found" in paragraph.text
    assert "Run `lensbench fetch cosmos`." in paragraph.text
