"""Mass profiles against independent references: lenstronomy and analytic limits.

Agreement is the maximum over points of |torch - reference| / |reference| (pointwise, not
relative to the peak). Tolerances: 1e-4 in float64 (the brief), observed <= 1e-12; float32
is documented by ``test_float32_deflection_precision`` (<= 1e-5; 1e-4 for TNFW near its centre).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lenstronomy.LensModel.lens_model import LensModel

from lensbench.physics import profiles

F64_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def points():
    """2000 random positions in a 6" box plus the 1/r-sensitive region close to the origin."""
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.uniform(-3, 3, 1800), rng.uniform(-0.05, 0.05, 200)])
    y = np.concatenate([rng.uniform(-3, 3, 1800), rng.uniform(-0.05, 0.05, 200)])
    return x, y


def torch_args(kwargs, dtype=torch.float64):
    return {key: torch.tensor([value], dtype=dtype) for key, value in kwargs.items()}


def pointwise_relative(ours, reference):
    ours, reference = np.asarray(ours), np.asarray(reference)
    return np.max(np.abs(ours - reference) / np.abs(reference))


def deflection_relative(points, lenstronomy_name, function, kwargs, dtype=torch.float64):
    x, y = points
    ref_x, ref_y = LensModel([lenstronomy_name]).alpha(x, y, [kwargs])
    ax, ay = function(torch.tensor(x, dtype=dtype)[None], torch.tensor(y, dtype=dtype)[None], **torch_args(kwargs, dtype))
    diff = np.hypot(ax[0].double().numpy() - ref_x, ay[0].double().numpy() - ref_y)
    return np.max(diff / np.hypot(ref_x, ref_y))


def convergence_relative(points, lenstronomy_name, function, kwargs, reference_kwargs=None):
    x, y = points
    reference = LensModel([lenstronomy_name]).kappa(x, y, [reference_kwargs or kwargs])
    ours = function(torch.tensor(x)[None], torch.tensor(y)[None], **torch_args(kwargs))[0].numpy()
    return pointwise_relative(ours, reference)


ELLIPTICITIES = [(0.0, 0.0), (0.2, -0.1), (-0.3, 0.25), (0.05, 0.45)]
CENTRES = [(0.0, 0.0), (0.13, -0.21)]


@pytest.mark.parametrize("e1e2", ELLIPTICITIES)
@pytest.mark.parametrize("center", CENTRES)
def test_sie_matches_lenstronomy(points, e1e2, center):
    kwargs = dict(theta_E=1.3, e1=e1e2[0], e2=e1e2[1], center_x=center[0], center_y=center[1])
    assert deflection_relative(points, "SIE", profiles.sie_deflection, kwargs) < F64_TOLERANCE
    # lenstronomy's SIE convergence is a finite difference (~2e-5 off); its EPL at gamma = 2 is analytic
    epl_kwargs = dict(kwargs, gamma=2.0)
    assert convergence_relative(points, "EPL", profiles.sie_convergence, kwargs, epl_kwargs) < 1e-6


@pytest.mark.parametrize("gamma", [1.6, 2.0, 2.4])
@pytest.mark.parametrize("e1e2", ELLIPTICITIES)
def test_epl_matches_lenstronomy(points, gamma, e1e2):
    kwargs = dict(theta_E=0.9, gamma=gamma, e1=e1e2[0], e2=e1e2[1], center_x=0.1, center_y=-0.05)
    assert deflection_relative(points, "EPL", profiles.epl_deflection, kwargs) < F64_TOLERANCE
    assert convergence_relative(points, "EPL", profiles.epl_convergence, kwargs) < F64_TOLERANCE


def test_sis_matches_lenstronomy_and_sie_limit(points):
    kwargs = dict(theta_E=1.1, center_x=-0.2, center_y=0.3)
    assert deflection_relative(points, "SIS", profiles.sis_deflection, kwargs) < F64_TOLERANCE
    assert convergence_relative(points, "SIS", profiles.sis_convergence, kwargs) < F64_TOLERANCE
    x, y = (torch.tensor(v)[None] for v in points)
    sis = profiles.sis_deflection(x, y, **torch_args(kwargs))
    sie = profiles.sie_deflection(x, y, **torch_args(dict(kwargs, e1=0.0, e2=0.0)))
    assert torch.allclose(sis[0], sie[0], rtol=1e-6) and torch.allclose(sis[1], sie[1], rtol=1e-6)


@pytest.mark.parametrize("Rs,alpha_Rs", [(0.05, 0.004), (0.4, 0.05), (2.0, 1.0)])
def test_nfw_matches_lenstronomy(points, Rs, alpha_Rs):
    kwargs = dict(Rs=Rs, alpha_Rs=alpha_Rs, center_x=0.07, center_y=-0.11)
    assert deflection_relative(points, "NFW", profiles.nfw_deflection, kwargs) < F64_TOLERANCE
    assert convergence_relative(points, "NFW", profiles.nfw_convergence, kwargs) < F64_TOLERANCE


def test_nfw_convergence_is_smooth_through_the_scale_radius():
    """The closed form cancels at r = Rs; the series must join it continuously (kappa(1) = k/3)."""
    r = torch.linspace(0.9, 1.1, 2001, dtype=torch.float64)[None]
    kappa = profiles.nfw_convergence(r, torch.zeros_like(r), 1.0, 1.0)[0]
    prefactor = 1.0 / (2 * (1 + np.log(0.5)))
    middle = kappa[1000].item()
    assert middle == pytest.approx(prefactor / 3, rel=1e-12)
    assert torch.all(torch.diff(kappa) < 0)  # monotonic: no jump where the series takes over


@pytest.mark.parametrize("Rs,r_trunc", [(0.1, 0.5), (0.4, 0.2), (0.3, 5.0)])
def test_tnfw_matches_lenstronomy(points, Rs, r_trunc):
    kwargs = dict(Rs=Rs, alpha_Rs=0.02, r_trunc=r_trunc, center_x=-0.3, center_y=0.2)
    assert deflection_relative(points, "TNFW", profiles.tnfw_deflection, kwargs) < F64_TOLERANCE
    assert convergence_relative(points, "TNFW", profiles.tnfw_convergence, kwargs) < F64_TOLERANCE


def test_tnfw_tends_to_nfw_for_large_truncation(points):
    x, y = (torch.tensor(v)[None] for v in points)
    nfw = profiles.nfw_deflection(x, y, 0.3, 0.05, 0.0, 0.0)
    tnfw = profiles.tnfw_deflection(x, y, 0.3, 0.05, 3000.0, 0.0, 0.0)
    assert torch.allclose(tnfw[0], nfw[0], rtol=1e-3, atol=1e-9)


def test_point_mass_shear_and_sheet_match_lenstronomy(points):
    assert deflection_relative(points, "POINT_MASS", profiles.point_mass_deflection, dict(theta_E=0.3, center_x=0.1, center_y=0.0)) < F64_TOLERANCE
    assert deflection_relative(points, "SHEAR", profiles.shear_deflection, dict(gamma1=0.05, gamma2=-0.03)) < F64_TOLERANCE
    assert deflection_relative(points, "CONVERGENCE", profiles.convergence_sheet_deflection, dict(kappa=0.07)) < F64_TOLERANCE


def test_point_mass_einstein_ring_is_a_fixed_point():
    """On the Einstein ring of a point mass, |alpha| = theta_E (analytic)."""
    angle = torch.linspace(0, 2 * np.pi, 50, dtype=torch.float64)
    ax, ay = profiles.point_mass_deflection(0.7 * torch.cos(angle), 0.7 * torch.sin(angle), 0.7)
    assert torch.allclose(torch.hypot(ax, ay), torch.full_like(angle, 0.7), rtol=1e-14)


def test_subhalo_plane_equals_sum_of_lenstronomy_subhalos(points):
    rng = np.random.default_rng(3)
    batch, count = 3, 6
    params = {
        "Rs": rng.uniform(0.05, 0.3, (batch, count)),
        "alpha_Rs": rng.uniform(0.001, 0.05, (batch, count)),
        "center_x": rng.uniform(-2, 2, (batch, count)),
        "center_y": rng.uniform(-2, 2, (batch, count)),
    }
    mask = rng.random((batch, count)) < 0.6
    params["Rs"][~mask] = 0.0  # garbage in the padding must not leak (Rs = 0 would divide by 0)
    x, y = points
    grid = torch.tensor(np.stack([x] * batch)), torch.tensor(np.stack([y] * batch))
    ax, ay = profiles.subhalo_plane_deflection(
        *grid, "nfw", {k: torch.tensor(v) for k, v in params.items()}, torch.tensor(mask)
    )
    for i in range(batch):
        kwargs = [{k: params[k][i, j] for k in params} for j in np.flatnonzero(mask[i])]
        ref_x, ref_y = LensModel(["NFW"] * len(kwargs)).alpha(x, y, kwargs)
        assert np.all(np.isfinite(ax[i].numpy()))
        assert np.max(np.abs(ax[i].numpy() - ref_x)) <= 1e-10 * np.max(np.abs(ref_x)) + 1e-300
        assert np.max(np.abs(ay[i].numpy() - ref_y)) <= 1e-10 * np.max(np.abs(ref_y)) + 1e-300


@pytest.mark.parametrize(
    "name,function,kwargs,tolerance",
    [
        ("SIE", profiles.sie_deflection, dict(theta_E=1.3, e1=0.2, e2=-0.1, center_x=0.1, center_y=0.0), 1e-5),
        ("EPL", profiles.epl_deflection, dict(theta_E=1.3, gamma=2.2, e1=0.2, e2=-0.1, center_x=0.1, center_y=0.0), 1e-5),
        ("NFW", profiles.nfw_deflection, dict(Rs=0.2, alpha_Rs=0.01, center_x=0.1, center_y=0.0), 1e-5),
        # the BMO09 closed form cancels for r << Rs: 2e-5 at r = 0.1 Rs in float32
        ("TNFW", profiles.tnfw_deflection, dict(Rs=0.2, alpha_Rs=0.01, r_trunc=1.0, center_x=0.1, center_y=0.0), 1e-4),
    ],
)
def test_float32_deflection_precision(points, name, function, kwargs, tolerance):
    """float32 agreement, documented: <= 1e-5 pointwise (1e-4 for TNFW) beyond 1 mas of the centre."""
    x, y = points
    keep = np.hypot(x - 0.1, y) > 1e-3
    relative = deflection_relative((x[keep], y[keep]), name, function, kwargs, dtype=torch.float32)
    assert relative < tolerance


def test_batched_parameters_broadcast_per_system():
    """(B,) parameters against a (B, H, W) grid give each system its own profile."""
    x = torch.linspace(-1, 1, 8, dtype=torch.float64).expand(3, 8, 8)
    y = x.transpose(1, 2)
    theta = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    ax, _ = profiles.sie_deflection(x, y, theta, 0.1, 0.0, 0.0, 0.0)
    for i in range(3):
        single, _ = profiles.sie_deflection(x[i : i + 1], y[i : i + 1], theta[i : i + 1], 0.1, 0.0, 0.0, 0.0)
        assert torch.allclose(ax[i], single[0], rtol=1e-14)


def test_deflection_is_differentiable():
    x = torch.tensor([[0.3, -0.8, 1.2]], dtype=torch.float64)
    y = torch.tensor([[0.5, 0.1, -0.4]], dtype=torch.float64)
    theta = torch.tensor([1.1], dtype=torch.float64, requires_grad=True)
    ax, ay = profiles.epl_deflection(x, y, theta, 2.1, 0.1, 0.05)
    (ax.sum() + ay.sum()).backward()
    eps = 1e-6
    plus = sum(t.sum() for t in profiles.epl_deflection(x, y, theta.detach() + eps, 2.1, 0.1, 0.05))
    minus = sum(t.sum() for t in profiles.epl_deflection(x, y, theta.detach() - eps, 2.1, 0.1, 0.05))
    assert theta.grad.item() == pytest.approx(((plus - minus) / (2 * eps)).item(), rel=1e-6)


def test_epl_series_terms_grow_with_ellipticity():
    terms = [profiles.epl_series_terms(q) for q in (0.9, 0.5, 0.2)]
    assert terms == sorted(terms) and terms[0] < terms[-1]
    assert profiles.epl_series_terms(1.0) == 1
    assert profiles.epl_series_terms(0.5, torch.float32) < profiles.epl_series_terms(0.5, torch.float64)

