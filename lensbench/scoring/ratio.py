"""Apply a trained likelihood-ratio estimator to a folder of lens images: the combined
(f_sub, beta) map and its confidence regions (Brehmer et al. 2019, arXiv:1909.02005, sec. 3.4).

Every image goes through the same steps:

1. Reading (:func:`lensbench.io.fits.iter_stamps`): unreadable files and images with NaN or
   constant pixels are named, skipped and counted; so is an image whose shape is not the
   model's input size (H, W) in pixels. The images must be in the units the model was trained
   on (counts/s per pixel of the spec's survey, e.g. ``brehmer``: 0.1 arcsec pixels); the
   estimator normalises them itself with its training split's global mean and standard
   deviation (:class:`lensbench.sbi.estimator.RatioEstimator`), never per image.
2. ln r_hat(x_i|theta) at every point of the (f_sub, beta) grid (25 x 25 over the proposal box,
   or the calibration's grid), then the histogram calibration
   (:class:`lensbench.sbi.calibration.HistogramCalibration`, sec. 3.3) where one is found
   (:func:`lensbench.scoring.ratio_model.find_calibration`).
3. Lenses are independent given theta, so the map of the set is the sum of the per-image maps,
   ln r(x_1..x_n|theta) = sum_i ln r(x_i|theta) (sec. 3.4); the test statistic is
   q(theta) = -2 (ln r(theta) - max ln r) and the ``level`` CL region keeps q below the chi^2
   quantile with 2 degrees of freedom (Wilks: 2.28 for 68 %, 5.99 for 95 %); the f_sub interval
   is the region's slice at beta = -0.9 (Fig. 3) (:mod:`lensbench.sbi.inference`).

The results are ``apply.json``, ``per_image.csv`` and ``maps.npz``; the figure of the combined
map is :mod:`lensbench.report.ratio_apply`'s job.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lensbench.errors import DataError, UsageError
from lensbench.io.atomic import npz_bytes, write_atomic, write_json
from lensbench.io.canonical import finite_or_none
from lensbench.io.fits import InputProblem, Stamp, iter_stamps
from lensbench.io.paths import input_root, relative_to
from lensbench.sbi.inference import ParameterGrid, limits, test_statistic, threshold
from lensbench.sbi.saved import log_ratio_of_images
from lensbench.scoring.classifier import find_model_dir
from lensbench.scoring.ratio_model import (
    card_summary,
    find_calibration,
    identity,
    load_ratio_model,
    read_calibration,
)

FORMAT = "lensbench.ratio_apply/1"
LEVELS = (0.68, 0.95)
"""Confidence levels of the 2-dof regions reported."""
BETA_SLICE = -0.9
"""beta of the f_sub interval (Brehmer+19 Fig. 3: the fiducial slope)."""
GRID_SIZE = 25
"""Grid points per axis without a calibration (the paper's 25 x 25)."""
CSV_COLUMNS = ("identifier", "file", "hdu", "ln_r_at_mle", "ln_r_hat_at_mle", "minus_two_delta_ln_r_at_mle",
               "image_mle_f_sub", "image_mle_beta")


@dataclass(frozen=True)
class RatioApplyResult:
    """What :func:`apply_ratio_model` did.

    Attributes
    ----------
    out_dir : Path
        Folder holding ``apply.json``, ``per_image.csv`` and ``maps.npz``.
    model_dir : Path
        The model folder used.
    summary : dict
        The content of ``apply.json``.
    grid : ParameterGrid
        The (f_sub, beta) grid of the maps (G = B x F points).
    per_image : numpy.ndarray
        (N, G) ln r of each image used (calibrated when :attr:`calibrated`, else ln r_hat).
    combined : numpy.ndarray
        (G,) their sum, ln r of the whole set.
    problems : tuple of InputProblem
        Every input skipped, with the reason.
    """

    out_dir: Path
    model_dir: Path
    summary: dict
    grid: ParameterGrid
    per_image: np.ndarray
    combined: np.ndarray
    problems: tuple[InputProblem, ...]

    @property
    def calibrated(self) -> bool:
        """Whether the maps went through a histogram calibration."""
        return self.summary["calibration"]["status"] == "calibrated"

    @property
    def q_map(self) -> np.ndarray:
        """(B, F) combined -2 Delta ln r."""
        return self.grid.as_map(test_statistic(self.combined))


def _shape_problem(stamp: Stamp, shape: tuple[int, int]) -> InputProblem:
    height, width = stamp.image.shape
    return InputProblem(stamp.file, stamp.hdu, f"{stamp.identifier}: {height} x {width} pixels; the model "
                                                f"takes {shape[0]} x {shape[1]}")


def _batches(inputs: list, shape: tuple[int, int], batch_size: int, problems: list, progress: bool):
    """Yield (stamps, images (n, 1, H, W) float32) of the usable images, ``batch_size`` at a time."""
    batch: list[Stamp] = []
    for stamp in tqdm(iter_stamps(inputs, problems=problems), desc="apply", unit="image", disable=not progress):
        if stamp.image.shape != shape:
            problems.append(_shape_problem(stamp, shape))
            continue
        batch.append(stamp)
        if len(batch) == batch_size:
            yield batch, np.stack([s.image for s in batch])[:, None]
            batch = []
    if batch:
        yield batch, np.stack([s.image for s in batch])[:, None]


def regions(grid: ParameterGrid, combined: np.ndarray, beta_slice: float = BETA_SLICE) -> dict:
    """The MLE, the 2-dof regions at :data:`LEVELS` and their f_sub intervals at ``beta_slice``
    of a summed ln r map (G,) (Brehmer+19 sec. 3.4, Fig. 3)."""
    q = test_statistic(combined)
    best = int(np.argmax(combined))
    out = {"mle": {"f_sub": float(grid.points[best, 0]), "beta": float(grid.points[best, 1]),
                   "ln_r": float(combined[best])},
           "regions": {}, "f_sub_interval": {"beta": float(beta_slice)}}
    for level in LEVELS:
        found = limits(grid, q, beta_slice, level)
        interval = [finite_or_none(found.f_sub_low), finite_or_none(found.f_sub_high)]
        out["regions"][f"{level:g}"] = {"threshold": threshold(level), "points": int(np.sum(q <= threshold(level))),
                                        "f_sub": list(found.region_f_sub), "beta": list(found.region_beta),
                                        "at_edge": found.at_edge}
        out["f_sub_interval"][f"{level:g}"] = None if None in interval else interval
    return out


def _table(stamps: list[Stamp], files: list[str], used: np.ndarray, raw: np.ndarray, best: int,
           grid: ParameterGrid) -> str:
    """``per_image.csv``: one row per image used, values at the combined MLE and its own MLE."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    own = np.argmax(used, axis=1)
    q_at_mle = test_statistic(used)[:, best]
    for i, stamp in enumerate(stamps):
        writer.writerow([stamp.identifier, files[i], stamp.hdu, repr(float(used[i, best])), repr(float(raw[i, best])),
                         repr(float(q_at_mle[i])), repr(float(grid.points[own[i], 0])),
                         repr(float(grid.points[own[i], 1]))])
    return buffer.getvalue()


def apply_ratio_model(model: str | Path, inputs: list[str | Path], out_dir: str | Path, *,
                      calibration: str | Path | None = None, cache_root: Path | None = None,
                      batch_size: int = 256, device: str = "cpu", progress: bool = True,
                      beta_slice: float = BETA_SLICE) -> RatioApplyResult:
    """The combined (f_sub, beta) map of every lens image of ``inputs`` and its regions.

    Parameters
    ----------
    model : str or Path
        A ``ratio_train`` cache entry, a model folder, or a run's report folder holding exactly
        one model (:func:`lensbench.scoring.classifier.find_model_dir`).
    inputs : list of str or Path
        FITS files, folders and glob patterns (:func:`lensbench.io.fits.iter_stamps`): lens
        images in counts/s per pixel at the model's input size and survey.
    out_dir : str or Path
        Folder to write ``apply.json``, ``per_image.csv`` and ``maps.npz`` into (created).
    calibration : str or Path, optional
        A ``ratio_calibrate`` cache entry or ``calibration.npz``; default: found by
        :func:`lensbench.scoring.ratio_model.find_calibration`, uncalibrated when none is.
    cache_root : Path, optional
        The cache in which a run's calibration entry is looked up (default: the user's).
    batch_size : int
        Images read and evaluated together (memory holds one batch).
    device : str
        Torch device of the forward passes.
    progress : bool
        Show a progress bar (images read).
    beta_slice : float
        beta of the f_sub interval (-0.9, Brehmer+19 Fig. 3); inside the grid's beta range.

    Raises
    ------
    UsageError
        (exit 2) For a model that is not a likelihood-ratio estimator, a bad batch size, or a
        ``beta_slice`` outside the grid.
    DataError
        (exit 3) When the model or calibration cannot be read, or no image could be used (the
        message lists every problem).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    model_dir = find_model_dir(model)
    estimator, card = load_ratio_model(model_dir, device)
    source = find_calibration(model_dir, Path(calibration) if calibration is not None else None, cache_root)
    table, grid = read_calibration(source.path) if source.path is not None else (
        None, ParameterGrid.over(estimator.box, GRID_SIZE))
    if not grid.beta[0] <= beta_slice <= grid.beta[-1]:
        raise UsageError(f"beta_slice {beta_slice:g} lies outside the grid's beta range "
                         f"[{grid.beta[0]:g}, {grid.beta[-1]:g}]")
    shape = tuple(card["input_size"])
    problems: list[InputProblem] = []
    stamps: list[Stamp] = []
    raw_parts = []
    for batch, images in _batches(list(inputs), shape, batch_size, problems, progress):
        stamps.extend(dataclasses.replace(s, image=np.empty(0, np.float32)) for s in batch)  # pixels not kept
        raw_parts.append(log_ratio_of_images(estimator, images, grid.points, device, batch_size=len(images)))
    if not stamps:
        listing = "\n".join(f"  {problem}" for problem in problems) or "  (no input given)"
        raise DataError(", ".join(str(item) for item in inputs), f"no lens image could be used:\n{listing}")
    raw = np.concatenate(raw_parts)
    used = table.apply(raw) if table is not None else raw
    combined = used.sum(axis=0)  # independent lenses: ln r of the set is the sum (sec. 3.4)
    found = regions(grid, combined, beta_slice)
    root = input_root(inputs)
    files = [relative_to(s.file, root) for s in stamps]
    problems = [dataclasses.replace(p, file=relative_to(p.file, root)) for p in problems]
    summary = {
        "format": FORMAT, **identity(model_dir, source), "estimator": card_summary(card),
        "inputs": [Path(item).name for item in inputs],  # names as given, no folder of this machine
        "images": {"used": len(stamps), "skipped": len(problems)},
        "problems": [dataclasses.asdict(p) for p in problems],
        "grid": {"f_sub": grid.f_sub.tolist(), "beta": grid.beta.tolist(),
                 "layout": "maps are [beta][f_sub]: rows beta, columns f_sub"},
        **found,
        "combined_minus_two_delta_ln_r": grid.as_map(test_statistic(combined)).tolist(),
    }
    out_dir = Path(out_dir)
    write_json(out_dir / "apply.json", summary)
    best = int(np.argmax(combined))
    write_atomic(out_dir / "per_image.csv", _table(stamps, files, used, raw, best, grid))
    write_atomic(out_dir / "maps.npz", npz_bytes({
        "f_sub": grid.f_sub, "beta": grid.beta, "per_image_ln_r": grid.as_map(used),
        "per_image_ln_r_hat": grid.as_map(raw), "combined_ln_r": grid.as_map(combined)}))
    return RatioApplyResult(out_dir, model_dir, summary, grid, used, combined, tuple(problems))
