"""The sbi package's NRE-A baseline on a toy whose images encode theta, and SBC's PIT values."""

import numpy as np
import pytest
import torch

from lensbench.sbi.inference import ParameterGrid, log_prior, marginal_pit
from lensbench.sbi.neural_ratio import NormalisedTrunk, neural_log_ratio_grid, train_neural_ratio
from lensbench.sbi.population import ProposalBox


def _toy(n: int, rng) -> tuple[np.ndarray, torch.Tensor]:
    """16 x 16 blobs: brightness grows with f_sub, width with beta, plus noise."""
    theta = ProposalBox().sample(rng, n)
    yy, xx = np.mgrid[:16, :16] - 7.5
    width = 3.0 + 2.0 * theta[:, 1, None, None]
    blobs = 50.0 * theta[:, 0, None, None] * np.exp(-(xx**2 + yy**2) / (2 * width**2))
    return theta, torch.as_tensor((blobs + rng.normal(0, 0.3, blobs.shape))[:, None], dtype=torch.float32)


def test_nre_ranks_the_true_theta_and_its_grid_matches_sbi(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    theta, images = _toy(384, rng)
    trunk = NormalisedTrunk("cnn", 1, (16, 16), float(images.mean()), float(images.std()), seed=1)
    estimator, summary = train_neural_ratio(images, torch.as_tensor(theta), ProposalBox(), trunk, seed=3,
                                            epochs=12, batch_size=64, lr=1e-3, patience=12, hidden=32)
    assert 2 <= summary["epochs_run"] <= 12 and len(summary["validation_loss"]) == summary["epochs_run"]
    assert not any(tmp_path.iterdir())  # no TensorBoard logs in the working folder
    grid = neural_log_ratio_grid(estimator, images[:40], theta[:40])  # (image, theta) all pairs
    # ln r at the image's own theta beats ln r at the other images' theta
    assert np.diag(grid).mean() > grid[~np.eye(40, dtype=bool)].mean() + 1.0
    direct = estimator(torch.as_tensor(theta[:6], dtype=torch.float32), images[:6]).detach().numpy()
    np.testing.assert_allclose(np.diag(grid)[:6], direct, atol=1e-4)


def test_pit_of_a_point_mass_posterior_is_its_cell_middle():
    grid = ParameterGrid.over(ProposalBox(), 9)
    peak = np.full(len(grid.points), -1e3)
    g = 4 * 9 + 6  # beta row 4, f_sub column 6
    peak[g] = 0.0
    truth = grid.points[g][None]
    pit = marginal_pit(grid, peak[None], truth, np.zeros(len(grid.points)))
    np.testing.assert_allclose(pit, [[0.5, 0.5]], atol=1e-9)  # the truth at the centre of the cell holding the mass


def test_pit_is_uniform_for_exact_posteriors():
    # f_sub observed with Gaussian noise, beta observed with Gaussian noise; truths from the prior
    # (uniform f_sub, beta ~ N(-0.9, 0.1) inside the box); the grid posterior is exact up to the grid
    rng = np.random.default_rng(5)
    box = ProposalBox()
    grid = ParameterGrid.over(box, 81)
    prior = log_prior(grid, -0.9, 0.1)
    k = 400
    truths = np.stack([box.f_sub_low + rng.random(k) * (box.f_sub_high - box.f_sub_low),
                       np.clip(rng.normal(-0.9, 0.1, k), box.beta_low, box.beta_high)], axis=1)
    observed = truths + rng.normal(0, [0.03, 0.08], (k, 2))
    points = grid.points
    maps = -0.5 * (((observed[:, None, 0] - points[None, :, 0]) / 0.03) ** 2
                   + ((observed[:, None, 1] - points[None, :, 1]) / 0.08) ** 2)
    pit = marginal_pit(grid, maps, truths, prior)
    from scipy.stats import kstest

    for column in range(2):
        assert kstest(pit[:, column], "uniform").pvalue > 0.01
    # and a posterior twice too narrow is caught
    narrow = marginal_pit(grid, 4.0 * maps, truths, prior)
    assert kstest(narrow[:, 0], "uniform").pvalue < 1e-3


@pytest.mark.parametrize("limit", [5, 1000])
def test_first_images_respects_the_limit(tmp_path, limit):
    from lensbench.simulate.store import write_manifest, write_shard
    from lensbench.steps.ratio_baseline import _first_images

    rng = np.random.default_rng(1)
    for shard in range(2):  # two shards of 6
        write_shard(tmp_path, shard, rng.random((6, 1, 8, 8)).astype(np.float32), np.zeros((6, 2), np.float32),
                    {"f_sub": rng.random(6), "slope": -2.0 + rng.random(6)})
    write_manifest(tmp_path, {"n": 12, "shards": [{"index": 0, "n": 6}, {"index": 1, "n": 6}]})
    images, theta, mean, std = _first_images(tmp_path, limit)
    assert images.shape == (min(12, limit), 1, 8, 8) and theta.shape == (min(12, limit), 2)
    assert 0.4 < mean < 0.6 and std > 0  # over the whole split, whatever the limit
