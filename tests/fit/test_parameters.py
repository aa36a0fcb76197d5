"""Priors and bijections: round trips, the change-of-variables Jacobian, reproducible draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lensbench.fit.parameters import Parameter, ParameterSpace, make_prior


@pytest.fixture
def space():
    return ParameterSpace([Parameter("lens_theta_E", make_prior("uniform", 0.9, 1.4)),
                           Parameter("lens_center_x", make_prior("normal", 0.0, 0.1)),
                           Parameter("source_amp", make_prior("lognormal", 10.0, 0.5))])


def test_bijections_round_trip(space):
    theta = space.sample(200, np.random.default_rng(0))
    u = space.to_unconstrained(theta)
    assert torch.allclose(space.to_constrained(u), theta, rtol=1e-12, atol=1e-12)
    u2 = torch.randn(50, 3, dtype=torch.float64) * 3
    assert torch.allclose(space.to_unconstrained(space.to_constrained(u2)), u2, rtol=1e-9, atol=1e-9)


def test_draws_lie_in_the_support_and_repeat_with_the_seed(space):
    a = space.sample(500, np.random.default_rng(3))
    assert ((a[:, 0] > 0.9) & (a[:, 0] < 1.4)).all() and (a[:, 2] > 0).all()
    assert torch.equal(a, space.sample(500, np.random.default_rng(3)))
    assert abs(float(a[:, 2].log().median()) - np.log(10.0)) < 0.1  # lognormal median


def test_log_abs_det_jacobian_is_the_derivative_of_the_transform(space):
    u = torch.tensor([[0.3, -0.2, 1.7]], dtype=torch.float64)
    derivative = torch.autograd.functional.jacobian(lambda v: space.to_constrained(v).sum(), u)
    assert torch.allclose(space.log_abs_det_jacobian(u), derivative.abs().log().sum(-1), rtol=1e-10)


def test_density_in_unconstrained_space_integrates_to_one():
    uniform = ParameterSpace([Parameter("lens_theta_E", make_prior("uniform", 0.9, 1.4))])
    u = torch.linspace(-30, 30, 200001, dtype=torch.float64)[:, None]
    density = uniform.log_density_unconstrained(u).exp()
    assert abs(float(torch.trapezoid(density, u[:, 0])) - 1.0) < 1e-6


@pytest.mark.parametrize("kind,a,b,message", [("uniform", 1.0, 1.0, "low < high"), ("normal", 0.0, 0.0, "sd > 0"),
                                               ("lognormal", -1.0, 0.5, "median > 0"), ("beta", 1.0, 2.0, "unknown prior")])
def test_bad_priors_are_refused(kind, a, b, message):
    with pytest.raises(ValueError, match=message):
        make_prior(kind, a, b)


def test_unknown_parameter_is_refused():
    with pytest.raises(ValueError, match="unknown parameter 'lens_thetaE'"):
        Parameter("lens_thetaE", make_prior("uniform", 0.0, 1.0))
