"""Mock lenses for recovery tests: parameters drawn from priors, rendered, noise at a set SNR.

The SNR is the matched-filter ratio of :mod:`lensbench.fit.likelihood`; for every image the
noise level is set so that its noiseless image has exactly the requested SNR.
"""

from __future__ import annotations

import numpy as np
import torch

from lensbench.fit.lens_model import LensImageModel
from lensbench.fit.likelihood import gaussian_sigma_for_snr, poisson_exposure_for_snr
from lensbench.fit.parameters import ParameterSpace


def simulate_mocks(model: LensImageModel, space: ParameterSpace, snrs, per_snr: int, noise: str, sky: float,
                   seed: int) -> dict[str, np.ndarray]:
    """``per_snr`` mocks at each SNR of ``snrs``.

    Parameters
    ----------
    model : LensImageModel
        Forward model; ``space`` must hold every one of ``model.names`` (the mock prior).
    snrs : sequence of float
        Signal-to-noise ratios.
    per_snr : int
        Mocks at each SNR (the same parameters are not reused across SNRs).
    noise : {"gaussian", "poisson"}
        Gaussian background (data in counts/s) or Poisson counts over ``sky`` counts/s per pixel
        (data in counts).
    seed : int
        Seeds the parameters and the noise.

    Returns
    -------
    dict
        ``truth`` (N, P) in ``model.names`` order, ``clean`` (N, H, W) counts/s, ``data`` (N, H, W),
        ``noise_scale`` (N,) sigma (counts/s) or exposure (s), ``snr`` (N,).
    """
    if tuple(space.names) != tuple(model.names):
        raise ValueError(f"the mock prior must list the model's parameters in order: {', '.join(model.names)}")
    rng = np.random.default_rng(seed)
    snr = np.repeat(np.asarray(snrs, dtype=np.float64), per_snr)
    truth = space.sample(len(snr), rng)
    with torch.no_grad():
        clean = model.render(truth)
    snr_t = torch.as_tensor(snr)
    if noise == "gaussian":
        scale = gaussian_sigma_for_snr(clean, 1.0) / snr_t
        data = clean + scale[:, None, None] * torch.as_tensor(rng.standard_normal(clean.shape))
    elif noise == "poisson":
        scale = torch.stack([poisson_exposure_for_snr(c, sky, s) for c, s in zip(clean, snr)])
        data = torch.as_tensor(rng.poisson(((clean.clamp(min=0) + sky) * scale[:, None, None]).numpy()), dtype=clean.dtype)
    else:
        raise ValueError(f"noise must be 'gaussian' or 'poisson', got {noise!r}")
    return {"truth": truth.numpy(), "clean": clean.numpy(), "data": data.numpy(), "noise_scale": scale.numpy(), "snr": snr}
