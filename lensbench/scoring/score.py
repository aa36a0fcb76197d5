"""The entry point of scoring: :func:`apply_model` and what it returns."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lensbench.errors import DataError, UsageError
from lensbench.io.fits import InputProblem
from lensbench.io.paths import input_root, relative_to
from lensbench.io.preprocess import Preprocessing
from lensbench.scoring.classifier import (check_preprocessing, find_model_dir, load_classifier,
                                          preprocessing_for)
from lensbench.scoring.controls import (ControlConfig, ZoomCurve, run_size_matched_control,
                                        score_size_correlation)
from lensbench.scoring.domain import domain_check
from lensbench.scoring.outputs import check_paper, summarise, write_outputs
from lensbench.scoring.stream import Extremes, Gallery, Rows, Scorer, gallery_counts, network_inputs


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply_model` did.

    Parameters
    ----------
    out_dir : Path
        Folder holding ``predictions.csv``, ``predictions.fits`` and ``apply.json``.
    model_dir : Path
        The model folder actually used (``model.json`` + ``model.pt``).
    preprocessing : Preprocessing
        Cuts and preparation applied (sizes in pixels, brightness in the files' units).
    summary : dict
        The content of ``apply.json`` (see :func:`lensbench.scoring.outputs.summarise`).
    scores : numpy.ndarray, shape (stamps read,)
        Probability of the model's last class per stamp read, in table order; NaN where the
        stamp was not scored.
    radii : numpy.ndarray, shape (stamps read,)
        Half-light radius per stamp read, in network pixels
        (:mod:`lensbench.scoring.measure`); NaN where the stamp was not scored.
    highest_scores, lowest_scores : Gallery
        The highest- and lowest-scoring stamps (at most ``gallery_size`` each; never the same
        stamp in both).
    problems : tuple of InputProblem
        Every input that could not be read or prepared, with the reason.
    """

    out_dir: Path
    model_dir: Path
    preprocessing: Preprocessing
    summary: dict
    scores: np.ndarray
    radii: np.ndarray
    highest_scores: Gallery
    lowest_scores: Gallery
    problems: tuple[InputProblem, ...]

    @property
    def stamps_read(self) -> int:
        """Stamps read from the inputs (rows of the table)."""
        return self.summary["stamps_read"]

    @property
    def cut_counts(self) -> dict[str, int]:
        """Stamps each cut removed, by cut name; a stamp failing several counts in each."""
        return dict(self.summary["cuts"])

    @property
    def passed(self) -> int:
        """Stamps passing every cut."""
        return self.summary["passed"]

    @property
    def scored(self) -> int:
        """Stamps given a score (those passing, less any that could not be normalised)."""
        return self.summary["scored"]

    @property
    def positive(self) -> int:
        """Scored stamps whose most probable class is :attr:`positive_class`."""
        return self.summary["predicted_positive"]["positive"]

    @property
    def positive_class(self) -> str:
        """The model's last class (``"halo"`` for Ko's classifier)."""
        return self.summary["positive_class"]

    @property
    def fraction(self) -> float | None:
        """``positive / scored``; None when nothing was scored."""
        return self.summary["predicted_positive"]["fraction"]

    @property
    def interval(self) -> tuple[float, float] | None:
        """95 % Wilson interval of :attr:`fraction`; None when nothing was scored."""
        interval = self.summary["predicted_positive"]["interval"]
        return None if interval is None else tuple(interval)


def _check_arguments(batch_size: int, gallery_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(gallery_size, bool) or not isinstance(gallery_size, int) or gallery_size < 0:
        raise UsageError(f"gallery_size must be a non-negative integer, got {gallery_size!r}")


def apply_model(model_dir: str | Path, inputs: list[str | Path], out_dir: str | Path, *,
                preprocessing: Preprocessing | None = None, batch_size: int = 256,
                device: str = "cpu", progress: bool = True, gallery_size: int = 18,
                paper: dict | None = None, zooms: tuple[float, ...] | None = None,
                control: ControlConfig | None = None, control_note: str = "",
                input_kind: str | None = None, pixel_scale: float | None = None,
                model_label: str | None = None, input_labels: list[str] | None = None) -> ApplyResult:
    """Classify every stamp of ``inputs`` with a trained model and write a table of the scores.

    Parameters
    ----------
    model_dir : str or Path
        A model folder (``model.json`` + ``model.pt``) or a run folder holding exactly one
        model (``model/`` or ``models/<branch>/``).
    inputs : list of str or Path
        FITS files, folders and glob patterns (see :func:`lensbench.io.fits.iter_stamps`);
        GalSim RealGalaxyCatalogs (COSMOS, 0.03 arcsec per pixel, counts/s) included.
    out_dir : str or Path
        Folder to write into (created): ``predictions.csv`` and ``predictions.fits`` (one row per
        stamp read: identifier, file, hdu, score, predicted_class, passed, ``cut_<name>``) and
        ``apply.json`` (counts, problems, preprocessing, the paper's counts). The report
        (:func:`lensbench.report.apply.write_apply_report`) goes beside them.
    preprocessing : Preprocessing, optional
        Cuts (pixels; counts/s for COSMOS) and preparation; its ``output_shape`` must be the
        model's input size. Default: :func:`~lensbench.scoring.classifier.preprocessing_for`.
    batch_size : int
        Stamps prepared and scored together; memory grows with it (one batch of images).
    device : str
        Torch device of the forward passes.
    progress : bool
        Show a progress bar (stamps read).
    gallery_size : int
        Stamps in each of the highest- and lowest-score galleries (Ko's Fig 5: 18); fewer when
        under twice as many were scored, so that no stamp is in both.
    paper : dict, optional
        The paper's own counts for its application (``source``, ``stamps_read``, ``passed``,
        ``positive``; e.g. a spec's ``[application.paper]``), recorded in ``apply.json`` under
        ``"paper"``; nothing is recorded without it.
    zooms : tuple of float, optional
        Zoom factors at which every scored stamp is scored again (``"zoom"`` in ``apply.json``:
        the fraction predicted positive against apparent size; e.g.
        :data:`lensbench.scoring.controls.ZOOMS`); None: not done.
    control : ControlConfig, optional
        The size-matched control's simulation (``"control"`` in ``apply.json``); None: not run,
        and ``control_note`` says why.
    input_kind : str, optional
        What the inputs show, as a simulation kind (``"galaxy"``), checked against the model's
        (``"domain"`` in ``apply.json``).
    pixel_scale : float, optional
        The inputs' pixel scale (arcsec/px) where a catalogue does not give it.
    model_label, input_labels : str and list of str, optional
        How ``apply.json`` names the model and the inputs instead of their paths (a run gives
        its cache entry and the spec's inputs as written). With ``input_labels``, the files of
        ``predictions.csv`` and of the problems are recorded relative to the inputs' common
        folder: a report made on one machine names no folder of it.

    Returns
    -------
    ApplyResult

    Raises
    ------
    DataError
        (exit 3) When the model cannot be loaded, or when no stamp at all could be read; the
        message lists every problem. Any other bad input is reported and skipped.
    UsageError
        (exit 2) For a model that is not a one-band classifier, a preprocessing whose output
        shape differs from the model's input size, bad batch or gallery sizes, or bad paper
        counts.
    """
    _check_arguments(batch_size, gallery_size)
    check_paper(paper)
    model_dir = find_model_dir(model_dir)
    model, card = load_classifier(model_dir)
    prep = preprocessing if preprocessing is not None else preprocessing_for(card)
    check_preprocessing(prep, card, model_dir)
    problems: list[InputProblem] = []
    rows = Rows()
    scorer = Scorer(model, card, prep, batch_size, device, rows,
                    Extremes(gallery_size, highest=True), Extremes(gallery_size, highest=False),
                    problems, ZoomCurve(tuple(zooms)) if zooms else None)
    scorer.stream(list(inputs), progress)
    if len(rows) == 0:
        listing = "\n".join(f"  {problem}" for problem in problems) or "  (no input given)"
        raise DataError(", ".join(str(item) for item in inputs),
                        f"no stamp could be read:\n{listing}")
    scores, radii = np.array(rows.scores, dtype=np.float64), np.array(rows.radii, dtype=np.float64)
    scored = np.isfinite(scores)
    scales = np.array(rows.pixel_scales, dtype=np.float64)
    if pixel_scale is not None:
        scales[~np.isfinite(scales)] = pixel_scale
    diagnostics = {
        "domain": domain_check(card, prep, input_kind, scales[scored],
                               np.array(rows.sides)[scored]),
        "size": {"score_radius_spearman": score_size_correlation(scores, radii),
                 "median_radius_px": (float(np.nanmedian(radii[scored]))
                                     if np.isfinite(radii[scored]).any() else None)},
        "zoom": scorer.zoom_curve.to_dict() if scorer.zoom_curve else None,
        "control": (run_size_matched_control(control, model, card, radii[scored],
                                             np.array(rows.fluxes)[scored],
                                             lambda images: network_inputs(images, card["normalize"],
                                                                            card.get("normalize_constants")),
                                             batch_size, device)
                    if control is not None and scored.any()
                    else {"skipped": control_note or "no control was asked for"}),
    }
    if input_labels is not None:
        root = input_root(inputs)
        rows.files = [relative_to(file, root) for file in rows.files]
        problems = [dataclasses.replace(problem, file=relative_to(problem.file, root)) for problem in problems]
    summary = summarise(rows, card, prep, model_label or model_dir,
                        list(input_labels if input_labels is not None else inputs), problems, paper, diagnostics)
    out_dir = Path(out_dir)
    write_outputs(out_dir, rows, card["classes"], summary)
    high, low = gallery_counts(int(scored.sum()), gallery_size)
    return ApplyResult(out_dir=out_dir, model_dir=model_dir, preprocessing=prep, summary=summary,
                       scores=scores, radii=radii,
                       highest_scores=scorer.highest.gallery(rows, prep.output_shape, high),
                       lowest_scores=scorer.lowest.gallery(rows, prep.output_shape, low),
                       problems=tuple(problems))
