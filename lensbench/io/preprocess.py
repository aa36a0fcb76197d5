"""Cuts and the per-image normalisations shared by training and by real stamps.

Ko (2023), section "Application to COSMOS Survey Data" (text, no equation number): stamps over
80 pixels per side, under 50 pixels per side, or with a pixel above 2 (counts/s for COSMOS
F814W, 1 s exposure) are rejected; then "the normalization was performed just as the single
galaxy simulation images", where "all values in pixels were normalized". lensbench reads that
literally: a real stamp gets the very normalisation the network was trained with
(``model.json``'s ``normalize``, ``training.normalize`` in a spec; ``"max"``, division by the
largest absolute pixel value, in ``specs/papers/cosmos.toml``), through :func:`normaliser`, the
one definition that training, evaluation and ``lensbench apply`` all use.

A :class:`Preprocessing` holds the cuts, how a stamp is brought to the network's input size and
an optional extra normalisation applied right after that. The pipeline (``lensbench apply`` and
a run's apply step) sets that extra normalisation to ``"none"``, so the only normalisation a
stamp gets there is the model's own (``"max"`` for Ko); the dataclass's own default,
``"minmax"``, is for direct library use. It is JSON-friendly (``to_dict`` / ``from_dict``) so the
options of an application are recorded beside its results.

Bringing a stamp to the input size (:func:`prepare_batch`), ``preparation``:

* ``"native"`` (default): keep the stamp's pixel scale (COSMOS 0.03 arcsec/px, the scale of
  Ko's simulated galaxies) and crop it about its centre, or pad it with noise drawn like its
  own border's, to (H, W). A galaxy keeps its angular size in pixels.
* ``"resample"``: interpolate the whole stamp onto (H, W). The pixel scale changes by the ratio
  of the sizes (an 80 px stamp at 0.03"/px becomes 0.0375"/px at 64 px, +25 %; a 50 px one
  0.0234"/px, -22 %), so a galaxy looks up to 25 % smaller or larger than it is.

``zoom`` (default 1) magnifies the stamp about its centre before that (bilinear), the test of
how much a classifier's score follows apparent size (:mod:`lensbench.scoring.controls`).
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch
import torch.nn.functional as F

NORMALISATIONS = ("minmax", "max", "sum", "standardize", "none", "dataset")
DATASET_NORMALISATIONS = ("dataset",)  # constants from the training split, saved in model.json
RESAMPLINGS = ("bilinear", "bicubic", "area", "nearest")
PREPARATIONS = ("native", "resample")
BORDER_PX = 4  # width of the frame whose pixels give a stamp's noise level (pixels)
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
        ``torch.nn.functional.interpolate`` mode of every interpolation (``preparation =
        "resample"`` and ``zoom``): ``"bilinear"`` or ``"bicubic"`` (both anti-aliased when
        shrinking), ``"area"`` or ``"nearest"``.
    preparation : str
        ``"native"`` (crop or pad at the stamp's own pixel scale) or ``"resample"``
        (interpolate onto (H, W), changing the pixel scale by input/output size); see the
        module docstring.
    zoom : float
        Magnification applied before the preparation (1: none; 1.1 makes every galaxy 10 %
        larger in pixels).
    """

    min_size: int | None = 50
    max_size: int | None = 80
    max_pixel: float | None = 2.0
    reject_non_finite: bool = True
    normalisation: str = "minmax"
    output_shape: tuple[int, int] = (64, 64)
    resampling: str = "bilinear"
    preparation: str = "native"
    zoom: float = 1.0

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
    if prep.preparation not in PREPARATIONS:
        problems.append(f"preparation '{prep.preparation}' is not one of "
                        f"{', '.join(PREPARATIONS)}")
    if not prep.zoom > 0:
        problems.append(f"zoom must be a positive factor, got {prep.zoom}")
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


def dataset_constants(batches) -> dict[str, list[float]]:
    """Per-channel mean and standard deviation over a whole dataset: the constants of the
    ``"dataset"`` normalisation, computed on the training split and saved with the model.

    Parameters
    ----------
    batches : iterable of array-like
        (N, C, ...) image batches (e.g. a dataset's shards), any float dtype, in image units.

    Returns
    -------
    dict
        ``{"mean": [C floats], "std": [C floats]}`` in image units (population standard
        deviation over every pixel of every image, accumulated in float64).
    """
    count, total, squares = 0, None, None
    for batch in batches:
        array = np.asarray(batch, dtype=np.float64)
        per_channel = np.moveaxis(array, 1, 0).reshape(array.shape[1], -1)
        total = per_channel.sum(axis=1) + (0 if total is None else total)
        squares = np.einsum("ij,ij->i", per_channel, per_channel) + (0 if squares is None else squares)
        count += per_channel.shape[1]
    if not count:
        raise ValueError("dataset_constants needs at least one image")
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return {"mean": mean.tolist(), "std": std.tolist()}


def normaliser(method: str, constants: dict | None = None):
    """Normalisation of a (C, H, W) tensor: the one definition used in training, evaluation and
    apply, so real stamps are normalised exactly as the training images were.

    Parameters
    ----------
    method : str
        Per image: ``"none"``; ``"max"`` divides by the image's largest absolute value;
        ``"standardize"`` subtracts the image's mean and divides by its (unbiased) standard
        deviation; ``"minmax"`` maps the image's range to [0, 1]; ``"sum"`` divides by the
        image's sum. Over the dataset: ``"dataset"`` subtracts each channel's mean and divides
        by its standard deviation, both from ``constants`` (:func:`dataset_constants` of the
        training split), the same numbers for every image, so differences in amplitude between
        images (a sky with more variance than another) survive. Scales below
        :data:`MIN_SCALE` are raised to it (no division by zero).
    constants : dict, optional
        ``{"mean": [...], "std": [...]}``, one value per channel, for ``"dataset"`` (the model
        card's ``normalize_constants``); ignored by the per-image methods.

    Returns
    -------
    callable or None
        Tensor -> tensor of the same shape, dtype and device (dimensionless); None for
        ``"none"``.

    Raises
    ------
    ValueError
        For a method not in :data:`NORMALISATIONS`, or ``"dataset"`` without constants.
    """
    if method == "none":
        return None
    if method not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation '{method}'; one of: {', '.join(NORMALISATIONS)}")
    if method in DATASET_NORMALISATIONS:
        if not constants or not {"mean", "std"} <= set(constants):
            raise ValueError(f"normalisation '{method}' needs the training split's constants "
                             "{'mean': [...], 'std': [...]} (model.json normalize_constants)")
        return _dataset_normaliser(constants)

    def normalise(image: torch.Tensor) -> torch.Tensor:
        offset, scale = _offset_and_scale(image, method)
        centred = image if offset is None else image - offset
        return centred / scale.clamp_min(MIN_SCALE)

    return normalise


def _dataset_normaliser(constants: dict):
    """(image - mean[c]) / std[c] per channel c of a (C, ...) tensor (dimensionless)."""
    mean = torch.tensor(constants["mean"], dtype=torch.float64)
    scale = torch.tensor(constants["std"], dtype=torch.float64).clamp_min(MIN_SCALE)

    def normalise(image: torch.Tensor) -> torch.Tensor:
        shape = (-1,) + (1,) * (image.ndim - 1)
        centred = image - mean.to(image).reshape(shape)
        return centred / scale.to(image).reshape(shape)

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


def _resample(batch: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Interpolate (N, 1, h, w) onto (N, 1, *size) with ``mode`` (a :data:`RESAMPLINGS` name)."""
    if tuple(batch.shape[-2:]) == tuple(size):
        return batch
    if mode in ("bilinear", "bicubic"):
        return F.interpolate(batch, size=size, mode=mode, align_corners=False, antialias=True)
    return F.interpolate(batch, size=size, mode=mode)


def border_noise(image: np.ndarray) -> tuple[float, float]:
    """Median and robust standard deviation (1.4826 x MAD) of the pixels in the outer
    :data:`BORDER_PX` frame of a 2-D image, in the image's units: its sky level and noise where
    the galaxy sits in the middle (COSMOS stamps replace neighbours by noise)."""
    frame = np.ones(image.shape, dtype=bool)
    frame[BORDER_PX:-BORDER_PX, BORDER_PX:-BORDER_PX] = False
    pixels = image[frame] if frame.any() else image.ravel()
    median = float(np.median(pixels))
    return median, 1.4826 * float(np.median(np.abs(pixels - median)))


def _crop_or_pad(batch: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Crop (N, 1, h, w) about its centre, or pad it, to (N, 1, H, W) without interpolation.

    Padding is Gaussian noise of each image's border level and noise (:func:`border_noise`),
    drawn from a generator seeded by the image's own bytes, so an image is always padded the
    same way whatever batch it comes in.
    """
    height, width = shape
    out = torch.empty((batch.shape[0], 1, height, width), dtype=batch.dtype)
    h, w = batch.shape[-2:]
    top, left = (h - height) // 2, (w - width) // 2  # > 0: crop; < 0: pad
    source = batch[..., max(top, 0):max(top, 0) + min(h, height),
                   max(left, 0):max(left, 0) + min(w, width)]
    rows = slice(max(-top, 0), max(-top, 0) + source.shape[-2])
    cols = slice(max(-left, 0), max(-left, 0) + source.shape[-1])
    for index, image in enumerate(batch.numpy()[:, 0]):
        if h < height or w < width:
            level, sigma = border_noise(image)
            rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(image).tobytes()))
            out[index, 0] = torch.from_numpy(rng.normal(level, sigma, shape).astype(np.float32))
    out[..., rows, cols] = source
    return out


def to_input_size(batch: torch.Tensor, prep: Preprocessing) -> torch.Tensor:
    """(N, 1, h, w) brought to (N, 1, H, W) by ``prep``'s zoom and preparation (pixels)."""
    base = batch.shape[-2:] if prep.preparation == "native" else prep.output_shape
    zoomed = tuple(max(1, round(n * prep.zoom)) for n in base)
    return _crop_or_pad(_resample(batch, zoomed, prep.resampling), prep.output_shape)


def prepare_batch(images, prep: Preprocessing) -> np.ndarray:
    """Bring a batch of same-sized images to the network's size, then normalise them.

    The size comes first (:func:`to_input_size`: zoom, then crop/pad at the native pixel scale
    or resampling) so the network sees exactly normalised values at its own size (e.g. a
    min-max image spans exactly [0, 1] after bicubic interpolation too).

    Parameters
    ----------
    images : array-like, shape (N, h, w)
        Images in any units (counts/s for COSMOS), any float dtype or byte order.
    prep : Preprocessing
        Normalisation, output size (H, W) in pixels, preparation, zoom and interpolation mode.

    Returns
    -------
    numpy.ndarray, shape (N, 1, H, W), float32
    """
    array = np.asarray(images, dtype=np.float32)
    if array.ndim != 3:
        raise ValueError(f"prepare_batch needs images of shape (N, h, w), got {array.shape}")
    batch = torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(1)
    return _normalise(to_input_size(batch, prep), prep.normalisation).numpy()


def prepare(image, prep: Preprocessing) -> np.ndarray:
    """Prepare one 2-D image (h, w) for the network: returns (1, H, W) float32.

    Identical to :func:`prepare_batch` on a batch of one.
    """
    array = np.asarray(image)
    if array.ndim != 2:
        raise ValueError(f"prepare needs a 2-D image, got shape {array.shape}")
    return prepare_batch(array[np.newaxis], prep)[0]
