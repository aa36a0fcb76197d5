"""``[source_model]``: the neural (VAE) source of the ``fit`` task (Chianese et al. 2020).

With ``[mocks] source = "vae"`` the task first trains the source model, then draws the mocks'
sources from its decoder (latent ~ N(0, 1)) and fits the latent with the lens::

    source_model -> mocks -> map -> nuts -> evaluate

Every number here is our choice: the paper's source network and training set are not public.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from lensbench.tasks.base import TaskStep


@dataclass(frozen=True)
class SourceModelSection:
    """``[source_model]``: the VAE source's grid, size, training and held-out COSMOS check."""

    latent_dim: int = field(default=80, metadata={"min": 1, "max": 256, "help":
        "Latent dimensions, fitted besides the source's flux, size and position (80 + 4 + 8 lens and shear "
        "parameters of an EPL: 92, the paper's 'nearly one hundred'; our choice)."})
    npix: int = field(default=32, metadata={"min": 8, "unit": "pixels", "help":
        "Pixels per side of the source grid (a multiple of 8)."})
    pixel_scale: float = field(default=0.04, metadata={"min": 1e-4, "unit": "arcsec", "help":
        "Pixel side of the source grid at source_scale = 1."})
    width: int = field(default=32, metadata={"min": 1, "help": "Channels of the first convolution (then 2x, 4x)."})
    train_images: int = field(default=20000, metadata={"min": 1, "help":
        "Simulated Sersic-mixture galaxies it is trained on (lensbench.fit.galaxy_images)."})
    test_images: int = field(default=500, metadata={"min": 1, "help":
        "Held-out simulated galaxies its reconstruction error is measured on."})
    steps: int = field(default=20000, metadata={"min": 1, "help": "Adam steps."})
    batch_size: int = field(default=128, metadata={"min": 1, "help": "Images per step."})
    lr: float = field(default=2e-3, metadata={"min": 0.0, "help": "Adam learning rate (cosine-decayed to a tenth)."})
    sigma: float = field(default=1.0, metadata={"min": 1e-6, "help":
        "Pixel noise of the training likelihood, in units of the mean pixel of a unit-flux image."})
    beta: float = field(default=1.0, metadata={"min": 0.0, "help": "Weight of the KL term of the ELBO."})
    cosmos: str = field(default="", metadata={"help":
        "GalSim RealGalaxyCatalog (file or folder) whose stamps check reconstruction of real galaxies, relative "
        "to the spec (`${NAME:-default}` from the environment); empty or missing: the check is skipped and "
        "the report says why."})

    def __post_init__(self):
        if self.npix % 8:
            raise ValueError(f"npix must be a multiple of 8 (three stride-2 layers), got {self.npix}")


def source_model_step(spec, section: SourceModelSection) -> TaskStep:
    """The ``fit_source_model`` step of ``section``, its COSMOS path resolved against the spec."""
    from lensbench.tasks.fit_data import resolve_path

    cosmos = resolve_path(section.cosmos, Path(spec.source).parent) if section.cosmos else ""
    params = {"source_model": dataclasses.asdict(dataclasses.replace(section, cosmos=cosmos)),
              "seed": spec.experiment.seed}
    return TaskStep("source_model", "fit_source_model", params)


def source_model_scale(section: SourceModelSection) -> str:
    """The VAE source's size for the report's scale banner."""
    return (f"VAE source: latent {section.latent_dim}, {section.npix} x {section.npix} pixels of "
            f"{section.pixel_scale:g}\", {section.train_images} training galaxies, {section.steps} steps")
