"""Training a :class:`~lensbench.sbi.estimator.RatioEstimator` with :func:`lensbench.training.fit`.

:class:`AugmentedImages` pairs each simulated image with what the losses need (its theta, a
second proposal draw theta', the population's sufficient statistics and ln p_ref(z));
:class:`RatioObjective` turns a batch into one of the :mod:`lensbench.sbi.losses`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from lensbench.sbi.losses import USES_SCORE, ratio_loss
from lensbench.sbi.population import LatentStats, MassRange, joint_log_ratio, joint_score
from lensbench.training.objectives import Objective

LATENT_COLUMNS = ("subhalo_count", "subhalo_log_mass_sum", "host_roi_mass", "subhalo_m_max")
"""The stored parameters :class:`LatentStats` is made of, in its field order."""


def latent_stats(params: dict[str, np.ndarray], device="cpu") -> LatentStats:
    """The sufficient statistics of a dataset's stored parameters (:meth:`ShardedDataset.params`)."""
    return LatentStats.from_arrays(*(params[name] for name in LATENT_COLUMNS), device=device)


def parameters_of(params: dict[str, np.ndarray]) -> np.ndarray:
    """(N, 2) theta = (f_sub, beta) of stored parameters; beta = slope + 1 (paper vs code convention)."""
    return np.stack([params["f_sub"], params["slope"] + 1.0], axis=1)


class AugmentedImages(Dataset):
    """Images with (theta, theta', latent statistics, ln p_ref(z)), all per image.

    Parameters
    ----------
    images : Dataset
        Yields ``(image, label)``; only the image is used (raw counts/s, the estimator normalises).
    theta, theta_prime : numpy.ndarray
        (N, 2) the image's parameters and a second draw from the proposal.
    latent : numpy.ndarray
        (N, 4) the :data:`LATENT_COLUMNS`.
    log_ref : numpy.ndarray
        (N,) ln p_ref(z) (:func:`lensbench.sbi.population.log_reference`).
    """

    def __init__(self, images: Dataset, theta, theta_prime, latent, log_ref):
        self.images = images
        self.theta = torch.as_tensor(np.asarray(theta, dtype=np.float64))
        self.theta_prime = torch.as_tensor(np.asarray(theta_prime, dtype=np.float64))
        self.latent = torch.as_tensor(np.asarray(latent, dtype=np.float64))
        self.log_ref = torch.as_tensor(np.asarray(log_ref, dtype=np.float64))
        if not len(images) == len(self.theta) == len(self.theta_prime) == len(self.latent) == len(self.log_ref):
            raise ValueError("images, theta, theta', latent statistics and ln p_ref need one entry per image")

    def __len__(self) -> int:
        return len(self.theta)

    def __getitem__(self, i: int):
        return self.images[i][0], self.theta[i], self.theta_prime[i], self.latent[i], self.log_ref[i]


class RatioObjective(Objective):
    """One of :data:`lensbench.sbi.losses.LOSSES` on pairs (x, theta) (y = 0) and (x, theta') (y = 1).

    Parameters
    ----------
    loss : str
        ``alices``, ``carl``, ``rolr`` or ``rascal``.
    alpha : float
        Weight of the score term (ALICES, RASCAL; Brehmer+19: 2e-3).
    masses : MassRange
        Drawing and definition lower masses of the population (Msun).
    flipped_score : bool
        Take the score term also at the flipped pairs (x, theta') as eq. 22 does; False keeps it
        to the pairs whose x was drawn at theta, as the authors' code does.
    """

    monitor = "loss"

    def __init__(self, loss: str, alpha: float, masses: MassRange, flipped_score: bool = False):
        self.loss_name, self.alpha, self.masses = loss, float(alpha), masses
        self.flipped_score = bool(flipped_score)
        self.name = f"likelihood_ratio:{loss}:{alpha:g}"

    def loss(self, model, batch):
        images, theta, theta_prime, latent, log_ref = batch
        features = model.features(images)
        both = torch.cat([theta, theta_prime]).to(torch.float64)
        stats = LatentStats(*(torch.cat([latent[:, k], latent[:, k]]).to(torch.float64) for k in range(4)))
        log_ref2 = torch.cat([log_ref, log_ref]).to(torch.float64)
        log_r_joint = joint_log_ratio(both, stats, self.masses, log_ref2).to(features.dtype)
        y = torch.cat([torch.zeros(len(theta)), torch.ones(len(theta))]).to(features.device)
        features2 = torch.cat([features, features])
        if self.loss_name in USES_SCORE and self.alpha > 0:
            log_r_hat, score_hat = model.log_ratio_and_score(features2, both, create_graph=model.training)
            score = joint_score(both, stats, self.masses).to(features.dtype)
        else:
            log_r_hat, score_hat, score = model.head_log_ratio(features2, both), None, None  # no score term
        score_mask = None if self.flipped_score else 1.0 - y
        value = ratio_loss(self.loss_name, log_r_hat, score_hat, log_r_joint, score, y, self.alpha, score_mask)
        return value, {}
