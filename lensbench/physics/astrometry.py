"""Astrometric lensing by moving lenses: deflection, induced velocity and acceleration.

Equations are those of Vattis, Toomey & Koushiappas 2021 ("Vattis+21"), whose
physics follows Van Tilburg+18 and Mishra-Sharma+20. Every function is batched: arrays broadcast
against each other, and a vector is a tuple of component tensors (structure of arrays: 2
components on a flat sky patch, 3 for tangent vectors on the celestial sphere; the formulas use
dot products only, so both work, and every operation stays elementwise and contiguous).

Units: impact parameters b in kpc, masses in Msun, densities in Msun/kpc^3, velocities in km/s.
Raw results are in radians (deflection), (km/s)/kpc (velocity) and ((km/s)/kpc)^2
(acceleration); :mod:`lensbench.physics.units` converts them to muas, muas/yr and muas/yr^2.

Erratum: eq 6 of Vattis+21 prints ``+ 3 |b'|^2 b_hat`` in the bracket multiplying
``-2 M / b^3``; the time derivative of eq 3 gives ``- 3 |b'|^2 b_hat`` (as in the authors' code,
Mishra-Sharma+20 ``astrometry_sim.py``). :func:`induced_acceleration` uses the derivative; the
test suite checks it against a finite-difference derivative of :func:`induced_velocity`.

Why one module of ~450 lines: deflection, velocity and acceleration (eqs 3-8) are three
derivatives of one NFW cylinder mass, whose closed forms, far-field form and series live together
so that each kernel of the map engine is checked against the same definitions.
"""

from __future__ import annotations

from fractions import Fraction
from typing import NamedTuple, Sequence

import math

import torch

from lensbench.physics.units import FOUR_G_OVER_C2_KPC_PER_MSUN

# Taylor coefficients around x = 1 (in powers of x - 1) of the two NFW helper functions whose
# closed forms cancel catastrophically there; used for |x - 1| < _SERIES_HALF_WIDTH (sympy).
_SLOPE_SERIES = (1 / 3, -2 / 5, 13 / 35, -20 / 63, 61 / 231, -94 / 429, 1181 / 6435, -1896 / 12155)
_CURVATURE_SERIES = (
    -1 / 15, -2 / 35, 17 / 105, -148 / 693, 225 / 1001, -458 / 2145, 21091 / 109395, -39272 / 230945
)
_SERIES_HALF_WIDTH = 1e-2

#: A vector as its component tensors, e.g. (x, y, z).
Vector = Sequence[torch.Tensor]


class ProjectedMass(NamedTuple):
    """Projected (cylinder) mass of a lens and its first two derivatives in b.

    Attributes
    ----------
    mass : torch.Tensor
        M(b) [Msun] (Vattis+21 eq 2).
    slope : torch.Tensor
        dM/db [Msun/kpc].
    curvature : torch.Tensor
        d^2M/db^2 [Msun/kpc^2].
    """

    mass: torch.Tensor
    slope: torch.Tensor
    curvature: torch.Tensor


def nfw_shape_function(c200: torch.Tensor) -> torch.Tensor:
    """f(c) = ln(1 + c) - c / (1 + c), the NFW mass within c scale radii over 4 pi rho_s r_s^3 (eq 13).

    Parameters
    ----------
    c200 : torch.Tensor
        Concentration c200 = R200 / r_s (dimensionless).
    """
    return torch.log1p(c200) - c200 / (1 + c200)


def nfw_scale_parameters(
    m200: torch.Tensor, c200: torch.Tensor, critical_density: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Characteristic density and scale radius of an NFW halo from (M200, c200) (Vattis+21 eq 13).

    R200 encloses a mean density of 200 rho_c: M200 = (4 pi / 3) 200 rho_c R200^3, r_s = R200 / c200
    and M200 = 4 pi rho_s r_s^3 f(c200).

    Parameters
    ----------
    m200 : torch.Tensor
        Halo mass M200 [Msun].
    c200 : torch.Tensor
        Concentration (dimensionless).
    critical_density : float
        rho_c [Msun/kpc^3], e.g. :func:`lensbench.physics.units.critical_density`.

    Returns
    -------
    rho_s, r_s : torch.Tensor
        rho_s [Msun/kpc^3] and r_s [kpc].
    """
    r200 = (3 * m200 / (4 * math.pi * 200 * critical_density)) ** (1 / 3)
    r_s = r200 / c200
    rho_s = m200 / (4 * math.pi * r_s**3 * nfw_shape_function(c200))
    return rho_s, r_s


def _horner(coefficients: tuple[float, ...], delta: torch.Tensor) -> torch.Tensor:
    """Polynomial sum_k coefficients[k] delta^k."""
    total = torch.full_like(delta, coefficients[-1])
    for coefficient in reversed(coefficients[:-1]):
        total = total * delta + coefficient
    return total


def _nfw_projection_terms(x: torch.Tensor, x_squared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """C(x) and 1/(x^2 - 1) for the NFW cylinder mass, with two divisions per element.

    C(x) = arccosh(1/x)/sqrt(1-x^2) for x < 1 and arccos(1/x)/sqrt(x^2-1) for x > 1, written
    with s = sqrt(|x^2 - 1|) as ln((1 + s)/x)/s (= atanh(s)/s, free of the cancellation of 1 - s
    at small x) and atan(s)/s.
    """
    s = torch.sqrt(torch.abs(x_squared - 1)).clamp_min(1e-300)
    inverse_s = 1 / s
    inside = x_squared < 1
    c_of_x = torch.where(inside, torch.log((1 + s) / x), torch.atan(s)) * inverse_s
    inverse_denominator = torch.where(inside, -inverse_s, inverse_s) * inverse_s
    return c_of_x, inverse_denominator


def nfw_projected_mass(b: torch.Tensor, rho_s: torch.Tensor, r_s: torch.Tensor) -> ProjectedMass:
    """Mass of an NFW halo (eq 8) inside a cylinder of radius b, and its b-derivatives, in closed form.

    With x = b / r_s and M0 = 4 pi rho_s r_s^3 (Vattis+21 eq 2 integrated):
    M = M0 [ln(x/2) + C(x)], dM/db = (M0/r_s) x (1 - C)/(x^2 - 1),
    d^2M/db^2 = (M0/r_s^2) [C (1 + 2x^2) - (2 + x^2)] / (x^2 - 1)^2,
    with C(x) from :func:`_nfw_projection_terms`; a Taylor series replaces the last two within
    1e-2 of x = 1, where the closed forms cancel (both are then good to ~3e-10). M itself loses
    about 1e-16 / x^2 relative accuracy for x << 1 (b far inside r_s).

    Parameters
    ----------
    b : torch.Tensor
        Impact parameter [kpc], > 0.
    rho_s : torch.Tensor
        Characteristic density [Msun/kpc^3].
    r_s : torch.Tensor
        Scale radius [kpc].

    Returns
    -------
    ProjectedMass
        M [Msun], dM/db [Msun/kpc], d^2M/db^2 [Msun/kpc^2].
    """
    inverse_r_s = 1 / r_s
    x = b * inverse_r_s
    x_squared = x * x
    c_of_x, inverse_denominator = _nfw_projection_terms(x, x_squared)
    m0 = 4 * math.pi * rho_s * r_s**3
    delta = x - 1
    near_one = torch.abs(delta) < _SERIES_HALF_WIDTH
    slope_factor = torch.where(
        near_one, _horner(_SLOPE_SERIES, delta), (1 - c_of_x) * inverse_denominator
    )
    curvature_factor = torch.where(
        near_one,
        _horner(_CURVATURE_SERIES, delta),
        (c_of_x * (1 + 2 * x_squared) - (2 + x_squared)) * inverse_denominator**2,
    )
    mass = m0 * (torch.log(0.5 * x) + c_of_x)
    slope_scale = m0 * inverse_r_s
    return ProjectedMass(mass, slope_scale * x * slope_factor, slope_scale * inverse_r_s * curvature_factor)


def nfw_projected_mass_far(b: torch.Tensor, rho_s: torch.Tensor, r_s: torch.Tensor) -> ProjectedMass:
    """NFW cylinder mass and its b-derivatives for x = b / r_s > 1 only (Vattis+21 eq 2 integrated).

    The x > 1 branch of :func:`nfw_projected_mass`, without the
    x < 1 logarithm and the Taylor series at x = 1 (both evaluated there for every element):
    with s = sqrt(x^2 - 1) and C = atan(s)/s,
    M = M0 [ln(x/2) + C], dM/db = (M0/r_s) x (1 - C)/s^2, d^2M/db^2 = (M0/r_s^2) [C (1 + 2x^2) - (2 + x^2)]/s^4,
    M0 = 4 pi rho_s r_s^3. Callers keep x >= :data:`lensbench.simulate.astrometric.FAR_MIN_X`, where the cancellations in (1 - C) and in the
    curvature bracket cost at most ~2 digits (agreement with the full form: 1e-12).

    Parameters
    ----------
    b : torch.Tensor
        Impact parameter [kpc].
    rho_s, r_s : torch.Tensor
        NFW parameters [Msun/kpc^3], [kpc].

    Returns
    -------
    ProjectedMass
        M [Msun], dM/db [Msun/kpc], d^2M/db^2 [Msun/kpc^2].
    """
    inverse_r_s = 1 / r_s
    x = b * inverse_r_s
    x_squared = x * x
    inverse_s = torch.rsqrt(x_squared - 1)
    inverse_s_squared = inverse_s * inverse_s
    c_of_x = torch.atan((x_squared - 1) * inverse_s) * inverse_s
    m0 = 4 * math.pi * rho_s * r_s**3
    slope_scale = m0 * inverse_r_s
    curvature_factor = (c_of_x * (1 + 2 * x_squared) - (2 + x_squared)) * inverse_s_squared**2
    return ProjectedMass(
        m0 * (torch.log(0.5 * x) + c_of_x),
        slope_scale * x * (1 - c_of_x) * inverse_s_squared,
        slope_scale * inverse_r_s * curvature_factor,
    )


#: Smallest x = b / r_s at which :func:`nfw_cylinder_series` is exact to double precision.
SERIES_MIN_X = 5.0


def _arcsin_ratio_coefficients(n_terms: int) -> tuple[float, ...]:
    """a_k = 4^k (k!)^2 / (2k + 1)! of arcsin(w) / sqrt(1 - w^2) = sum_k a_k w^(2k+1), |w| < 1.

    (The series follows from the differential equation (1 - w^2) f' = 1 + w f; a_0 = 1 and the
    a_k decrease.) Computed as exact fractions, rounded once.
    """
    return tuple(
        float(Fraction(4**k * math.factorial(k) ** 2, math.factorial(2 * k + 1))) for k in range(n_terms)
    )


#: Twelve terms: at x >= SERIES_MIN_X (w^2 <= 0.04) the remainder is below w^26 / (1 - w^2) < 1e-18.
_ARCSIN_RATIO = _arcsin_ratio_coefficients(12)


class CylinderTerms(NamedTuple):
    """Dimensionless NFW cylinder mass terms at x = b / r_s, in units of M0 = 4 pi rho_s r_s^3.

    Attributes
    ----------
    mass : torch.Tensor
        M(b) / M0 = ln(x/2) + C(x) (Vattis+21 eq 2 integrated).
    slope : torch.Tensor
        b M'(b) / M0 = x^2 (1 - C) / (x^2 - 1).
    inverse_x_squared : torch.Tensor
        1 / x^2 = r_s^2 / b^2.
    """

    mass: torch.Tensor
    slope: torch.Tensor
    inverse_x_squared: torch.Tensor


def nfw_cylinder_series(x_squared: torch.Tensor) -> CylinderTerms:
    """NFW cylinder mass and slope for x = b / r_s >= :data:`SERIES_MIN_X`, without an arctangent.

    The x > 1 closed form of :func:`nfw_projected_mass` has C(x) = atan(s)/s, s = sqrt(x^2 - 1).
    With w = 1/x, atan(s) = pi/2 - arcsin(w) and 1/s = w / sqrt(1 - w^2), so
    C = (pi/2)/s - w^2 sum_k a_k w^(2k) (:func:`_arcsin_ratio_coefficients`): one reciprocal
    square root, one reciprocal and a 12-term polynomial in w^2 replace the arctangent (about 1.4x
    faster in the map engine). Agrees with the closed form to ~1e-15 for x >= 5 (tested); closer
    to x = 1 the series converges too slowly.

    Parameters
    ----------
    x_squared : torch.Tensor
        (b / r_s)^2, >= SERIES_MIN_X^2.

    Returns
    -------
    CylinderTerms
        M/M0, b M'/M0 and 1/x^2 (dimensionless).
    """
    inverse_x_squared = 1 / x_squared
    inverse_s = torch.rsqrt(x_squared - 1)
    c_of_x = (0.5 * math.pi) * inverse_s - inverse_x_squared * _horner(_ARCSIN_RATIO, inverse_x_squared)
    mass = 0.5 * torch.log(0.25 * x_squared) + c_of_x
    slope = (1 - c_of_x) * x_squared * inverse_s * inverse_s
    return CylinderTerms(mass, slope, inverse_x_squared)


def point_projected_mass(b: torch.Tensor, mass: torch.Tensor) -> ProjectedMass:
    """A point mass: M(b) = M for every b > 0, both derivatives zero.

    Parameters
    ----------
    b : torch.Tensor
        Impact parameter [kpc] (sets the output shape).
    mass : torch.Tensor
        Lens mass [Msun].
    """
    zeros = torch.zeros_like(b)
    return ProjectedMass(torch.as_tensor(mass, dtype=b.dtype) + zeros, zeros, zeros)


def _dot(a: Vector, b: Vector) -> torch.Tensor:
    """Dot product of two vectors given as component tuples."""
    return sum(ai * bi for ai, bi in zip(a, b))


def _combine(*terms: tuple[torch.Tensor, Vector]) -> tuple[torch.Tensor, ...]:
    """Sum of scalar-times-vector terms, componentwise: sum_k s_k v_k."""
    return tuple(sum(scale * vector[axis] for scale, vector in terms) for axis in range(len(terms[0][1])))


def effective_velocity(
    v_lens: Vector,
    v_observer: Vector,
    v_source: Vector | None = None,
    distance_ratio: torch.Tensor | float = 0.0,
) -> tuple[torch.Tensor, ...]:
    """Effective lens velocity v_il = v_l - (1 - D_l/D_i) v_obs - (D_l/D_i) v_i (Vattis+21 eq 4).

    Parameters
    ----------
    v_lens, v_observer : Vector
        Velocities of lens and observer [km/s].
    v_source : Vector or None
        Source velocity [km/s]; None for v_i = 0 (quasars).
    distance_ratio : torch.Tensor or float
        D_l / D_i (dimensionless); 0 for sources at infinity.

    Returns
    -------
    tuple of torch.Tensor
        v_il [km/s].
    """
    source = v_source if v_source is not None else tuple(torch.zeros_like(c) for c in v_lens)
    return tuple(
        lens - (1 - distance_ratio) * observer - distance_ratio * src
        for lens, observer, src in zip(v_lens, v_observer, source)
    )


def _lensing_strength(distance_ratio: torch.Tensor | float) -> torch.Tensor | float:
    """(1 - D_l/D_i) 4G/c^2 [kpc/Msun], the prefactor shared by eqs 1, 3 and 6."""
    return (1 - distance_ratio) * FOUR_G_OVER_C2_KPC_PER_MSUN


def deflection(
    b_vec: Vector, projected: ProjectedMass, distance_ratio: torch.Tensor | float = 0.0
) -> tuple[torch.Tensor, ...]:
    """Deflection Delta theta = -(1 - D_l/D_i) 4 G M(b) / (c^2 b) b_hat (Vattis+21 eq 1).

    Parameters
    ----------
    b_vec : Vector
        Impact-parameter vector from the source's line of sight towards the lens [kpc].
    projected : ProjectedMass
        M(b) of the lens at |b_vec| (only ``mass`` is used) [Msun].
    distance_ratio : torch.Tensor or float
        D_l / D_i; 0 for sources at infinity.

    Returns
    -------
    tuple of torch.Tensor
        Deflection [rad]; it points away from the lens.
    """
    scale = -_lensing_strength(distance_ratio) * projected.mass / _dot(b_vec, b_vec)
    return tuple(scale * component for component in b_vec)


def induced_velocity(
    b_vec: Vector,
    v_eff: Vector,
    projected: ProjectedMass,
    distance_ratio: torch.Tensor | float = 0.0,
) -> tuple[torch.Tensor, ...]:
    """Lens-induced angular velocity of a source (Vattis+21 eq 3 with eq 5).

    u = -(1 - D_l/D_i) (4G/c^2) { M'(b) |b'| / b  b_hat + M(b) / b^2 [v_il - 2 |b'| b_hat] },
    |b'| = b_hat . v_il (eq 5); b_vec changes as d b_vec/dt = v_il.

    Parameters
    ----------
    b_vec : Vector
        Impact-parameter vector towards the lens [kpc].
    v_eff : Vector
        Effective lens velocity v_il (eq 4) in the same plane [km/s].
    projected : ProjectedMass
        M and dM/db at |b_vec| [Msun, Msun/kpc].
    distance_ratio : torch.Tensor or float
        D_l / D_i; 0 for sources at infinity.

    Returns
    -------
    tuple of torch.Tensor
        u [(km/s)/kpc]; multiply by
        :data:`~lensbench.physics.units.MUAS_PER_YR_PER_KMS_PER_KPC` for muas/yr.
    """
    inverse_b = torch.rsqrt(_dot(b_vec, b_vec))
    inverse_b_squared = inverse_b * inverse_b
    b_rate = _dot(b_vec, v_eff) * inverse_b
    strength = -_lensing_strength(distance_ratio)
    along_v = strength * projected.mass * inverse_b_squared
    along_b = (strength * projected.slope * inverse_b - 2 * along_v) * b_rate * inverse_b
    return _combine((along_b, b_vec), (along_v, v_eff))


def induced_acceleration(
    b_vec: Vector,
    v_eff: Vector,
    projected: ProjectedMass,
    distance_ratio: torch.Tensor | float = 0.0,
) -> tuple[torch.Tensor, ...]:
    """Lens-induced angular acceleration of a source (Vattis+21 eq 6 with eq 7, sign corrected).

    a = -(1 - D_l/D_i)(4G/c^2) { M'' |b'|^2 / b  b_hat
        + M' / b^2 [2 |b'| v_il + |b''| b_vec - 4 |b'|^2 b_hat]
        - 2 M / b^3 [2 |b'| v_il + |b''| b_vec - 3 |b'|^2 b_hat] },
    |b''| = v_il . (b v_il - |b'| b_vec) / b^2 (eq 7), for a constant v_il. The paper prints
    "+ 3 |b'|^2 b_hat" in the last bracket; the time derivative of eq 3 has "- 3" (module note).

    Parameters
    ----------
    b_vec, v_eff, projected, distance_ratio
        As in :func:`induced_velocity`; ``projected.curvature`` is used too [Msun/kpc^2].

    Returns
    -------
    tuple of torch.Tensor
        a [((km/s)/kpc)^2]; multiply by
        :data:`~lensbench.physics.units.MUAS_PER_YR2_PER_KMS_PER_KPC_SQUARED` for muas/yr^2.
    """
    inverse_b = torch.rsqrt(_dot(b_vec, b_vec))
    b_rate = _dot(b_vec, v_eff) * inverse_b
    b_accel = (_dot(v_eff, v_eff) - b_rate * b_rate) * inverse_b  # eq 7: v.(b v - |b'| b_vec) / b^2
    strength = -_lensing_strength(distance_ratio)
    mass_term = projected.mass * inverse_b  # M / b
    shared = strength * (projected.slope - 2 * mass_term) * inverse_b**2
    radial = strength * b_rate**2 * inverse_b * (projected.curvature - (4 * projected.slope - 6 * mass_term) * inverse_b)
    return _combine((radial * inverse_b + shared * b_accel, b_vec), (2 * shared * b_rate, v_eff))


def tangent_geometry(
    lens_position: Vector, lens_velocity: Vector, source_direction: Vector
) -> tuple[tuple[torch.Tensor, ...], tuple[torch.Tensor, ...]]:
    """Impact parameter and effective velocity of a lens in the plane of the sky at a source.

    For a source at infinity in the unit direction n, the light ray passes the lens at the
    perpendicular offset b_vec = r_l - (r_l . n) n, exact at any angular separation, and b_vec
    changes at the rate v_perp = v - (v . n) n. Both lie in the tangent plane at the source.

    Parameters
    ----------
    lens_position : Vector
        Lens position relative to the observer [kpc], 3 components.
    lens_velocity : Vector
        Effective lens velocity v_il relative to the observer (eq 4) [km/s], 3 components.
    source_direction : Vector
        Unit vector towards the source, 3 components.

    Returns
    -------
    b_vec, v_perp : tuple of torch.Tensor
        [kpc] and [km/s].
    """
    along = _dot(lens_position, source_direction)
    v_along = _dot(lens_velocity, source_direction)
    b_vec = tuple(r - along * n for r, n in zip(lens_position, source_direction))
    v_perp = tuple(v - v_along * n for v, n in zip(lens_velocity, source_direction))
    return b_vec, v_perp
