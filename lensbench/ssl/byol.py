"""BYOL (Grill+20): an online network with a predictor regresses an EMA target network's projection
of another view (sec. 3.1, eqs. 1-2)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from lensbench.ssl.base import Branch, SSLObjective, ema_update, frozen_copy
from lensbench.ssl.heads import projector


def byol_loss(p: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z), averaged over the batch, with no gradient into the
    target projection ``z`` (Grill+20 eq. 2)."""
    return (2.0 - 2.0 * F.cosine_similarity(p, z.detach(), dim=1)).mean()


class BYOL(SSLObjective):
    """Online encoder + projector + predictor against an EMA target (encoder + projector).

    The symmetrised loss ``byol_loss(q(v1), z'(v2)) + byol_loss(q(v2), z'(v1))`` (Grill+20 eq. 2
    and the sum after it); after each optimiser step the target moves by :func:`ema_update` with
    ``ema_momentum`` (held constant here; BYOL raises it to 1 along a cosine).

    Parameters
    ----------
    encoder : nn.Module
        The model being pre-trained, copied (before training) into the target.
    embedding_dim, hidden_dim, projection_dim : int
        Sizes of the embedding and of the projector and predictor.
    ema_momentum : float
        Target momentum in [0, 1].
    augmentations, noise_sigma, seed
        See :class:`~lensbench.ssl.base.SSLObjective`.
    """

    def __init__(self, *, encoder: nn.Module, embedding_dim: int, hidden_dim: int, projection_dim: int,
                 ema_momentum: float, augmentations, noise_sigma: float, seed: int):
        super().__init__(augmentations, noise_sigma, seed)
        self.momentum = float(ema_momentum)
        self.projector = projector(embedding_dim, hidden_dim, projection_dim)
        self.predictor = projector(projection_dim, hidden_dim, projection_dim)
        self.target = frozen_copy(Branch(copy.deepcopy(encoder), self.projector))
        self.name = f"ssl:byol:m={self.momentum}:{'+'.join(self.augmentations)}"

    def modules(self) -> list[nn.Module]:
        return [self.projector, self.predictor, self.target]

    def views_loss(self, encoder, images):
        v1, v2 = self.view(images), self.view(images)
        h1, h2 = encoder.forward_features(v1), encoder.forward_features(v2)
        z1, z2 = self.projector(h1), self.projector(h2)
        q1, q2 = self.predictor(z1), self.predictor(z2)
        with torch.no_grad():
            t1, t2 = self.target(v1), self.target(v2)
        return byol_loss(q1, t2) + byol_loss(q2, t1), z1

    def after_step(self, model: nn.Module) -> None:
        ema_update(self.target.encoder, model, self.momentum)
        ema_update(self.target.head, self.projector, self.momentum)
