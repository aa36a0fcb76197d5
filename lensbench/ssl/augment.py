"""Batched image augmentations for self-supervised views, drawn from one seeded ``torch.Generator``.

Every function takes a batch ``(N, C, H, W)`` and returns a new batch of the same dtype and
device; all random numbers come from the CPU generator passed in (then moved to the batch's
device), so the same generator state gives the same views on any device. No per-image Python loop.

Angular scale is physics here: the Einstein radius theta_E (1.28" for the DeepLense host, 16 px
at 0.08"/px) and the vortex length (0.06" x 1e-22 eV / m_a) are measured in pixels by the
network, so nothing here resizes an image:

- ``rotate90`` and ``flip`` permute pixels exactly: theta_E, the vortex length and the noise
  are unchanged; the lens is seen from another orientation (a flip is its mirror image, again a
  valid lens: the lens equation is parity symmetric).
- ``rotate`` turns by an arbitrary angle with bilinear interpolation (``affine_grid``): lengths
  are kept (theta_E and the vortex length in pixels), pixel noise is slightly smoothed, and the
  corners outside the inscribed circle (beyond 32 px = 2.56" at HST-like 0.08"/px, twice
  theta_E) are filled with zeros.
- ``noise`` adds Gaussian noise: the geometry is untouched, the signal-to-noise ratio drops.
- :func:`local_crops` cuts un-resized windows (DINO's local views): the pixel scale is kept, so
  theta_E and the vortex length keep their size in pixels, but a window smaller than the
  Einstein ring (2 theta_E = 32 px at HST-like scale) sees only part of the arc.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("rotate90", "rotate", "flip", "noise")
"""Names :func:`augment` applies, in the order given."""


def _uniform(n: int, generator: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=generator).to(device)


def rotate90(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image by a random multiple of 90 degrees (exact pixel permutation).

    Parameters
    ----------
    images : torch.Tensor
        (N, C, H, W) with H == W.
    generator : torch.Generator
        CPU generator; one integer in {0, 1, 2, 3} is drawn per image.
    """
    if images.shape[-1] != images.shape[-2]:
        raise ValueError(f"rotate90 needs square images, got {tuple(images.shape[-2:])}")
    turns = torch.randint(0, 4, (images.shape[0],), generator=generator).to(images.device)
    out = images.clone()
    for k in (1, 2, 3):  # four groups, not one loop per image
        chosen = turns == k
        out[chosen] = torch.rot90(images[chosen], k, dims=(-2, -1))
    return out


def rotate(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Rotate each image by an angle drawn uniformly in [0, 2 pi) about its centre (bilinear,
    zeros outside the image); lengths in pixels are kept."""
    n = images.shape[0]
    angle = 2.0 * math.pi * _uniform(n, generator, images.device).to(images.dtype)
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(cos)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)  # (N, 2, 3)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Flip each image left-right and, independently, up-down, each with probability 1/2."""
    n = images.shape[0]
    draws = torch.rand(2, n, generator=generator).to(images.device) < 0.5
    out = torch.where(draws[0].view(n, 1, 1, 1), images.flip(-1), images)
    return torch.where(draws[1].view(n, 1, 1, 1), out.flip(-2), out)


def gaussian_noise(images: torch.Tensor, generator: torch.Generator, sigma: float) -> torch.Tensor:
    """Add independent Gaussian noise of standard deviation ``sigma`` (in the units of the
    normalised pixels, e.g. a fraction of the peak for ``normalize = "max"``) to every pixel."""
    noise = torch.randn(images.shape, generator=generator, dtype=images.dtype).to(images.device)
    return images + sigma * noise


def augment(images: torch.Tensor, names, generator: torch.Generator, *, noise_sigma: float = 0.1) -> torch.Tensor:
    """Apply the augmentations ``names`` (of :data:`AUGMENTATIONS`) in order; none: a copy.

    Parameters
    ----------
    images : torch.Tensor
        (N, C, H, W) batch.
    names : sequence of str
        Augmentations to apply.
    generator : torch.Generator
        CPU generator every random draw comes from.
    noise_sigma : float
        Standard deviation of ``noise``, in normalised pixel units.
    """
    out = images.clone()
    for name in names:
        if name == "rotate90":
            out = rotate90(out, generator)
        elif name == "rotate":
            out = rotate(out, generator)
        elif name == "flip":
            out = flip(out, generator)
        elif name == "noise":
            out = gaussian_noise(out, generator, noise_sigma)
        else:
            raise ValueError(f"unknown augmentation {name!r}; known: {', '.join(AUGMENTATIONS)}")
    return out


def local_crops(images: torch.Tensor, generator: torch.Generator, size: int) -> torch.Tensor:
    """One un-resized ``size`` x ``size`` window per image at a uniformly drawn position (DINO's
    local view at the original pixel scale).

    Returns
    -------
    torch.Tensor
        (N, C, size, size).
    """
    n, _, height, width = images.shape
    if not 1 <= size <= min(height, width):
        raise ValueError(f"crop size must be in [1, {min(height, width)}], got {size}")
    top = torch.randint(0, height - size + 1, (n,), generator=generator).to(images.device)
    left = torch.randint(0, width - size + 1, (n,), generator=generator).to(images.device)
    offsets = torch.arange(size, device=images.device)
    rows = (top[:, None] + offsets)[:, :, None]          # (N, size, 1)
    cols = (left[:, None] + offsets)[:, None, :]         # (N, 1, size)
    batch = torch.arange(n, device=images.device)[:, None, None]
    return images.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2).contiguous()
