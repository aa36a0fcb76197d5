"""The likelihood pieces of observed cutouts: per-pixel Gaussian noise and a pixel PSF kernel.

A fit of real data records its cutouts in the same ``mocks.npz`` the MAP and NUTS steps read for
mocks (:func:`is_observed` tells them apart), with a per-pixel ``sigma`` map instead of one noise
level per image, the pixel grid and PSF of the data instead of the spec's ``[survey]``, and the
values of the parameters that are not fitted (``fixed``) instead of a truth.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

from lensbench.fit.lens_model import LensImageModel
from lensbench.physics.optics import convolve_kernel_fft
from lensbench.simulate.scene import Observation


def is_observed(record) -> bool:
    """Whether a ``mocks.npz`` record holds observed cutouts (a ``sigma`` map per pixel)."""
    return "sigma" in record


@dataclass(frozen=True)
class PixelNoise:
    """Gaussian noise with its own standard deviation in every pixel (masked pixels: ``inf``).

    ``log L = -1/2 sum_i ((d_i - m_i) / sigma_i)^2 - sum_i log(sigma_i sqrt(2 pi))`` over the
    unmasked pixels (the Gaussian likelihood of :mod:`lensbench.fit.likelihood` with a map).

    The attribute names follow :class:`lensbench.fit.likelihood.NoiseModel` (``kind``, ``scale``,
    ``sky``), so code that rebuilds a noise with other tensors (``dataclasses.replace(noise,
    scale=...)``) handles both.

    Attributes
    ----------
    scale : torch.Tensor
        ``(N, H, W)`` noise standard deviation sigma (image units), ``inf`` where a pixel is masked.
    """

    scale: torch.Tensor
    kind: str = "gaussian_map"
    sky: float = 0.0

    @property
    def sigma(self) -> torch.Tensor:
        """The per-pixel standard deviation (N, H, W)."""
        return self.scale

    @property
    def weight(self) -> torch.Tensor:
        """``1 / sigma`` (0 where masked)."""
        return 1.0 / self.scale

    def log_likelihood(self, model: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of each image (N,): ``model`` and ``data`` (N, H, W)."""
        usable = torch.isfinite(self.sigma)
        chi2 = ((data - model) * self.weight).pow(2).sum((-2, -1))
        norm = torch.where(usable, torch.log(self.sigma * math.sqrt(2 * math.pi)), torch.zeros_like(self.sigma))
        return -0.5 * chi2 - norm.sum((-2, -1))

    def take(self, rows: torch.Tensor) -> PixelNoise:
        """The noise of images ``rows``."""
        return PixelNoise(self.scale[rows])


class KernelPSFImageModel(LensImageModel):
    """:class:`LensImageModel` convolved with a pixel PSF kernel (FFT, zeros beyond the edge, as
    lenstronomy's ``PIXEL`` PSF) instead of a Gaussian.

    Parameters
    ----------
    lens_profile : {"epl", "sie"}
        Main-lens mass profile.
    observation : Observation
        Pixel grid; its ``psf_fwhm`` is ignored.
    kernel : numpy.ndarray
        Odd square kernel at the image's pixel scale, summing to 1.
    max_eccentricity : float
        See :class:`LensImageModel`.
    """

    def __init__(self, lens_profile: str, observation: Observation, kernel: np.ndarray, max_eccentricity: float = 0.5):
        super().__init__(lens_profile, dataclasses.replace(observation, psf_fwhm=None), max_eccentricity)
        self.kernel = torch.as_tensor(np.asarray(kernel, dtype=np.float64))

    def render(self, theta: torch.Tensor) -> torch.Tensor:
        """Noiseless images ``(B, npix, npix)`` (counts/s per pixel), convolved with the kernel."""
        return convolve_kernel_fft(super().render(theta), self.kernel)


def observed_model(lens_profile: str, record, max_eccentricity: float) -> LensImageModel:
    """The forward model of the cutouts in ``record``: their pixel grid and supersampling, and
    their PSF kernel (``psf_kernel``) or Gaussian PSF (``psf_fwhm``, arcsec)."""
    observation = Observation(npix=int(record["data"].shape[-1]), pixel_scale=float(record["pixel_scale"]),
                              supersampling=int(record["supersampling"]),
                              psf_fwhm=float(record["psf_fwhm"]) if "psf_fwhm" in record else None)
    if "psf_kernel" in record:
        return KernelPSFImageModel(lens_profile, observation, record["psf_kernel"], max_eccentricity)
    return LensImageModel(lens_profile, observation, max_eccentricity)


def observed_noise(record) -> PixelNoise:
    """The per-pixel noise of the cutouts in ``record``."""
    return PixelNoise(torch.as_tensor(record["sigma"]))


def matched_snr(model: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """``sqrt(sum_i m_i^2 / sigma_i^2)`` per image (:mod:`lensbench.fit.likelihood`'s SNR) of
    model images (N, H, W) in per-pixel noise (masked pixels: ``inf``, no contribution)."""
    return np.sqrt(((model / sigma) ** 2).sum((-2, -1)))


def reduced_chi2(model: np.ndarray, data: np.ndarray, sigma: np.ndarray, n_free: int) -> np.ndarray:
    """``sum_i ((d_i - m_i) / sigma_i)^2 / (n_usable - n_free)`` per image (1 for a model that
    fits down to the noise)."""
    usable = np.isfinite(sigma).sum((-2, -1))
    return (((data - model) / sigma) ** 2).sum((-2, -1)) / np.maximum(usable - n_free, 1)
