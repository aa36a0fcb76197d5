"""The report of an application to real data: the ``lensbench apply`` document, and the section
the run report gives each branch's application.

:func:`write_apply_report` writes ``report.md``, ``report.html`` and ``figures/`` beside the
scorer's ``predictions.csv``, ``predictions.fits`` and ``apply.json``
(:func:`lensbench.scoring.apply_model`); :func:`application_blocks` summarises such a folder's
``apply.json`` and figures inside the run report. Both say what the positive fraction can and
cannot mean (:mod:`lensbench.report.apply_controls`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from lensbench.report import figures
from lensbench.report.apply_controls import FIGURE_CAPTIONS as CONTROL_CAPTIONS
from lensbench.report.apply_controls import (control_summary_rows, controls_section, domain_blocks,
                                             meaning_text)
from lensbench.report.document import Document, Figure, KeyValues, Paragraph, Section, Table
from lensbench.report.write import write_document
from lensbench.scoring import ApplyResult, Gallery

SCORE_BIN_EDGES = np.linspace(0.0, 1.0, 21)
MAX_PROBLEMS_IN_REPORT = 100
GALLERY_COLUMNS = 6
#: Figures of the application report, by name, and what they show.
FIGURE_CAPTIONS = {
    "score_histogram": "Scores of the scored stamps: probability of the last class, no unit",
    "highest_scores": "The highest-scoring stamps",
    "lowest_scores": "The lowest-scoring stamps, as in Ko's Fig 5",
    **CONTROL_CAPTIONS,
}
MISSING_FORMAT = "lensbench.apply-missing/1"  # the apply step's apply.json when inputs are missing


def write_apply_report(result: ApplyResult) -> Path:
    """Write ``report.md``, ``report.html`` and ``figures/*.png`` of an application into its
    folder (``result.out_dir``), beside the tables; returns that folder."""
    return write_document(apply_document(result), result.out_dir)


def apply_document(result: ApplyResult) -> Document:
    """The application report: inputs, the training-domain check, preprocessing, cuts,
    predictions (beside the paper's counts when ``apply.json`` has them), what the fraction
    means (the controls) and the galleries of the highest- and lowest-scoring stamps."""
    summary = result.summary
    sections = [_input_section(summary), Section("Training domain", domain_blocks(summary)),
                _preprocessing_section(summary), _cut_section(summary),
                _prediction_section(summary, result.scores)]
    if summary["scored"]:
        sections.append(controls_section(summary, result.scores, result.radii))
    if len(result.highest_scores.identifiers):
        sections.append(_gallery_section(summary, result.highest_scores, result.lowest_scores))
    return Document("lensbench apply", sections)


# ---------------------------------------------------------------------------------------------
# The application report's sections


def _cut_rules(prep: dict) -> dict[str, str]:
    """Each cut's rule in words, with units."""
    def rule(value, text):
        return "off" if value is None else text.format(value)

    return {"non_finite": "NaN or infinite pixel" if prep["reject_non_finite"] else "off",
            "too_small": rule(prep["min_size"], "a side under {} px"),
            "too_large": rule(prep["max_size"], "a side over {} px"),
            "too_bright": rule(prep["max_pixel"],
                               "a pixel above {} (file units; COSMOS counts/s)")}


def _input_section(summary: dict) -> Section:
    problems = summary["problems"]
    blocks = [KeyValues({
        "model folder": summary["model"]["folder"],
        "architecture": summary["model"]["architecture"],
        "classes": ", ".join(summary["model"]["classes"]),
        "inputs": ", ".join(summary["inputs"]),
        "files read": summary["files_read"],
        "stamps read": summary["stamps_read"],
        "problems (skipped inputs)": len(problems),
    })]
    if problems:
        shown = problems[:MAX_PROBLEMS_IN_REPORT]
        more = len(problems) - len(shown)
        caption = "Inputs that could not be read or prepared; each was skipped" + (
            f" ({more} more in apply.json)." if more else ".")
        blocks.append(Table(("file", "HDU", "reason"),
                            [(p["file"], p["hdu"], p["reason"]) for p in shown], caption))
    return Section("Inputs", blocks)


def _preprocessing_section(summary: dict) -> Section:
    prep = summary["preprocessing"]
    size = f"{prep['output_shape'][0]} x {prep['output_shape'][1]} px"
    how = (f"cropped about the centre or padded with noise to the network input {size} at the "
           f"stamps' own pixel scale" if prep.get("preparation", "native") == "native" else
           f"resampled to the network input {size} ({prep['resampling']}; this changes the pixel "
           f"scale by the ratio of the sizes)")
    order = (f"Order: the cuts on each stamp in its own units; {how}, with normalisation "
             f"'{prep['normalisation']}'; then the per-image normalisation the network was "
             f"trained with ('{summary['model']['normalize']}'); softmax.")
    entries = {key: str(value) if isinstance(value, list) else value
               for key, value in prep.items()}
    entries["training normalisation (model.json normalize)"] = summary["model"]["normalize"]
    return Section("Preprocessing", [Paragraph(order), KeyValues(entries)])


def _paper_passed_text(paper: dict) -> str:
    """" <source>: <passed> of <read> stamps pass (<fraction>)." or "" when not both known."""
    if paper.get("passed") is None or not paper.get("stamps_read"):
        return ""
    return (f" {paper['source'] or 'The paper'}: {paper['passed']} of {paper['stamps_read']} "
            f"stamps pass ({paper['passed'] / paper['stamps_read']:.1%}).")


def _cut_section(summary: dict) -> Section:
    read = summary["stamps_read"]
    rules = _cut_rules(summary["preprocessing"])
    rows = [(name, rules[name], count, count / read) for name, count in summary["cuts"].items()]
    rows.append(("any cut", "fails at least one", summary["failed_any_cut"],
                 summary["failed_any_cut"] / read))
    rows.append(("passed", "fails none", summary["passed"], summary["passed"] / read))
    text = (f"{summary['passed']} of {read} stamps pass every cut; a stamp failing several "
            f"cuts counts in each." + _paper_passed_text(summary.get("paper", {})))
    table = Table(("cut", "rejects", "stamps removed", "fraction of stamps read"), rows,
                  "Stamps removed by each cut.")
    return Section("Cuts", [Paragraph(text), table])


def _fraction_row(name: str, entry: dict) -> tuple:
    low, high = entry["interval"] if entry["interval"] is not None else (None, None)
    return (name, entry["positive"], entry["total"], entry["fraction"], low, high)


def _prediction_section(summary: dict, scores: np.ndarray) -> Section:
    positive = summary["positive_class"]
    table_rows = [_fraction_row("these inputs", summary["predicted_positive"])]
    caption = f"Fraction of scored stamps whose most probable class is '{positive}'."
    if "paper" in summary:
        table_rows.append(_fraction_row("paper", summary["paper"]["predicted_positive"]))
        caption += (f" Paper: {summary['paper']['source'] or 'no source given'}; shown beside "
                    f"ours, not as a target (see 'What the fraction means').")
    blocks = [Table(("sample", f"predicted '{positive}'", "scored", "fraction",
                     "95 % Wilson low", "95 % Wilson high"), table_rows, caption)]
    scores = scores[np.isfinite(scores)]
    if scores.size:
        figure = figures.histogram(scores, SCORE_BIN_EDGES, f"score: probability of '{positive}'")
        blocks.append(Figure.from_matplotlib("score_histogram", figure, f"Scores of the "
                      f"{scores.size} scored stamps (probability of '{positive}', no unit)."))
    else:
        blocks.append(Paragraph("No stamp passed the cuts: nothing was scored."))
    return Section("Predictions", blocks)


def _gallery_figure(name: str, gallery: Gallery, caption: str) -> Figure:
    captions = [f"{identifier}\n{score:.3f}"
                for identifier, score in zip(gallery.identifiers, gallery.scores)]
    figure = figures.image_gallery(gallery.images, captions, ncols=GALLERY_COLUMNS)
    return Figure.from_matplotlib(name, figure, caption)


def _gallery_section(summary: dict, highest: Gallery, lowest: Gallery) -> Section:
    positive = summary["positive_class"]
    size = summary["preprocessing"]["output_shape"]
    units = (f"{size[0]} x {size[1]} px as the network got them, before the training "
             f"normalisation; above each: identifier and score, the probability of '{positive}'")
    blocks = [_gallery_figure("highest_scores", highest,
                              f"The {len(highest.identifiers)} highest-scoring stamps ({units}).")]
    if len(lowest.identifiers):
        blocks.append(_gallery_figure("lowest_scores", lowest,
                                      f"The {len(lowest.identifiers)} lowest-scoring stamps, as in "
                                      f"Ko's Fig 5 ({units}); no stamp is in both galleries."))
    return Section("Galleries", blocks)


# ---------------------------------------------------------------------------------------------
# The run report's section


def _figure_slug(text: str) -> str:
    """``text`` reduced to the characters a figure name may hold."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-") or "branch"


def _missing_paragraph(summary: dict, branch: str) -> Paragraph:
    """What the application of ``branch`` would have read, what is missing and how to get it."""
    hint = f" {summary['fetch_hint']}" if summary.get("fetch_hint") else ""
    return Paragraph(f"Not run: the real data of branch {branch} are missing "
                     f"({', '.join(summary['missing'])} not found).{hint} Or point "
                     f"[application] inputs at them (--set ...application.inputs=[\"PATH\"]), "
                     f"then run again: only the application and the report are computed anew.")


def _interval_bound(entry: dict, index: int) -> float | None:
    return entry["interval"][index] if entry.get("interval") else None


def application_blocks(summary: dict, folder: Path, branch: str, report_folder: str) -> list:
    """Blocks summarising one branch's application to real data, for the run report.

    Parameters
    ----------
    summary : dict
        The application's ``apply.json``.
    folder : Path
        The application's folder (the apply step's output), whose ``figures/*.png`` are shown.
    branch : str
        The grid branch the classifier comes from (it names the figures).
    report_folder : str
        Where the run report keeps a copy of the whole application folder, relative to the run
        report (e.g. ``"apply"``); named in the text so a reader finds the table of every stamp.

    Returns
    -------
    list
        A paragraph, the training-domain check, what the fraction means, a table of cuts,
        counts and controls beside the paper's (a column of its own, "—" where the paper gives
        nothing), and the application report's figures; or, when the inputs were missing, a
        paragraph saying what is missing and how to get it.
    """
    if summary.get("format") == MISSING_FORMAT:
        return [_missing_paragraph(summary, branch)]
    ours = summary["predicted_positive"]
    paper = summary.get("paper", {})
    theirs = paper.get("predicted_positive") or {}
    positive = summary["positive_class"]
    rows = [("stamps read", summary["stamps_read"], paper.get("stamps_read")),
            ("unreadable inputs (named in the application report)", len(summary["problems"]),
             None)]
    rows += [(f"removed by cut '{cut}'", count, None) for cut, count in summary["cuts"].items()]
    rows += [("passed every cut", summary["passed"], paper.get("passed")),
             ("scored", summary["scored"], theirs.get("total")),
             (f"predicted '{positive}'", ours["positive"], theirs.get("positive")),
             (f"fraction '{positive}'", ours["fraction"], theirs.get("fraction")),
             ("95 % interval (Wilson), low", _interval_bound(ours, 0), _interval_bound(theirs, 0)),
             ("95 % interval (Wilson), high", _interval_bound(ours, 1),
              _interval_bound(theirs, 1))]
    rows += control_summary_rows(summary)
    source = f" Paper: {paper['source']}." if paper.get("source") else ""
    blocks = [Paragraph(f"The classifier of branch {branch} applied to "
                        f"{', '.join(summary['inputs'])}. The full application report, with the "
                        f"table of every stamp, is in {report_folder}/report.html "
                        f"(predictions.csv, predictions.fits)."),
              *domain_blocks(summary)[:1],
              Paragraph(meaning_text(summary)),
              Table(("quantity", "lensbench", "paper"), tuple(rows),
                    f"Cuts, counts and the fraction of real stamps predicted '{positive}', "
                    f"beside the paper's (a stamp failing several cuts counts under each), and "
                    f"the controls of what that fraction means." + source)]
    order = list(FIGURE_CAPTIONS)
    pngs = sorted((Path(folder) / "figures").glob("*.png"),
                  key=lambda png: (order.index(png.stem) if png.stem in order else len(order), png.stem))
    for png in pngs:
        caption = FIGURE_CAPTIONS.get(png.stem, png.stem.replace("_", " "))
        blocks.append(Figure(f"apply-{_figure_slug(branch)}-{png.stem}", png.read_bytes(),
                             f"{caption}; from the application report."))
    return blocks
