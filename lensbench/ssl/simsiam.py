"""SimSiam (Chen & He 2021): a predictor, negative cosine similarity and a stop-gradient (eqs. 1-4)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lensbench.ssl.base import SSLObjective
from lensbench.ssl.heads import projector


def negative_cosine(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """D(p, z) = -mean_i cos(p_i, stopgrad(z_i)) (Chen & He eq. 1 with the stop-gradient of eq. 3)."""
    return -F.cosine_similarity(p, z.detach(), dim=1).mean()


def simsiam_loss(p1, p2, z1, z2) -> torch.Tensor:
    """L = D(p1, z2) / 2 + D(p2, z1) / 2 (Chen & He eq. 4); -1 at perfect agreement."""
    return 0.5 * negative_cosine(p1, z2) + 0.5 * negative_cosine(p2, z1)


class SimSiam(SSLObjective):
    """Encoder + projector f, predictor h; no negatives, no momentum encoder.

    Parameters
    ----------
    embedding_dim, hidden_dim, projection_dim : int
        Encoder embedding size, projector/predictor width and output size.
    augmentations, noise_sigma, seed
        See :class:`~lensbench.ssl.base.SSLObjective`.
    """

    def __init__(self, *, embedding_dim: int, hidden_dim: int, projection_dim: int, augmentations,
                 noise_sigma: float, seed: int):
        super().__init__(augmentations, noise_sigma, seed)
        self.projector = projector(embedding_dim, hidden_dim, projection_dim)
        self.predictor = projector(projection_dim, hidden_dim, projection_dim)
        self.name = f"ssl:simsiam:{'+'.join(self.augmentations)}"

    def modules(self) -> list[nn.Module]:
        return [self.projector, self.predictor]

    def views_loss(self, encoder, images):
        h1 = encoder.forward_features(self.view(images))
        h2 = encoder.forward_features(self.view(images))
        z1, z2 = self.projector(h1), self.projector(h2)
        return simsiam_loss(self.predictor(z1), self.predictor(z2), z1, z2), z1
