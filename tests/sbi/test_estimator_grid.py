"""The estimator's grid evaluation (first layer split per image and per theta) against its plain forward."""

import numpy as np
import torch

from lensbench.sbi.estimator import RatioEstimator
from lensbench.sbi.population import ProposalBox


def test_grid_equals_the_forward_at_every_pair():
    box = ProposalBox(f_sub_low=0.001, f_sub_high=0.2, beta_low=-1.5, beta_high=-0.5)
    model = RatioEstimator("cnn", 1, (16, 16), box, hidden=32, seed=3).eval()
    images = torch.randn(7, 1, 16, 16)
    thetas = torch.tensor([[0.001, -1.5], [0.05, -0.9], [0.2, -0.5], [0.1, -1.2]])
    with torch.no_grad():
        features = model.features(images)
        grid = model.log_ratio_grid(features, thetas, rows=8)  # several chunks of images
        pairs = model(images.repeat_interleave(len(thetas), 0), thetas.repeat(len(images), 1)).reshape(7, 4)
    np.testing.assert_allclose(grid.numpy(), pairs.numpy(), rtol=1e-5, atol=1e-5)
    assert grid.shape == (7, 4) and float(grid.std()) > 0
