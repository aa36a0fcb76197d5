"""Stream stamps through the cuts and the classifier, one batch at a time.

Memory holds one batch of stamps, one row of numbers per stamp read and the few gallery
candidates, never all the images, so the 4.4 GB COSMOS 25.2 sample runs in bounded memory.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from lensbench.io.fits import InputProblem, Stamp, iter_stamps
from lensbench.io.preprocess import CUT_NAMES, Preprocessing, apply_cuts, normaliser, prepare_batch
from lensbench.scoring.controls import ZoomCurve, score_images
from lensbench.scoring.measure import half_light_radius_and_flux


class Rows:
    """One row of the output table per stamp read: no pixels kept."""

    def __init__(self):
        self.identifiers: list[str] = []
        self.files: list[str] = []
        self.hdus: list[int] = []
        self.failed_cuts: list[tuple[bool, ...]] = []
        self.scores: list[float] = []
        self.predicted: list[int] = []
        self.sides: list[int] = []
        self.pixel_scales: list[float] = []
        self.radii: list[float] = []
        self.fluxes: list[float] = []

    def __len__(self) -> int:
        return len(self.identifiers)

    def add(self, stamp: Stamp, failed: list[str]) -> int:
        """Record a stamp and the cuts it failed; returns its row index."""
        self.identifiers.append(stamp.identifier)
        self.files.append(stamp.file)
        self.hdus.append(stamp.hdu)
        self.failed_cuts.append(tuple(name in failed for name in CUT_NAMES))
        self.scores.append(float("nan"))
        self.predicted.append(-1)
        self.sides.append(int(max(stamp.image.shape)))
        self.pixel_scales.append(float(stamp.meta.get("pixel_scale", float("nan"))))
        self.radii.append(float("nan"))
        self.fluxes.append(float("nan"))
        return len(self) - 1

    def set_sizes(self, rows: np.ndarray, radii: np.ndarray, fluxes: np.ndarray) -> None:
        """Store the half-light radius (network pixels) and flux (file units) of scored rows."""
        for row, radius, flux in zip(rows.tolist(), radii.tolist(), fluxes.tolist()):
            self.radii[row] = radius
            self.fluxes[row] = flux

    def set_predictions(self, rows: np.ndarray, probabilities: np.ndarray) -> None:
        """Store the last-class probability and the most probable class of scored rows."""
        for row, score, best in zip(rows.tolist(), probabilities[:, -1].tolist(),
                                    probabilities.argmax(axis=1).tolist()):
            self.scores[row] = score
            self.predicted[row] = best

    def cut_matrix(self) -> np.ndarray:
        """(rows, cuts) bool array: True where a stamp fails the cut."""
        return np.array(self.failed_cuts, dtype=bool).reshape(len(self), len(CUT_NAMES))


@dataclass(frozen=True)
class Gallery:
    """The highest- (or lowest-) scoring stamps, as the network got them before its training
    normalisation.

    Parameters
    ----------
    identifiers : tuple of str
        Stamp identifiers (catalogue ``IDENT`` or ``"<file stem>[<hdu>]"``).
    scores : numpy.ndarray, shape (N,)
        Probability of the model's last class (dimensionless).
    images : numpy.ndarray, shape (N, H, W), float32
        The stamps brought to the network input (pixels of the input size), in the files'
        units (counts/s for COSMOS) unless the preprocessing normalised them.
    """

    identifiers: tuple[str, ...]
    scores: np.ndarray
    images: np.ndarray


class Extremes:
    """The ``size`` scored stamps with the highest (or lowest) scores so far, with images.

    The two orders are exact reverses (highest: score down, then read order; lowest: score up,
    then reverse read order), so the top k and the bottom n - k of n stamps never share one, and
    the selection does not depend on the batch size.
    """

    def __init__(self, size: int, highest: bool):
        self.size = size
        self.sign = -1.0 if highest else 1.0
        self.keys = np.empty(0)
        self.rows = np.empty(0, dtype=np.int64)
        self.images: np.ndarray | None = None

    def offer(self, scores: np.ndarray, rows: np.ndarray, images: np.ndarray) -> None:
        """Merge a batch of scores, row indices and (N, H, W) images, keep the extremes."""
        keys = np.concatenate([self.keys, self.sign * scores])
        all_rows = np.concatenate([self.rows, rows])
        all_images = images if self.images is None else np.concatenate([self.images, images])
        keep = np.lexsort((-self.sign * all_rows, keys))[: self.size]
        self.keys, self.rows, self.images = keys[keep], all_rows[keep], all_images[keep]

    def gallery(self, rows: Rows, shape: tuple[int, int], count: int) -> Gallery:
        """The first ``count`` kept stamps as a :class:`Gallery` (images (0, H, W) when none)."""
        images = np.empty((0, *shape), np.float32) if self.images is None else self.images[:count]
        kept = self.rows[:count]
        return Gallery(tuple(rows.identifiers[row] for row in kept),
                       np.array([rows.scores[row] for row in kept], dtype=np.float64), images)


def gallery_counts(scored: int, size: int) -> tuple[int, int]:
    """Stamps in the highest- and lowest-score galleries: ``size`` each, or, when fewer than
    ``2 size`` were scored, the upper and lower halves, so no stamp is in both."""
    highest = min(size, (scored + 1) // 2)
    return highest, min(size, scored - highest)


def prepare_stamps(stamps: list[Stamp], prep: Preprocessing,
                   problems: list) -> tuple[np.ndarray, np.ndarray]:
    """Bring stamps of mixed sizes to the input size (and normalise, per ``prep``), batched by
    size.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        (M, 1, H, W) float32 images and the positions in ``stamps`` they come from; stamps that
        cannot be normalised (constant images) are reported in ``problems`` and left out.
    """
    height, width = prep.output_shape
    prepared = np.empty((len(stamps), 1, height, width), dtype=np.float32)
    usable = np.ones(len(stamps), dtype=bool)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for position, stamp in enumerate(stamps):
        by_shape.setdefault(stamp.image.shape, []).append(position)
    for positions in by_shape.values():
        try:
            prepared[positions] = prepare_batch(np.stack([stamps[p].image for p in positions]),
                                                prep)
        except ValueError:
            _prepare_one_by_one(stamps, positions, prep, prepared, usable, problems)
    kept = np.flatnonzero(usable)
    return prepared[kept], kept


def _prepare_one_by_one(stamps, positions, prep, prepared, usable, problems) -> None:
    """Fallback when a same-size group holds an image that cannot be normalised."""
    for position in positions:
        stamp = stamps[position]
        try:
            prepared[position] = prepare_batch(stamp.image[np.newaxis], prep)[0]
        except ValueError:
            usable[position] = False
            problems.append(InputProblem(stamp.file, stamp.hdu, f"{stamp.identifier}: cannot "
                                         f"normalise by '{prep.normalisation}' (constant or "
                                         f"non-positive image)"))


def network_inputs(prepared: np.ndarray, normalize: str, constants: dict | None = None) -> torch.Tensor:
    """(N, 1, H, W) network inputs: each prepared image through the training normalisation
    ``normalize`` (:func:`lensbench.io.preprocess.normaliser`; ``constants``, the model card's
    ``normalize_constants``, for ``"dataset"``), exactly as training fed it."""
    batch = torch.from_numpy(prepared)
    transform = normaliser(normalize, constants)
    if transform is None:
        return batch
    return torch.stack([transform(image) for image in batch])


@dataclass
class Scorer:
    """Scores batches of stamps that passed the cuts, measures their sizes, feeds the galleries
    and, with ``zoom_curve``, scores every batch again at each zoom factor."""

    model: torch.nn.Module
    card: dict
    prep: Preprocessing
    batch_size: int
    device: str
    rows: Rows
    highest: Extremes
    lowest: Extremes
    problems: list
    zoom_curve: ZoomCurve | None = None

    def _positive(self, prepared: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities of prepared images and whether the last class is the most probable."""
        probabilities = score_images(self.model, network_inputs(prepared, self.card["normalize"],
                                                                 self.card.get("normalize_constants")),
                                     self.batch_size, self.device)
        return probabilities, probabilities.argmax(axis=1) == probabilities.shape[1] - 1

    def _zoom(self, stamps: list[Stamp], kept: np.ndarray, positive: np.ndarray) -> None:
        """Score the kept stamps at every zoom factor of the curve (the prep's own zoom reused)."""
        for index, zoom in enumerate(self.zoom_curve.zooms):
            if zoom == self.prep.zoom:
                self.zoom_curve.add(index, positive)
                continue
            zoomed = dataclasses.replace(self.prep, zoom=zoom)
            images, _ = prepare_stamps([stamps[k] for k in kept], zoomed, [])
            self.zoom_curve.add(index, self._positive(images)[1])

    def score(self, stamps: list[Stamp], rows: list[int]) -> None:
        """Prepare, normalise, classify and measure one batch; results go into ``self.rows``."""
        if not stamps:
            return
        prepared, kept = prepare_stamps(stamps, self.prep, self.problems)
        if kept.size == 0:
            return
        probabilities, positive = self._positive(prepared)
        kept_rows = np.asarray(rows, dtype=np.int64)[kept]
        self.rows.set_predictions(kept_rows, probabilities)
        self.rows.set_sizes(kept_rows, *half_light_radius_and_flux(prepared[:, 0]))
        if self.zoom_curve is not None:
            self._zoom(stamps, kept, positive)
        for extremes in (self.highest, self.lowest):
            extremes.offer(probabilities[:, -1], kept_rows, prepared[:, 0])

    def stream(self, inputs: list, progress: bool) -> None:
        """Read, cut and score every stamp of ``inputs``, holding at most one batch of images;
        unreadable inputs go to ``self.problems``."""
        pending: list[Stamp] = []
        pending_rows: list[int] = []
        for stamp in tqdm(iter_stamps(inputs, problems=self.problems), desc="apply",
                          unit="stamp", disable=not progress):
            failed = apply_cuts(stamp, self.prep)
            row = self.rows.add(stamp, failed)
            if not failed:
                pending.append(stamp)
                pending_rows.append(row)
            if len(pending) == self.batch_size:
                self.score(pending, pending_rows)
                pending, pending_rows = [], []
        self.score(pending, pending_rows)
