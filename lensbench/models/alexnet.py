"""AlexNet in plain torch, layer for layer as torchvision defines it.

Krizhevsky, Sutskever & Hinton 2012 in torchvision's single-tower form ("One weird trick",
arXiv 1404.5997): five convolutions (64, 192, 384, 256, 256 channels), three 3x3 stride-2
max-pools, adaptive average pooling to 6x6 and a 4096-4096 classifier with dropout. Only the
input channels and the last linear layer differ. Vattis+21 (seed 001, Fig. 5) compare it with
ResNet-18 on velocity maps (muas/yr).
"""

from __future__ import annotations

import torch
from torch import nn


class AlexNet(nn.Module):
    """torchvision's AlexNet with configurable input channels and output size.

    Parameters
    ----------
    in_channels : int
        Channels of the input maps.
    num_outputs : int
        Size of the final linear layer.
    dropout : float
        Dropout probability before each of the first two classifier layers (0.5 in torchvision).
    hidden : int
        Width of the two hidden classifier layers (4096 in torchvision and the papers; smaller
        only to keep test presets light).
    """

    def __init__(self, *, in_channels: int, num_outputs: int, dropout: float = 0.5, hidden: int = 4096):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.embedding_dim = 256 * 6 * 6
        self.classifier = nn.Sequential(
            nn.Dropout(p=dropout), nn.Linear(self.embedding_dim, hidden), nn.ReLU(inplace=True),
            nn.Dropout(p=dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
            nn.Linear(hidden, num_outputs),
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled convolutional features, shape (N, 9216), before the classifier."""
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits or raw outputs, shape (N, ``num_outputs``)."""
        return self.classifier(self.forward_features(x))


def _feature_side(side: int) -> int:
    """Side (pixels) after the feature extractor: 11x11 stride-4 padding-2 convolution, then three
    3x3 stride-2 max-pools (the padded convolutions in between keep the size)."""
    side = (side + 2 * 2 - 11) // 4 + 1
    for _ in range(3):
        side = (side - 3) // 2 + 1
    return side


def alexnet(*, in_channels: int, num_outputs: int, input_size: tuple[int, int], dropout: float = 0.5,
            hidden: int = 4096) -> AlexNet:
    """AlexNet; 61,100,840 parameters at 3 channels and 1000 outputs.

    ``input_size`` (pixels) must be at least 63x63 (the 11x11 stride-4 stem and three
    stride-2 pools); the adaptive pooling makes the parameter count independent of it.
    """
    if min(_feature_side(side) for side in input_size) < 1:
        raise ValueError(f"input_size {tuple(input_size)} is too small for alexnet: it needs at least "
                         "63 pixels per side")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if hidden < 1:
        raise ValueError(f"hidden must be >= 1, got {hidden}")
    return AlexNet(in_channels=in_channels, num_outputs=num_outputs, dropout=dropout, hidden=hidden)
