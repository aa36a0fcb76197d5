"""VGG-11 (configuration "A") in plain torch, layer for layer as torchvision defines it.

Simonyan & Zisserman 2015 (arXiv 1409.1556), Table 1, column A: eight 3x3 convolutions in five
max-pooled stages, adaptive average pooling to 7x7, then the 4096-4096 classifier with dropout.
Only the input channels and the last linear layer differ from torchvision. Vattis+21 (seed 001,
Fig. 5) compare it with ResNet-18 and AlexNet on velocity maps (muas/yr).
"""

from __future__ import annotations

import torch
from torch import nn

VGG11_STAGES: tuple[tuple[int, ...], ...] = ((64,), (128,), (256, 256), (512, 512), (512, 512))
"""Output channels of the 3x3 convolutions in each stage of configuration A; a 2x2 max-pool ends
each stage."""


def _make_features(in_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = in_channels
    for stage in VGG11_STAGES:
        for width in stage:
            layers.append(nn.Conv2d(channels, width, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(width))
            layers.append(nn.ReLU(inplace=True))
            channels = width
        layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG(nn.Module):
    """Convolutional features, 7x7 adaptive pooling and a three-layer classifier.

    Parameters
    ----------
    in_channels : int
        Channels of the input maps.
    num_outputs : int
        Size of the final linear layer.
    batch_norm : bool
        Insert BatchNorm after each convolution (torchvision's ``vgg11_bn``).
    dropout : float
        Dropout probability in the classifier (0.5 in torchvision and the paper).
    hidden : int
        Width of the two hidden classifier layers (4096 in torchvision and the papers; smaller
        only to keep test presets light: the 4096 layers hold 90 % of the 0.5 GB of weights).
    """

    def __init__(self, *, in_channels: int, num_outputs: int, batch_norm: bool = False, dropout: float = 0.5,
                 hidden: int = 4096):
        super().__init__()
        self.features = _make_features(in_channels, batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.embedding_dim = 512 * 7 * 7
        self.classifier = nn.Sequential(
            nn.Linear(self.embedding_dim, hidden), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(p=dropout),
            nn.Linear(hidden, num_outputs),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """Kaiming-normal (fan_out, ReLU) convolutions, N(0, 0.01) linear layers, as torchvision."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, 0.01)
                nn.init.zeros_(module.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled convolutional features, shape (N, 25088), before the classifier."""
        return torch.flatten(self.avgpool(self.features(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits or raw outputs, shape (N, ``num_outputs``)."""
        return self.classifier(self.forward_features(x))


def vgg11(*, in_channels: int, num_outputs: int, input_size: tuple[int, int],
          batch_norm: bool = False, dropout: float = 0.5, hidden: int = 4096) -> VGG:
    """VGG-11; 132,863,336 parameters at 3 channels and 1000 outputs (without BatchNorm).

    ``input_size`` (pixels) must be at least 32x32 (five 2x2 max-pools); the adaptive pooling
    makes the parameter count independent of it.
    """
    if min(input_size) < 2 ** len(VGG11_STAGES):
        raise ValueError(f"input_size {tuple(input_size)} is too small for vgg11: five 2x2 max-pools need "
                         f"at least {2 ** len(VGG11_STAGES)} pixels per side")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    if hidden < 1:
        raise ValueError(f"hidden must be >= 1, got {hidden}")
    return VGG(in_channels=in_channels, num_outputs=num_outputs, batch_norm=batch_norm, dropout=dropout,
               hidden=hidden)
