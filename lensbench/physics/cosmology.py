"""The background cosmology of strong lenses and the lensing scales it sets (numpy, vectorised).

One flat Lambda-CDM cosmology with matter and a cosmological constant only (no radiation or
neutrinos): the numbers of astropy's ``FlatLambdaCDM(H0, Om0, Tcmb0=0)`` to the last bit (the
same closed forms, operations in the same order, astropy's CODATA 2018 / IAU 2015 constants).
On top of it: the distances of lens systems, the critical surface density, Einstein radii of
point masses and singular isothermal spheres, lenstronomy's NFW angles, and the halo scaling
relations the simulators draw hosts and subhalos with.

Units: distances Mpc, masses Msun, densities Msun/Mpc^3 (3-D) or Msun/Mpc^2 (surface), angles
arcsec, velocities km/s.

lenstronomy's ``LensCosmo`` uses older constants (G = 6.67384e-11, Msun = 1.9891e30 kg), so
conversions through Sigma_crit differ from lenstronomy's by ~3e-4 relative; pure distance ratios
(SIS Einstein radius, NFW Rs) agree to ~1e-12.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from astropy import constants, units
from scipy.special import hyp2f1

ARCSEC = np.pi / (180.0 * 3600.0)
"""One arcsec in radians."""
C_KM_S = constants.c.to_value(units.km / units.s)
"""Speed of light (km/s)."""
G_OVER_C2_MPC_PER_MSUN = (constants.G * constants.M_sun / constants.c**2).to_value(units.Mpc)
"""G M_sun / c^2 (Mpc)."""

_KM_PER_M = units.m.to(units.km)
_H0_SQUARED_OVER_G_TO_CGS = (units.km**2 * units.kg / (units.Mpc**2 * units.m**3)).cgs.scale
"""(km/s/Mpc)^2 / (m^3 kg^-1 s^-2) in g/cm^3: astropy's path to the critical density."""
_CGS_TO_MSUN_PER_MPC3 = (units.g / units.cm**3).to(units.Msun / units.Mpc**3)

SANCHEZ_CONDE_PRADA_2014 = (37.5153, -1.5093, 1.636e-2, 3.66e-4, -2.89237e-5, 5.32e-7)
"""Coefficients c_0..c_5 of the c200(M200) relation of Sanchez-Conde & Prada 2014, eq. 1."""


@dataclass(frozen=True)
class FlatLambdaCDM:
    """A flat cosmology with matter and a cosmological constant.

    Parameters
    ----------
    H0 : float
        Hubble constant (km/s/Mpc).
    Om0 : float
        Matter density today in units of the critical density, in (0, 1); Lambda is ``1 - Om0``.
    """

    H0: float = 70.0
    Om0: float = 0.3

    def __post_init__(self):
        if not self.H0 > 0:
            raise ValueError(f"H0 must be > 0 km/s/Mpc, got {self.H0}")
        if not 0 < self.Om0 < 1:
            raise ValueError(f"Om0 must be in (0, 1), got {self.Om0}")

    @property
    def hubble_distance(self) -> float:
        """D_H = c / H0 (Mpc; Hogg 1999 eq. 4)."""
        return constants.c.value / self.H0 * _KM_PER_M

    def efunc(self, z) -> np.ndarray:
        """E(z) = H(z) / H0 = sqrt(Om0 (1+z)^3 + 1 - Om0) (Hogg 1999 eq. 14, flat, no radiation)."""
        zp1 = np.asarray(z, dtype=np.float64) + 1.0
        return np.sqrt(zp1**3 * self.Om0 + (1.0 - self.Om0))

    def comoving_distance(self, z1, z2) -> np.ndarray:
        """Line-of-sight comoving distance from ``z1`` to ``z2`` (Mpc; Hogg 1999 eq. 15).

        Closed form of Baes, Camps & Van De Putte 2017 (MNRAS 468, 927) eq. 9: D_C = D_H /
        sqrt(s Om0) [T(s / (1 + z1)) - T(s / (1 + z2))], s^3 = (1 - Om0) / Om0,
        T(x) = 2 sqrt(x) 2F1(1/6, 1/2; 7/6; -x^3).
        """
        z1, z2 = np.broadcast_arrays(np.asarray(z1, dtype=np.float64), np.asarray(z2, dtype=np.float64))
        s = ((1 - self.Om0) / self.Om0) ** (1.0 / 3)
        prefactor = self.hubble_distance / np.sqrt(s * self.Om0)
        return prefactor * (_baes_t(s / (z1 + 1.0)) - _baes_t(s / (z2 + 1.0)))

    def angular_diameter_distance(self, z) -> np.ndarray:
        """D_A(z) = D_C(0, z) / (1 + z) (Mpc; Hogg 1999 eq. 18, flat)."""
        return self.angular_diameter_distance_z1z2(0.0, z)

    def angular_diameter_distance_z1z2(self, z1, z2) -> np.ndarray:
        """D_A(z1, z2) = D_C(z1, z2) / (1 + z2): the distance lensing needs between lens and source
        (Mpc; Hogg 1999 eq. 19, flat)."""
        return self.comoving_distance(z1, z2) / (np.asarray(z2, dtype=np.float64) + 1.0)

    def luminosity_distance(self, z) -> np.ndarray:
        """D_L = (1 + z) D_C(0, z) (Mpc; Hogg 1999 eq. 21, flat)."""
        z = np.asarray(z, dtype=np.float64)
        return (z + 1.0) * self.comoving_distance(0.0, z)

    def critical_density(self, z) -> np.ndarray:
        """Critical density of the universe 3 H(z)^2 / (8 pi G) (Msun/Mpc^3; Hogg 1999 below eq. 3)."""
        rho_0 = 3 * self.H0**2 / (8 * math.pi * constants.G.value) * _H0_SQUARED_OVER_G_TO_CGS  # g/cm^3
        return rho_0 * self.efunc(z) ** 2 * _CGS_TO_MSUN_PER_MPC3


def _baes_t(x) -> np.ndarray:
    """T(x) = 2 sqrt(x) 2F1(1/6, 1/2; 7/6; -x^3) of Baes et al. 2017 eq. 9."""
    return 2 * np.sqrt(x) * hyp2f1(1.0 / 6, 1.0 / 2, 7.0 / 6, -(x**3))


@dataclass(frozen=True)
class LensingDistances:
    """Distances of ``n`` lens systems (Mpc) and the densities that set lensing strength.

    Parameters
    ----------
    z_lens : numpy.ndarray
        Lens redshifts, (n,).
    d_l, d_s, d_ls : numpy.ndarray
        Observer-lens, observer-source and lens-source distances (Mpc), (n,).
    rho_crit_lens : numpy.ndarray
        Critical density of the universe at the lens (Msun/Mpc^3), (n,).
    h : float
        H0 / (100 km/s/Mpc).
    """

    z_lens: np.ndarray
    d_l: np.ndarray
    d_s: np.ndarray
    d_ls: np.ndarray
    rho_crit_lens: np.ndarray
    h: float

    @property
    def sigma_crit(self) -> np.ndarray:
        """Critical surface density c^2 D_s / (4 pi G D_l D_ls) (Msun/Mpc^2, (n,); Schneider,
        Ehlers & Falco 1992 eq. 5.6)."""
        return self.d_s / (4.0 * np.pi * G_OVER_C2_MPC_PER_MSUN * self.d_l * self.d_ls)

    def select(self, index: np.ndarray) -> LensingDistances:
        """The distances of lenses ``index`` (e.g. one entry per subhalo, to vectorise over subhalos)."""
        return LensingDistances(self.z_lens[index], self.d_l[index], self.d_s[index], self.d_ls[index],
                                self.rho_crit_lens[index], self.h)


def lensing_distances(
    z_lens, z_source, h0: float = 70.0, omega_m: float = 0.3, convention: str = "angular_diameter"
) -> LensingDistances:
    """Distances of lens systems in the flat Lambda-CDM cosmology ``FlatLambdaCDM(h0, omega_m)``.

    Parameters
    ----------
    z_lens, z_source : array_like
        Redshifts, broadcast to (n,); every z_source must exceed its z_lens > 0.
    h0 : float
        Hubble constant (km/s/Mpc).
    omega_m : float
        Matter density today.
    convention : {"angular_diameter", "luminosity"}
        ``"angular_diameter"``: D_l, D_s, D_ls as lensing needs them. ``"luminosity"``:
        DeepLenseSim's ``mass_to_radius``, which uses luminosity distances and D_ls = D_s - D_l
        (Einstein radii 0.71 x the angular-diameter ones at z_l = 0.5, z_s = 1; kept to reproduce
        its images). The critical density is always the one at the lens redshift.

    Returns
    -------
    LensingDistances
    """
    z_l, z_s = np.broadcast_arrays(np.asarray(z_lens, dtype=np.float64), np.asarray(z_source, dtype=np.float64))
    if np.any(z_s <= z_l) or np.any(z_l <= 0):
        raise ValueError("need 0 < z_lens < z_source for every lens")
    cosmology = FlatLambdaCDM(H0=h0, Om0=omega_m)
    if convention == "angular_diameter":
        d_l = cosmology.angular_diameter_distance(z_l)
        d_s = cosmology.angular_diameter_distance(z_s)
        d_ls = cosmology.angular_diameter_distance_z1z2(z_l, z_s)
    elif convention == "luminosity":
        d_l = cosmology.luminosity_distance(z_l)
        d_s = cosmology.luminosity_distance(z_s)
        d_ls = d_s - d_l
    else:
        raise ValueError(f"unknown distance convention '{convention}'; one of: angular_diameter, luminosity")
    rho_crit = cosmology.critical_density(z_l)
    return LensingDistances(z_l, np.atleast_1d(d_l), np.atleast_1d(d_s), np.atleast_1d(d_ls),
                            np.atleast_1d(rho_crit), h0 / 100.0)


def _per_lens(values: np.ndarray, ndim: int) -> np.ndarray:
    """Per-lens ``values`` (n,) shaped to broadcast against an (n, ...) array of ``ndim`` dimensions."""
    return values.reshape(values.shape + (1,) * (ndim - 1)) if ndim > 1 else values


def point_mass_einstein_radius(mass, distances: LensingDistances) -> np.ndarray:
    """Einstein radius of a point mass, theta_E = sqrt(4 G M / c^2 D_ls / (D_l D_s)) (arcsec).

    Schneider, Ehlers & Falco (1992) eq. 2.11 ff.; DeepLenseSim ``mass_to_radius``.

    Parameters
    ----------
    mass : array_like
        Mass (Msun), broadcastable against (n,) or (n, K) with the lens axis first.
    distances : LensingDistances
        Distances of the n lenses.
    """
    mass = np.asarray(mass, dtype=np.float64)
    ratio = _per_lens(distances.d_ls / (distances.d_l * distances.d_s), mass.ndim)
    return np.sqrt(4.0 * G_OVER_C2_MPC_PER_MSUN * mass * ratio) / ARCSEC


def sis_einstein_radius(sigma_v, distances: LensingDistances) -> np.ndarray:
    """Einstein radius of a singular isothermal sphere, theta_E = 4 pi (sigma_v/c)^2 D_ls/D_s (arcsec).

    Brehmer+19 Sec. 2.1 (host SIS); Schneider, Kochanek & Wambsganss (2006) eq. 1.43.

    Parameters
    ----------
    sigma_v : array_like
        Velocity dispersion (km/s), (n,).
    distances : LensingDistances
    """
    sigma_v = np.asarray(sigma_v, dtype=np.float64)
    return 4.0 * np.pi * (sigma_v / C_KM_S) ** 2 * distances.d_ls / distances.d_s / ARCSEC


def concentration_scp14(m200, h: float = 0.7, coefficients=SANCHEZ_CONDE_PRADA_2014) -> np.ndarray:
    """Concentration c200 of a halo at z = 0 (Sanchez-Conde & Prada 2014, eq. 1; Vattis+21 eq 14).

    c200 = sum_i c_i [ln(M200 / (h^-1 Msun))]^i; used for Milky-Way subhalos (Vattis+21) and for
    strong-lens hosts and subhalos (Brehmer+19), redshift evolution neglected as there.

    Parameters
    ----------
    m200 : array_like
        Halo mass M200 (Msun).
    h : float
        H0 / (100 km/s/Mpc).
    coefficients : sequence of float
        c_0..c_n of the polynomial; the paper's by default.
    """
    log_mass = np.log(np.asarray(m200, dtype=np.float64) * h)
    return np.polynomial.polynomial.polyval(log_mass, np.asarray(coefficients, dtype=np.float64))


def host_m200_from_sigma_v(sigma_v) -> np.ndarray:
    """Host halo M200 from its velocity dispersion, log10(M200 / 1e12 Msun) = 0.09 + 3.48 log10(sigma_v / 100 km/s).

    Zahid et al. 2018 (arXiv:1804.04492) eq. 11, as Brehmer+19 use it (Msun; sigma_v in km/s).
    """
    sigma_v = np.asarray(sigma_v, dtype=np.float64)
    return 1e12 * 10.0 ** (0.09 + 3.48 * np.log10(sigma_v / 100.0))


def _nfw_mass_function(c) -> np.ndarray:
    """m(c) = ln(1 + c) - c / (1 + c): M200 / (4 pi rho_s r_s^3) (Navarro, Frenk & White 1997)."""
    return np.log1p(c) - c / (1.0 + c)


def nfw_angles(m200, concentration, distances: LensingDistances) -> tuple[np.ndarray, np.ndarray]:
    """lenstronomy's NFW angles (Rs, alpha_Rs) of halos of mass M200 and concentration c200.

    r200 = (3 M200 / (800 pi rho_crit(z_l)))^(1/3), r_s = r200 / c, rho_s = 200/3 rho_crit c^3 / m(c)
    (NFW 1997 eqs. 1-2), alpha_Rs = 4 rho_s r_s^2 (1 + ln 1/2) / Sigma_crit / D_l (Golse & Kneib
    2002 eq. 13 at x = 1), the same as lenstronomy's ``LensCosmo.nfw_physical2angle``.

    Parameters
    ----------
    m200 : array_like
        Masses (Msun), (n,) or (n, K) with the lens axis first.
    concentration : array_like
        c200, same shape as ``m200``.
    distances : LensingDistances
        Distances of the n lenses.

    Returns
    -------
    Rs, alpha_Rs : numpy.ndarray
        Scale radius and deflection at the scale radius (arcsec).
    """
    m200 = np.asarray(m200, dtype=np.float64)
    c = np.asarray(concentration, dtype=np.float64)
    rho_crit = _per_lens(distances.rho_crit_lens, m200.ndim)
    d_l = _per_lens(distances.d_l, m200.ndim)
    r200 = (3.0 * m200 / (800.0 * np.pi * rho_crit)) ** (1.0 / 3.0)
    r_s = r200 / c
    rho_s = 200.0 / 3.0 * rho_crit * c**3 / _nfw_mass_function(c)
    alpha = 4.0 * rho_s * r_s**2 * (1.0 + np.log(0.5)) / _per_lens(distances.sigma_crit, m200.ndim) / d_l
    return r_s / d_l / ARCSEC, alpha / ARCSEC


def nfw_projected_mass_fraction(radius, m200, concentration, distances: LensingDistances) -> np.ndarray:
    """Fraction of an NFW halo's M200 inside a projected (cylinder) radius: h(x) / m(c), x = R / r_s.

    h(x) = ln(x/2) + arccosh(1/x) / sqrt(1 - x^2) for x < 1 (arccos(1/x)/sqrt(x^2 - 1) above; 1 +
    ln(1/2) at x = 1): Bartelmann 1996 eq. 11 / Golse & Kneib 2002 eq. 10. Brehmer+19 use it for
    the share of the host's subhalos inside the lensing region of interest.

    Parameters
    ----------
    radius : array_like
        Projected radius (arcsec), (n,).
    m200, concentration : array_like
        Host M200 (Msun) and c200, (n,).
    distances : LensingDistances
    """
    rs_arcsec, _ = nfw_angles(m200, concentration, distances)
    x = np.asarray(radius, dtype=np.float64) / rs_arcsec
    below = np.arccosh(1.0 / np.clip(x, 1e-300, 1.0)) / np.sqrt(np.clip(1.0 - x**2, 1e-300, None))
    above = np.arccos(1.0 / np.clip(x, 1.0, None)) / np.sqrt(np.clip(x**2 - 1.0, 1e-300, None))
    at_one = np.isclose(x, 1.0, rtol=1e-6, atol=0.0)
    h_of_x = np.where(at_one, 1.0 + np.log(0.5), np.log(x / 2.0) + np.where(x < 1.0, below, above))
    return h_of_x / _nfw_mass_function(np.asarray(concentration, dtype=np.float64))
