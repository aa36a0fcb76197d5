"""An amortised neural ratio estimator from the ``sbi`` package: the baseline that learns from
(x, theta) pairs alone, without the simulator's joint ratio and score.

``sbi``'s NRE-A (Hermans, Begy & Louppe 2020, "AALR") classifies (x, theta) drawn jointly against
(x, theta) with theta shuffled across the batch; its logit estimates
ln r(x|theta) = ln p(x|theta) / p(x), the same ratio ALICES estimates when the reference is the
proposal marginal (Brehmer+19 sec. 3.1). The classifier's image embedding is lensbench's trunk
(:func:`lensbench.models.build_model`, the trunk the ALICES estimator uses) on globally normalised
images; theta is z-scored by ``sbi``. Training is ``sbi``'s own loop (Adam, its validation split
and early stopping), seeded through torch's global generator.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lensbench.models import build_model
from lensbench.sbi.population import ProposalBox


class _DiscardingTracker:
    """An ``sbi`` tracker that keeps nothing: by default ``sbi`` writes TensorBoard logs into
    ``./sbi-logs`` of whatever folder the user runs from. The losses per epoch are in its
    training summary, which :func:`train_neural_ratio` returns."""

    log_dir = None

    def log_metric(self, name, value, step=None) -> None:
        """Discarded."""

    def log_metrics(self, metrics, step=None) -> None:
        """Discarded."""

    def log_params(self, params) -> None:
        """Discarded."""

    def add_figure(self, name, figure, step=None) -> None:
        """Discarded."""

    def flush(self) -> None:
        """Nothing to write."""


class NormalisedTrunk(nn.Module):
    """A trunk's pooled features of images ``(N, C, H, W)`` normalised by one global mean and
    standard deviation (counts/s per pixel), as :class:`lensbench.sbi.estimator.RatioEstimator` does."""

    def __init__(self, architecture: str, in_channels: int, input_size: tuple[int, int], mean: float, std: float,
                 seed: int, options: dict | None = None):
        super().__init__()
        self.trunk = build_model(architecture, in_channels=in_channels, num_outputs=1, input_size=tuple(input_size),
                                 seed=seed, **(options or {}))
        self.trunk.fc = nn.Identity()
        self.register_buffer("input_mean", torch.tensor(float(mean)))
        self.register_buffer("input_std", torch.tensor(float(std)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.trunk.forward_features((images - self.input_mean) / self.input_std)


def train_neural_ratio(images: torch.Tensor, theta: torch.Tensor, box: ProposalBox, trunk: NormalisedTrunk, *,
                       seed: int, epochs: int, batch_size: int, lr: float, patience: int, hidden: int = 256,
                       validation_fraction: float = 0.1):
    """Train ``sbi``'s NRE-A on ``images`` (N, C, H, W) drawn at ``theta`` (N, 2) from the uniform
    proposal ``box``, for at most ``epochs`` epochs (``sbi`` runs at least 2).

    Returns
    -------
    estimator : sbi RatioEstimator
        The classifier; its logit is ln r_hat(x|theta).
    summary : dict
        ``epochs_run`` (at most ``epochs``), ``best_validation_loss`` (``sbi``'s validation loss
        of the kept weights) and the ``training_loss`` and ``validation_loss`` per epoch, from
        ``sbi``'s training summary. Nothing is written to disk.
    """
    from sbi.inference import NRE_A
    from sbi.neural_nets import classifier_nn
    from sbi.utils import BoxUniform

    prior = BoxUniform(low=torch.tensor([box.f_sub_low, box.beta_low], dtype=torch.float32),
                       high=torch.tensor([box.f_sub_high, box.beta_high], dtype=torch.float32))
    builder = classifier_nn("mlp", z_score_theta="independent", z_score_x="none", hidden_features=hidden,
                            embedding_net_x=trunk)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        inference = NRE_A(prior=prior, classifier=builder, show_progress_bars=False, tracker=_DiscardingTracker())
        inference.append_simulations(theta.to(torch.float32), images.to(torch.float32))
        estimator = inference.train(training_batch_size=batch_size, learning_rate=lr,
                                    validation_fraction=validation_fraction, stop_after_epochs=patience,
                                    max_num_epochs=max(epochs - 1, 1))  # sbi runs epochs 0..max_num_epochs
    summary = inference.summary
    return estimator.eval(), {"epochs_run": int(summary["epochs_trained"][-1]),
                              "best_validation_loss": float(summary["best_validation_loss"][-1]),
                              "training_loss": [float(v) for v in summary["training_loss"]],
                              "validation_loss": [float(v) for v in summary["validation_loss"]]}


@torch.no_grad()
def neural_log_ratio_grid(estimator, images: torch.Tensor, points: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """ln r_hat of every image at every point: (N, G) for images (N, C, H, W), points (G, 2).

    Each image is embedded once; the classifier's head then sees (embedded theta, embedded x)
    for every point, as ``sbi``'s ``combine_theta_and_x`` joins them."""
    thetas = torch.as_tensor(points, dtype=torch.float32)
    embedded_theta = estimator.embedding_net_theta(thetas)
    rows = []
    for lo in range(0, len(images), batch_size):
        embedded_x = estimator.embedding_net_x(images[lo:lo + batch_size].to(torch.float32))
        k, g = embedded_x.shape[0], embedded_theta.shape[0]
        joined = torch.cat([embedded_theta[None].expand(k, g, -1), embedded_x[:, None].expand(k, g, -1)], dim=-1)
        rows.append(estimator.net(joined.reshape(k * g, -1)).reshape(k, g))
    return torch.cat(rows).double().numpy() if rows else np.zeros((0, len(points)))
