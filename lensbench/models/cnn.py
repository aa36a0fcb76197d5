"""Ko's small CNN (seed 004, Sec. II.C and Table II) in plain torch.

Three convolution blocks, each Conv2d(stride 1, padding 1, kernel 3 or 5) -> PReLU ->
MaxPool2d(2), then Linear -> Dropout(0.5) -> ReLU -> Linear. The paper fixes the kernel size
(3 for strong-lensing images, 5 for single-galaxy images), the padding, the pooling and the
dropout; it gives neither the channel widths nor the hidden size. The defaults here,
(16, 32, 64) channels and 128 hidden units, are our choice: doubling widths per pooled stage as
is usual, small enough to train on a CPU. The network returns logits; the paper's final softmax
is applied by the loss (cross-entropy) and by :func:`lensbench.training.predict`.
"""

from __future__ import annotations

import torch
from torch import nn


def _conv_block(in_channels: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Conv2d (stride 1, padding 1) -> PReLU (one slope per channel) -> MaxPool2d(2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=kernel_size, stride=1, padding=1),
        nn.PReLU(out_channels),
        nn.MaxPool2d(kernel_size=2, stride=2),
    )


def _pooled_side(side: int, kernel_size: int, n_blocks: int) -> int:
    """Side (pixels) after ``n_blocks`` blocks: the padding-1 convolution maps s to s + 3 - k,
    the 2x2 max-pool halves it (rounding down)."""
    for _ in range(n_blocks):
        side = (side + 3 - kernel_size) // 2
    return side


def _feature_count(widths: tuple[int, ...], kernel_size: int, input_size: tuple[int, int]) -> int:
    """Number of flattened features after the convolution blocks for one input."""
    n_blocks = len(widths) - 1
    height, width = (_pooled_side(side, kernel_size, n_blocks) for side in input_size)
    if height < 1 or width < 1:
        raise ValueError(
            f"input_size {tuple(input_size)} is too small for {n_blocks} blocks with kernel {kernel_size}"
        )
    return widths[-1] * height * width


class KoCNN(nn.Module):
    """Three PReLU convolution blocks and a two-layer head (Ko, Table II).

    Parameters
    ----------
    in_channels : int
        Channels of the input images (1 for a single HST/lenstronomy band).
    num_outputs : int
        2 for halo presence (classification); 6 lens or 4 NFW parameters for regression.
    input_size : tuple of int
        (height, width) of the input in pixels; fixes the size of the first linear layer.
    kernel_size : int
        3 (strong lensing) or 5 (single galaxy) in the paper.
    channels : tuple of int
        Output channels of the three convolution blocks.
    hidden : int
        Width of the hidden linear layer.
    dropout : float
        Dropout probability between the linear layers (0.5 in the paper).
    """

    def __init__(self, *, in_channels: int, num_outputs: int, input_size: tuple[int, int],
                 kernel_size: int, channels: tuple[int, int, int], hidden: int, dropout: float):
        super().__init__()
        widths = (in_channels, *channels)
        self.features = nn.Sequential(
            *[_conv_block(widths[i], widths[i + 1], kernel_size) for i in range(len(channels))]
        )
        self.embedding_dim = _feature_count(widths, kernel_size, input_size)
        self.head = nn.Sequential(
            nn.Linear(self.embedding_dim, hidden), nn.Dropout(p=dropout), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_outputs),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Flattened convolutional features, shape (N, ``embedding_dim``)."""
        return torch.flatten(self.features(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits or raw outputs, shape (N, ``num_outputs``)."""
        return self.head(self.forward_features(x))


def cnn(*, in_channels: int, num_outputs: int, input_size: tuple[int, int], kernel_size: int = 3,
        channels: tuple[int, int, int] = (16, 32, 64), hidden: int = 128, dropout: float = 0.5) -> KoCNN:
    """Ko's CNN (Table II); at 1x64x64 with the defaults: 8x8x64 features, 548,082 parameters
    for two outputs.

    Raises
    ------
    ValueError
        For a kernel size other than 3 or 5, a number of channel widths other than three,
        non-positive widths, or a dropout outside [0, 1).
    """
    if kernel_size not in (3, 5):
        raise ValueError(f"kernel_size must be 3 or 5 (Ko, Table II), got {kernel_size}")
    channels = tuple(channels)
    if len(channels) != 3 or any(int(c) != c or c < 1 for c in channels):
        raise ValueError(f"channels must be three positive integers, got {channels}")
    if int(hidden) != hidden or hidden < 1:
        raise ValueError(f"hidden must be a positive integer, got {hidden}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    return KoCNN(in_channels=in_channels, num_outputs=num_outputs, input_size=tuple(input_size),
                 kernel_size=kernel_size, channels=tuple(int(c) for c in channels), hidden=int(hidden),
                 dropout=dropout)
