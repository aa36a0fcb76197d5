"""Galaxy images a neural source model trains on, and real stamps put on its pixel grid.

Training galaxies are simulated (our choice: Chianese et al. 2020 train their source model on
galaxy images, which ones is not public here): mixtures of 1-3 elliptical Sersic components plus
0-4 compact clumps, on a square grid of ``npix`` pixels of ``pixel_scale`` arcsec centred on the
origin. Every image is normalised to unit total flux (sum of pixels = 1), so a decoder trained on
them outputs a shape and the fit carries the flux separately.

Sizes are fractions of the field width ``F = npix * pixel_scale`` (arcsec) so the same population
fills any grid:

============  ==============================  ========================================
what          how many                        parameters (per component)
============  ==============================  ========================================
Sersic disc   1 to 3, flux shares Dirichlet   R_sersic ~ U(0.04, 0.2) F, n ~ U(0.5, 4),
              (alpha = 1)                     e1, e2 ~ U(-0.4, 0.4), centre ~ N(0, 0.04 F)
clump         0 to 4, each 0-10 % of flux     Gaussian sigma ~ U(0.01, 0.03) F, centre ~ N(0, 0.12 F)
============  ==============================  ========================================
"""

from __future__ import annotations

import numpy as np
import torch

from lensbench.physics import light, optics

MAX_DISCS = 3
MAX_CLUMPS = 4
SUPERSAMPLING = 2
"""Sub-pixels per axis each training image is averaged over (the cores of small components)."""


def sersic_mixture_images(n: int, npix: int, pixel_scale: float, seed: int, chunk: int = 256) -> torch.Tensor:
    """``n`` unit-flux galaxy images (n, npix, npix), rendered in float32, reproducible from ``seed``.

    Parameters
    ----------
    n : int
        Number of images.
    npix : int
        Pixels per side.
    pixel_scale : float
        Pixel side (arcsec).
    seed : int
        Seeds every draw (the same seed gives the same bytes).
    chunk : int
        Images rendered per batch (bounds memory).
    """
    rng = np.random.default_rng(seed)
    field = npix * pixel_scale
    discs = rng.integers(1, MAX_DISCS + 1, size=n)
    share = rng.dirichlet(np.ones(MAX_DISCS), size=n) * (np.arange(MAX_DISCS) < discs[:, None])
    disc = {
        "share": share / share.sum(1, keepdims=True),
        "R_sersic": rng.uniform(0.04, 0.2, (n, MAX_DISCS)) * field,
        "n_sersic": rng.uniform(0.5, 4.0, (n, MAX_DISCS)),
        "e1": rng.uniform(-0.4, 0.4, (n, MAX_DISCS)),
        "e2": rng.uniform(-0.4, 0.4, (n, MAX_DISCS)),
        "center_x": rng.normal(0, 0.04, (n, MAX_DISCS)) * field,
        "center_y": rng.normal(0, 0.04, (n, MAX_DISCS)) * field,
    }
    clumps = rng.integers(0, MAX_CLUMPS + 1, size=n)
    clump = {
        "share": rng.uniform(0.0, 0.1, (n, MAX_CLUMPS)) * (np.arange(MAX_CLUMPS) < clumps[:, None]),
        "sigma": rng.uniform(0.01, 0.03, (n, MAX_CLUMPS)) * field,
        "center_x": rng.normal(0, 0.12, (n, MAX_CLUMPS)) * field,
        "center_y": rng.normal(0, 0.12, (n, MAX_CLUMPS)) * field,
    }
    x, y = optics.pixel_grid(npix, pixel_scale, SUPERSAMPLING, dtype=torch.float32)
    images = [_render_chunk(x, y, {k: v[s:s + chunk] for k, v in disc.items()},
                            {k: v[s:s + chunk] for k, v in clump.items()}) for s in range(0, n, chunk)]
    return torch.cat(images)


def _render_chunk(x: torch.Tensor, y: torch.Tensor, disc: dict, clump: dict) -> torch.Tensor:
    """Unit-flux images of one chunk: each component is normalised to unit flux on the grid, then
    weighted by its share (discs share ``1 - sum(clump shares)``)."""
    t = {k: torch.as_tensor(v.reshape(-1), dtype=x.dtype) for k, v in disc.items()}
    size = x.shape[-1]
    xs, ys = x.expand(len(t["share"]), size, size), y.expand(len(t["share"]), size, size)
    discs = light.sersic_ellipse(xs, ys, 1.0, t["R_sersic"], t["n_sersic"], t["e1"], t["e2"], t["center_x"], t["center_y"])
    c = {k: torch.as_tensor(v.reshape(-1), dtype=x.dtype) for k, v in clump.items()}
    xc, yc = x.expand(len(c["share"]), size, size), y.expand(len(c["share"]), size, size)
    clumps = light.gaussian(xc, yc, 1.0, c["sigma"], c["center_x"], c["center_y"])
    n = disc["share"].shape[0]
    clump_share = torch.as_tensor(clump["share"], dtype=x.dtype)
    disc_weight = torch.as_tensor(disc["share"], dtype=x.dtype) * (1 - clump_share.sum(1, keepdim=True))
    image = (_unit_flux(discs).reshape(n, MAX_DISCS, size, size) * disc_weight[..., None, None]).sum(1)
    image = image + (_unit_flux(clumps).reshape(n, MAX_CLUMPS, size, size) * clump_share[..., None, None]).sum(1)
    return _unit_flux(optics.bin_supersampled(image, SUPERSAMPLING))


def _unit_flux(images: torch.Tensor) -> torch.Tensor:
    """Each image (..., H, W) divided by its pixel sum."""
    return images / images.sum((-2, -1), keepdim=True).clamp(min=1e-30)


def stamps_on_grid(stamps: list[np.ndarray], stamp_scale: float, npix: int, pixel_scale: float,
                   oversampling: int = 4) -> torch.Tensor:
    """Real galaxy stamps resampled onto the source model's grid, unit flux (n, npix, npix).

    Each stamp (its own size, ``stamp_scale`` arcsec per pixel, centred on its middle pixel) is
    bilinearly sampled at ``oversampling^2`` points per grid pixel (lenstronomy ``INTERPOL``
    convention, :func:`lensbench.physics.light.interpolated_image`) and averaged, an
    area-weighted resampling; light beyond the grid's field is cut. Negative (noise) pixels are
    set to 0 before the flux is normalised.
    """
    if not stamps:
        return torch.zeros(0, npix, npix)
    side = max(max(s.shape) for s in stamps)
    padded = np.zeros((len(stamps), side, side))
    for i, stamp in enumerate(stamps):  # assembling stamps of different sizes, no pixel work
        h, w = stamp.shape
        top, left = (side - h) // 2, (side - w) // 2
        padded[i, top:top + h, left:left + w] = stamp
    # a stamp of odd size h has its middle pixel at index (h-1)/2, which after padding sits
    # at (side-1)/2 only when side - h is even; the half-pixel shift otherwise is negligible here
    x, y = optics.pixel_grid(npix, pixel_scale, oversampling)
    size = x.shape[-1]
    image = torch.as_tensor(padded)
    sampled = light.interpolated_image(x.expand(len(stamps), size, size), y.expand(len(stamps), size, size),
                                       image, stamp_scale)
    return _unit_flux(optics.bin_supersampled(sampled, oversampling).clamp(min=0)).to(torch.float32)
