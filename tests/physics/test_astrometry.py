"""Astrometric lensing physics checked against independent references.

References: numerical quadrature of Vattis+21 eq 2, the closed-form point lens, finite-difference
time derivatives of a moving lens, far-field power laws and astropy unit arithmetic.
"""

import math

import numpy as np
import pytest
import torch
from astropy import constants as const
from astropy import units as u
from scipy import integrate

from lensbench.physics import units
from lensbench.physics.astrometry import (
    deflection,
    effective_velocity,
    induced_acceleration,
    induced_velocity,
    nfw_projected_mass,
    nfw_scale_parameters,
    nfw_shape_function,
    point_projected_mass,
    tangent_geometry,
)

RHO_S, R_S = 2.0e7, 0.4  # Msun/kpc^3, kpc


def t64(values):
    return torch.tensor(np.array(values, dtype=np.float64))


def nfw_density(r):
    return RHO_S / ((r / R_S) * (1 + r / R_S) ** 2)


def surface_density(radius):
    return 2 * integrate.quad(lambda z: nfw_density(math.hypot(z, radius)), 0, np.inf, limit=400)[0]


def test_constants_match_astropy_and_notes():
    assert units.FOUR_G_OVER_C2_KPC_PER_MSUN == pytest.approx(1.914e-16, rel=1e-3)
    # 1 mas/yr at 1 kpc is 4.74047 km/s, so 1 (km/s)/kpc = 1000 / 4.74047 muas/yr.
    assert units.MUAS_PER_YR_PER_KMS_PER_KPC == pytest.approx(1000 / 4.740470463, rel=1e-8)
    assert units.MUAS_PER_YR2_PER_KMS_PER_KPC_SQUARED == pytest.approx(
        units.MUAS_PER_YR_PER_KMS_PER_KPC**2 / units.MUAS_PER_RAD, rel=1e-12
    )
    rho_c = (3 * (70 * u.km / u.s / u.Mpc) ** 2 / (8 * np.pi * const.G)).to(u.Msun / u.kpc**3).value
    assert units.critical_density(0.7) == pytest.approx(rho_c, rel=1e-12)


@pytest.mark.parametrize("b", [0.004, 0.1, 0.3996, 0.4, 0.4003, 0.9, 7.0, 60.0])
def test_projected_mass_and_slope_match_quadrature_of_eq2(b):
    projected = nfw_projected_mass(t64(b), t64(RHO_S), t64(R_S))
    mass = integrate.quad(lambda radius: 2 * np.pi * radius * surface_density(radius), 0, b, limit=400)[0]
    assert float(projected.mass) == pytest.approx(mass, rel=1e-7)
    assert float(projected.slope) == pytest.approx(2 * np.pi * b * surface_density(b), rel=1e-7)


def test_curvature_is_derivative_of_slope_including_series_region():
    b = t64(R_S * np.array([0.05, 0.5, 0.985, 0.995, 1.0, 1.005, 1.015, 3.0, 200.0]))
    step = 1e-6 * b
    slope_up = nfw_projected_mass(b + step, t64(RHO_S), t64(R_S)).slope
    slope_down = nfw_projected_mass(b - step, t64(RHO_S), t64(R_S)).slope
    numeric = (slope_up - slope_down) / (2 * step)
    curvature = nfw_projected_mass(b, t64(RHO_S), t64(R_S)).curvature
    assert torch.allclose(curvature, numeric, rtol=1e-5, atol=0)


def test_series_and_closed_form_agree_at_the_switch():
    edges = t64(R_S * (1 + np.array([-1e-2 - 1e-12, -1e-2 + 1e-12, 1e-2 - 1e-12, 1e-2 + 1e-12])))
    projected = nfw_projected_mass(edges, t64(RHO_S), t64(R_S))
    for values in (projected.slope, projected.curvature):
        assert torch.allclose(values[0], values[1], rtol=1e-8)
        assert torch.allclose(values[2], values[3], rtol=1e-8)


def test_scale_parameters_recover_m200_and_200_rho_c():
    m200, c200, rho_c = t64([1e7, 1e9, 1e10]), t64([20.0, 15.0, 12.0]), units.critical_density(0.7)
    rho_s, r_s = nfw_scale_parameters(m200, c200, rho_c)
    assert torch.allclose(4 * math.pi * rho_s * r_s**3 * nfw_shape_function(c200), m200, rtol=1e-12)
    r200 = c200 * r_s
    assert torch.allclose(m200 / (4 / 3 * math.pi * r200**3), t64(200 * rho_c).expand(3), rtol=1e-12)


def test_point_mass_limit_of_nfw_mass():
    """r_s -> 0 at fixed M200: M(b)/M200 = 1 - (ln(2 R200/b) - 1)/(ln c - 1) + O(r_s/b), slowly -> 1."""
    m200, b, rho_c = 1e8, 0.5, units.critical_density(0.7)
    previous = 1.0
    for c200 in (1e6, 1e12, 1e24, 1e48):
        rho_s, r_s = nfw_scale_parameters(t64(m200), t64(c200), rho_c)
        ratio = float(nfw_projected_mass(t64(b), rho_s, r_s).mass) / m200
        r200 = float(c200 * r_s)
        expected_gap = (math.log(2 * r200 / b) - 1) / (math.log(c200) - 1)
        assert 1 - ratio == pytest.approx(expected_gap, rel=1e-2)
        assert abs(1 - ratio) < previous
        previous = abs(1 - ratio)


def point_lens_closed_form(b_vec, v, mass):
    """Deflection, velocity and acceleration of a point lens: d/dt of -K M b/|b|^2 by hand."""
    k = units.FOUR_G_OVER_C2_KPC_PER_MSUN * mass
    b2 = np.sum(b_vec**2, axis=-1, keepdims=True)
    bv = np.sum(b_vec * v, axis=-1, keepdims=True)
    v2 = np.sum(v * v, axis=-1, keepdims=True)
    theta = -k * b_vec / b2
    velocity = -k * (v / b2 - 2 * bv * b_vec / b2**2)
    acceleration = -k * (-4 * bv * v / b2**2 - 2 * v2 * b_vec / b2**2 + 8 * bv**2 * b_vec / b2**3)
    return theta, velocity, acceleration


def components(array):
    return tuple(t64(array[..., axis]) for axis in range(array.shape[-1]))


def stack(vector):
    return torch.stack(list(vector), dim=-1).numpy()


def test_point_lens_formulas_match_closed_form():
    rng = np.random.default_rng(1)
    b_vec, v = rng.normal(size=(50, 2)) * 3, rng.normal(size=(50, 2)) * 200
    mass = 1e9
    b = t64(np.linalg.norm(b_vec, axis=1))
    projected = point_projected_mass(b, t64(mass))
    theta, velocity, acceleration = point_lens_closed_form(b_vec, v, mass)
    np.testing.assert_allclose(stack(deflection(components(b_vec), projected)), theta, rtol=1e-12)
    np.testing.assert_allclose(stack(induced_velocity(components(b_vec), components(v), projected)), velocity, rtol=1e-10)
    np.testing.assert_allclose(
        stack(induced_acceleration(components(b_vec), components(v), projected)), acceleration, rtol=1e-10
    )


def nfw_fields(lens_position, lens_velocity, source_direction):
    """Deflection, velocity and acceleration of the test NFW lens through the 3-D sky geometry."""
    b_vec, v_perp = tangent_geometry(components(lens_position), components(lens_velocity), components(source_direction))
    projected = nfw_projected_mass(torch.sqrt(sum(c * c for c in b_vec)), t64(RHO_S), t64(R_S))
    return (
        stack(deflection(b_vec, projected)),
        stack(induced_velocity(b_vec, v_perp, projected)),
        stack(induced_acceleration(b_vec, v_perp, projected)),
    )


@pytest.mark.parametrize("offset", [0.05, 0.3, 0.4, 0.41, 2.0, 25.0])
def test_velocity_and_acceleration_are_time_derivatives_of_a_moving_lens(offset):
    """Central differences over dt of the deflection (and velocity) of a lens moving at v."""
    rng = np.random.default_rng(int(offset * 1000))
    source = np.array([0.0, 0.0, 1.0])
    distance = 80.0
    directions = rng.normal(size=(8, 2))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    position = np.column_stack([offset * directions, np.full(8, distance)])
    velocity = rng.normal(size=(8, 3)) * 200.0
    dt = 1e-4 * offset / 300.0  # kpc / (km/s): the lens moves ~1e-4 of its offset
    _, u0, a0 = nfw_fields(position, velocity, np.broadcast_to(source, (8, 3)))
    theta_up, u_up, _ = nfw_fields(position + velocity * dt, velocity, np.broadcast_to(source, (8, 3)))
    theta_down, u_down, _ = nfw_fields(position - velocity * dt, velocity, np.broadcast_to(source, (8, 3)))
    velocity_numeric = (theta_up - theta_down) / (2 * dt)
    acceleration_numeric = (u_up - u_down) / (2 * dt)
    assert np.max(np.linalg.norm(u0 - velocity_numeric, axis=1) / np.linalg.norm(u0, axis=1)) < 1e-4
    assert np.max(np.linalg.norm(a0 - acceleration_numeric, axis=1) / np.linalg.norm(a0, axis=1)) < 1e-4


def test_paper_sign_of_eq6_fails_the_derivative_check():
    """The printed '+3|b'|^2 b_hat' differs from d/dt of eq 3 by 12 M |b'|^2 b_hat / b^3 (module note)."""
    b_vec, v = np.array([[1.0, 0.0]]), np.array([[100.0, 0.0]])
    projected = point_projected_mass(t64([1.0]), t64(1e9))
    ours = stack(induced_acceleration(components(b_vec), components(v), projected))
    printed_minus_ours = -units.FOUR_G_OVER_C2_KPC_PER_MSUN * (-2 * 1e9) * 6 * 100.0**2 * np.array([[1.0, 0.0]])
    closed = point_lens_closed_form(b_vec, v, 1e9)[2]
    np.testing.assert_allclose(ours, closed, rtol=1e-12)
    assert np.linalg.norm(printed_minus_ours) > 0.5 * np.linalg.norm(closed)


def test_far_field_dipole_and_quadrupole_falloff():
    """|u| ~ 1/b^2 and |a| ~ 1/b^3 far from the lens, up to the slow log growth of NFW M(b)."""
    b = np.geomspace(1e3, 1e5, 5) * R_S
    b_vec, v = np.column_stack([b, np.zeros_like(b)]), np.tile([[60.0, 170.0]], (len(b), 1))
    projected = nfw_projected_mass(t64(b), t64(RHO_S), t64(R_S))
    speed = np.linalg.norm(stack(induced_velocity(components(b_vec), components(v), projected)), axis=1)
    accel = np.linalg.norm(stack(induced_acceleration(components(b_vec), components(v), projected)), axis=1)
    slope_u, slope_a = np.diff(np.log(speed)) / np.diff(np.log(b)), np.diff(np.log(accel)) / np.diff(np.log(b))
    log_x = np.log(b[1:] / (2 * R_S))
    assert np.all(slope_u > -2) and np.all(slope_u < -2 + 2 / log_x)
    assert np.all(slope_a > -3) and np.all(slope_a < -3 + 3 / log_x)
    point = point_projected_mass(t64(b), t64(1e9))
    point_speed = np.linalg.norm(stack(induced_velocity(components(b_vec), components(v), point)), axis=1)
    np.testing.assert_allclose(np.diff(np.log(point_speed)) / np.diff(np.log(b)), -2.0, rtol=1e-9)


def test_velocity_field_is_even_and_opposes_motion_at_the_centre_line():
    """Dipole symmetry: u(-b) = u(b); at b perpendicular to v the source moves against the lens."""
    v = np.array([[0.0, 200.0], [0.0, 200.0]])
    b_vec = np.array([[5.0, 0.0], [-5.0, 0.0]])
    projected = nfw_projected_mass(t64([5.0, 5.0]), t64(RHO_S), t64(R_S))
    u_field = stack(induced_velocity(components(b_vec), components(v), projected))
    np.testing.assert_allclose(u_field[0], u_field[1], rtol=1e-14)
    assert u_field[0, 1] < 0 and abs(u_field[0, 0]) < 1e-12 * abs(u_field[0, 1])


def test_effective_velocity_eq4():
    v_lens, v_obs, v_src = components(np.array([[100.0, 0, 0]])), components(np.array([[0, 232.0, 0]])), components(np.array([[0, 0, 50.0]]))
    at_infinity = stack(effective_velocity(v_lens, v_obs))
    np.testing.assert_allclose(at_infinity, [[100.0, -232.0, 0.0]])
    halfway = stack(effective_velocity(v_lens, v_obs, v_src, 0.5))
    np.testing.assert_allclose(halfway, [[100.0, -116.0, -25.0]])
