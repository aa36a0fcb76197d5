"""Surface-brightness profiles as pure, batched torch functions.

Each function takes positions ``x, y`` (arcsec) and returns surface brightness in the unit of its
amplitude per arcsec^2 (lenstronomy's convention, e.g. counts/s/arcsec^2). Parameters broadcast
as in :mod:`lensbench.physics.profiles` (leading dimensions of ``x``; trailing singleton
dimensions are added). Works in float32 and float64, on CPU and CUDA, and is differentiable.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from lensbench.physics.profiles import _expand

Tensor = torch.Tensor

SERSIC_SMOOTHING = 1e-4
"""Smallest radius (arcsec) the Sersic profile is evaluated at (lenstronomy's smoothing)."""

SERSIC_MAX_RADIUS = 1000.0
"""The Sersic profile is zero beyond this many R_sersic (lenstronomy's ``max_R_frac``)."""


def sersic_b_n(n_sersic: Tensor) -> Tensor:
    """``b_n = 1.9992 n - 0.3271`` (Capaccioli 1989 approximation; lenstronomy), floored at 1e-5."""
    return torch.clamp(1.9992 * n_sersic - 0.3271, min=1e-5)


def _product_average_radius(x, y, e1, e2, center_x, center_y):
    """Elliptical radius ``sqrt(x'^2 + y'^2)`` (arcsec) with lenstronomy's product-average map
    ``x' = ((1 - e1) dx - e2 dy) / N``, ``y' = (-e2 dx + (1 + e1) dy) / N``,
    ``N = sqrt(max(|1 - e1^2 - e2^2|, 1e-6))`` (``param_util.transform_e1e2_product_average``)."""
    e1, e2 = _expand(e1, x), _expand(e2, x)
    dx, dy = x - _expand(center_x, x), y - _expand(center_y, x)
    norm = torch.sqrt(torch.clamp(torch.abs(1 - e1 * e1 - e2 * e2), min=1e-6))
    xp = ((1 - e1) * dx - e2 * dy) / norm
    yp = (-e2 * dx + (1 + e1) * dy) / norm
    return torch.sqrt(xp * xp + yp * yp)


def sersic_ellipse(x, y, amp, R_sersic, n_sersic, e1, e2, center_x=0.0, center_y=0.0) -> Tensor:
    """Elliptical Sersic surface brightness (lenstronomy ``SERSIC_ELLIPSE``).

    ``I(R) = amp * exp(-b_n ((R / R_sersic)^(1/n) - 1))`` (Sersic 1963), R the product-average
    elliptical radius; zero beyond 1000 R_sersic.

    Parameters
    ----------
    x, y : Tensor
        Positions (arcsec).
    amp : Tensor or float
        Surface brightness at R_sersic (e.g. counts/s/arcsec^2).
    R_sersic : Tensor or float
        Half-light radius (arcsec), product average of the semi-axes.
    n_sersic : Tensor or float
        Sersic index.
    e1, e2 : Tensor or float
        Eccentricity components.
    center_x, center_y : Tensor or float
        Centre (arcsec).
    """
    radius = torch.clamp(_product_average_radius(x, y, e1, e2, center_x, center_y), min=SERSIC_SMOOTHING)
    r_sersic = torch.clamp(_expand(R_sersic, x), min=SERSIC_SMOOTHING)
    n = _expand(n_sersic, x)
    ratio = radius / r_sersic
    profile = torch.exp(-sersic_b_n(n) * (ratio ** (1 / n) - 1))
    return torch.where(ratio <= SERSIC_MAX_RADIUS, _expand(amp, x) * profile, torch.zeros_like(profile))


def gaussian(x, y, amp, sigma, center_x=0.0, center_y=0.0) -> Tensor:
    """Circular Gaussian (lenstronomy ``GAUSSIAN``): ``amp / (2 pi sigma^2) exp(-r^2 / (2 sigma^2))``.

    Parameters
    ----------
    x, y : Tensor
        Positions (arcsec).
    amp : Tensor or float
        Total flux (e.g. counts/s).
    sigma : Tensor or float
        Standard deviation (arcsec).
    center_x, center_y : Tensor or float
        Centre (arcsec).
    """
    s = _expand(sigma, x)
    dx, dy = x - _expand(center_x, x), y - _expand(center_y, x)
    return _expand(amp, x) / (2 * math.pi * s * s) * torch.exp(-(dx * dx + dy * dy) / (2 * s * s))


def interpolated_image(x, y, image: Tensor, scale: float, center_x=0.0, center_y=0.0, amp=1.0) -> Tensor:
    """Pixelated surface brightness, bilinearly interpolated (lenstronomy ``INTERPOL``, phi_G = 0).

    Pixel (row i, column j) of an ``h x w`` image is centred at
    ``(center_x + (j - (w-1)/2) scale, center_y + (i - (h-1)/2) scale)`` (row 0 is the lowest y).
    Beyond the image the brightness falls linearly to 0 over one pixel and is 0 further out
    (lenstronomy pads the image with one row/column of zeros).

    Parameters
    ----------
    x, y : Tensor
        Positions (arcsec), shape ``(B, ...)``.
    image : Tensor
        ``(B, h, w)`` surface brightness (e.g. counts/s/arcsec^2).
    scale : float or Tensor
        Pixel side of ``image`` (arcsec), a number or a tensor broadcasting against ``x``.
    center_x, center_y, amp : Tensor or float
        Centre of the image (arcsec) and a factor on its brightness, shape ``(B,)`` or scalar.
    """
    padded = F.pad(image.to(x.dtype), (1, 1, 1, 1)).unsqueeze(1)
    height, width = padded.shape[-2:]
    col = (x - _expand(center_x, x)) / scale
    row = (y - _expand(center_y, x)) / scale
    # grid_sample with align_corners=True maps -1/+1 to the centres of the first/last padded pixel
    grid = torch.stack((col / ((width - 1) / 2), row / ((height - 1) / 2)), dim=-1)
    grid = grid.reshape(x.shape[0], 1, -1, 2)
    sampled = F.grid_sample(padded, grid, mode="bilinear", padding_mode="border", align_corners=True)
    return _expand(amp, x) * sampled.reshape(x.shape)
