"""The self-supervised methods by name, built from a :class:`~lensbench.ssl.config.PretrainConfig`."""

from __future__ import annotations

import torch
from torch import nn

from lensbench.ssl.base import SSLObjective
from lensbench.ssl.byol import BYOL
from lensbench.ssl.dino import DINO
from lensbench.ssl.simclr import SimCLR
from lensbench.ssl.simsiam import SimSiam

METHODS = ("simclr", "byol", "simsiam", "dino")


def build_objective(config, encoder: nn.Module, seed: int) -> SSLObjective:
    """The objective of ``config.method`` for ``encoder`` (a model with ``forward_features`` and
    ``embedding_dim``), its heads' initial weights and its views drawn from ``seed`` (the
    caller's random state is left alone)."""
    with torch.random.fork_rng(devices=[]):  # heads draw from the global generator: seed it here
        torch.manual_seed(seed)
        return _objective(config, encoder, seed)


def _objective(config, encoder: nn.Module, seed: int) -> SSLObjective:
    common = {"augmentations": config.augmentations, "noise_sigma": config.noise_sigma, "seed": seed}
    dim = encoder.embedding_dim
    if config.method == "simclr":
        return SimCLR(embedding_dim=dim, hidden_dim=config.hidden_dim, projection_dim=config.projection_dim,
                      temperature=config.temperature, **common)
    if config.method == "simsiam":
        return SimSiam(embedding_dim=dim, hidden_dim=config.hidden_dim, projection_dim=config.projection_dim, **common)
    if config.method == "byol":
        return BYOL(encoder=encoder, embedding_dim=dim, hidden_dim=config.hidden_dim,
                    projection_dim=config.projection_dim, ema_momentum=config.ema_momentum, **common)
    if config.method == "dino":
        return DINO(encoder=encoder, embedding_dim=dim, hidden_dim=config.hidden_dim, prototypes=config.prototypes,
                    ema_momentum=config.ema_momentum, center_momentum=config.center_momentum,
                    student_temperature=config.student_temperature,
                    teacher_temperature=config.teacher_temperature, local_views=config.local_views,
                    local_crop_size=config.local_crop_size, **common)
    raise ValueError(f"unknown self-supervised method {config.method!r}; known: {', '.join(METHODS)}")
