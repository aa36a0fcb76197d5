"""Contrastive learning with the NT-Xent loss (SimCLR, Chen+20, eq. 1; Sohn 2016), as Deshmukh+23
sec. 2.1 with the rotation or Gaussian-noise pretext."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lensbench.ssl.base import SSLObjective
from lensbench.ssl.heads import projector


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Normalised temperature-scaled cross-entropy over 2N views (Chen+20 eq. 1).

    For view i with positive j (the other view of the same image) and cosine similarities
    s_ik, l(i, j) = -log[exp(s_ij / t) / sum_{k != i} exp(s_ik / t)]; the loss is the mean of
    l over all 2N views.

    Parameters
    ----------
    z1, z2 : torch.Tensor
        (N, d) projections of the two views, row i of each from the same image.
    temperature : float
        t > 0.
    """
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    similarity = z @ z.T / temperature
    similarity = similarity.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    positives = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(similarity, positives)


class SimCLR(SSLObjective):
    """Encoder + projector trained with :func:`nt_xent` on two augmented views of each image.

    Parameters
    ----------
    embedding_dim : int
        The encoder's ``embedding_dim``.
    hidden_dim, projection_dim : int
        Projector sizes.
    temperature : float
        NT-Xent temperature.
    augmentations, noise_sigma, seed
        See :class:`~lensbench.ssl.base.SSLObjective`.
    """

    def __init__(self, *, embedding_dim: int, hidden_dim: int, projection_dim: int, temperature: float,
                 augmentations, noise_sigma: float, seed: int):
        super().__init__(augmentations, noise_sigma, seed)
        self.temperature = float(temperature)
        self.projector = projector(embedding_dim, hidden_dim, projection_dim)
        self.name = f"ssl:simclr:t={self.temperature}:{'+'.join(self.augmentations)}"

    def modules(self) -> list[nn.Module]:
        return [self.projector]

    def views_loss(self, encoder, images):
        h1 = encoder.forward_features(self.view(images))
        h2 = encoder.forward_features(self.view(images))
        z1 = self.projector(h1)
        return nt_xent(z1, self.projector(h2), self.temperature), z1
