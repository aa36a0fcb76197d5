"""Report blocks of the ``fit`` task's neural (VAE) source: size, training, reconstructions.

Reads the ``source_model`` step's ``vae.json`` and ``source_model.npz``
(:mod:`lensbench.steps.fit_source`); the MAP source of a fit is decoded from its latent.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from lensbench.report.document import Figure, KeyValues, Notice, Table
from lensbench.report.figures import new_figure

PAPER_PARAMETERS = "nearly one hundred source and lens parameters (abstract)"
"""What Chianese et al. (2020) state about the size of their model, shown beside ours."""
BRIGHT_MAG = 23.5
"""COSMOS stamps brighter than this F814W magnitude form the 'bright' row (the COSMOS 23.5 sample's cut)."""


def source_model_blocks(index: int, outputs: dict, model_names: list[str]) -> list:
    """The source-model section of one branch: parameter count beside the paper's, reconstruction
    errors, loss curve and example images; ``model_names`` are every parameter of its lens model."""
    folder = outputs["source_model"]
    summary = json.loads((folder / "vae.json").read_text())
    data = np.load(folder / "source_model.npz")
    config = summary["config"]
    blocks = [KeyValues((
        ("Chianese et al. (2020)", PAPER_PARAMETERS),
        ("ours: parameters of the lens model", (f"{len(model_names)} ({config['latent_dim']} latent + flux, size and "
                                               f"position of the source; lens and shear: "
                                               f"{sum(not n.startswith('source_') for n in model_names)})")),
        ("ours: VAE", (f"{summary['weights']} weights, {config['npix']} × {config['npix']} pixels of "
                      f"{config['pixel_scale']:g}\", trained on {summary['train_images']} simulated galaxies for "
                      f"{summary['steps']} steps (final loss {summary['final_loss']:.1f} nats/image, KL "
                      f"{summary['final_kl']:.1f})")),
    ))]
    if summary["cosmos_skipped"]:
        blocks.append(Notice(f"The COSMOS reconstruction check was skipped: {summary['cosmos_skipped']}."))
    blocks.append(_error_table(data))
    blocks.append(Figure.from_matplotlib(f"fit-source-{index}", _figure(data),
                                         "Source model: training loss (negative ELBO, nats per image), held-out "
                                         "simulated galaxies and the brightest COSMOS stamps with their "
                                         "reconstructions, and sources decoded from latents drawn from N(0, 1) "
                                         "(the mocks' source population). Unit-flux images, each on its own scale."))
    return blocks


def _error_table(data) -> Table:
    """Residual flux fraction sum|x - x_hat| / sum x of held-out simulated and COSMOS galaxies."""
    rows = [_error_row("simulated Sersic mixtures (held out)", data["test_errors"])]
    cosmos, mags = data["cosmos_errors"], data["cosmos_mag"]
    if len(cosmos):
        rows.append(_error_row("COSMOS stamps, all", cosmos))
        rows.append(_error_row(f"COSMOS stamps, F814W < {BRIGHT_MAG:g}", cosmos[mags < BRIGHT_MAG]))
    return Table(("galaxies", "n", "median", "16th percentile", "84th percentile"), tuple(rows),
                 "Reconstruction error of the VAE (encode, decode the posterior mean): fraction of the flux in the "
                 "residual, Σ|x − x̂| / Σx, of unit-flux images on the source grid. COSMOS stamps keep their "
                 "noise (negative pixels set to 0) and are cut to the grid's field, so faint stamps score worse.")


def _error_row(label: str, errors: np.ndarray) -> tuple:
    if not len(errors):
        return (label, 0, "–", "–", "–")
    low, mid, high = np.percentile(errors, [16, 50, 84])
    return (label, len(errors), float(mid), float(low), float(high))


def _figure(data):
    kinds = [("test", "simulated"), ("test_reconstruction", "reconstruction"), ("cosmos", "COSMOS"),
             ("cosmos_reconstruction", "reconstruction"), ("prior_draws", "prior draw")]
    kinds = [(key, title) for key, title in kinds if len(data[key])]
    columns = max(len(data[key]) for key, _ in kinds)
    fig = new_figure(1.3 * columns + 2.6, 1.3 * len(kinds) + 0.3)
    grid = fig.add_gridspec(len(kinds), columns + 2)
    loss = fig.add_subplot(grid[:, :2])
    loss.plot(data["loss_steps"], data["loss"])
    loss.set_yscale("log")
    loss.set_xlabel("step")
    loss.set_ylabel("negative ELBO (nats / image)")
    for row, (key, title) in enumerate(kinds):
        for col, image in enumerate(data[key]):
            ax = fig.add_subplot(grid[row, col + 2])
            ax.imshow(image, origin="lower", cmap="magma")
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(title, fontsize=7)
    return fig


def decoded_source(outputs: dict, params: dict) -> np.ndarray:
    """The neural source of fitted ``params`` (name -> value): its decoded unit-flux image times
    the flux, on the VAE grid (counts/s per source pixel, position and size not applied)."""
    from lensbench.fit.source_vae import load_source_model

    model = load_source_model(outputs["source_model"])
    latent = torch.tensor([[params[f"source_z{i}"] for i in range(model.config.latent_dim)]], dtype=torch.float64)
    with torch.no_grad():
        return (model.decode(latent)[0] * params["source_flux"]).numpy()
