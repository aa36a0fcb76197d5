"""Cuts and the per-image normalisations shared by training and by real stamps.

Ko (2023), section "Application to COSMOS Survey Data" (text, no equation number): stamps over
80 pixels per side, under 50 pixels per side, or with a pixel above 2 (counts/s for COSMOS
F814W, 1 s exposure) are rejected; then "the normalization was performed just as the single
galaxy simulation images", where "all values in pixels were normalized". lensbench reads that
literally: a real stamp gets the very normalisation the network was trained with
(``model.json``'s ``normalize``, ``training.normalize`` in a spec; ``"max"``, division by the
largest absolute pixel value, in ``specs/papers/cosmos.toml``), through :func:`normaliser`, the
one definition that training, evaluation and ``lensbench apply`` all use.

A :class:`Preprocessing` holds the cuts, the resampling to the network's input size and an
optional extra normalisation applied right after resampling (``"none"`` in the pipeline; the
dataclass's own default, ``"minmax"``, is for direct library use). It is JSON-friendly
(``to_dict`` / ``from_dict``) so the options of an application are recorded beside its results.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

NORMALISATIONS = ("minmax", "max", "sum", "standardize", "none")
RESAMPLINGS = ("bilinear", "bicubic", "area", "nearest")
CUT_NAMES = ("non_finite", "too_small", "too_large", "too_bright")
MIN_SCALE = 1e-12  # smallest divisor of a normalisation (image units)


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
        Extra per-image normalisation right after resampling, one of :data:`NORMALISATIONS`
        as :func:`normaliser` defines them: ``"minmax"`` (x - min) / (max - min); ``"max"``
        x / max|x|; ``"sum"`` x / sum(x); ``"standardize"`` (x - mean) / std (unbiased);
        ``"none"``. The pipeline uses ``"none"``: the model's training normalisation follows.
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


def _offset_and_scale(image: torch.Tensor, method: str):
    """Offset (None for none) and scale of one image under ``method``: the normalised image is
    ``(image - offset) / scale``, in the image's own units (both are 0-d tensors)."""
    if method == "max":
        return None, image.abs().amax()
    if method == "standardize":
        return image.mean(), image.std()
    if method == "minmax":
        low = image.amin()
        return low, image.amax() - low
    return None, image.sum()


def normaliser(method: str):
    """Per-image normalisation of a (C, H, W) tensor: the one definition used in training,
    evaluation and apply, so real stamps are normalised exactly as the training images were.

    Parameters
    ----------
    method : str
        ``"none"``; ``"max"`` divides by the image's largest absolute value; ``"standardize"``
        subtracts the image's mean and divides by its (unbiased) standard deviation;
        ``"minmax"`` maps the image's range to [0, 1]; ``"sum"`` divides by the image's sum.
        Scales below :data:`MIN_SCALE` are raised to it (no division by zero).

    Returns
    -------
    callable or None
        Tensor -> tensor of the same shape, dtype and device (dimensionless); None for
        ``"none"``.

    Raises
    ------
    ValueError
        For a method not in :data:`NORMALISATIONS`.
    """
    if method == "none":
        return None
    if method not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation '{method}'; one of: {', '.join(NORMALISATIONS)}")

    def normalise(image: torch.Tensor) -> torch.Tensor:
        offset, scale = _offset_and_scale(image, method)
        centred = image if offset is None else image - offset
        return centred / scale.clamp_min(MIN_SCALE)

    return normalise


def _normalise(batch: torch.Tensor, method: str) -> torch.Tensor:
    """Normalise each image of ``batch`` (N, 1, H, W) on its own with :func:`normaliser`.

    Raises ValueError naming the images whose scale (max |x|, std, max - min or sum) is not
    positive: a real stamp that training's clamp would turn into nonsense is refused instead.
    """
    transform = normaliser(method)
    if transform is None:
        return batch
    degenerate = [index for index, image in enumerate(batch)
                  if not _offset_and_scale(image, method)[1] > 0]
    if degenerate:
        raise ValueError(f"cannot normalise by '{method}': image(s) {degenerate} have a "
                         f"non-positive denominator (constant, empty or negative image)")
    return torch.stack([transform(image) for image in batch]) if len(batch) else batch


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
