"""Photometry and detector noise for rendered images (numpy, so every backend gets the same noise).

Images are in lenstronomy's units, counts/s per pixel (electrons/s). Noise is drawn from an
explicit :class:`numpy.random.Generator` after every simulation parameter, on the whole batch at
once: first the Poisson counts of all images, then the Gaussian background of all images.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gamma as gamma_function


def magnitude_to_counts(magnitude, zero_point: float) -> np.ndarray:
    """Counts per second of a source of AB ``magnitude``: 10^(-0.4 (m - zp)).

    The zero point is the magnitude giving 1 count/s (Pogson's law; lenstronomy
    ``data_util.magnitude2cps``).
    """
    return 10.0 ** (-0.4 * (np.asarray(magnitude, dtype=np.float64) - zero_point))


def counts_to_magnitude(counts, zero_point: float) -> np.ndarray:
    """Magnitude of a source giving ``counts`` per second: m = zp - 2.5 log10(counts) (inverse of
    :func:`magnitude_to_counts`)."""
    return zero_point - 2.5 * np.log10(np.asarray(counts, dtype=np.float64))


def sersic_b(n_sersic) -> np.ndarray:
    """b_n of a Sersic profile as lenstronomy defines it, b_n = 1.9992 n - 0.3271 (Capaccioli 1989).

    lenstronomy's ``SERSIC_ELLIPSE`` amplitude is the surface brightness at R_sersic with this b_n,
    so amplitudes must be converted with the same one.
    """
    return 1.9992 * np.asarray(n_sersic, dtype=np.float64) - 0.3271


def sersic_amplitude(total_counts, R_sersic, n_sersic) -> np.ndarray:
    """lenstronomy Sersic amplitude (counts/s/arcsec^2 at R_sersic) of a profile holding ``total_counts``.

    Total flux F = amp 2 pi n R^2 e^(b_n) Gamma(2n) / b_n^(2n) (Graham & Driver 2005 eq. 4 with
    lenstronomy's b_n; the elliptical profile keeps its area, so q drops out).

    Parameters
    ----------
    total_counts : array_like
        Total counts/s of the profile.
    R_sersic : array_like
        Half-light radius (arcsec).
    n_sersic : array_like
        Sersic index.
    """
    n = np.asarray(n_sersic, dtype=np.float64)
    b = sersic_b(n)
    unit_flux = 2.0 * np.pi * n * np.asarray(R_sersic, dtype=np.float64) ** 2 * np.exp(b) * gamma_function(2.0 * n) / b ** (2.0 * n)
    return np.asarray(total_counts, dtype=np.float64) / unit_flux


def background_rms(
    exposure_time: float,
    pixel_scale: float,
    read_noise: float = 0.0,
    sky_brightness: float | None = None,
    zero_point: float | None = None,
    num_exposures: int = 1,
) -> float:
    """Gaussian background noise per pixel (counts/s) of co-added exposures.

    sigma = sqrt(N_exp read_noise^2 + t_tot sky p^2) / t_tot with t_tot = N_exp t and the sky in
    counts/s/arcsec^2 from its magnitude (lenstronomy ``data_util.bkg_noise``).

    Parameters
    ----------
    exposure_time : float
        Time of one exposure (s).
    pixel_scale : float
        Pixel side p (arcsec).
    read_noise : float
        Read-out noise per exposure (electrons).
    sky_brightness : float or None
        Sky surface brightness (mag/arcsec^2); None for no sky.
    zero_point : float or None
        Magnitude of 1 count/s (needed with ``sky_brightness``).
    num_exposures : int
        Exposures co-added.
    """
    total_time = exposure_time * num_exposures
    sky_counts = 0.0
    if sky_brightness is not None:
        if zero_point is None:
            raise ValueError("a sky brightness needs the magnitude zero point")
        sky_counts = float(magnitude_to_counts(sky_brightness, zero_point)) * pixel_scale**2 * total_time
    return float(np.sqrt(num_exposures * read_noise**2 + sky_counts) / total_time)


def add_noise(
    images,
    exposure_time: float,
    background_sigma: float,
    rng: np.random.Generator,
    sky_level: float = 0.0,
) -> np.ndarray:
    """Noisy images: Poisson counts of (image + sky) over the exposure, then Gaussian background.

    noisy = Poisson(max(image + sky, 0) t) / t + N(0, background_sigma^2). The sky level, when
    given, stays in the image (Brehmer+19: the isotropic sky is part of the Poisson mean and is not
    subtracted); for a sky-subtracted survey pass ``sky_level = 0`` and put the sky's shot noise in
    ``background_sigma`` (:func:`background_rms`).

    Parameters
    ----------
    images : array_like
        Noiseless images (counts/s per pixel), any shape.
    exposure_time : float
        Total exposure t (s).
    background_sigma : float
        Gaussian noise per pixel (counts/s); 0 for none.
    rng : numpy.random.Generator
        Draws all Poisson counts first, then all Gaussian deviates.
    sky_level : float
        Sky counts/s per pixel added before the Poisson draw and kept.

    Returns
    -------
    numpy.ndarray
        float64 images of the same shape (counts/s per pixel).
    """
    mean = np.clip(np.asarray(images, dtype=np.float64) + sky_level, 0.0, None)
    noisy = rng.poisson(mean * exposure_time) / exposure_time
    if background_sigma > 0:
        noisy = noisy + rng.normal(0.0, background_sigma, size=noisy.shape)
    return noisy
