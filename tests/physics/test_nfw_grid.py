"""NFW subhalos on a pixel grid (far form + stencils) against the closed form and lenstronomy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lenstronomy.LensModel.lens_model import LensModel

from lensbench.physics import nfw_grid, optics, profiles

SPACING = 0.1


def closed_form_scale(r: np.ndarray, Rs: float) -> np.ndarray:
    """g(u) Rs / r^2 from the closed form (profiles._nfw_g, float64)."""
    u = torch.tensor(r / Rs, dtype=torch.float64)
    return profiles._nfw_g(u).numpy() * Rs / r**2


@pytest.mark.parametrize("dtype,tolerance", [(torch.float64, 1e-14), (torch.float32, 1e-6)])
def test_far_form_equals_the_closed_form_beyond_u_far(dtype, tolerance):
    Rs = 0.07
    r = Rs * np.geomspace(nfw_grid.U_FAR, 1e5, 400)
    ours = nfw_grid.far_scale(torch.tensor(r**2, dtype=dtype), torch.tensor(Rs, dtype=dtype), nfw_grid.arcsine_terms(dtype))
    relative = np.abs(ours.double().numpy() / closed_form_scale(r, Rs) - 1)
    assert relative.max() < tolerance


def test_arcsine_terms_leave_a_remainder_below_the_precision():
    w = 1 / nfw_grid.U_FAR
    for dtype in (torch.float32, torch.float64):
        n = nfw_grid.arcsine_terms(dtype)
        c = nfw_grid._arcsine_coefficients(n + 40)
        remainder = sum(c[k] * w ** (2 * k) for k in range(n, n + 40))
        assert remainder < torch.finfo(dtype).eps and c[n - 1] * w ** (2 * n - 2) >= torch.finfo(dtype).eps / 2
    assert nfw_grid.arcsine_terms(torch.float32) < nfw_grid.arcsine_terms(torch.float64)


def _grid(batch: int, npix: int = 32, dtype=torch.float64):
    x, y = optics.pixel_grid(npix, SPACING, dtype=dtype)
    return x.expand(batch, npix, npix), y.expand(batch, npix, npix)


def _population(batch: int, count: int, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Compact subhalos (Rs up to the stencil's limit), some outside the grid, one on a pixel
    centre, some padded with finite junk."""
    rng = np.random.default_rng(seed)
    largest = (nfw_grid.STENCIL_HALF_WIDTH - 0.5) * SPACING / nfw_grid.U_FAR
    params = {
        "Rs": rng.uniform(0.005, largest, (batch, count)),
        "alpha_Rs": rng.uniform(0.001, 0.03, (batch, count)),
        "center_x": rng.uniform(-2.2, 2.2, (batch, count)),  # the 32-pixel grid ends at +-1.6"
        "center_y": rng.uniform(-2.2, 2.2, (batch, count)),
    }
    params["Rs"][0, 0] = largest  # exactly at the limit
    params["center_x"][0, 1], params["center_y"][0, 1] = 0.05, -0.15  # on a pixel centre
    mask = rng.random((batch, count)) < 0.8
    mask[0, :2] = True
    return params, mask


def test_grid_deflection_equals_lenstronomy_for_compact_subhalos():
    batch, count = 3, 40
    params, mask = _population(batch, count, seed=4)
    assert nfw_grid.is_compact(params["Rs"], SPACING).all()
    x, y = _grid(batch)
    ax, ay = nfw_grid.grid_deflection(x, y, SPACING, {k: torch.tensor(v) for k, v in params.items()}, torch.tensor(mask))
    for i in range(batch):
        kwargs = [{k: params[k][i, j] for k in params} for j in np.flatnonzero(mask[i])]
        ref_x, ref_y = LensModel(["NFW"] * len(kwargs)).alpha(x[i].numpy(), y[i].numpy(), kwargs)
        assert np.max(np.abs(ax[i].numpy() - ref_x)) <= 1e-10 * np.max(np.abs(ref_x))
        assert np.max(np.abs(ay[i].numpy() - ref_y)) <= 1e-10 * np.max(np.abs(ref_y))


def test_grid_deflection_equals_the_closed_form_plane_to_rounding():
    batch, count = 2, 64
    params, mask = _population(batch, count, seed=5)
    tensors = {k: torch.tensor(v) for k, v in params.items()}
    x, y = _grid(batch)
    ours = nfw_grid.grid_deflection(x, y, SPACING, tensors, torch.tensor(mask, dtype=torch.float64))
    reference = profiles.subhalo_plane_deflection(x, y, "nfw", tensors, torch.tensor(mask))
    for a, b in zip(ours, reference):
        assert torch.max(torch.abs(a - b)) <= 1e-13 * torch.max(torch.abs(b))


def test_padded_entries_contribute_nothing():
    params, mask = _population(2, 16, seed=6)
    x, y = _grid(2)
    tensors = {k: torch.tensor(v) for k, v in params.items()}
    full = nfw_grid.grid_deflection(x, y, SPACING, tensors, torch.tensor(mask))
    junk = {k: v.clone() for k, v in tensors.items()}
    junk["alpha_Rs"][~torch.tensor(mask)] = 1e3
    junk["Rs"][~torch.tensor(mask)] = 0.0
    assert all(torch.equal(a, b) for a, b in zip(full, nfw_grid.grid_deflection(x, y, SPACING, junk, torch.tensor(mask))))


def test_a_subhalo_too_large_for_its_stencil_is_not_compact_and_would_be_wrong():
    Rs = (nfw_grid.STENCIL_HALF_WIDTH + 1) * SPACING / nfw_grid.U_FAR
    assert not nfw_grid.is_compact(np.array(Rs), SPACING)
    params = {"Rs": torch.tensor([[Rs]]), "alpha_Rs": torch.tensor([[0.01]]), "center_x": torch.zeros(1, 1), "center_y": torch.zeros(1, 1)}
    x, y = _grid(1)
    mask = torch.ones(1, 1, dtype=torch.bool)
    ours = nfw_grid.grid_deflection(x, y, SPACING, params, mask)[0]
    reference = profiles.subhalo_plane_deflection(x, y, "nfw", params, mask)[0]
    assert torch.max(torch.abs(ours - reference)) > 1e-3 * torch.max(torch.abs(reference))


def test_grid_deflection_gradients_equal_the_closed_forms():
    params, mask = _population(1, 12, seed=7)
    x, y = _grid(1, npix=24)
    gradients = []
    for plane in ("grid", "closed"):
        tensors = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        if plane == "grid":
            ax, ay = nfw_grid.grid_deflection(x, y, SPACING, tensors, torch.tensor(mask))
        else:
            ax, ay = profiles.subhalo_plane_deflection(x, y, "nfw", tensors, torch.tensor(mask))
        (ax.square().sum() + ay.sum()).backward()
        gradients.append({k: v.grad for k, v in tensors.items()})
    for key in params:
        np.testing.assert_allclose(gradients[0][key].numpy(), gradients[1][key].numpy(), rtol=1e-9, atol=1e-15)
