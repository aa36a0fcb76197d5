"""Priors refuse what cannot be drawn: non-finite parameters, windows without probability."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from lensbench.simulate.priors import MIN_WINDOW_MASS, Prior


@pytest.mark.parametrize("kwargs", [dict(dist="normal", mu=0.0, sigma=1.0, low=50.0, high=60.0),
                                    dict(dist="normal", mu=0.0, sigma=1.0, low=-60.0, high=-50.0),
                                    dict(dist="lognormal", mu=0.0, sigma=0.1, low=100.0)])
def test_a_window_without_probability_is_refused(kwargs):
    with pytest.raises(ValueError, match="holds a probability of only"):
        Prior(**kwargs)


def test_window_mass_matches_scipy_in_both_tails():
    """Against scipy.stats.norm (an independent implementation), far in either tail."""
    for low, high in ((5.0, 6.0), (-6.0, -5.0), (-1.0, 2.0), (7.0, math.inf)):
        prior = Prior("normal", mu=0.0, sigma=1.0, low=low, high=None if math.isinf(high) else high)
        expected = stats.norm.sf(low) - stats.norm.sf(high) if low > 0 else stats.norm.cdf(high) - stats.norm.cdf(low)
        assert prior.window_mass() == pytest.approx(expected, rel=1e-9)
        assert prior.window_mass() > MIN_WINDOW_MASS
    draws = Prior("normal", mu=0.0, sigma=1.0, low=5.0, high=6.0).sample(np.random.default_rng(0), 1000)
    assert draws.min() >= 5.0 and draws.max() <= 6.0


@pytest.mark.parametrize("name", ["mu", "sigma", "low", "high"])
def test_non_finite_parameters_are_refused(name):
    kwargs = dict(dist="normal", mu=0.0, sigma=1.0, low=-1.0, high=1.0)
    kwargs[name] = math.nan
    with pytest.raises(ValueError, match=f"{name} must be a finite number"):
        Prior(**kwargs)
    with pytest.raises(ValueError, match="value must be a finite number"):
        Prior("fixed", value=math.inf)
