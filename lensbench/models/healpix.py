"""A HEALPix-native CNN: one convolution trunk shared by the 12 base faces of a NESTED map.

Input: the face layout of :mod:`lensbench.simulate.sky_projection` (``projection =
"healpix_faces"``), (N, C, 12 nside, nside), face f in rows f nside .. (f + 1) nside - 1. Each
face is an nside x nside square of equal-area pixels, so a plain 3x3 convolution over a face is a
convolution over the sphere up to the face's mild distortion; no pixel is projected or dropped.
Faces are convolved independently (zero padding at their edges: no information crosses a face
boundary before the pooling), with weights shared by all 12.

Layers (our choice, small enough to train on a CPU; the ResNet-18 of Vattis+21 costs ~5x more at
2 x 64 x 128): per block Conv2d(3x3, padding 1) -> BatchNorm -> ReLU -> MaxPool2d(2), widths
``channels``; then each face's features are pooled over its pixels (mean and max), and the faces'
pooled features over the 12 faces (mean and max), so the classifier sees both the summed evidence
of the whole sky and its strongest local excess; a head Linear -> ReLU -> Linear gives logits.
"""

from __future__ import annotations

import torch
from torch import nn

#: HEALPix base faces.
FACES = 12


class HealpixFaceCNN(nn.Module):
    """Shared-weight convolutions over the 12 HEALPix faces, pooled over pixels and faces.

    Parameters
    ----------
    in_channels : int
        Channels of the map (2 for u_l, u_b [muas/yr]).
    num_outputs : int
        Classes (logits) or regressed parameters.
    nside : int
        HEALPix nside of the input maps (each face is nside x nside pixels).
    channels : tuple of int
        Output channels of the convolution blocks; each block halves the face side.
    hidden : int
        Width of the hidden linear layer.
    """

    def __init__(self, *, in_channels: int, num_outputs: int, nside: int, channels: tuple[int, ...], hidden: int):
        super().__init__()
        widths = (in_channels, *channels)
        self.nside = nside
        self.trunk = nn.Sequential(*[
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], kernel_size=3, padding=1, bias=False),
                          nn.BatchNorm2d(widths[i + 1]), nn.ReLU(inplace=True), nn.MaxPool2d(2))
            for i in range(len(channels))
        ])
        self.embedding_dim = 4 * channels[-1]
        self.head = nn.Sequential(nn.Linear(self.embedding_dim, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, num_outputs))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, ``embedding_dim``): [mean, max] over faces of [mean, max] over pixels."""
        n, c = x.shape[:2]
        faces = x.reshape(n, c, FACES, self.nside, self.nside).transpose(1, 2).reshape(n * FACES, c, self.nside,
                                                                                      self.nside)
        features = self.trunk(faces).flatten(2)
        per_face = torch.cat([features.mean(dim=2), features.amax(dim=2)], dim=1).reshape(n, FACES, -1)
        return torch.cat([per_face.mean(dim=1), per_face.amax(dim=1)], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits or raw outputs, (N, ``num_outputs``)."""
        return self.head(self.forward_features(x))


def healpix_cnn(*, in_channels: int, num_outputs: int, input_size: tuple[int, int],
                channels: tuple[int, ...] = (16, 32, 64), hidden: int = 64) -> HealpixFaceCNN:
    """The HEALPix face CNN for inputs of (12 nside, nside) pixels; at nside 32, two channels and
    the defaults: 40,130 parameters for two outputs.

    Raises
    ------
    ValueError
        When ``input_size`` is not (12 nside, nside) with nside a power of 2 at least
        2^len(channels), or for non-positive widths.
    """
    height, nside = input_size
    if height != FACES * nside or nside & (nside - 1):
        raise ValueError(f"input_size must be (12 nside, nside) pixels with nside a power of 2 (the face layout of "
                         f"projection 'healpix_faces'), got {tuple(input_size)}")
    channels = tuple(channels)
    if not channels or any(int(c) != c or c < 1 for c in channels):
        raise ValueError(f"channels must be positive integers, got {channels}")
    if nside < 2 ** len(channels):
        raise ValueError(f"nside {nside} is too small for {len(channels)} pooling blocks")
    if int(hidden) != hidden or hidden < 1:
        raise ValueError(f"hidden must be a positive integer, got {hidden}")
    return HealpixFaceCNN(in_channels=in_channels, num_outputs=num_outputs, nside=nside,
                          channels=tuple(int(c) for c in channels), hidden=int(hidden))
