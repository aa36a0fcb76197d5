"""ResNet-18 and ResNet-50 in plain torch, layer for layer as torchvision defines them.

He et al. 2016 (arXiv 1512.03385), Table 1; the bottleneck puts its stride on the 3x3 convolution
("ResNet v1.5"), as torchvision does. Only the input channels of the stem and the size of the final
linear layer differ from torchvision: the 7x7 stride-2 stem and the 3x3 stride-2 max-pool are kept,
so a 64x64 map reaches the residual stages at 16x16 pixels.

Vattis+21 (seed 001, Sec. III) classify 2-channel angular-velocity maps (muas/yr) with ResNet-18;
Deshmukh+23 (seed 002, Sec. 2) use ResNet-50 on 64x64 strong-lensing images (arcsec pixels).
"""

from __future__ import annotations

import torch
from torch import nn


def _conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias (the BatchNorm that follows has one)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def _conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution without bias, used for projections and bottleneck squeezes."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or 1x1 projection) shortcut; ResNet-18/34."""

    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = _conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)

    def last_norm(self) -> nn.BatchNorm2d:
        """The BatchNorm closing the residual branch (zeroed by ``zero_init_residual``)."""
        return self.bn2


class Bottleneck(nn.Module):
    """1x1 squeeze, 3x3 (strided) and 1x1 expand by 4, with a shortcut; ResNet-50 and deeper."""

    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = _conv1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = _conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = _conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)

    def last_norm(self) -> nn.BatchNorm2d:
        """The BatchNorm closing the residual branch (zeroed by ``zero_init_residual``)."""
        return self.bn3


class ResNet(nn.Module):
    """A torchvision-layout ResNet with configurable input channels and output size.

    Parameters
    ----------
    block : type
        :class:`BasicBlock` or :class:`Bottleneck`.
    blocks_per_stage : tuple of int
        Number of blocks in each of the four stages ((2, 2, 2, 2) for ResNet-18,
        (3, 4, 6, 3) for ResNet-50).
    in_channels : int
        Channels of the input maps (1 for an image, 2 for a (u_l, u_b) velocity map).
    num_outputs : int
        Size of the final linear layer (classes, or regressed parameters).
    zero_init_residual : bool
        Start each residual branch's last BatchNorm at zero, as torchvision's option does.
    """

    def __init__(self, block, blocks_per_stage, *, in_channels: int, num_outputs: int,
                 zero_init_residual: bool = False):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_stage(block, 64, blocks_per_stage[0], stride=1)
        self.layer2 = self._make_stage(block, 128, blocks_per_stage[1], stride=2)
        self.layer3 = self._make_stage(block, 256, blocks_per_stage[2], stride=2)
        self.layer4 = self._make_stage(block, 512, blocks_per_stage[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.embedding_dim = 512 * block.expansion
        self.fc = nn.Linear(self.embedding_dim, num_outputs)
        self._init_weights(zero_init_residual)

    def _make_stage(self, block, planes: int, n_blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.in_planes != planes * block.expansion:
            downsample = nn.Sequential(
                _conv1x1(self.in_planes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = planes * block.expansion
        layers += [block(self.in_planes, planes) for _ in range(1, n_blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self, zero_init_residual: bool) -> None:
        """Kaiming-normal (fan_out, ReLU) convolutions, unit BatchNorms, as torchvision."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(module.last_norm().weight)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled embedding of shape (N, ``embedding_dim``) before the final linear layer."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (classification) or raw outputs (regression), shape (N, ``num_outputs``)."""
        return self.fc(self.forward_features(x))


def resnet18(*, in_channels: int, num_outputs: int, input_size: tuple[int, int],
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-18 (BasicBlock x (2, 2, 2, 2)); 11,689,512 parameters at 3 channels, 1000 outputs.

    ``input_size`` (pixels) is accepted for a uniform builder signature; global average pooling
    makes the network independent of it.
    """
    return ResNet(BasicBlock, (2, 2, 2, 2), in_channels=in_channels, num_outputs=num_outputs,
                  zero_init_residual=zero_init_residual)


def resnet50(*, in_channels: int, num_outputs: int, input_size: tuple[int, int],
             zero_init_residual: bool = False) -> ResNet:
    """ResNet-50 (Bottleneck x (3, 4, 6, 3)); 25,557,032 parameters at 3 channels, 1000 outputs.

    ``input_size`` (pixels) is accepted for a uniform builder signature; global average pooling
    makes the network independent of it.
    """
    return ResNet(Bottleneck, (3, 4, 6, 3), in_channels=in_channels, num_outputs=num_outputs,
                  zero_init_residual=zero_init_residual)
