"""The controls of what a real "halo" fraction means (:mod:`lensbench.scoring.controls`): the
size-matched simulated control follows size, and so does a classifier that sees only size."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lensbench.io.canonical import to_jsonable
from lensbench.io.preprocess import normaliser
from lensbench.scoring.controls import (ControlConfig, ZoomCurve, control_from_card,
                                        run_size_matched_control, score_size_correlation)
from lensbench.scoring.measure import half_light_radius_and_flux
from lensbench.simulate import galaxy
from lensbench.simulate.priors import Prior

SURVEY = galaxy.SURVEY_PRESETS["cosmos"]
CARD = {"classes": ["no_halo", "halo"], "input_size": [64, 64], "normalize": "max"}


class SizeClassifier(torch.nn.Module):
    """Calls an image 'halo' when the share of its light beyond 8 pixels from the stamp centre
    exceeds ``threshold``: a classifier that sees apparent size and nothing else."""

    def __init__(self, threshold: float = 0.0):
        super().__init__()
        yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
        self.outside = torch.hypot(yy - 31.5, xx - 31.5) > 8.0
        self.threshold = threshold

    def share(self, images: torch.Tensor) -> torch.Tensor:
        light = images[:, 0].double()
        return (light * self.outside).sum((1, 2)) / light.sum((1, 2))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        logit = self.share(images) - self.threshold
        return torch.stack([-logit, logit], dim=1)


def as_inputs(images: np.ndarray) -> torch.Tensor:
    transform = normaliser("max")
    return torch.stack([transform(image) for image in torch.from_numpy(images)])


def simulated(config, n: int, seed: int) -> np.ndarray:
    images, _ = galaxy.simulate_batch(config, SURVEY, "no_halo", n, np.random.default_rng(seed))
    return images


def test_the_size_matched_control_follows_the_real_sizes_not_the_prior():
    """'Real' galaxies 80 % larger than the prior: a size-only classifier calls more of them
    'halo' than of the prior, and the matched control (no halo at all) reproduces that."""
    prior = galaxy.GalaxyConfig()
    larger = dataclasses.replace(prior, priors={**prior.priors,
                                                "galaxy_R_sersic": Prior("lognormal", mu=-0.1, sigma=0.4)})
    real = simulated(larger, 120, seed=1)
    pool = simulated(prior, 200, seed=2)
    model = SizeClassifier(float(SizeClassifier().share(as_inputs(pool)).median()))
    real_positive = model(as_inputs(real)).argmax(1).numpy() == 1
    radii, fluxes = half_light_radius_and_flux(real[:, 0])
    result = run_size_matched_control(ControlConfig(prior, SURVEY, pool_size=400, neighbours=5, seed=3),
                                      model, CARD, radii, fluxes, as_inputs)
    assert result["matched_stamps"] == 120
    assert result["pool"]["fraction"] == pytest.approx(0.5, abs=0.12)
    assert real_positive.mean() > result["pool"]["fraction"] + 0.15
    assert result["fraction"] == pytest.approx(real_positive.mean(), abs=0.12)
    low, high = result["interval"]
    assert low <= result["fraction"] <= high
    assert result["median_radius_ratio"] == pytest.approx(1.0, abs=0.05)
    histogram = result["radius_histogram"]
    assert sum(histogram["matched"]) <= 120 * 5 and sum(histogram["real"]) <= 120


def test_control_from_a_model_card_rebuilds_the_training_simulation():
    config = galaxy.GalaxyConfig(backend="torch", priors={**galaxy.GalaxyConfig().priors,
                                                          "galaxy_n_sersic": Prior("fixed", value=1.0)})
    card = {"simulation_kind": "galaxy", "simulation": to_jsonable(config), "survey": to_jsonable(SURVEY)}
    control, note = control_from_card(card)
    assert note == "" and control.simulation.priors == config.priors and control.survey == SURVEY
    assert control_from_card({"simulation_kind": "galaxy"})[0] is None
    assert "strong_lensing" in control_from_card({"simulation_kind": "strong_lensing"})[1]


def test_score_size_correlation_and_zoom_counts():
    radii = np.array([1.0, 2.0, 3.0, np.nan, 5.0])
    assert score_size_correlation(np.array([0.1, 0.2, 0.3, 0.9, 0.4]), radii)["rho"] == pytest.approx(1.0)
    assert score_size_correlation(np.array([0.5] * 5), radii)["rho"] is None  # constant scores
    curve = ZoomCurve((0.9, 1.0))
    curve.add(0, np.array([True, False]))
    curve.add(0, np.array([True]))
    assert curve.to_dict() == {"zooms": [0.9, 1.0], "positive": [2, 0], "scored": [3, 0],
                               "fraction": [2 / 3, None]}
