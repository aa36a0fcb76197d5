"""The neural source model: a small convolutional variational auto-encoder of galaxy images.

Chianese et al. (2020) model the source with a neural network whose latent vector, with the
source's position, flux and size, are fitted together with the lens ("nearly one hundred"
parameters). Ours (architecture and training are our choices; the paper's are not public here):

- encoder: three stride-2 3x3 convolutions (``width``, ``2 width``, ``4 width`` channels, SiLU),
  then a linear map to the mean and log-variance of a ``latent_dim`` Gaussian;
- decoder: linear map to ``4 width x npix/8 x npix/8``, three stride-2 transposed convolutions,
  and a softmax over the pixels, so every decoded image is non-negative with unit flux;
- training: the negative ELBO (Kingma & Welling 2014 eq 10) with a Gaussian pixel likelihood,
  ``sum (x - D(z))^2 / (2 sigma^2) + beta KL(q(z|x) || N(0, 1))``, images in units of the mean
  pixel (``x * npix^2``), Adam, batches drawn with a seeded generator.

A fit draws the latent from its standard-normal prior and decodes it (:meth:`SourceVAE.decode`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class VaeConfig:
    """The shape of a :class:`SourceVAE`.

    Attributes
    ----------
    npix : int
        Pixels per side of the source grid (a multiple of 8).
    pixel_scale : float
        Pixel side of the source grid (arcsec) at ``source_scale = 1``.
    latent_dim : int
        Latent dimensions (the source parameters besides position, flux and size).
    width : int
        Channels of the first convolution.
    """

    npix: int
    pixel_scale: float
    latent_dim: int
    width: int = 16

    def __post_init__(self):
        if self.npix % 8 or self.npix < 8:
            raise ValueError(f"npix must be a positive multiple of 8, got {self.npix}")
        if self.latent_dim < 1 or self.width < 1 or not self.pixel_scale > 0:
            raise ValueError(f"latent_dim, width and pixel_scale must be positive, got {self}")


class SourceVAE(nn.Module):
    """Convolutional VAE of unit-flux ``npix x npix`` galaxy images (see the module docstring)."""

    def __init__(self, config: VaeConfig):
        super().__init__()
        self.config = config
        w, n = config.width, config.npix // 8
        self.encoder = nn.Sequential(
            nn.Conv2d(1, w, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(w, 2 * w, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * w, 4 * w, 3, stride=2, padding=1), nn.SiLU(), nn.Flatten(),
            nn.Linear(4 * w * n * n, 2 * config.latent_dim))
        self.decoder = nn.Sequential(
            nn.Linear(config.latent_dim, 4 * w * n * n), nn.SiLU(), nn.Unflatten(1, (4 * w, n, n)),
            nn.ConvTranspose2d(4 * w, 2 * w, 4, stride=2, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(2 * w, w, 4, stride=2, padding=1), nn.SiLU(),
            nn.ConvTranspose2d(w, 1, 4, stride=2, padding=1))

    def encode(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log-variance (B, L) of q(z | x) for unit-flux images (B, npix, npix)."""
        scaled = images * self.config.npix**2
        mean, log_var = self.encoder(scaled.unsqueeze(1)).chunk(2, dim=-1)
        return mean, log_var.clamp(-12.0, 6.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Unit-flux images (B, npix, npix) from latents (B, L): softmax over the pixels."""
        logits = self.decoder(z).flatten(1)
        return torch.softmax(logits, dim=-1).reshape(-1, self.config.npix, self.config.npix)

    def reconstruct(self, images: torch.Tensor) -> torch.Tensor:
        """Decoded posterior means: the model's best copy of each image (B, npix, npix)."""
        return self.decode(self.encode(images)[0])

    def loss(self, images: torch.Tensor, generator: torch.Generator, sigma: float, beta: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Negative ELBO per image, averaged over the batch, and its KL part (nats).

        ``sigma`` is the pixel noise in units of the mean pixel; ``beta`` weighs the KL term.
        """
        mean, log_var = self.encode(images)
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype).to(mean.device)
        decoded = self.decode(mean + eps * torch.exp(0.5 * log_var))
        squared = ((images - decoded) * self.config.npix**2).pow(2).sum((-2, -1))
        kl = 0.5 * (mean.pow(2) + log_var.exp() - 1 - log_var).sum(-1)
        return (squared / (2 * sigma**2) + beta * kl).mean(), kl.mean()


@dataclass(frozen=True)
class TrainingLog:
    """What :func:`train_vae` did.

    Attributes
    ----------
    steps : numpy.ndarray
        Optimiser steps at which the loss was recorded.
    loss : numpy.ndarray
        Mean negative ELBO (nats per image) over the steps since the previous record.
    kl : numpy.ndarray
        Its KL part.
    """

    steps: np.ndarray
    loss: np.ndarray
    kl: np.ndarray


def train_vae(model: SourceVAE, images: torch.Tensor, *, steps: int, batch_size: int, lr: float, sigma: float,
              beta: float, seed: int, record_every: int = 10, progress=None) -> TrainingLog:
    """Fit ``model`` to unit-flux ``images`` (N, npix, npix) with Adam (cosine-decayed ``lr``).

    Batches and the reparameterisation noise come from one CPU generator seeded by ``seed`` (the
    same draws on any device); the
    loss is recorded as the mean over each ``record_every`` steps. ``progress`` is called with 1
    after every step.
    """
    generator = torch.Generator().manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, max(steps, 1), eta_min=lr / 10)
    recorded, losses, kls, window, window_kl = [], [], [], [], []
    model.train()
    for step in range(1, steps + 1):
        batch = images[torch.randint(len(images), (batch_size,), generator=generator).to(images.device)]
        loss, kl = model.loss(batch, generator, sigma, beta)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        window.append(loss.item())
        window_kl.append(kl.item())
        if step % record_every == 0 or step == steps:
            recorded.append(step)
            losses.append(float(np.mean(window)))
            kls.append(float(np.mean(window_kl)))
            window, window_kl = [], []
        if progress:
            progress(1)
    model.eval()
    return TrainingLog(np.array(recorded), np.array(losses), np.array(kls))


def residual_flux_fraction(images: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
    """``sum |x - x_hat| / sum |x|`` per image (B,): the fraction of the flux in the residual."""
    return (images - reconstructions).abs().sum((-2, -1)) / images.abs().sum((-2, -1)).clamp(min=1e-30)


@torch.no_grad()
def reconstruction_errors(model: SourceVAE, images: torch.Tensor, chunk: int = 256) -> torch.Tensor:
    """:func:`residual_flux_fraction` of the model's reconstruction of each image (B,)."""
    model.eval()
    parts = [residual_flux_fraction(images[s:s + chunk], model.reconstruct(images[s:s + chunk]))
             for s in range(0, len(images), chunk)]
    return torch.cat(parts) if parts else torch.zeros(0)


def parameter_count(model: SourceVAE) -> int:
    """Trainable weights of the model (encoder and decoder)."""
    return sum(p.numel() for p in model.parameters())


def latent_prior_draws(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """``n`` standard-normal latents (n, L), the prior a fit puts on the source shape."""
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def load_source_model(folder: Path) -> SourceVAE:
    """The trained VAE in ``folder`` (``vae.json`` with its ``config``, ``model.pt`` weights), in
    float64 on the CPU with frozen weights (gradients still flow to its latent input)."""
    config = json.loads((Path(folder) / "vae.json").read_text())["config"]
    model = SourceVAE(VaeConfig(**config))
    model.load_state_dict(torch.load(Path(folder) / "model.pt", map_location="cpu", weights_only=True))
    return model.double().eval().requires_grad_(False)
