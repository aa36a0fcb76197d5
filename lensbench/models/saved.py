"""A trained model on disk: ``model.pt`` (state dict) and ``model.json`` (how to rebuild and feed it).

Shared by evaluation, the report and ``lensbench apply``, so a model is always rebuilt and fed
its inputs the same way it was trained.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lensbench.models import build_model


def normaliser(method: str):
    """Per-image normalisation of a (C, H, W) tensor, the same in training, evaluation and apply.

    ``none`` leaves images alone; ``max`` divides by the image's maximum absolute value;
    ``standardize`` subtracts the image's mean and divides by its standard deviation.
    """
    if method == "none":
        return None
    if method == "max":
        return lambda x: x / x.abs().amax().clamp_min(1e-12)
    if method == "standardize":
        return lambda x: (x - x.mean()) / x.std().clamp_min(1e-12)
    raise ValueError(f"unknown normalisation '{method}'; one of: none, max, standardize")


def load_model(folder):
    """Rebuild the trained model in ``folder`` (``model.json`` + ``model.pt``) on the CPU.

    Returns
    -------
    (torch.nn.Module, dict)
        The model in eval mode, and its ``model.json`` description.
    """
    folder = Path(folder)
    info = json.loads((folder / "model.json").read_text())
    model = build_model(info["architecture"], in_channels=info["in_channels"], num_outputs=info["num_outputs"],
                        input_size=tuple(info["input_size"]), **info["options"])
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return model.eval(), info
