"""Integrated gradients: completeness, linear models, the baseline and argument checks."""

from __future__ import annotations

import pytest
import torch

from lensbench.attribution import integrated_gradients


def _small_classifier() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, padding=1), torch.nn.Tanh(), torch.nn.Flatten(),
                                torch.nn.Linear(4 * 6 * 8, 3))
    return model.eval()


@pytest.mark.parametrize("method, steps, tolerance", [("gausslegendre", 32, 1e-5), ("riemann_middle", 64, 1e-4)])
def test_attributions_sum_to_the_output_difference(method, steps, tolerance):
    """Completeness: sum_i IG_i = F(x) - F(baseline), within the quadrature error."""
    model = _small_classifier()
    inputs = torch.randn(5, 2, 6, 8)
    baseline = torch.full((5, 2, 6, 8), 0.3)
    attributions = integrated_gradients(model, inputs, target=1, baseline=baseline, steps=steps, method=method)
    assert attributions.shape == inputs.shape and not attributions.requires_grad
    with torch.no_grad():
        difference = model(inputs)[:, 1] - model(baseline)[:, 1]
    totals = attributions.flatten(1).sum(dim=1)
    torch.testing.assert_close(totals, difference, rtol=0.0, atol=tolerance * float(difference.abs().max()))


def test_scalar_model_and_default_zero_baseline():
    """For F(x) = w . x from the zero baseline, IG_i = w_i x_i exactly."""
    weights = torch.randn(2, 6, 8)
    inputs = torch.randn(3, 2, 6, 8)
    attributions = integrated_gradients(lambda x: (x * weights).flatten(1).sum(dim=1), inputs, steps=4)
    torch.testing.assert_close(attributions, inputs * weights)


def test_batch_size_does_not_change_the_attributions():
    model = _small_classifier()
    inputs = torch.randn(4, 2, 6, 8)
    one_path = integrated_gradients(model, inputs, target=2, steps=8)
    several = integrated_gradients(model, inputs, target=2, steps=8, internal_batch_size=32)
    torch.testing.assert_close(one_path, several, rtol=1e-5, atol=1e-6)


def test_steps_must_be_positive():
    with pytest.raises(ValueError, match="at least one step"):
        integrated_gradients(_small_classifier(), torch.zeros(1, 2, 6, 8), target=0, steps=0)
