"""Physical constants and unit conversions for astrometric lensing, all derived with astropy.

The lensing code works in kpc, Msun and km/s. These constants turn its raw results into the
units the papers quote (muas, muas/yr, muas/yr^2) and give the critical density of the universe
that fixes NFW halos (Vattis+21 eq 13, rho_c = 3 H0^2 / 8 pi G).
"""

from __future__ import annotations

import numpy as np
from astropy import constants as const
from astropy import units as u

#: 4 G / c^2 [kpc / Msun]: the deflection of a point mass is 4 G M / (c^2 b) (Vattis+21 eq 1).
FOUR_G_OVER_C2_KPC_PER_MSUN: float = float((4 * const.G / const.c**2).to(u.kpc / u.Msun).value)

#: Newton's constant G [kpc (km/s)^2 / Msun].
G_KPC_KMS2_PER_MSUN: float = float(const.G.to(u.kpc * (u.km / u.s) ** 2 / u.Msun).value)

#: One radian in micro-arcseconds [muas / rad].
MUAS_PER_RAD: float = float((1 * u.rad).to(u.uarcsec).value)

#: An angular rate of 1 (km/s)/kpc in muas/yr (about 210.945) [muas/yr per km/s/kpc].
MUAS_PER_YR_PER_KMS_PER_KPC: float = float(
    (1 * u.km / u.s / u.kpc).to(u.uarcsec / u.yr, equivalencies=u.dimensionless_angles()).value
)

#: An angular acceleration of 1 (km/s/kpc)^2 in muas/yr^2 [muas/yr^2 per (km/s/kpc)^2].
MUAS_PER_YR2_PER_KMS_PER_KPC_SQUARED: float = float(
    (1 * (u.km / u.s / u.kpc) ** 2).to(u.uarcsec / u.yr**2, equivalencies=u.dimensionless_angles()).value
)


def critical_density(hubble_h: float) -> float:
    """Critical density of the universe today, rho_c = 3 H0^2 / (8 pi G) (Vattis+21, below eq 12).

    Parameters
    ----------
    hubble_h : float
        Dimensionless Hubble constant h, H0 = 100 h km/s/Mpc.

    Returns
    -------
    float
        rho_c [Msun / kpc^3] (about 136 h^2 / 0.49 for h = 0.7).
    """
    hubble = 100.0 * hubble_h * u.km / u.s / u.Mpc
    return float((3 * hubble**2 / (8 * np.pi * const.G)).to(u.Msun / u.kpc**3).value)
