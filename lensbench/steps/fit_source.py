"""Step kind ``fit_source_model``: train the neural (VAE) source of the ``fit`` task.

Outputs ``model.pt`` (the VAE's state dict, loads with ``torch.load(..., weights_only=True)``),
``vae.json`` (its shape and the summary below) and ``source_model.npz`` (loss curve, reconstruction
errors and a few example images for the report). The reconstruction error of an image is the
fraction of its flux in the residual, ``sum |x - x_hat| / sum x``
(:func:`lensbench.fit.source_vae.residual_flux_fraction`), measured on held-out simulated galaxies
and, where ``[source_model] cosmos`` names readable stamps, on real COSMOS galaxies resampled to
the VAE's grid.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from lensbench.fit.galaxy_images import sersic_mixture_images, stamps_on_grid
from lensbench.fit.source_vae import (
    SourceVAE,
    VaeConfig,
    latent_prior_draws,
    parameter_count,
    reconstruction_errors,
    train_vae,
)
from lensbench.io.atomic import npz_bytes, write_atomic, write_json
from lensbench.io.fits import iter_stamps
from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.steps.fit import one_thread
from lensbench.training import save_weights

EXAMPLES = 6
"""Example images of each kind kept for the report."""
COSMOS_PIXEL_SCALE = 0.03
"""Pixel side (arcsec) of a stamp whose catalogue row gives none (COSMOS ACS F814W drizzle)."""


def vae_config(section: dict) -> VaeConfig:
    """The VAE shape of a ``[source_model]`` table."""
    return VaeConfig(npix=section["npix"], pixel_scale=section["pixel_scale"], latent_dim=section["latent_dim"],
                     width=section["width"])


def cosmos_images(path: str, config: VaeConfig) -> tuple[torch.Tensor, np.ndarray, str]:
    """COSMOS stamps of ``path`` on the VAE grid, their magnitudes, and why none were read (or '')."""
    if not path:
        return torch.zeros(0, config.npix, config.npix), np.zeros(0), "no [source_model] cosmos catalogue given"
    if not Path(path).exists():
        return torch.zeros(0, config.npix, config.npix), np.zeros(0), f"{path} not found"
    problems: list = []
    stamps = list(iter_stamps([path], problems=problems))
    if not stamps:
        return torch.zeros(0, config.npix, config.npix), np.zeros(0), f"no readable stamps in {path}"
    scales = {float(s.meta.get("pixel_scale", COSMOS_PIXEL_SCALE)) for s in stamps}
    if len(scales) > 1:
        return torch.zeros(0, config.npix, config.npix), np.zeros(0), f"stamps of several pixel scales {sorted(scales)}"
    images = stamps_on_grid([s.image.astype(np.float64) for s in stamps], scales.pop(), config.npix, config.pixel_scale)
    mags = np.array([float(s.meta.get("mag", np.nan)) for s in stamps])
    return images, mags, ""


@STEP_KINDS.register("fit_source_model")
class FitSourceModel:
    """Train the VAE source on simulated Sersic-mixture galaxies; check it on held-out ones and on
    COSMOS stamps."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def run(ctx: StepContext) -> dict:
        p, seed = ctx.params["source_model"], ctx.params["seed"]
        config = vae_config(p)
        began = time.perf_counter()
        with one_thread():  # a small network: one thread is fastest on a shared CPU and machine-independent
            summary = _train_and_check(ctx, p, seed, config)
        summary["wall_s"] = time.perf_counter() - began
        write_json(ctx.work / "vae.json", summary)
        ctx.log.info("VAE source: %d weights, final loss %.1f nats, median residual flux fraction %.3f (simulated) "
                     "%s (COSMOS) in %.0f s", summary["weights"], summary["final_loss"], summary["test_error_median"],
                     "skipped" if summary["cosmos_skipped"] else f"{summary['cosmos_error_median']:.3f}", summary["wall_s"])
        return {key: summary[key] for key in ("final_loss", "test_error_median", "cosmos_error_median", "wall_s")}


def _train_and_check(ctx: StepContext, p: dict, seed: int, config: VaeConfig) -> dict:
    """Train the VAE, save its weights and examples (``model.pt``, ``source_model.npz``) and
    return the summary written to ``vae.json``."""
    train = sersic_mixture_images(p["train_images"], config.npix, config.pixel_scale, seed)
    test = sersic_mixture_images(p["test_images"], config.npix, config.pixel_scale, seed + 1)
    torch.manual_seed(seed + 2)
    model = SourceVAE(config).to(ctx.device)
    with tqdm(total=p["steps"], desc="VAE source", disable=not ctx.progress) as bar:
        log = train_vae(model, train.to(ctx.device), steps=p["steps"], batch_size=p["batch_size"], lr=p["lr"],
                        sigma=p["sigma"], beta=p["beta"], seed=seed + 3, progress=bar.update)
    model = model.cpu()
    save_weights(model, ctx.work / "model.pt")
    test_errors = reconstruction_errors(model, test).numpy()
    cosmos, mags, skipped = cosmos_images(p["cosmos"], config)
    cosmos_errors = reconstruction_errors(model, cosmos).numpy()
    with torch.no_grad():
        prior = model.decode(latent_prior_draws(EXAMPLES, config.latent_dim, seed + 4))
        shown = np.argsort(mags)[:EXAMPLES] if len(mags) else np.zeros(0, int)  # the brightest stamps
        examples = {"test": test[:EXAMPLES], "test_reconstruction": model.reconstruct(test[:EXAMPLES]),
                    "prior_draws": prior, "cosmos": cosmos[shown], "cosmos_reconstruction": model.reconstruct(cosmos[shown])}
    summary = {
        "config": {"npix": config.npix, "pixel_scale": config.pixel_scale, "latent_dim": config.latent_dim,
                   "width": config.width},
        "weights": parameter_count(model), "train_images": p["train_images"], "steps": p["steps"],
        "final_loss": float(log.loss[-1]), "final_kl": float(log.kl[-1]),
        "test_error_median": float(np.median(test_errors)),
        "cosmos_n": len(cosmos_errors),
        "cosmos_error_median": float(np.median(cosmos_errors)) if len(cosmos_errors) else None,
        "cosmos_skipped": skipped,
    }
    write_atomic(ctx.work / "source_model.npz", npz_bytes({
        "loss_steps": log.steps, "loss": log.loss, "kl": log.kl, "test_errors": test_errors,
        "cosmos_errors": cosmos_errors, "cosmos_mag": mags,
        **{key: value.numpy().astype(np.float32) for key, value in examples.items()}}))
    return summary
