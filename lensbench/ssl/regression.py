"""Regression of the axion mass (Deshmukh+23 sec. 2.2 and Fig. 2): an encoder with a one-output
fully connected head, trained on the vortex-class images to predict log10(m_a / eV).

- :func:`log10_axion_mass`: the vortex images of a simulated split and their targets.
- :class:`TargetSet`: those images with their targets as a torch ``Dataset``.
- :func:`regression_head`: the encoder with ``Linear(embedding_dim, 1)`` whose output is put on
  the targets' scale (``centre + scale * linear``), so a new head starts near the targets' mean
  and the MSE is in dex^2 from the first step.
- :func:`mass_bins` and :func:`binned_errors`: RMSE and mean bias of log10 m_a in equal bins of
  log10 m_a over the prior's range (the per-decade errors of the report); :func:`seed_summary`
  their means and standard deviations over training seeds, SSL against the supervised baseline.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from lensbench.metrics import METRICS
from lensbench.ssl.base import Branch
from lensbench.ssl.compare import difference, mean_std
from lensbench.ssl.config import mass_bins  # noqa: F401  (re-exported: the bins the regression reports in)

TARGET = "log10_axion_mass"
"""Name of the regressed quantity, log10(m_a / eV), in metrics and outputs."""


def predictions_file(seed: int) -> str:
    """File name of one seed's test predictions of log10 m_a (the ``ssl_regress`` step's output)."""
    return f"predicted_{seed}.npy"


def log10_axion_mass(labels, axion_mass, vortex_class: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the images of class ``vortex_class`` and their log10(m_a / eV).

    Parameters
    ----------
    labels : array of int, shape (N,)
        Class index of every image of a split.
    axion_mass : array of float, shape (N,)
        The stored ``axion_mass`` parameter, eV (NaN for images without a vortex).
    vortex_class : int
        Index of the vortex class in the split's classes.

    Raises
    ------
    ValueError
        When a vortex image has no positive finite axion mass.
    """
    indices = np.flatnonzero(np.asarray(labels).reshape(-1) == vortex_class)
    mass = np.asarray(axion_mass, dtype=np.float64).reshape(-1)[indices]
    if not (np.isfinite(mass).all() and (mass > 0).all()):
        raise ValueError("every vortex image needs a positive axion_mass (eV) to regress log10 m_a")
    return indices, np.log10(mass)


class TargetSet(Dataset):
    """The images at ``indices`` of ``images`` (a dataset of ``(image, label)``) with float32
    targets of shape (1,), in order."""

    def __init__(self, images: Dataset, indices, targets):
        if len(indices) != len(targets):
            raise ValueError(f"{len(indices)} indices but {len(targets)} targets")
        self.images, self.indices = images, [int(i) for i in indices]
        self.targets = torch.as_tensor(np.asarray(targets, dtype=np.float32)).reshape(-1, 1)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        image, _ = self.images[self.indices[i]]
        return image, self.targets[i]


class Rescale(nn.Module):
    """``centre + scale * x``: a head's raw output on the scale of its targets (fixed buffers)."""

    def __init__(self, centre: float, scale: float):
        super().__init__()
        self.register_buffer("centre", torch.tensor(float(centre)))
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.centre + self.scale * x


def target_scale(targets) -> tuple[float, float]:
    """Mean and standard deviation (ddof 0; 1 when the targets do not vary) of the training
    targets, the centre and scale of :class:`Rescale`."""
    x = np.asarray(targets, dtype=np.float64)
    std = float(x.std())
    return float(x.mean()), (std if std > 0 else 1.0)


def regression_head(encoder: nn.Module, seed: int, centre: float, scale: float) -> Branch:
    """``encoder`` followed by ``Linear(embedding_dim, 1)`` drawn from ``seed`` and
    :class:`Rescale` (``centre``, ``scale``): output (N, 1) in the targets' units."""
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left alone
        torch.manual_seed(seed)
        linear = nn.Linear(encoder.embedding_dim, 1)
    return Branch(encoder, nn.Sequential(linear, Rescale(centre, scale)))


def rmse_and_bias(truth, predicted) -> tuple[float, float]:
    """RMSE and mean bias (prediction - truth) of log10 m_a, dex, from the registered ``rmse`` and
    ``bias`` metrics."""
    return tuple(METRICS.get(name).compute(truth, predicted, [TARGET])[TARGET] for name in ("rmse", "bias"))


def binned_errors(truth, predicted, edges) -> dict:
    """RMSE and mean bias of ``predicted`` against ``truth`` (log10 m_a, dex), overall and per bin.

    Bins are ``[edges[i], edges[i + 1])``, the last one closed; truths outside every bin count
    only overall.

    Returns
    -------
    dict
        ``rmse``, ``bias`` (floats, dex), ``rmse_by_bin``, ``bias_by_bin`` (lists, None for an
        empty bin) and ``count_by_bin`` (list of int).
    """
    truth = np.asarray(truth, dtype=np.float64).reshape(-1)
    predicted = np.asarray(predicted, dtype=np.float64).reshape(-1)
    if truth.shape != predicted.shape or truth.size == 0:
        raise ValueError(f"need as many predictions as truths, at least one; got {predicted.size} and {truth.size}")
    edges = np.asarray(edges, dtype=np.float64)
    inside = (truth >= edges[0]) & (truth <= edges[-1])
    which = np.clip(np.searchsorted(edges, truth, side="right") - 1, 0, len(edges) - 2)
    rmse, bias = rmse_and_bias(truth, predicted)
    out = {"rmse": rmse, "bias": bias, "rmse_by_bin": [], "bias_by_bin": [], "count_by_bin": []}
    for b in range(len(edges) - 1):
        members = inside & (which == b)
        bin_rmse, bin_bias = rmse_and_bias(truth[members], predicted[members]) if members.any() else (None, None)
        out["rmse_by_bin"].append(bin_rmse)
        out["bias_by_bin"].append(bin_bias)
        out["count_by_bin"].append(int(members.sum()))
    return out


def _mean_std_by_bin(per_seed: list[list]) -> tuple[list, list]:
    """Per-bin mean and sample std over seeds (None for an empty bin; std None with one seed)."""
    means, stds = [], []
    for values in zip(*per_seed):
        if values[0] is None:
            means.append(None)
            stds.append(None)
            continue
        mean, std = mean_std(values)
        means.append(mean)
        stds.append(std)
    return means, stds


def seed_summary(truth, predictions: dict[str, list], edges, train_mean: float) -> dict:
    """Regression metrics of a branch, named ``log10_axion_mass_<metric>[_supervised]``, in dex.

    Parameters
    ----------
    truth : array, shape (N,)
        log10(m_a / eV) of the test vortex images.
    predictions : dict
        ``{"": [per-seed predictions of the fine-tuned encoder], "_supervised": [... of the
        baseline]}``, each an array (N,).
    edges : sequence of float
        Bin edges in log10(m_a / eV) (:func:`mass_bins`).
    train_mean : float
        Mean training target: ``..._rmse_mean_prediction`` is the RMSE of predicting it for
        every test image, the error of a regressor that learnt nothing from the images.

    Returns
    -------
    dict
        For each suffix: ``rmse``, ``rmse_std``, ``rmse_seeds``, ``bias``, ``bias_std`` and the
        per-bin ``rmse_by_bin``, ``rmse_by_bin_std``, ``bias_by_bin``, ``bias_by_bin_std``; then
        ``bins`` (edges), ``count_by_bin``, ``rmse_mean_prediction`` and
        ``rmse_by_bin_mean_prediction``, and ``rmse_reduction``
        (mean supervised RMSE - mean SSL RMSE, positive when SSL is better) with its
        ``rmse_reduction_error`` and ``rmse_reduction_resolved`` (1.0 or 0.0 as
        :func:`lensbench.ssl.compare.difference` resolves it, None with one seed).
    """
    out: dict = {}
    counts = None
    for suffix, per_seed in predictions.items():
        errors = [binned_errors(truth, predicted, edges) for predicted in per_seed]
        counts = errors[0]["count_by_bin"]
        for key in ("rmse", "bias"):
            values = [e[key] for e in errors]
            out[f"{TARGET}_{key}{suffix}"], out[f"{TARGET}_{key}{suffix}_std"] = mean_std(values)
            means, stds = _mean_std_by_bin([e[f"{key}_by_bin"] for e in errors])
            out[f"{TARGET}_{key}_by_bin{suffix}"], out[f"{TARGET}_{key}_by_bin{suffix}_std"] = means, stds
        out[f"{TARGET}_rmse{suffix}_seeds"] = [e["rmse"] for e in errors]
    out[f"{TARGET}_bins"] = [float(e) for e in edges]
    out[f"{TARGET}_count_by_bin"] = counts
    constant = binned_errors(truth, np.full(np.shape(truth), float(train_mean)), edges)
    out[f"{TARGET}_rmse_mean_prediction"] = constant["rmse"]
    out[f"{TARGET}_rmse_by_bin_mean_prediction"] = constant["rmse_by_bin"]
    reduction = difference(out[f"{TARGET}_rmse_supervised_seeds"], out[f"{TARGET}_rmse_seeds"])
    out[f"{TARGET}_rmse_reduction"] = reduction["difference"]
    out[f"{TARGET}_rmse_reduction_error"] = reduction["error"]
    out[f"{TARGET}_rmse_reduction_resolved"] = None if reduction["resolved"] is None else float(reduction["resolved"])
    return out
