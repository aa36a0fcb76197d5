"""Heads the self-supervised methods put on an encoder's embedding.

- :func:`projector`: Linear-BatchNorm-ReLU-Linear, the projection head of SimCLR (Chen+20,
  sec. 2.1 g), BYOL's projector and predictor (Grill+20, sec. 3.3) and SimSiam's (Chen & He 2021,
  sec. 4.2, with one hidden layer here).
- :class:`DINOHead`: MLP, L2 normalisation and a weight-normalised linear layer onto ``K``
  prototypes (Caron+21, sec. 3.1 and appendix), whose weight norms are fixed to 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def projector(in_dim: int, hidden_dim: int, out_dim: int) -> nn.Sequential:
    """Linear(in, hidden) - BatchNorm1d - ReLU - Linear(hidden, out)."""
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True),
                         nn.Linear(hidden_dim, out_dim))


class DINOHead(nn.Module):
    """DINO's projection head: MLP -> bottleneck -> L2-normalise -> cosine onto ``out_dim`` prototypes.

    Parameters
    ----------
    in_dim, hidden_dim, bottleneck_dim, out_dim : int
        Encoder embedding size, MLP width, bottleneck size and number of prototypes K.

    Notes
    -----
    The last layer is ``W / ||W||`` row by row (weight normalisation with its gain fixed at 1, as
    DINO's ``norm_last_layer``), so the outputs are cosines in [-1, 1] before the temperature.
    """

    def __init__(self, in_dim: int, hidden_dim: int, bottleneck_dim: int, out_dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.GELU(), nn.Linear(hidden_dim, bottleneck_dim))
        self.prototypes = nn.Parameter(torch.empty(out_dim, bottleneck_dim))
        nn.init.trunc_normal_(self.prototypes, std=0.02)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        """(N, in_dim) -> (N, out_dim) cosines between the bottleneck and each prototype."""
        bottleneck = F.normalize(self.mlp(embedding), dim=1)
        return F.linear(bottleneck, F.normalize(self.prototypes, dim=1))
