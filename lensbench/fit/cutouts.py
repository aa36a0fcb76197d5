"""Observed lens cutouts for a fit: FITS images, their per-pixel noise, pixel scale and PSF.

Each cutout is one FITS file. Its science image is an image HDU (by name or index; by default the
first 2-D image); its noise is either a per-pixel map (an HDU of the same file, or a file named
after it, holding sigma, variance or inverse variance in the image's units) or a stated model,
Gaussian background ``rms`` plus the Poisson noise of the counts in exposure time ``t``:
``sigma_i^2 = rms^2 + max(d_i, 0) / t`` (data ``d`` in counts/s, lenstronomy's noise model with
the data standing in for the model). The pixel scale comes from the image header's celestial
WCS (CD or CDELT, degrees -> arcsec) when it has one, else from the caller. Coordinates of the
fit are the cutout's own pixel axes (x along columns, y along rows, origin at the centre), not
RA/Dec.

Pixels whose data or sigma is not finite, or whose sigma is not positive, are masked (zero
weight in the likelihood). A file that cannot be used (unreadable, no 2-D image, a noise map of
another shape, no pixel scale, another size or pixel scale than the run's, most pixels masked)
is named in ``problems`` (:class:`lensbench.io.fits.InputProblem`) and skipped.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits.verify import VerifyError
from astropy.wcs import WCS, FITSFixedWarning
from astropy.wcs.utils import proj_plane_pixel_scales

from lensbench.errors import DataError
from lensbench.io.fits import InputProblem

NOISE_KINDS = ("sigma", "variance", "inverse_variance")
"""What a noise map holds, per pixel, in the image's units (squared, inverse squared)."""
MIN_USABLE_FRACTION = 0.5
"""A cutout with fewer usable (unmasked) pixels than this fraction is skipped."""
PIXEL_SCALE_TOLERANCE = 1e-3
"""Relative difference up to which two pixel scales (or a pixel's two sides) count as equal."""
ARCSEC_PER_DEGREE = 3600.0


@dataclass(frozen=True)
class NoiseSettings:
    """Where a cutout's noise comes from.

    Attributes
    ----------
    hdu : str
        Noise-map HDU of the cutout (EXTNAME or 0-based index); empty for none.
    file : str
        Noise-map file, ``{stem}`` standing for the cutout's name without suffix, relative to the
        cutout's folder (its first 2-D image HDU is read); empty for none.
    kind : {"sigma", "variance", "inverse_variance"}
        What the map holds.
    background_rms : float or None
        Stated background noise (image units, counts/s), used without a map.
    exposure_time : float or None
        Exposure time (s) of the stated model's Poisson term; None: background only.
    """

    hdu: str = ""
    file: str = ""
    kind: str = "sigma"
    background_rms: float | None = None
    exposure_time: float | None = None

    @property
    def has_map(self) -> bool:
        """Whether the noise is read from a map (else the stated model is used)."""
        return bool(self.hdu or self.file)

    def describe(self) -> str:
        """The noise in words, for the report."""
        if self.hdu:
            return f"per-pixel {self.kind.replace('_', ' ')} map from HDU {self.hdu!r} of each cutout"
        if self.file:
            return f"per-pixel {self.kind.replace('_', ' ')} map from the file {self.file!r} beside each cutout"
        poisson = f" + max(d, 0) / {self.exposure_time:g} s" if self.exposure_time else ""
        return f"stated: sigma² = {self.background_rms:g}²{poisson} (image units)"


@dataclass(frozen=True)
class Cutouts:
    """The usable cutouts of a run, all of one size and pixel scale.

    Attributes
    ----------
    files : list of str
        The cutouts' paths, in input order.
    data : numpy.ndarray
        ``(N, n, n)`` images in the files' units (counts/s); masked pixels are 0.
    sigma : numpy.ndarray
        ``(N, n, n)`` noise standard deviation, same units; ``inf`` where masked.
    pixel_scale : float
        Pixel side (arcsec).
    pixel_scale_source : list of str
        ``header`` or ``spec`` per cutout.
    """

    files: list[str]
    data: np.ndarray
    sigma: np.ndarray
    pixel_scale: float
    pixel_scale_source: list[str]


class UnusableCutout(Exception):
    """A cutout that cannot be used, and why (:func:`read_cutouts` turns it into an :class:`InputProblem`)."""


def header_pixel_scale(header) -> float | None:
    """Pixel side (arcsec) from a header's celestial WCS (CD or CDELT in degrees), or None when
    it has none.

    Raises
    ------
    UnusableCutout
        When the pixels are not square (sides differ by more than :data:`PIXEL_SCALE_TOLERANCE`).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FITSFixedWarning)
        try:
            celestial = WCS(header, naxis=2).celestial
        except (ValueError, KeyError, MemoryError):
            return None
    if celestial.naxis != 2 or not celestial.has_celestial:
        return None
    sides = proj_plane_pixel_scales(celestial) * ARCSEC_PER_DEGREE
    if not np.all(np.isfinite(sides)) or not np.all(sides > 0):
        return None
    if abs(sides[0] - sides[1]) > PIXEL_SCALE_TOLERANCE * sides.max():
        raise UnusableCutout(f"pixels are not square in the WCS ({sides[0]:.6g}\" x {sides[1]:.6g}\")")
    return float(sides.mean())


def select_hdu(hdul, selector: str, what: str):
    """The HDU of the open FITS ``hdul`` ``selector`` names (0-based index or EXTNAME), or the first 2-D image when empty."""
    if not selector:
        for hdu in hdul:
            if hdu.is_image and hdu.data is not None and hdu.data.ndim == 2:
                return hdu
        raise UnusableCutout(f"no 2-D image HDU for the {what}")
    try:
        return hdul[int(selector)] if selector.isdigit() else hdul[selector]
    except (KeyError, IndexError):
        names = [h.name or str(i) for i, h in enumerate(hdul)]
        raise UnusableCutout(f"no HDU {selector!r} for the {what} (HDUs: {', '.join(names)})") from None


def _image(hdu, what: str) -> np.ndarray:
    """The 2-D float64 pixels of ``hdu``."""
    if not hdu.is_image or hdu.data is None or hdu.data.ndim != 2:
        shape = None if hdu.data is None else getattr(hdu.data, "shape", None)
        raise UnusableCutout(f"the {what} HDU {hdu.name!r} is not a 2-D image (shape {shape})")
    return np.array(hdu.data, dtype=np.float64)


def _noise_map(path: Path, hdul, settings: NoiseSettings) -> np.ndarray:
    """The noise map of cutout ``path`` as read (sigma, variance or inverse variance)."""
    if settings.hdu:
        return _image(select_hdu(hdul, settings.hdu, "noise map"), "noise map")
    other = path.parent / settings.file.format(stem=path.name.split(".")[0])
    if not other.is_file():
        raise UnusableCutout(f"no noise-map file {other}")
    with fits.open(other, memmap=False) as noise_hdul:
        return _image(select_hdu(noise_hdul, "", "noise map"), "noise map")


def sigma_map(image: np.ndarray, noise: np.ndarray | None, settings: NoiseSettings) -> np.ndarray:
    """Per-pixel sigma (image units) from a noise map of ``settings.kind``, or from the stated
    model ``sqrt(rms^2 + max(d, 0) / t)`` when ``noise`` is None; not positive or not finite
    where the pixel is unusable."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if noise is None:
            poisson = np.clip(image, 0, None) / settings.exposure_time if settings.exposure_time else 0.0
            return np.sqrt(settings.background_rms**2 + poisson)
        if settings.kind == "sigma":
            return noise
        if settings.kind == "variance":
            return np.where(noise > 0, np.sqrt(noise), np.nan)
        return np.where(noise > 0, 1.0 / np.sqrt(noise), np.nan)


def _crop(image: np.ndarray, npix: int | None) -> np.ndarray:
    """The centred ``npix x npix`` square of ``image`` (the whole image when ``npix`` is None)."""
    if npix is None:
        if image.shape[0] != image.shape[1]:
            raise UnusableCutout(f"not square ({image.shape[1]} x {image.shape[0]} pixels); set npix to cut a centred square")
        return image
    if min(image.shape) < npix:
        raise UnusableCutout(f"{image.shape[1]} x {image.shape[0]} pixels, smaller than npix = {npix}")
    top, left = (image.shape[0] - npix) // 2, (image.shape[1] - npix) // 2
    return image[top:top + npix, left:left + npix]


def _read_one(path: Path, settings: NoiseSettings, image_hdu: str, pixel_scale: float | None,
              npix: int | None) -> tuple[np.ndarray, np.ndarray, float, str]:
    """``(data, sigma, pixel scale, its source)`` of one cutout; masked pixels: data 0, sigma inf."""
    with fits.open(path, memmap=False) as hdul:
        science = select_hdu(hdul, image_hdu, "science image")
        image = _image(science, "science image")
        noise = _noise_map(path, hdul, settings) if settings.has_map else None
        from_header = header_pixel_scale(science.header)
    if noise is not None and noise.shape != image.shape:
        raise UnusableCutout(f"the noise map's shape {noise.shape} differs from the image's {image.shape}")
    if from_header is None and pixel_scale is None:
        raise UnusableCutout("no pixel scale: the header has no celestial WCS (CD or CDELT) and none is given "
                    "([fit_data] pixel_scale or --pixel-scale)")
    sigma = sigma_map(image, noise, settings)
    image, sigma = _crop(image, npix), _crop(sigma, npix)
    usable = np.isfinite(image) & np.isfinite(sigma) & (sigma > 0)
    if usable.mean() < MIN_USABLE_FRACTION:
        raise UnusableCutout(f"only {usable.mean():.0%} of the pixels have finite data and a positive, finite sigma")
    data = np.where(usable, image, 0.0)
    sigma = np.where(usable, sigma, np.inf)
    if from_header is not None:
        return data, sigma, from_header, "header"
    return data, sigma, float(pixel_scale), "spec"


def read_cutouts(files: list[Path], settings: NoiseSettings, *, image_hdu: str = "", pixel_scale: float | None = None,
                 npix: int | None = None, problems: list) -> Cutouts:
    """Read every usable cutout of ``files``; the first usable one fixes the size and pixel scale.

    Parameters
    ----------
    files : list of Path
        FITS files (see :func:`lensbench.io.fits.expand_inputs` for folders and patterns).
    settings : NoiseSettings
        Where the noise comes from.
    image_hdu : str
        Science-image HDU (EXTNAME or 0-based index); empty: the first 2-D image.
    pixel_scale : float or None
        Pixel side (arcsec) of cutouts whose header has no celestial WCS.
    npix : int or None
        Cut a centred ``npix x npix`` square from every cutout; None: cutouts must be square.
    problems : list
        Receives an :class:`InputProblem` for every file skipped.

    Raises
    ------
    DataError
        When no cutout is usable (the message lists why each was skipped).
    """
    kept: list[tuple[str, np.ndarray, np.ndarray, float, str]] = []
    for path in files:
        try:
            data, sigma, scale, source = _read_one(Path(path), settings, image_hdu, pixel_scale, npix)
            if kept and data.shape != kept[0][1].shape:
                raise UnusableCutout(f"{data.shape[1]} x {data.shape[0]} pixels, unlike the run's {kept[0][1].shape[1]} x "
                            f"{kept[0][1].shape[0]} (first file {kept[0][0]}); set npix to cut a common centred square")
            if kept and abs(scale - kept[0][3]) > PIXEL_SCALE_TOLERANCE * kept[0][3]:
                raise UnusableCutout(f"pixel scale {scale:.6g}\" differs from the run's {kept[0][3]:.6g}\" (first file {kept[0][0]})")
        except UnusableCutout as why:
            problems.append(InputProblem(str(path), None, str(why)))
            continue
        except (OSError, ValueError, TypeError, IndexError, KeyError, EOFError, VerifyError) as error:
            problems.append(InputProblem(str(path), None, f"not a readable FITS cutout ({error})"))
            continue
        kept.append((str(path), data, sigma, scale, source))
    if not kept:
        listed = "; ".join(str(p) for p in problems) or "no input files"
        raise DataError("[fit_data] inputs", f"no usable cutout: {listed}")
    return Cutouts(files=[k[0] for k in kept], data=np.stack([k[1] for k in kept]), sigma=np.stack([k[2] for k in kept]),
                   pixel_scale=kept[0][3], pixel_scale_source=[k[4] for k in kept])


def read_psf_kernel(path: Path, pixel_scale: float, hdu: str = "") -> np.ndarray:
    """A pixel PSF kernel from a FITS file: odd square, normalised to sum 1, at the cutouts'
    pixel scale (checked against the kernel header's WCS when it has one).

    Raises
    ------
    DataError
        When the file cannot be read, the kernel is not an odd square of finite values with a
        positive sum, or its pixel scale differs from the cutouts'.
    """
    try:
        with fits.open(path, memmap=False) as hdul:
            chosen = select_hdu(hdul, hdu, "PSF kernel")
            kernel = _image(chosen, "PSF kernel")
            scale = header_pixel_scale(chosen.header)
    except UnusableCutout as why:
        raise DataError(path, f"PSF: {why}") from None
    except (OSError, ValueError, TypeError, EOFError, VerifyError) as error:
        raise DataError(path, f"PSF: not a readable FITS file ({error})") from None
    if kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise DataError(path, f"PSF kernel must be an odd square, got {kernel.shape[1]} x {kernel.shape[0]} pixels")
    if not np.all(np.isfinite(kernel)) or not kernel.sum() > 0:
        raise DataError(path, "PSF kernel must hold finite values with a positive sum")
    if scale is not None and abs(scale - pixel_scale) > PIXEL_SCALE_TOLERANCE * pixel_scale:
        raise DataError(path, f"PSF kernel pixel scale {scale:.6g}\" differs from the cutouts' {pixel_scale:.6g}\"")
    return kernel / kernel.sum()
