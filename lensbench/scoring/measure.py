"""Size and brightness of a galaxy stamp as the network gets it: half-light radius and flux.

One measurement for real and simulated stamps alike, so the two can be matched
(:mod:`lensbench.scoring.controls`); it is simple and consistent rather than a survey-grade
photometry:

1. the sky level and noise are the median and 1.4826 x MAD of the outer frame
   (:func:`lensbench.io.preprocess.border_noise`); the level is subtracted;
2. the centre is the flux-weighted centroid of the pixels above 3 sigma (the image centre when
   there are none);
3. the flux is the sum of the sky-subtracted pixels within a circle of radius
   :data:`APERTURE_FRACTION` x the smaller side about that centre (image units x pixels:
   counts/s for COSMOS and for lensbench's simulations);
4. the half-light radius is where the curve of growth in that circle reaches half the flux, in
   pixels (times the pixel scale for arcsec); each pixel's light is spread evenly over the radii
   d - 1/2 to d + 1/2 about its centre's distance d, which keeps a circular Gaussian's radius
   within 2 % of sigma sqrt(2 ln 2) down to sigma = 1.5 px.
"""

from __future__ import annotations

import numpy as np

from lensbench.io.preprocess import border_noise

APERTURE_FRACTION = 0.5  # aperture radius / smaller image side
DETECTION_SIGMA = 3.0    # pixels above this many sigma set the centroid
BISECTIONS = 30          # halvings of the radius interval (pixels): far below a pixel


def _half_light_radius(distance: np.ndarray, light: np.ndarray, outer: float) -> float:
    """Radius (pixels) enclosing half of ``light``, each pixel spread over distance +- 1/2."""
    low, high, half = 0.0, outer + 0.5, 0.5 * light.sum()
    for _ in range(BISECTIONS):
        middle = 0.5 * (low + high)
        if (light * np.clip(middle - distance + 0.5, 0.0, 1.0)).sum() < half:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def half_light_radius_and_flux(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Half-light radius (pixels) and flux (image units summed over pixels) of each image.

    Parameters
    ----------
    images : numpy.ndarray, shape (N, H, W)
        One galaxy per image, near the centre, in any linear units (counts/s per pixel).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        Shape (N,) each; the radius is NaN where the flux in the aperture is not positive.
    """
    images = np.asarray(images, dtype=np.float64)
    n, height, width = images.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    radii, fluxes = np.full(n, np.nan), np.full(n, np.nan)
    for index, image in enumerate(images):
        level, sigma = border_noise(image)
        clean = image - level
        bright = clean > DETECTION_SIGMA * sigma
        weights = clean * bright
        if weights.sum() > 0:
            cy, cx = (weights * yy).sum() / weights.sum(), (weights * xx).sum() / weights.sum()
        else:
            cy, cx = (height - 1) / 2, (width - 1) / 2
        outer = APERTURE_FRACTION * min(height, width)
        distance = np.hypot(yy - cy, xx - cx).ravel()
        inside = distance <= outer
        light = clean.ravel()[inside]
        fluxes[index] = light.sum()
        if fluxes[index] > 0:
            radii[index] = _half_light_radius(distance[inside], light, outer)
    return radii, fluxes
