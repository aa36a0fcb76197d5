"""Dark-matter substructure populations of a strong lens: CDM subhalos, axion vortices, one halo.

Every population draws all of its parameters for a batch of ``n`` lenses at once from an explicit
:class:`numpy.random.Generator` and returns them twice: as subhalo planes for the renderers
(:class:`lensbench.simulate.scene.Subhalos`, lenstronomy angles in arcsec) and as a fixed schema
of labels (:data:`POPULATION_KEYS`; ragged lists padded with NaN to ``max_count``).

Models and sources
------------------
CDM subhalos (``kind = "cdm"``)
    Masses from a power-law subhalo mass function dn/dm ∝ m^slope on [m_min, m_max]
    (Brehmer et al. 2019, arXiv:1909.02005, Sec. 2.2; ``slope`` is their code's beta,
    beta_paper = slope + 1). The count is fixed (DeepLense: 25), Poisson with a given mean, or set
    by the substructure mass fraction f_sub: f_sub is the fraction of the host's M200 held by
    subhalos in [m_min, m_max], and the expected number inside the region of interest is the
    expected total times the host's projected NFW mass fraction inside that region (Brehmer+19
    Sec. 2.2; their code divides by 4 pi rho_s r_s^3 instead of M200, ~4 % apart for c ~ 5).
    Positions uniform in area within a disc or annulus around the main-lens centre (Brehmer) or
    uniform in radius (``radial_distribution = "radius"``, what DeepLenseSim's code does).
    Profiles: NFW with c200(M) of Sanchez-Conde & Prada 2014 (their eq. 1, z = 0) or point masses.
Axion vortex (``kind = "vortex"``)
    DeepLenseSim (mwt5345/DeepLenseSim, ``deeplense/lens.py``, behind Deshmukh et al. 2023): a
    total mass (3e10 Msun) split into ``vortex_points`` equal point masses evenly spaced on a
    straight line through the main-lens centre at a uniform random angle; the line's length is
    the de Broglie scale, L = 0.06 arcsec x (1e-22 eV / m_a) (6" at 1e-24 eV, 0.06" at 1e-22 eV;
    the code's ``axion_mass_to_length``, valid for a halo at z = 0.5). m_a is kept as a label.
One halo (``kind = "halo"``)
    Ko (2024), Table I: one NFW halo drawn directly in lenstronomy's angles, Rs ~ U(10, 100),
    alpha_Rs ~ N_log(0, 0.1), centre ~ N(0, 0.102) (arcsec). With Rs of 10-100 arcsec a 64-pixel
    stamp (2-6 arcsec) sees only r < 0.3 Rs, where an NFW halo is a smooth, slowly varying
    convergence (a logarithmic cusp) plus weak shear: it changes the magnification and the arc's
    radius, never adds features of its own. We keep Ko's numbers as the default, so the task is
    the paper's; set ``halo_Rs`` to e.g. U(0.5, 5) for a halo whose scale radius lies in the stamp.
No substructure (``kind = "none"``)
    No subhalo plane; every label is NaN and the count 0.

Why one module of ~450 lines: the populations share the drawing conventions (explicit
generator, the padded label schema :data:`POPULATION_KEYS`) that keep every class's labels
aligned; their lensing physics lives in :mod:`lensbench.physics.cosmology`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lensbench.physics.cosmology import (
    LensingDistances,
    concentration_scp14,
    nfw_angles,
    nfw_projected_mass_fraction,
    point_mass_einstein_radius,
)
from lensbench.simulate.priors import Prior
from lensbench.simulate.scene import Subhalos

PAD_CENTER = 100.0
"""Centre (arcsec) given to padded, masked-out subhalos in a Scene: far outside any stamp."""

SCALAR_KEYS = (
    "f_sub", "slope", "expected_count", "axion_mass", "vortex_length", "vortex_angle",
    "halo_Rs", "halo_alpha_Rs", "halo_center_x", "halo_center_y",
    "subhalo_log_mass_sum", "host_roi_mass", "subhalo_m_max",
)
"""Per-lens population labels, (n,) float64; NaN where a population has no such parameter. The
CDM population's sufficient statistics (Brehmer+19 eq. 18) are ``subhalo_log_mass_sum``
(sum of ln(m / Msun)), ``host_roi_mass`` (host M200 times its projected mass fraction in the
region, Msun; f_sub populations) and ``subhalo_m_max`` (upper mass, Msun)."""
PER_SUBHALO_KEYS = (
    "subhalo_mass", "subhalo_x", "subhalo_y", "subhalo_concentration",
    "subhalo_Rs", "subhalo_alpha_Rs", "subhalo_theta_E",
)
"""Per-subhalo labels, (n, max_count) float64, NaN-padded: mass (Msun), position (arcsec),
c200, NFW Rs and alpha_Rs (arcsec), point-mass Einstein radius (arcsec)."""
POPULATION_KEYS = ("subhalo_count",) + SCALAR_KEYS + PER_SUBHALO_KEYS
"""Every key a population returns, whatever its kind (``subhalo_count`` is int64, (n,))."""


@dataclass(frozen=True)
class PopulationConfig:
    """One substructure population (a dataset class, or the population of a regression set).

    Parameters
    ----------
    kind : {"none", "cdm", "vortex", "halo"}
        No substructure, CDM subhalos, an axion vortex, or Ko's single NFW halo.
    profile : {"nfw", "point_mass"}
        CDM subhalo profile.
    count_mode : {"fixed", "poisson", "f_sub"}
        CDM count: exactly ``count``, Poisson with mean ``count``, or Poisson with the mean set by
        ``f_sub`` (needs the host's M200, prior ``host_m200`` or ``lens_sigma_v``).
    count : float
        Fixed count or Poisson mean of CDM subhalos.
    f_sub : Prior
        Fraction of the host's M200 in subhalos of [m_min, m_max] (Brehmer+19: U(0.001, 0.2)).
    slope : Prior
        Exponent of dn/dm ∝ m^slope (Brehmer's code beta; paper beta = slope + 1), e.g. -1.9.
    m_min, m_max : float
        Subhalo mass range drawn (Msun, M200 of each subhalo).
    f_sub_m_min : float or None
        Lower end of the mass range f_sub is defined over (Msun); None: ``m_min``, as the
        authors' code (Brehmer+19 sec. 2.4 defines f_sub from 1e6 Msun, their code from 1e7,
        where it also starts drawing).
    m_max_host_fraction : float or None
        If set, the upper mass is this fraction of the host's M200 instead of ``m_max``
        (Brehmer+19: 0.01).
    radius_unit : {"arcsec", "theta_E"}
        Unit of ``r_min``, ``r_max``: arcsec, or the main lens's Einstein radius.
    r_min, r_max : float
        Annulus (disc when ``r_min = 0``) holding the subhalos, around the main-lens centre.
    radial_distribution : {"area", "radius"}
        Uniform per unit area, or uniform in radius (DeepLenseSim's code).
    axion_mass : Prior
        Axion mass m_a (eV); DeepLense: 10^U(-24, -22).
    vortex_mass : float
        Total vortex mass (Msun).
    vortex_points : int
        Number of point masses along the vortex line.
    vortex_length_at_1e22 : float
        Vortex line length (arcsec) at m_a = 1e-22 eV; the length scales as 1 / m_a.
    halo_Rs, halo_alpha_Rs : Prior
        Scale radius and deflection at the scale radius of the single halo (arcsec).
    halo_center_x, halo_center_y : Prior
        Centre of the single halo (arcsec, absolute).
    """

    kind: Literal["none", "cdm", "vortex", "halo"] = "none"
    profile: Literal["nfw", "point_mass"] = "point_mass"
    count_mode: Literal["fixed", "poisson", "f_sub"] = "fixed"
    count: float = 25.0
    f_sub: Prior = field(default_factory=lambda: Prior("fixed", value=0.05))
    slope: Prior = field(default_factory=lambda: Prior("fixed", value=-1.9))
    m_min: float = 1e6
    m_max: float = 1e10
    f_sub_m_min: float | None = None
    m_max_host_fraction: float | None = None
    radius_unit: Literal["arcsec", "theta_E"] = "arcsec"
    r_min: float = 0.25
    r_max: float = 2.0
    radial_distribution: Literal["area", "radius"] = "area"
    axion_mass: Prior = field(default_factory=lambda: Prior("loguniform", low=1e-24, high=1e-22))
    vortex_mass: float = 3e10
    vortex_points: int = 100
    vortex_length_at_1e22: float = 0.06
    halo_Rs: Prior = field(default_factory=lambda: Prior("uniform", low=10.0, high=100.0))
    halo_alpha_Rs: Prior = field(default_factory=lambda: Prior("lognormal", mu=0.0, sigma=0.1))
    halo_center_x: Prior = field(default_factory=lambda: Prior("normal", mu=0.0, sigma=0.102))
    halo_center_y: Prior = field(default_factory=lambda: Prior("normal", mu=0.0, sigma=0.102))

    def __post_init__(self):
        problems = []
        _check_choice(problems, "kind", self.kind, ("none", "cdm", "vortex", "halo"))
        _check_choice(problems, "profile", self.profile, ("nfw", "point_mass"))
        _check_choice(problems, "count_mode", self.count_mode, ("fixed", "poisson", "f_sub"))
        _check_choice(problems, "radius_unit", self.radius_unit, ("arcsec", "theta_E"))
        _check_choice(problems, "radial_distribution", self.radial_distribution, ("area", "radius"))
        if not self.count >= 0:
            problems.append(f"count must be >= 0, got {self.count}")
        if self.count_mode == "fixed" and self.count != int(self.count):
            problems.append(f"a fixed count must be a whole number, got {self.count}")
        if not 0 < self.m_min < self.m_max:
            problems.append(f"need 0 < m_min < m_max (Msun), got m_min={self.m_min}, m_max={self.m_max}")
        if self.f_sub_m_min is not None and not 0 < self.f_sub_m_min < self.m_max:
            problems.append(f"need 0 < f_sub_m_min < m_max (Msun), got f_sub_m_min={self.f_sub_m_min}")
        if self.m_max_host_fraction is not None and not 0 < self.m_max_host_fraction <= 1:
            problems.append(f"m_max_host_fraction must be in (0, 1], got {self.m_max_host_fraction}")
        if not 0 <= self.r_min < self.r_max:
            problems.append(f"need 0 <= r_min < r_max, got r_min={self.r_min}, r_max={self.r_max}")
        lo, _ = self.f_sub.support()
        if lo < 0:
            problems.append(f"f_sub must be >= 0, its prior reaches {lo}")
        if self.axion_mass.support()[0] <= 0:
            problems.append("axion_mass (eV) must be > 0")
        if not self.vortex_mass > 0:
            problems.append(f"vortex_mass must be > 0 Msun, got {self.vortex_mass}")
        if int(self.vortex_points) != self.vortex_points or self.vortex_points < 2:
            problems.append(f"vortex_points must be an integer >= 2, got {self.vortex_points}")
        if not self.vortex_length_at_1e22 > 0:
            problems.append(f"vortex_length_at_1e22 must be > 0 arcsec, got {self.vortex_length_at_1e22}")
        if self.halo_Rs.support()[0] <= 0:
            problems.append("halo_Rs (arcsec) must be > 0")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def needs_host_mass(self) -> bool:
        """Whether drawing this population needs the host's M200."""
        return self.kind == "cdm" and (self.count_mode == "f_sub" or self.m_max_host_fraction is not None)

    def most_subhalos(self) -> int | None:
        """The count every draw has when it is fixed (fixed CDM, vortex, halo), else None."""
        if self.kind == "none":
            return 0
        if self.kind == "vortex":
            return int(self.vortex_points)
        if self.kind == "halo":
            return 1
        return int(self.count) if self.count_mode == "fixed" else None


def _check_choice(problems: list[str], name: str, value, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        problems.append(f"unknown {name} '{value}'; one of: {', '.join(allowed)}")


# --------------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------------


def _power_integral(exponent, low, high) -> np.ndarray:
    """Integral of m^exponent over [low, high] (elementwise; the log when exponent = -1)."""
    exponent, low, high = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (exponent, low, high)))
    p1 = exponent + 1.0
    is_log = np.abs(p1) < 1e-12
    safe = np.where(is_log, 1.0, p1)
    return np.where(is_log, np.log(high / low), (high**safe - low**safe) / safe)


def sample_power_law(uniform, slope, low, high) -> np.ndarray:
    """Inverse-CDF draws of dn/dm ∝ m^slope on [low, high] from uniforms in [0, 1).

    m = (low^a + u (high^a - low^a))^(1/a), a = slope + 1 (m = low (high/low)^u when a = 0);
    Brehmer+19 Sec. 2.2 mass function. Every argument broadcasts elementwise (masses in Msun).
    """
    u, slope, low, high = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (uniform, slope, low, high)))
    a = slope + 1.0
    is_log = np.abs(a) < 1e-12
    safe = np.where(is_log, 1.0, a)
    power = (low**safe + u * (high**safe - low**safe)) ** (1.0 / safe)
    return np.where(is_log, low * (high / low) ** u, power)


def expected_count_from_f_sub(f_sub, slope, m_min, m_max, host_m200, roi_fraction, m_definition=None) -> np.ndarray:
    """Expected number of subhalos in the region of interest for a substructure fraction f_sub.

    N = f_sub M200 [int_{m_min}^{m_max} m^slope dm / int_{m_def}^{m_max} m^(slope+1) dm] x
    (projected host mass fraction inside the region) (Brehmer+19 Sec. 2.2: f_sub fixes the SHMF
    normalisation over [m_def, m_max], ``m_definition``, default ``m_min``; subhalos are drawn
    over [m_min, m_max] and trace the host's projected NFW profile). Elementwise over lenses.
    """
    m_definition = m_min if m_definition is None else m_definition
    total = np.asarray(f_sub) * np.asarray(host_m200) * _power_integral(slope, m_min, m_max)
    return total / _power_integral(np.asarray(slope) + 1.0, m_definition, m_max) * np.asarray(roi_fraction)


def sample_annulus(rng: np.random.Generator, r_min, r_max, radial: str = "area") -> tuple[np.ndarray, np.ndarray]:
    """Positions in the annulus r_min <= r < r_max: uniform per unit area or uniform in radius.

    Area: r = sqrt(r_min^2 + u (r_max^2 - r_min^2)); radius: r = r_min + u (r_max - r_min); the
    angle is uniform. ``r_min``, ``r_max`` are arrays of the number of points wanted (arcsec).
    Uses 2 x size uniforms (radii first, then angles).
    """
    r_min, r_max = np.broadcast_arrays(np.asarray(r_min, dtype=np.float64), np.asarray(r_max, dtype=np.float64))
    u_radius = rng.random(r_min.shape)
    u_angle = rng.random(r_min.shape)
    if radial == "area":
        radius = np.sqrt(r_min**2 + u_radius * (r_max**2 - r_min**2))
    elif radial == "radius":
        radius = r_min + u_radius * (r_max - r_min)
    else:
        raise ValueError(f"unknown radial distribution '{radial}'; one of: area, radius")
    angle = 2.0 * np.pi * u_angle
    return radius * np.cos(angle), radius * np.sin(angle)


def pad_ragged(flat, counts, width: int, fill: float = np.nan) -> np.ndarray:
    """Scatter ``flat`` (values grouped by lens, in order) into an (n, width) array padded with
    ``fill`` (width 0: an empty (n, 0) array, the labels of a population kept without them)."""
    counts = np.asarray(counts, dtype=np.int64)
    out = np.full((len(counts), width), fill, dtype=np.float64)
    if width == 0:
        return out
    out[np.arange(width)[None, :] < counts[:, None]] = flat
    return out


# --------------------------------------------------------------------------------------------
# Populations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostLenses:
    """What a population needs to know of its ``n`` main lenses.

    Parameters
    ----------
    theta_E : numpy.ndarray
        Einstein radius of the main lens (arcsec), (n,).
    center_x, center_y : numpy.ndarray
        Main-lens centre (arcsec), (n,).
    m200 : numpy.ndarray or None
        Host halo M200 (Msun), (n,), when known.
    distances : LensingDistances
        Distances of the systems (angular-diameter, for NFW subhalos).
    einstein_distances : LensingDistances
        Distances used for point-mass Einstein radii (see :func:`lensbench.physics.cosmology.lensing_distances`).
    """

    theta_E: np.ndarray
    center_x: np.ndarray
    center_y: np.ndarray
    m200: np.ndarray | None
    distances: LensingDistances
    einstein_distances: LensingDistances

    @property
    def n(self) -> int:
        """Number of lenses."""
        return len(self.theta_E)


@dataclass(frozen=True)
class PopulationDraw:
    """A population drawn for ``n`` lenses.

    Parameters
    ----------
    planes : tuple of Subhalos
        Subhalo planes for the Scene (empty without substructure); padded to a power of two at or
        above the batch's largest count, padded entries masked and far outside the stamp.
    labels : dict of str to numpy.ndarray
        Every key of :data:`POPULATION_KEYS`, leading dimension n, NaN-padded to ``max_count``.
    """

    planes: tuple[Subhalos, ...]
    labels: dict[str, np.ndarray]


def _empty_labels(n: int, max_count: int) -> dict[str, np.ndarray]:
    labels = {"subhalo_count": np.zeros(n, dtype=np.int64)}
    labels |= {key: np.full(n, np.nan) for key in SCALAR_KEYS}
    labels |= {key: np.full((n, max_count), np.nan) for key in PER_SUBHALO_KEYS}
    return labels


def _plane(profile: str, per_subhalo: dict[str, np.ndarray], counts: np.ndarray) -> Subhalos:
    """A Scene plane from flat per-subhalo arrays, padded to the power of two at or above the
    largest count in the batch (few distinct widths, so a compiled renderer recompiles rarely)."""
    width = 1 << (max(int(counts.max()), 1) - 1).bit_length()
    mask = np.arange(width)[None, :] < counts[:, None]
    params = {}
    for key, flat in per_subhalo.items():
        fill = PAD_CENTER if key.startswith("center") else (1.0 if key == "Rs" else 0.0)
        params[key] = pad_ragged(flat, counts, width, fill=fill)
    return Subhalos(profile, params, mask)


def _check_counts(counts: np.ndarray, max_count: int) -> None:
    if max_count == 0:  # no per-subhalo labels kept: nothing to truncate
        return
    if counts.size and counts.max() > max_count:
        worst = int(np.argmax(counts))
        raise ValueError(
            f"lens {worst} of the batch drew {int(counts[worst])} subhalos, more than max_subhalos="
            f"{max_count}; raise max_subhalos"
        )


def draw_population(
    config: PopulationConfig, hosts: HostLenses, rng: np.random.Generator, max_count: int
) -> PopulationDraw:
    """Draw ``config``'s population for every lens in ``hosts``.

    Parameters
    ----------
    config : PopulationConfig
    hosts : HostLenses
        The n main lenses (Einstein radii, centres, M200, distances).
    rng : numpy.random.Generator
        Source of every random number.
    max_count : int
        Width the per-subhalo labels are padded to; a draw with more subhalos raises ValueError.
        0: no per-subhalo labels are kept (width 0) and any count is allowed; the renderers
        still get every subhalo, and the CDM sufficient statistics are always labelled.

    Returns
    -------
    PopulationDraw
    """
    drawers = {"none": _draw_none, "cdm": _draw_cdm, "vortex": _draw_vortex, "halo": _draw_halo}
    return drawers[config.kind](config, hosts, rng, max_count)


def _draw_none(config, hosts, rng, max_count) -> PopulationDraw:
    return PopulationDraw((), _empty_labels(hosts.n, max_count))


def _draw_cdm(config: PopulationConfig, hosts: HostLenses, rng, max_count) -> PopulationDraw:
    n = hosts.n
    labels = _empty_labels(n, max_count)
    if config.needs_host_mass and hosts.m200 is None:
        raise ValueError("this CDM population needs the host's M200: give prior host_m200 or lens_sigma_v")
    slope = config.slope.sample(rng, n)
    f_sub = config.f_sub.sample(rng, n) if config.count_mode == "f_sub" else np.full(n, np.nan)
    m_max = np.full(n, config.m_max) if config.m_max_host_fraction is None else config.m_max_host_fraction * hosts.m200
    if np.any(m_max <= config.m_min):
        raise ValueError(f"the subhalo mass range is empty for some lens: m_max <= m_min = {config.m_min} Msun")
    scale = hosts.theta_E if config.radius_unit == "theta_E" else np.ones(n)
    r_min, r_max = config.r_min * scale, config.r_max * scale
    roi_mass = np.full(n, np.nan)
    if config.count_mode == "fixed":
        expected = np.full(n, float(config.count))
        counts = np.full(n, int(config.count), dtype=np.int64)
    else:
        if config.count_mode == "poisson":
            expected = np.full(n, float(config.count))
        else:
            c_host = concentration_scp14(hosts.m200, hosts.distances.h)
            inside = nfw_projected_mass_fraction(r_max, hosts.m200, c_host, hosts.distances)
            if config.r_min > 0:
                inside = inside - nfw_projected_mass_fraction(r_min, hosts.m200, c_host, hosts.distances)
            roi_mass = hosts.m200 * inside
            expected = expected_count_from_f_sub(f_sub, slope, config.m_min, m_max, hosts.m200, inside,
                                                 config.f_sub_m_min)
        counts = rng.poisson(expected).astype(np.int64)
    _check_counts(counts, max_count)
    owner = np.repeat(np.arange(n), counts)
    masses = sample_power_law(rng.random(owner.size), slope[owner], config.m_min, m_max[owner])
    dx, dy = sample_annulus(rng, r_min[owner], r_max[owner], config.radial_distribution)
    x, y = hosts.center_x[owner] + dx, hosts.center_y[owner] + dy
    labels |= {"slope": slope, "f_sub": f_sub, "expected_count": expected, "subhalo_count": counts,
               "subhalo_log_mass_sum": np.bincount(owner, weights=np.log(masses), minlength=n),
               "host_roi_mass": roi_mass, "subhalo_m_max": m_max}
    labels |= {"subhalo_mass": pad_ragged(masses, counts, max_count),
               "subhalo_x": pad_ragged(x, counts, max_count), "subhalo_y": pad_ragged(y, counts, max_count)}
    if config.profile == "nfw":
        concentration = concentration_scp14(masses, hosts.distances.h)
        rs, alpha_rs = nfw_angles(masses, concentration, hosts.distances.select(owner))
        plane = _plane("nfw", {"Rs": rs, "alpha_Rs": alpha_rs, "center_x": x, "center_y": y}, counts)
        labels |= {"subhalo_concentration": pad_ragged(concentration, counts, max_count),
                   "subhalo_Rs": pad_ragged(rs, counts, max_count),
                   "subhalo_alpha_Rs": pad_ragged(alpha_rs, counts, max_count)}
    else:
        theta_e = point_mass_einstein_radius(masses, hosts.einstein_distances.select(owner))
        plane = _plane("point_mass", {"theta_E": theta_e, "center_x": x, "center_y": y}, counts)
        labels["subhalo_theta_E"] = pad_ragged(theta_e, counts, max_count)
    return PopulationDraw((plane,) if owner.size else (), labels)


def vortex_length(axion_mass, length_at_1e22: float = 0.06) -> np.ndarray:
    """Vortex line length L = length_at_1e22 x (1e-22 eV / m_a) (arcsec; m_a in eV).

    DeepLenseSim ``axion_mass_to_length`` returns the half length 0.03" (1e-22 eV / m_a) for a halo
    at z = 0.5; the line spans +-that, so L = 0.06" at 1e-22 eV and 6" at 1e-24 eV.
    """
    return length_at_1e22 * 1e-22 / np.asarray(axion_mass, dtype=np.float64)


def _draw_vortex(config: PopulationConfig, hosts: HostLenses, rng, max_count) -> PopulationDraw:
    n, points = hosts.n, int(config.vortex_points)
    _check_counts(np.full(n, points), max_count)
    labels = _empty_labels(n, max_count)
    axion_mass = config.axion_mass.sample(rng, n)
    angle = 2.0 * np.pi * rng.random(n)
    length = vortex_length(axion_mass, config.vortex_length_at_1e22)
    along = np.linspace(-0.5, 0.5, points)[None, :] * length[:, None]
    x = hosts.center_x[:, None] + along * np.cos(angle)[:, None]
    y = hosts.center_y[:, None] + along * np.sin(angle)[:, None]
    masses = np.full((n, points), config.vortex_mass / points)
    theta_e = point_mass_einstein_radius(masses, hosts.einstein_distances)
    counts = np.full(n, points, dtype=np.int64)
    plane = Subhalos("point_mass", {"theta_E": theta_e, "center_x": x, "center_y": y}, np.ones((n, points), bool))
    labels |= {"axion_mass": axion_mass, "vortex_angle": angle, "vortex_length": length, "subhalo_count": counts}
    for key, values in (("subhalo_mass", masses), ("subhalo_x", x), ("subhalo_y", y), ("subhalo_theta_E", theta_e)):
        labels[key] = pad_ragged(values.ravel(), counts, max_count)
    return PopulationDraw((plane,), labels)


def _draw_halo(config: PopulationConfig, hosts: HostLenses, rng, max_count) -> PopulationDraw:
    n = hosts.n
    _check_counts(np.ones(n, dtype=np.int64), max_count)
    labels = _empty_labels(n, max_count)
    drawn = {name: getattr(config, f"halo_{name}").sample(rng, n) for name in ("Rs", "alpha_Rs", "center_x", "center_y")}
    plane = Subhalos("nfw", {key: value[:, None] for key, value in drawn.items()}, np.ones((n, 1), bool))
    labels |= {f"halo_{name}": value for name, value in drawn.items()}
    labels["subhalo_count"] = np.ones(n, dtype=np.int64)
    for key, name in (("subhalo_Rs", "Rs"), ("subhalo_alpha_Rs", "alpha_Rs"), ("subhalo_x", "center_x"), ("subhalo_y", "center_y")):
        labels[key][:, 0] = drawn[name]
    return PopulationDraw((plane,), labels)
