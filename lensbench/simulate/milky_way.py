"""A population of Milky-Way dark-matter subhalos, as Vattis+21 section II.B draws it.

Masses follow dN/dM = A0 M^-1.9 (eq 9), normalised to 150 subhalos in 1e8-1e10 Msun and drawn
over 1e7-1e10 Msun (about 1200 subhalos); Galactocentric radii follow the Einasto profile of
eq 10 (r_E = 199 kpc, gamma_E = 0.678) out to 260 kpc (the authors' code), with isotropic
directions; velocities follow the truncated Standard Halo Model of eq 11 (v0 = 220 km/s,
v_esc = 550 km/s), a full 3-D Maxwellian (the published code drops its v^2 factor), and are
seen from the Sun moving at (11, 232, 7) km/s (eq 12); concentrations follow Sanchez-Conde &
Prada 2014 (eq 14) and fix rho_s, r_s through eq 13.

Frames: Galactic Cartesian axes (x towards the Galactic centre, y towards l = 90 deg, z towards
the North Galactic Pole, i.e. U, V, W); Galactocentric positions put the Sun at (-R0, 0, 0).
All randomness comes from the :class:`numpy.random.Generator` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from lensbench.physics.cosmology import SANCHEZ_CONDE_PRADA_2014, concentration_scp14
from lensbench.physics.units import critical_density
from lensbench.lazy import lazy_module

# Imported at first use: the population's options are read when a spec is validated, without torch.
torch = lazy_module("torch")
astrometry = lazy_module("lensbench.physics.astrometry")

#: Sanchez-Conde & Prada 2014 c200(M200) coefficients c_0..c_5, as printed in Vattis+21 eq 14.


@dataclass(frozen=True)
class MilkyWayPopulation:
    """Options of the subhalo population; defaults are the paper's (code values where it is silent)."""

    mass_function_slope: float = 1.9
    """Power-law index alpha of dN/dM = A0 M^-alpha (eq 9)."""
    mass_min: float = 1e7
    """Smallest subhalo mass drawn [Msun]."""
    mass_max: float = 1e10
    """Largest subhalo mass drawn [Msun]."""
    calibration_count: float = 150.0
    """Expected number of subhalos in the calibration mass range (fixes A0)."""
    calibration_mass_min: float = 1e8
    """Lower end of the calibration mass range [Msun]."""
    calibration_mass_max: float = 1e10
    """Upper end of the calibration mass range [Msun]."""
    poisson_count: bool = True
    """Draw the number of subhalos from a Poisson law (the authors' code); else use its mean, rounded."""
    einasto_radius: float = 199.0
    """Einasto scale radius r_E of the subhalo number density (eq 10) [kpc]."""
    einasto_gamma: float = 0.678
    """Einasto index gamma_E (eq 10)."""
    radius_min: float = 0.0
    """Smallest Galactocentric radius drawn [kpc]."""
    radius_max: float = 260.0
    """Largest Galactocentric radius drawn (the authors' code) [kpc]."""
    sun_distance: float = 8.3
    """Distance R0 of the Sun from the Galactic centre (the authors' code) [kpc]."""
    v0: float = 220.0
    """Most probable speed of the Standard Halo Model (eq 11) [km/s]."""
    v_escape: float = 550.0
    """Escape speed truncating eq 11 (paper 550; the authors' code 544) [km/s]."""
    sun_velocity: tuple[float, float, float] = (11.0, 232.0, 7.0)
    """Velocity of the Sun (U, V, W) in the Galactic rest frame (eq 12) [km/s]."""
    hubble_h: float = 0.7
    """Dimensionless Hubble constant for rho_c and the h^-1 Msun of eq 14 (the authors' code)."""
    concentration_coefficients: tuple[float, ...] = SANCHEZ_CONDE_PRADA_2014
    """Coefficients c_0..c_5 of c200(M200) = sum_i c_i ln(M200 / (h^-1 Msun))^i (eq 14)."""

    def __post_init__(self):
        _require(self.mass_function_slope > 1, "mass_function_slope must be > 1")
        _require(0 < self.mass_min < self.mass_max, "need 0 < mass_min < mass_max")
        _require(
            0 < self.calibration_mass_min < self.calibration_mass_max,
            "need 0 < calibration_mass_min < calibration_mass_max",
        )
        _require(self.calibration_count > 0, "calibration_count must be > 0")
        _require(self.einasto_radius > 0 and self.einasto_gamma > 0, "Einasto parameters must be > 0")
        _require(0 <= self.radius_min < self.radius_max, "need 0 <= radius_min < radius_max")
        _require(self.sun_distance >= 0, "sun_distance must be >= 0")
        _require(0 < self.v0 < self.v_escape, "need 0 < v0 < v_escape")
        _require(len(self.sun_velocity) == 3, "sun_velocity needs 3 components (U, V, W)")
        _require(0 < self.hubble_h < 2, "hubble_h must be in (0, 2)")
        _require(len(self.concentration_coefficients) >= 1, "concentration_coefficients is empty")


def _require(condition: bool, message: str) -> None:
    """Raise ValueError(message) unless condition holds."""
    if not condition:
        raise ValueError(message)


def _power_law_integral(slope: float, low: float, high: float) -> float:
    """Integral of M^-slope dM from low to high (slope > 1)."""
    exponent = 1 - slope
    return (high**exponent - low**exponent) / exponent


def expected_subhalo_count(config: MilkyWayPopulation) -> float:
    """Mean number of subhalos in [mass_min, mass_max] from the normalisation of eq 9.

    Returns
    -------
    float
        N = calibration_count * int_{M_min}^{M_max} M^-a dM / int_{calibration range} M^-a dM
        (about 1208 for the defaults).
    """
    drawn = _power_law_integral(config.mass_function_slope, config.mass_min, config.mass_max)
    calibration = _power_law_integral(
        config.mass_function_slope, config.calibration_mass_min, config.calibration_mass_max
    )
    return config.calibration_count * drawn / calibration


def sample_masses(config: MilkyWayPopulation, n: int, rng: np.random.Generator) -> np.ndarray:
    """Subhalo masses from dN/dM ~ M^-alpha on [mass_min, mass_max] by inverting its CDF (eq 9).

    Returns
    -------
    np.ndarray
        (n,) masses M200 [Msun].
    """
    exponent = 1 - config.mass_function_slope
    low, high = config.mass_min**exponent, config.mass_max**exponent
    return (low + rng.random(n) * (high - low)) ** (1 / exponent)


def _einasto_gamma_argument(radius, config: MilkyWayPopulation):
    """t = (2 / gamma_E) (r / r_E)^gamma_E, the variable that turns eq 10 into a gamma law."""
    return 2 / config.einasto_gamma * (np.asarray(radius) / config.einasto_radius) ** config.einasto_gamma


def _einasto_cdf_bounds(config: MilkyWayPopulation) -> tuple[float, float]:
    """Unnormalised CDF P(3/gamma_E, t) at radius_min and radius_max."""
    shape = 3 / config.einasto_gamma
    return (
        float(special.gammainc(shape, _einasto_gamma_argument(config.radius_min, config))),
        float(special.gammainc(shape, _einasto_gamma_argument(config.radius_max, config))),
    )


def einasto_radius_cdf(radius: np.ndarray, config: MilkyWayPopulation) -> np.ndarray:
    """CDF of Galactocentric radius for number density rho_g(r) of eq 10 on [radius_min, radius_max].

    p(r) ~ r^2 exp(-(2/g)((r/r_E)^g - 1)); with t = (2/g)(r/r_E)^g the integral is the regularised
    lower incomplete gamma function P(3/g, t).

    Parameters
    ----------
    radius : np.ndarray
        Galactocentric radii [kpc].
    """
    low, high = _einasto_cdf_bounds(config)
    clipped = np.clip(radius, config.radius_min, config.radius_max)
    inner = special.gammainc(3 / config.einasto_gamma, _einasto_gamma_argument(clipped, config))
    return (inner - low) / (high - low)


def sample_radii(config: MilkyWayPopulation, n: int, rng: np.random.Generator) -> np.ndarray:
    """Galactocentric radii from the Einasto profile (eq 10) by inverting :func:`einasto_radius_cdf`.

    Returns
    -------
    np.ndarray
        (n,) radii [kpc].
    """
    low, high = _einasto_cdf_bounds(config)
    t = special.gammaincinv(3 / config.einasto_gamma, low + rng.random(n) * (high - low))
    return config.einasto_radius * (config.einasto_gamma * t / 2) ** (1 / config.einasto_gamma)


def isotropic_directions(n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors uniform on the sphere (normalised 3-D Gaussians), shape (n, 3)."""
    vectors = rng.standard_normal((n, 3))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def sample_halo_velocities(config: MilkyWayPopulation, n: int, rng: np.random.Generator) -> np.ndarray:
    """Galactic-frame velocities from the truncated Standard Halo Model (eq 11).

    f(v) ~ exp(-|v|^2 / v0^2) for |v| < v_esc: each component is Normal(0, v0 / sqrt(2)); draws
    beyond v_esc are rejected and redrawn (about 0.6 % of them for the defaults).

    Returns
    -------
    np.ndarray
        (n, 3) velocities [km/s].
    """
    scale = config.v0 / np.sqrt(2)
    accepted = np.empty((0, 3))
    while len(accepted) < n:
        draws = rng.normal(0.0, scale, size=(n - len(accepted) + 16, 3))
        accepted = np.concatenate([accepted, draws[np.linalg.norm(draws, axis=1) < config.v_escape]])
    return accepted[:n]


def concentration(m200: np.ndarray, config: MilkyWayPopulation) -> np.ndarray:
    """c200(M200) of Sanchez-Conde & Prada 2014 (Vattis+21 eq 14) with masses in h^-1 Msun.

    Parameters
    ----------
    m200 : np.ndarray
        Masses [Msun].
    """
    return concentration_scp14(m200, config.hubble_h, config.concentration_coefficients)


def sample_population(config: MilkyWayPopulation, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draw one population of subhalos with positions and velocities as seen from the Sun.

    Parameters
    ----------
    config : MilkyWayPopulation
        Population options.
    rng : np.random.Generator
        Source of every random number.

    Returns
    -------
    dict of np.ndarray, all float64 with leading dimension n_subhalos
        ``m200`` [Msun], ``c200``, ``rho_s`` [Msun/kpc^3], ``r_s`` [kpc],
        ``galactocentric_radius`` [kpc], ``position`` (n, 3) heliocentric Galactic Cartesian
        [kpc], ``distance`` [kpc], ``velocity`` (n, 3) relative to the Sun, v_l - v_sun (eq 12)
        [km/s], ``galactic_velocity`` (n, 3) in the Galactic rest frame [km/s],
        ``l_deg``, ``b_deg`` Galactic longitude and latitude [deg].
    """
    mean = expected_subhalo_count(config)
    count = int(rng.poisson(mean)) if config.poisson_count else int(round(mean))
    m200 = sample_masses(config, count, rng)
    radius = sample_radii(config, count, rng)
    galactocentric = radius[:, None] * isotropic_directions(count, rng)
    galactic_velocity = sample_halo_velocities(config, count, rng)
    position = galactocentric + np.array([config.sun_distance, 0.0, 0.0])
    c200 = concentration(m200, config)
    rho_s, r_s = astrometry.nfw_scale_parameters(
        torch.from_numpy(m200), torch.from_numpy(c200), critical_density(config.hubble_h)
    )
    distance = np.linalg.norm(position, axis=1)
    return {
        "m200": m200,
        "c200": c200,
        "rho_s": rho_s.numpy(),
        "r_s": r_s.numpy(),
        "galactocentric_radius": radius,
        "position": position,
        "distance": distance,
        "velocity": galactic_velocity - np.asarray(config.sun_velocity),
        "galactic_velocity": galactic_velocity,
        "l_deg": np.degrees(np.arctan2(position[:, 1], position[:, 0])) % 360.0,
        "b_deg": np.degrees(np.arcsin(np.clip(position[:, 2] / distance, -1, 1))),
    }
