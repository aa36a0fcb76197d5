"""Image likelihoods (Gaussian and Poisson), the SNR definition, and the posterior a fit uses.

SNR (our definition, stated in every report): the matched-filter signal-to-noise ratio of the
noiseless lensed image ``m`` (counts/s per pixel) in its own noise,
``SNR = sqrt(sum_i m_i^2 / sigma_i^2)``, with ``sigma_i`` the noise standard deviation of pixel
``i``: a constant background ``sigma`` (Gaussian noise) or ``sqrt((m_i + sky) / t)`` (Poisson
counts in exposure time ``t`` over a sky of ``sky`` counts/s per pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from lensbench.fit.lens_model import LensImageModel
from lensbench.fit.parameters import ParameterSpace

NOISE_KINDS = ("gaussian", "poisson")


def gaussian_sigma_for_snr(image: torch.Tensor, snr: float) -> torch.Tensor:
    """Background ``sigma`` (counts/s per pixel) giving ``image`` (..., H, W) the SNR ``snr``:
    ``sigma = sqrt(sum m^2) / SNR``."""
    return image.pow(2).sum((-2, -1)).sqrt() / snr


def poisson_exposure_for_snr(image: torch.Tensor, sky: float, snr: float) -> torch.Tensor:
    """Exposure time ``t`` (s) giving ``image`` the SNR ``snr`` in Poisson noise over ``sky``:
    ``SNR^2 = t * sum m^2 / (m + sky)``, so ``t = SNR^2 / sum(m^2 / (m + sky))``."""
    return snr**2 / (image.pow(2) / (image.clamp(min=0) + sky)).sum((-2, -1))


def gaussian_log_likelihood(model: torch.Tensor, data: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """``sum_i log N(d_i | m_i, sigma^2)`` per image: (..., H, W) -> (...); ``sigma`` (...)."""
    sigma = sigma[..., None, None]
    npix = model.shape[-1] * model.shape[-2]
    chi2 = ((data - model) / sigma).pow(2).sum((-2, -1))
    return -0.5 * chi2 - npix * torch.log(sigma[..., 0, 0] * math.sqrt(2 * math.pi))


def poisson_log_likelihood(model: torch.Tensor, counts: torch.Tensor, exposure: torch.Tensor, sky: float) -> torch.Tensor:
    """``sum_i log Poisson(n_i | (m_i + sky) t)`` per image, ``n`` the counts (electrons)."""
    rate = ((model + sky) * exposure[..., None, None]).clamp(min=1e-12)
    return (counts * torch.log(rate) - rate - torch.lgamma(counts + 1)).sum((-2, -1))


@dataclass(frozen=True)
class NoiseModel:
    """How the data were observed.

    Attributes
    ----------
    kind : {"gaussian", "poisson"}
        Gaussian background of ``scale = sigma`` (counts/s per pixel; data in counts/s), or Poisson
        counts with ``scale = t`` exposure (s) over ``sky`` (counts/s per pixel; data in counts).
    scale : torch.Tensor
        ``(N,)``: sigma or exposure time per image.
    sky : float
        Sky level (counts/s per pixel), Poisson only.
    """

    kind: str
    scale: torch.Tensor
    sky: float = 0.0

    def __post_init__(self):
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"noise kind must be one of {', '.join(NOISE_KINDS)}, got {self.kind!r}")

    def log_likelihood(self, model: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
        """Log-likelihood of each image (N,)."""
        if self.kind == "gaussian":
            return gaussian_log_likelihood(model, data, self.scale)
        return poisson_log_likelihood(model, data, self.scale, self.sky)

    def take(self, rows: torch.Tensor) -> NoiseModel:
        """The noise of images ``rows``."""
        return NoiseModel(self.kind, self.scale[rows], self.sky)


class ImagePosterior:
    """The log-posterior of the free parameters of N images, in unconstrained space.

    Parameters
    ----------
    model : LensImageModel
        Forward model.
    space : ParameterSpace
        The free parameters (a subset of ``model.names``) with their priors.
    data : torch.Tensor
        ``(N, H, W)`` observed images.
    noise : NoiseModel
        Their noise.
    fixed : torch.Tensor
        ``(N, P_all)`` values of every model parameter; the free columns are overwritten.
    """

    def __init__(self, model: LensImageModel, space: ParameterSpace, data: torch.Tensor, noise: NoiseModel,
                 fixed: torch.Tensor):
        unknown = [n for n in space.names if n not in model.names]
        if unknown:
            raise ValueError(f"parameters {unknown} are not in the {model.lens_profile} model ({', '.join(model.names)})")
        self.model, self.space, self.data, self.noise, self.fixed = model, space, data, noise, fixed
        self.free = torch.tensor([model.names.index(n) for n in space.names], device=data.device)

    def __len__(self) -> int:
        return self.data.shape[0]

    def take(self, rows) -> ImagePosterior:
        """The posterior of images ``rows`` (an index tensor, repeats allowed: one row per start)."""
        rows = torch.as_tensor(rows, device=self.data.device)
        return ImagePosterior(self.model, self.space, self.data[rows], self.noise.take(rows), self.fixed[rows])

    def full_parameters(self, u: torch.Tensor) -> torch.Tensor:
        """Every model parameter (N, P_all): the fixed table with the free columns ``theta(u)``."""
        return self.fixed.index_copy(1, self.free, self.space.to_constrained(u))

    def model_images(self, u: torch.Tensor) -> torch.Tensor:
        """Noiseless model images (N, H, W) at ``u``."""
        return self.model.render(self.full_parameters(u))

    def log_likelihood(self, u: torch.Tensor) -> torch.Tensor:
        """``log L(d | theta(u))`` per image (N,)."""
        return self.noise.log_likelihood(self.model_images(u), self.data)

    def log_posterior(self, u: torch.Tensor) -> torch.Tensor:
        """``log L(d | theta(u)) + log p(u)`` per image (N,), up to a constant."""
        return self.log_likelihood(u) + self.space.log_density_unconstrained(u)

    def potential(self, u: torch.Tensor) -> torch.Tensor:
        """Potential energy ``-log p(u | d)`` per image (N,) (what MAP minimises and NUTS samples)."""
        return -self.log_posterior(u)
