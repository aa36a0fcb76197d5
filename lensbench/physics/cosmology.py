"""Flat Lambda-CDM distances, critical densities and NFW unit conversions (numpy, vectorised).

Matter + cosmological constant only (no radiation or neutrinos), i.e. astropy's
``FlatLambdaCDM(H0, Om0, Tcmb0=0)``. Distances in Mpc, densities in Msun/Mpc^3 (3-D) or
Msun/Mpc^2 (surface), angles in arcsec, masses in Msun.

Constants are CODATA 2018 / IAU 2015 (astropy's). lenstronomy's ``LensCosmo`` uses older
values (G = 6.67384e-11, Msun = 1.9891e30 kg, rho_crit = 2.77536627e11 h^2 Msun/Mpc^3), so NFW
conversions differ from lenstronomy's by ~5e-4 relative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

SPEED_OF_LIGHT_KM_S = 299792.458
"""c (km/s)."""

G_MPC_MSUN_KM2_S2 = 4.300917270036279e-09
"""Newton's constant in Mpc (km/s)^2 / Msun (CODATA 2018 G, IAU 2015 nominal solar mass)."""

ARCSEC = math.pi / 180 / 3600
"""One arcsecond in radians."""

_GAUSS_NODES, _GAUSS_WEIGHTS = np.polynomial.legendre.leggauss(96)


SANCHEZ_CONDE_PRADA_2014 = (37.5153, -1.5093, 1.636e-2, 3.66e-4, -2.89237e-5, 5.32e-7)
"""Coefficients c_0..c_5 of the c200(M200) relation of Sanchez-Conde & Prada 2014, eq. 1."""


def concentration_scp14(m200, h: float = 0.7, coefficients=SANCHEZ_CONDE_PRADA_2014) -> np.ndarray:
    """Concentration c200 of a halo at z = 0 (Sanchez-Conde & Prada 2014, eq. 1; Vattis+21 eq 14).

    c200 = sum_i c_i [ln(M200 / (h^-1 Msun))]^i; used for Milky-Way subhalos (Vattis+21) and for
    strong-lens hosts and subhalos (Brehmer+19), redshift evolution neglected as there.

    Parameters
    ----------
    m200 : array_like
        Halo mass M200 [Msun].
    h : float
        H0 / (100 km/s/Mpc).
    coefficients : sequence of float
        c_0..c_n of the polynomial; the paper's by default.
    """
    log_mass = np.log(np.asarray(m200, dtype=np.float64) * h)
    return np.polynomial.polynomial.polyval(log_mass, np.asarray(coefficients, dtype=np.float64))


@dataclass(frozen=True)
class FlatLambdaCDM:
    """A flat cosmology with matter and a cosmological constant.

    Parameters
    ----------
    H0 : float
        Hubble constant (km/s/Mpc).
    Om0 : float
        Matter density today, in units of the critical density; Lambda is ``1 - Om0``.
    """

    H0: float = 70.0
    Om0: float = 0.3

    def __post_init__(self):
        if not self.H0 > 0:
            raise ValueError(f"H0 must be > 0 km/s/Mpc, got {self.H0}")
        if not 0 < self.Om0 <= 1:
            raise ValueError(f"Om0 must be in (0, 1], got {self.Om0}")

    @property
    def hubble_distance(self) -> float:
        """c / H0 (Mpc)."""
        return SPEED_OF_LIGHT_KM_S / self.H0

    def efunc(self, z) -> np.ndarray:
        """``E(z) = H(z)/H0 = sqrt(Om0 (1+z)^3 + 1 - Om0)`` (Hogg 1999 eq 14, flat, no radiation)."""
        z = np.asarray(z, dtype=np.float64)
        return np.sqrt(self.Om0 * (1 + z) ** 3 + (1 - self.Om0))

    def comoving_distance(self, z) -> np.ndarray:
        """Line-of-sight comoving distance ``D_C = D_H int_0^z dz'/E(z')`` (Mpc; Hogg eq 15).

        96-point Gauss-Legendre quadrature in z, vectorised over ``z`` (relative error < 1e-12
        for z < 20).
        """
        z = np.asarray(z, dtype=np.float64)
        half = z[..., None] / 2
        nodes = half * (_GAUSS_NODES + 1)
        return self.hubble_distance * np.sum(_GAUSS_WEIGHTS / self.efunc(nodes), axis=-1) * half[..., 0]

    def angular_diameter_distance(self, z) -> np.ndarray:
        """``D_A = D_C / (1 + z)`` (Mpc; Hogg eq 18, flat)."""
        z = np.asarray(z, dtype=np.float64)
        return self.comoving_distance(z) / (1 + z)

    def angular_diameter_distance_z1z2(self, z1, z2) -> np.ndarray:
        """``D_A(z1, z2) = (D_C(z2) - D_C(z1)) / (1 + z2)`` (Mpc; Hogg eq 19, flat)."""
        z1, z2 = np.asarray(z1, dtype=np.float64), np.asarray(z2, dtype=np.float64)
        return (self.comoving_distance(z2) - self.comoving_distance(z1)) / (1 + z2)

    def critical_density(self, z) -> np.ndarray:
        """Critical density of the Universe ``3 H(z)^2 / (8 pi G)`` (Msun/Mpc^3)."""
        hubble = self.H0 * self.efunc(z)
        return 3 * hubble**2 / (8 * math.pi * G_MPC_MSUN_KM2_S2)

    def sigma_crit(self, z_lens, z_source) -> np.ndarray:
        """Critical surface density ``c^2 D_s / (4 pi G D_d D_ds)`` (Msun/Mpc^2; Schneider+92 eq 5.6)."""
        d_d = self.angular_diameter_distance(z_lens)
        d_s = self.angular_diameter_distance(z_source)
        d_ds = self.angular_diameter_distance_z1z2(z_lens, z_source)
        return SPEED_OF_LIGHT_KM_S**2 / (4 * math.pi * G_MPC_MSUN_KM2_S2) * d_s / (d_d * d_ds)


def nfw_physical_to_angles(m200, c200, z_lens, z_source, cosmology: FlatLambdaCDM = FlatLambdaCDM()):
    """NFW lensing parameters from halo mass and concentration (as lenstronomy's
    ``LensCosmo.nfw_physical2angle``).

    ``r200 = (3 M200 / (800 pi rho_c(z_l)))^(1/3)``, ``r_s = r200 / c``,
    ``rho_s = 200/3 rho_c c^3 / (ln(1+c) - c/(1+c))`` (NFW 1997 eqs 1-2),
    ``Rs = r_s / D_d`` and ``alpha_Rs = 4 rho_s r_s^2 (1 + ln 1/2) / (Sigma_crit D_d)`` (lenstronomy's
    normalisation: the deflection at ``Rs``; GK02 eq 13 at x = 1).

    Parameters
    ----------
    m200 : array_like
        Mass inside r200, 200 times the critical density at ``z_lens`` (Msun).
    c200 : array_like
        Concentration r200 / r_s.
    z_lens, z_source : array_like
        Redshifts of the halo and the source.
    cosmology : FlatLambdaCDM
        Background cosmology.

    Returns
    -------
    tuple of numpy.ndarray
        ``Rs`` (arcsec) and ``alpha_Rs`` (arcsec).
    """
    m200, c200 = np.asarray(m200, dtype=np.float64), np.asarray(c200, dtype=np.float64)
    rho_c = cosmology.critical_density(z_lens)
    r200 = (3 * m200 / (4 * math.pi * 200 * rho_c)) ** (1 / 3)
    r_s = r200 / c200
    rho_s = 200 / 3 * rho_c * c200**3 / (np.log1p(c200) - c200 / (1 + c200))
    d_d = cosmology.angular_diameter_distance(z_lens)
    Rs = r_s / d_d / ARCSEC
    alpha_Rs = 4 * rho_s * r_s**2 * (1 + math.log(0.5)) / cosmology.sigma_crit(z_lens, z_source) / d_d / ARCSEC
    return Rs, alpha_Rs


def nfw_angles_to_physical(Rs, alpha_Rs, z_lens, z_source, cosmology: FlatLambdaCDM = FlatLambdaCDM()):
    """Inverse of :func:`nfw_physical_to_angles`: ``(M200 [Msun], c200)`` from ``Rs, alpha_Rs`` (arcsec).

    ``r_s = Rs D_d``; ``rho_s = alpha_Rs Sigma_crit D_d / (4 r_s^2 (1 + ln 1/2))``; ``c`` solves
    ``rho_s = 200/3 rho_c c^3 / (ln(1+c) - c/(1+c))`` (Newton iterations on ln c, vectorised);
    ``M200 = 800/3 pi rho_c (c r_s)^3``.
    """
    Rs, alpha_Rs = np.asarray(Rs, dtype=np.float64), np.asarray(alpha_Rs, dtype=np.float64)
    d_d = cosmology.angular_diameter_distance(z_lens)
    r_s = Rs * ARCSEC * d_d
    rho_s = alpha_Rs * ARCSEC * cosmology.sigma_crit(z_lens, z_source) * d_d / (4 * r_s**2 * (1 + math.log(0.5)))
    target = np.log(rho_s / (200 / 3 * cosmology.critical_density(z_lens)))
    log_c = np.full(np.broadcast(target, Rs).shape, math.log(10.0))
    for _ in range(60):
        c = np.exp(log_c)
        mu = np.log1p(c) - c / (1 + c)
        value = 3 * log_c - np.log(mu) - target
        slope = 3 - c * (c / (1 + c) ** 2) / mu
        log_c = log_c - value / slope
    c = np.exp(log_c)
    m200 = 800 / 3 * math.pi * cosmology.critical_density(z_lens) * (c * r_s) ** 3
    return m200, c
