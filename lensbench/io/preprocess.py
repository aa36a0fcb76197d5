"""Cuts and preparation applied identically to training images and to real stamps.

Ko (2023), section "Application to COSMOS Survey Data" (text, no equation number): stamps over
80 pixels per side, under 50 pixels per side, or with a pixel above 2 (counts/s for COSMOS
F814W, 1 s exposure) are rejected; then "the normalization was performed just as the single
galaxy simulation images", where "all values in pixels were normalized". The paper does not say
which normalisation; lensbench reads it as min-max scaling of every image to [0, 1]
(``"minmax"``, the default), which removes both the flux scale and any sky offset so simulated
and real stamps land on the same range. The other readings are options.

A :class:`Preprocessing` is stored with a model (``to_dict`` / ``from_dict``, JSON-friendly) so
``lensbench apply`` prepares real stamps exactly as the training images were prepared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

NORMALISATIONS = ("minmax", "max", "sum", "standardize", "none")
RESAMPLINGS = ("bilinear", "bicubic", "area", "nearest")
CUT_NAMES = ("non_finite", "too_small", "too_large", "too_bright")


@dataclass(frozen=True)
class Preprocessing:
    """How stamps are cut and prepared for a network.

    Parameters
    ----------
    min_size : int or None
        Reject a stamp with a side shorter than this many pixels (Ko: 50 px, i.e. 1.5 arcsec at
        0.03 arcsec/px); None disables the cut.
    max_size : int or None
        Reject a stamp with a side longer than this many pixels (Ko: 80 px, 2.4 arcsec); None
        disables the cut.
    max_pixel : float or None
        Reject a stamp whose brightest pixel exceeds this value, in the image's units (Ko: 2
        counts/s); None disables the cut.
    reject_non_finite : bool
        Reject stamps containing NaN or infinite pixels.
    normalisation : str
        ``"minmax"`` (x - min) / (max - min), the default reading of Ko; ``"max"`` x / max;
        ``"sum"`` x / sum(x); ``"standardize"`` (x - mean) / std; ``"none"``.
    output_shape : tuple of int
        Network input (H, W) in pixels (Ko's simulations: 64 x 64).
    resampling : str
        ``torch.nn.functional.interpolate`` mode: ``"bilinear"`` or ``"bicubic"`` (both
        anti-aliased when shrinking), ``"area"`` or ``"nearest"``. Resampling changes the pixel
        scale by input/output size (an 80 px COSMOS stamp at 0.03 arcsec/px becomes 0.0375
        arcsec/px at 64 px).
    """

    min_size: int | None = 50
    max_size: int | None = 80
    max_pixel: float | None = 2.0
    reject_non_finite: bool = True
    normalisation: str = "minmax"
    output_shape: tuple[int, int] = (64, 64)
    resampling: str = "bilinear"

    def __post_init__(self):
        object.__setattr__(self, "output_shape", tuple(int(n) for n in self.output_shape))
        problems = _validation_problems(self)
        if problems:
            raise ValueError("invalid preprocessing: " + "; ".join(problems))

    def to_dict(self) -> dict:
        """JSON-friendly dict of every option (``output_shape`` as a list)."""
        values = asdict(self)
        values["output_shape"] = list(self.output_shape)
        return values

    @classmethod
    def from_dict(cls, values: dict) -> "Preprocessing":
        """Build from :meth:`to_dict` output; unknown keys are an error, missing keys default."""
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown preprocessing option(s) {', '.join(unknown)}; "
                             f"one of: {', '.join(sorted(known))}")
        return cls(**values)


def _validation_problems(prep: Preprocessing) -> list[str]:
    """Every inconsistency in ``prep``, as messages."""
    problems = []
    for name in ("min_size", "max_size"):
        value = getattr(prep, name)
        if value is not None and value < 1:
            problems.append(f"{name} must be a positive number of pixels, got {value}")
    if prep.min_size is not None and prep.max_size is not None and prep.min_size > prep.max_size:
        problems.append(f"min_size {prep.min_size} exceeds max_size {prep.max_size}")
    if prep.normalisation not in NORMALISATIONS:
        problems.append(f"normalisation '{prep.normalisation}' is not one of "
                        f"{', '.join(NORMALISATIONS)}")
    if prep.resampling not in RESAMPLINGS:
        problems.append(f"resampling '{prep.resampling}' is not one of {', '.join(RESAMPLINGS)}")
    if len(prep.output_shape) != 2 or min(prep.output_shape) < 1:
        problems.append(f"output_shape must be two positive sizes (H, W), got "
                        f"{prep.output_shape}")
    return problems


def apply_cuts(stamp, prep: Preprocessing) -> list[str]:
    """Names of the cuts a stamp fails (empty when it passes), in :data:`CUT_NAMES` order.

    Parameters
    ----------
    stamp : Stamp or numpy.ndarray
        A :class:`lensbench.io.fits.Stamp` or a 2-D image (pixel values in the image's units,
        COSMOS: counts/s).
    prep : Preprocessing
        The cut thresholds (pixels per side, maximum pixel value).

    Returns
    -------
    list of str
        Some of ``"non_finite"``, ``"too_small"``, ``"too_large"``, ``"too_bright"``.
    """
    image = np.asarray(getattr(stamp, "image", stamp))
    finite = bool(np.isfinite(image).all())
    failed = []
    if prep.reject_non_finite and not finite:
        failed.append("non_finite")
    if prep.min_size is not None and min(image.shape) < prep.min_size:
        failed.append("too_small")
    if prep.max_size is not None and max(image.shape) > prep.max_size:
        failed.append("too_large")
    if prep.max_pixel is not None and image.size and np.nanmax(image) > prep.max_pixel:
        failed.append("too_bright")
    return failed


def _normalise(batch: torch.Tensor, method: str) -> torch.Tensor:
    """Normalise each image of ``batch`` (N, 1, H, W) on its own; see :class:`Preprocessing`.

    Raises ValueError naming the images whose denominator (max - min, max, sum or std) is not
    positive.
    """
    if method == "none":
        return batch
    flat = batch.flatten(1)
    if method == "minmax":
        offset = flat.min(dim=1).values
        scale = flat.max(dim=1).values - offset
    elif method == "max":
        offset, scale = torch.zeros_like(flat[:, 0]), flat.max(dim=1).values
    elif method == "sum":
        offset, scale = torch.zeros_like(flat[:, 0]), flat.sum(dim=1)
    else:
        offset, scale = flat.mean(dim=1), flat.std(dim=1, unbiased=False)
    degenerate = torch.nonzero(~(scale > 0)).flatten().tolist()
    if degenerate:
        raise ValueError(f"cannot normalise by '{method}': image(s) {degenerate} have a "
                         f"non-positive denominator (constant, empty or negative image)")
    return (batch - offset.view(-1, 1, 1, 1)) / scale.view(-1, 1, 1, 1)


def _resample(batch: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """Resample (N, 1, h, w) to (N, 1, H, W) with ``prep.resampling``."""
    if tuple(batch.shape[-2:]) == prep.output_shape:
        return batch
    if prep.resampling in ("bilinear", "bicubic"):
        return F.interpolate(batch, size=prep.output_shape, mode=prep.resampling,
                             align_corners=False, antialias=True)
    return F.interpolate(batch, size=prep.output_shape, mode=prep.resampling)


def prepare_batch(images, prep: Preprocessing) -> np.ndarray:
    """Resample then normalise a batch of same-sized images for the network.

    Resampling comes first so the network sees exactly normalised values at its own size (e.g.
    a min-max image spans exactly [0, 1] after bicubic interpolation too).

    Parameters
    ----------
    images : array-like, shape (N, h, w)
        Images in any units (counts/s for COSMOS), any float dtype or byte order.
    prep : Preprocessing
        Normalisation, output size (H, W) in pixels and resampling method.

    Returns
    -------
    numpy.ndarray, shape (N, 1, H, W), float32
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim != 3:
        raise ValueError(f"prepare_batch needs images of shape (N, h, w), got {array.shape}")
    batch = torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(1)
    return _normalise(_resample(batch, prep), prep.normalisation).numpy()


def prepare(image, prep: Preprocessing) -> np.ndarray:
    """Prepare one 2-D image (h, w) for the network: returns (1, H, W) float32.

    Identical to :func:`prepare_batch` on a batch of one.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"prepare needs a 2-D image, got shape {array.shape}")
    return prepare_batch(array[np.newaxis], prep)[0]
