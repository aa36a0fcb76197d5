"""A trained ratio estimator on disk (``model.pt`` + ``model.json``), and batched features.

The state dict loads with ``torch.load(..., weights_only=True)``; the JSON card holds what
rebuilds the module (architecture, options, input shape, head width, proposal box, mass range,
global normalisation) besides the keys every lensbench model card has (task
``likelihood_ratio``, one output, normalisation ``none``: the estimator normalises itself), so
the report links it as the run's model.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from lensbench.io.atomic import write_json
from lensbench.sbi.estimator import RatioEstimator
from lensbench.sbi.population import MassRange, ProposalBox
from lensbench.training.checkpoints import save_weights

WEIGHTS, CARD = "model.pt", "model.json"


def save_estimator(folder: Path, model: RatioEstimator, card: dict) -> None:
    """Write the weights and the card (``card`` holds architecture, options, in_channels,
    input_size, hidden; the box, masses and normalisation are taken from ``model``)."""
    save_weights(model, Path(folder) / WEIGHTS)
    full = dict(card, format="lensbench.ratio_estimator/1", task="likelihood_ratio", num_outputs=1,
                normalize="none", box=asdict(model.box), mean=float(model.input_mean), std=float(model.input_std))
    write_json(Path(folder) / CARD, full)


def load_estimator(folder: Path, device: str = "cpu") -> tuple[RatioEstimator, dict]:
    """The estimator of ``folder`` in eval mode, and its card."""
    card = json.loads((Path(folder) / CARD).read_text())
    model = RatioEstimator(card["architecture"], card["in_channels"], tuple(card["input_size"]),
                           ProposalBox(**card["box"]), hidden=card["hidden"], mean=card["mean"], std=card["std"],
                           options=card.get("options"))
    state = torch.load(Path(folder) / WEIGHTS, map_location=device, weights_only=True)
    model.load_state_dict(state)
    return model.to(device).eval(), card


def mass_range(card: dict) -> MassRange:
    """The population's lower masses recorded in a card."""
    return MassRange(**card["masses"])


@torch.no_grad()
def features_of(model: RatioEstimator, images: np.ndarray, batch_size: int = 256, device: str = "cpu") -> torch.Tensor:
    """Trunk features (N, D) of raw images (N, C, H, W) in counts/s, in batches."""
    parts = [model.features(torch.as_tensor(images[lo:lo + batch_size], dtype=torch.float32, device=device))
             for lo in range(0, len(images), batch_size)]
    return torch.cat(parts) if parts else torch.empty(0, model.trunk.embedding_dim)


def log_ratio_of_images(model: RatioEstimator, images: np.ndarray, points: np.ndarray, device: str = "cpu",
                        batch_size: int = 256) -> np.ndarray:
    """ln r_hat(x_i|theta_g) (N, G) in float64 of images (N, C, H, W) in counts/s per pixel at the
    parameter points (G, 2) = (f_sub, beta): :func:`features_of` then :func:`log_ratio_at`."""
    return log_ratio_at(model, features_of(model, images, batch_size=batch_size, device=device), points)


@torch.no_grad()
def log_ratio_at(model: RatioEstimator, features: torch.Tensor, points: np.ndarray) -> np.ndarray:
    """ln r_hat (N, K) in float64 of the images with trunk ``features`` (N, D) (:func:`features_of`)
    at each of the parameter points ``points`` (K, 2) = (f_sub, beta)."""
    thetas = torch.as_tensor(np.asarray(points), dtype=features.dtype, device=features.device)
    return model.log_ratio_grid(features, thetas).cpu().numpy().astype(np.float64)
