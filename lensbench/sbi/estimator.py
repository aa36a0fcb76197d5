"""The parameterised likelihood-ratio estimator: an image trunk, theta joined after pooling.

Brehmer+19 sec. 3.2: a ResNet-18 trunk (here any :mod:`lensbench.models` architecture with
``forward_features``); the parameters theta = (f_sub, beta) enter the fully connected layers
after global pooling, and an extra fully connected layer follows: two layers map
[features, theta scaled to [-1, 1]] to ln r_hat(x|theta). The score t_hat = grad_theta ln r_hat
comes from autograd. Inputs are normalised with one global mean and standard deviation
(buffers of the module, from the training split), never per image: the flux carries the signal.
"""

from __future__ import annotations

import torch
from torch import nn

from lensbench.models import build_model
from lensbench.sbi.population import ProposalBox


class RatioEstimator(nn.Module):
    """ln r_hat(x|theta) of images x (N, C, H, W) at parameters theta (N, 2) = (f_sub, beta).

    Parameters
    ----------
    architecture : str
        Trunk, a :func:`lensbench.models.build_model` name (``resnet18`` as the paper).
    in_channels : int
        Image channels.
    input_size : tuple of int
        (height, width) in pixels.
    box : ProposalBox
        The proposal box theta is scaled by (to [-1, 1]).
    hidden : int
        Width of the first fully connected layer.
    mean, std : float
        Global input normalisation (image units: counts/s per pixel).
    seed : int
        Seeds the trunk's and the head's initial weights.
    options : dict
        Architecture options.
    """

    def __init__(self, architecture: str, in_channels: int, input_size: tuple[int, int], box: ProposalBox,
                 hidden: int = 256, mean: float = 0.0, std: float = 1.0, seed: int = 0, options: dict | None = None):
        super().__init__()
        self.trunk = build_model(architecture, in_channels=in_channels, num_outputs=1, input_size=tuple(input_size),
                                 seed=seed, **(options or {}))
        self.trunk.fc = nn.Identity()  # the head below replaces the classifier
        self.box = box
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed + 1)
            self.head = nn.Sequential(nn.Linear(self.trunk.embedding_dim + 2, hidden), nn.ReLU(),
                                      nn.Linear(hidden, 1))
        self.register_buffer("input_mean", torch.tensor(float(mean)))
        self.register_buffer("input_std", torch.tensor(float(std)))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features (N, embedding_dim) of globally normalised images."""
        return self.trunk.forward_features((images - self.input_mean) / self.input_std)

    def head_log_ratio(self, features: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """ln r_hat (N,) from features (N, D) and theta (N, 2) (physical units)."""
        scaled = self.box.scale(theta.to(features.dtype))
        return self.head(torch.cat([features, scaled], dim=1))[:, 0]

    def forward(self, images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """ln r_hat(x|theta), shape (N,)."""
        return self.head_log_ratio(self.features(images), theta)

    def log_ratio_and_score(self, features: torch.Tensor, theta: torch.Tensor, create_graph: bool = True):
        """ln r_hat (N,) and t_hat = grad_theta ln r_hat (N, 2) at theta (N, 2), by autograd
        through the head (theta enters only there)."""
        with torch.enable_grad():
            point = theta.detach().to(features.dtype).requires_grad_(True)
            value = self.head_log_ratio(features, point)
            (score,) = torch.autograd.grad(value.sum(), point, create_graph=create_graph)
        return value, score

    @torch.no_grad()
    def log_ratio_grid(self, features: torch.Tensor, thetas: torch.Tensor, rows: int = 1 << 16) -> torch.Tensor:
        """ln r_hat of every image at every theta: (N, G) for features (N, D), thetas (G, 2),
        computed for as many images at a time as make at most ``rows`` (image, theta) pairs.

        The first layer is linear in [features, theta], so its two parts are computed once per
        image and once per theta and added for each pair: the (N G) x (D + 2) x hidden product of
        the plain forward becomes (N + G) x ..., what makes a 625-point grid over thousands of
        images take seconds (same values as :meth:`head_log_ratio` up to float rounding)."""
        first, activation, last = self.head
        d = features.shape[1]
        per_image = features @ first.weight[:, :d].T + first.bias  # (N, H)
        per_theta = self.box.scale(thetas.to(features.dtype)) @ first.weight[:, d:].T  # (G, H)
        n, g = features.shape[0], thetas.shape[0]
        step = max(1, rows // max(g, 1))
        parts = [last(activation(per_image[lo:lo + step, None, :] + per_theta[None]))[..., 0] for lo in range(0, n, step)]
        return torch.cat(parts) if parts else features.new_empty((0, g))
