"""The collapse monitor: how spread out the normalised embeddings are.

For embeddings ``z`` (N, d), each L2-normalised, the per-dimension standard deviation over the
batch averaged over dimensions is ``1/sqrt(d)`` when the embeddings are spread uniformly over the
sphere and 0 when every image maps to the same point (complete collapse), as in SimSiam (Chen &
He 2021, sec. 4.1, Fig. 2 middle). :func:`spread_ratio` divides by ``1/sqrt(d)`` so 1 is spread
and 0 collapsed, whatever the embedding size.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

COLLAPSED_BELOW = 0.1
"""A spread ratio below this is called collapsed in the report (a tenth of the uniform spread)."""


def normalised_std(embeddings: torch.Tensor) -> float:
    """Mean over dimensions of the batch standard deviation of the L2-normalised embeddings.

    Parameters
    ----------
    embeddings : torch.Tensor
        (N, d) with N >= 2.
    """
    z = F.normalize(embeddings.detach().double(), dim=1)
    return float(z.std(dim=0, unbiased=False).mean())


def spread_ratio(embeddings: torch.Tensor) -> float:
    """:func:`normalised_std` times sqrt(d): 1 for uniformly spread embeddings, 0 for collapse."""
    return normalised_std(embeddings) * math.sqrt(embeddings.shape[1])


class SpreadRecord:
    """Per-epoch spread ratio of the validation embeddings, accumulated batch by batch.

    The moments of the normalised embeddings are summed over the validation batches of an epoch
    (:meth:`add`) and turned into the spread of the whole validation set by :meth:`close_epoch`.
    """

    def __init__(self):
        self.per_epoch: list[float] = []
        self._sums = None

    def add(self, embeddings: torch.Tensor) -> None:
        """Add one validation batch's embeddings (N, d)."""
        z = F.normalize(embeddings.detach().double(), dim=1).cpu().numpy()
        moments = np.stack([np.full(z.shape[1], z.shape[0], dtype=np.float64), z.sum(0), (z * z).sum(0)])
        self._sums = moments if self._sums is None else self._sums + moments

    def close_epoch(self) -> None:
        """Turn the accumulated batches into one value of :attr:`per_epoch` (nothing if none)."""
        if self._sums is None:
            return
        count, total, squares = self._sums
        variance = np.maximum(squares / count - (total / count) ** 2, 0.0)
        self.per_epoch.append(float(np.sqrt(variance).mean() * math.sqrt(len(total))))
        self._sums = None
