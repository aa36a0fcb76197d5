"""The e1 = e2 = 0 fix of ``ellipticity_to_angle_axis_ratio``: finite, correct gradients of SIE
and EPL deflections at exactly round lenses (central finite differences as the reference), and
values at round lenses still those of the round profile."""

from __future__ import annotations

import pytest
import torch

from lensbench.physics import profiles

H = 1e-5


def grid():
    axis = torch.linspace(-2.0, 2.0, 20, dtype=torch.float64)  # no point on the singular centre
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return x[None], y[None]


def projected_deflection(fn, e1, e2, weights, **extra):
    """A scalar that depends on both deflection components at every grid point."""
    x, y = grid()
    ax, ay = fn(x, y, theta_E=torch.tensor([1.1], dtype=torch.float64), e1=e1, e2=e2,
                center_x=torch.tensor([0.05], dtype=torch.float64), center_y=torch.tensor([-0.03], dtype=torch.float64),
                **extra)
    return (weights[0] * ax + weights[1] * ay).sum()


@pytest.mark.parametrize("name", ["sie", "epl"])
@pytest.mark.parametrize("e_point", [(0.0, 0.0), (0.12, -0.07)])
def test_ellipticity_gradient_matches_finite_differences(name, e_point):
    fn = profiles.sie_deflection if name == "sie" else profiles.epl_deflection
    extra = {} if name == "sie" else {"gamma": torch.tensor([2.15], dtype=torch.float64), "n_terms": 40}
    weights = torch.randn(2, 1, 20, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    e = torch.tensor(e_point, dtype=torch.float64, requires_grad=True)
    value = projected_deflection(fn, e[0:1], e[1:2], weights, **extra)
    (grad,) = torch.autograd.grad(value, e)
    assert torch.isfinite(grad).all()
    for k in range(2):
        step = torch.zeros(2, dtype=torch.float64)
        step[k] = H
        plus = projected_deflection(fn, (e + step)[0:1].detach(), (e + step)[1:2].detach(), weights, **extra)
        minus = projected_deflection(fn, (e - step)[0:1].detach(), (e - step)[1:2].detach(), weights, **extra)
        numeric = (plus - minus) / (2 * H)
        assert abs(grad[k] - numeric) <= 1e-5 * max(1.0, abs(numeric)), (k, grad[k], numeric)


def test_round_sie_still_equals_the_sis():
    x, y = grid()
    theta_E = torch.tensor([1.1], dtype=torch.float64)
    zero = torch.zeros(1, dtype=torch.float64)
    sis = profiles.sis_deflection(x, y, theta_E)
    sie = profiles.sie_deflection(x, y, theta_E, zero, zero)
    assert torch.allclose(sis[0], sie[0], rtol=1e-6, atol=1e-9) and torch.allclose(sis[1], sie[1], rtol=1e-6, atol=1e-9)
