"""The one cosmology against astropy (to the bit) and lenstronomy's LensCosmo (its own constants)."""

import numpy as np
import pytest
from astropy import units
from astropy.cosmology import FlatLambdaCDM as AstropyFlatLambdaCDM
from lenstronomy.Cosmo.lens_cosmo import LensCosmo
from lenstronomy.LensModel.Profiles.nfw import NFW

from lensbench.physics.cosmology import (
    FlatLambdaCDM,
    concentration_scp14,
    host_m200_from_sigma_v,
    lensing_distances,
    nfw_angles,
    nfw_projected_mass_fraction,
    point_mass_einstein_radius,
    sis_einstein_radius,
)

COSMOLOGIES = [(70.0, 0.3), (67.66, 0.30966), (73.0, 0.25)]
Z = np.array([0.05, 0.2, 0.5, 1.0, 1.7, 3.0, 8.0])


@pytest.mark.parametrize("H0,Om0", COSMOLOGIES)
def test_background_equals_astropy_bit_for_bit(H0, Om0):
    """Same closed forms, same order of operations: the simulated images did not change a bit
    when the simulators moved from astropy to this module."""
    ours, theirs = FlatLambdaCDM(H0, Om0), AstropyFlatLambdaCDM(H0=H0, Om0=Om0, Tcmb0=0)
    assert ours.hubble_distance == theirs.hubble_distance.to_value(units.Mpc)
    np.testing.assert_array_equal(ours.efunc(Z), theirs.efunc(Z))
    np.testing.assert_array_equal(ours.angular_diameter_distance(Z), theirs.angular_diameter_distance(Z).to_value(units.Mpc))
    np.testing.assert_array_equal(ours.angular_diameter_distance_z1z2(0.5, Z[3:]),
                                  theirs.angular_diameter_distance(0.5, Z[3:]).to_value(units.Mpc))
    np.testing.assert_array_equal(ours.luminosity_distance(Z), theirs.luminosity_distance(Z).to_value(units.Mpc))
    np.testing.assert_array_equal(ours.critical_density(Z), theirs.critical_density(Z).to_value(units.Msun / units.Mpc**3))


def test_comoving_distance_is_the_integral_of_one_over_e():
    """D_C = D_H int dz / E(z) (Hogg eq. 15), by quadrature, independent of the closed form."""
    cosmology = FlatLambdaCDM(70.0, 0.3)
    nodes, weights = np.polynomial.legendre.leggauss(64)
    z1, z2 = 0.3, 2.5
    z = (z2 - z1) / 2 * (nodes + 1) + z1
    integral = cosmology.hubble_distance * (z2 - z1) / 2 * np.sum(weights / cosmology.efunc(z))
    assert cosmology.comoving_distance(z1, z2) == pytest.approx(integral, rel=1e-12)


def test_lens_system_scales_match_lenstronomy():
    z_lens = np.array([0.3, 0.5, 0.8])
    distances = lensing_distances(z_lens, 1.5)
    mass, c = np.array([1e8, 1e9, 1e11]), np.array([15.0, 10.0, 6.0])
    rs, alpha_rs = nfw_angles(mass, c, distances)
    sigma_v = np.array([180.0, 225.0, 300.0])
    for i, z in enumerate(z_lens):
        reference = LensCosmo(z, 1.5, cosmo=AstropyFlatLambdaCDM(H0=70, Om0=0.3))
        assert distances.d_l[i] == pytest.approx(reference.dd, rel=1e-12)
        assert distances.d_ls[i] == pytest.approx(reference.dds, rel=1e-12)
        assert distances.sigma_crit[i] == pytest.approx(reference.sigma_crit, rel=1e-3)  # lenstronomy's older G, Msun
        assert rs[i] == pytest.approx(ref_rs := reference.nfw_physical2angle(mass[i], c[i])[0], rel=1e-6), ref_rs
        assert alpha_rs[i] == pytest.approx(reference.nfw_physical2angle(mass[i], c[i])[1], rel=1e-3)
        assert sis_einstein_radius(sigma_v, distances)[i] == pytest.approx(reference.sis_sigma_v2theta_E(sigma_v[i]), rel=1e-6)
        # a point mass M has the Einstein radius within which the mean convergence is 1: M = pi Sigma_crit theta_E^2
        ref_theta = np.sqrt(mass[i] / (np.pi * reference.sigma_crit_angle))
        assert point_mass_einstein_radius(mass, distances)[i] == pytest.approx(ref_theta, rel=1e-3)


def test_per_subhalo_arrays_broadcast_over_their_lens():
    distances = lensing_distances(np.array([0.3, 0.6]), 2.0)
    masses = np.array([[1e8, 1e9, 1e10], [1e8, 1e9, 1e10]])
    theta = point_mass_einstein_radius(masses, distances)
    assert theta.shape == (2, 3)
    np.testing.assert_array_equal(theta[1], point_mass_einstein_radius(masses[1], distances.select(np.array([1, 1, 1]))))
    rs, _ = nfw_angles(masses, np.full((2, 3), 10.0), distances)
    np.testing.assert_array_equal(rs[0], nfw_angles(masses[0], np.full(3, 10.0), distances.select(np.zeros(3, int)))[0])


def test_deeplense_luminosity_convention_gives_their_einstein_radius():
    # DeepLenseSim: a lens of 1e12 Msun at z = 0.5, source z = 1: theta_E ~ 1.28"
    luminosity = lensing_distances(0.5, 1.0, convention="luminosity")
    assert point_mass_einstein_radius(1e12, luminosity)[0] == pytest.approx(1.28, abs=0.01)
    assert point_mass_einstein_radius(1e12, lensing_distances(0.5, 1.0))[0] > 1.5
    with pytest.raises(ValueError, match="unknown distance convention 'comoving'; one of"):
        lensing_distances(0.5, 1.0, convention="comoving")
    with pytest.raises(ValueError, match="0 < z_lens < z_source"):
        lensing_distances(1.0, 0.5)


def test_projected_mass_fraction_matches_lenstronomy_nfw():
    distances = lensing_distances(0.5, 1.0)
    m200, c = 2e13, 5.0
    rs, alpha_rs = nfw_angles(np.array([m200]), np.array([c]), distances)
    rho0 = NFW.alpha2rho0(alpha_rs[0], rs[0])
    m200_lenstronomy = NFW().mass_3d(c * rs[0], rs[0], rho0)
    for radius in (0.1 * rs[0], rs[0], 3.0 * rs[0]):
        ours = nfw_projected_mass_fraction(np.array([radius]), np.array([m200]), np.array([c]), distances)[0]
        assert ours == pytest.approx(NFW().mass_2d(radius, rs[0], rho0) / m200_lenstronomy, rel=1e-6)


def test_halo_scaling_relations():
    # Sanchez-Conde & Prada 2014 eq. 1 at M200 = 1e12 h^-1 Msun: c200 = 7.73; decreasing with mass
    assert concentration_scp14(1e12 / 0.7, 0.7) == pytest.approx(7.73, abs=0.01)
    assert np.all(np.diff(concentration_scp14(np.logspace(6, 14, 9))) < 0)
    # Zahid+18 eq. 11: sigma_v = 100 km/s -> 10^0.09 x 1e12 Msun, slope 3.48 in log-log
    assert host_m200_from_sigma_v(100.0) == pytest.approx(10**0.09 * 1e12)
    assert host_m200_from_sigma_v(200.0) / host_m200_from_sigma_v(100.0) == pytest.approx(2**3.48)


def test_cosmology_rejects_bad_parameters():
    with pytest.raises(ValueError, match="Om0"):
        FlatLambdaCDM(70.0, 1.5)
    with pytest.raises(ValueError, match="H0"):
        FlatLambdaCDM(-1.0, 0.3)
