"""The ``strong_lensing`` simulation kind: galaxy-galaxy strong lenses with dark-matter substructure.

A batch is made in three stages, each from the same :class:`numpy.random.Generator`:

1. every parameter is drawn: the spec's priors (sorted by name), then the class's substructure
   population (:mod:`lensbench.simulate.substructure`);
2. the :class:`~lensbench.simulate.scene.Scene` is rendered by the chosen backend (``"torch"`` or
   ``"lenstronomy"``; both see the same parameters since nothing random happens in rendering);
3. noise is added (:mod:`lensbench.simulate.noise`), in numpy, identical for both backends.

Priors (``[simulation.priors]``; angles in arcsec, masses in Msun, velocities in km/s)
--------------------------------------------------------------------------------------
``z_lens``, ``z_source`` (default 0.5, 1.0); main lens, one of ``lens_theta_E``,
``lens_sigma_v`` (SIS relation) or ``lens_mass`` (point-mass Einstein radius, DeepLenseSim's
``mass_to_radius``), plus ``lens_gamma`` (EPL slope), ``lens_e1``, ``lens_e2``, ``lens_center_x``,
``lens_center_y``; optional ``host_m200`` (else derived from ``lens_sigma_v`` when given, Zahid+18);
shear as ``shear_gamma1``/``shear_gamma2`` or ``shear_gamma_ext``/``shear_phi_ext`` (modulus and
angle in rad, lenstronomy's gamma1 = g cos 2phi, gamma2 = g sin 2phi); source Sersic
``source_R_sersic``, ``source_n_sersic``, ``source_e1``, ``source_e2``, ``source_center_x``,
``source_center_y`` with its brightness as ``source_amp`` (counts/s/arcsec^2 at R_sersic),
``source_magnitude`` (AB, with the survey's zero point) or ``source_amp_ratio`` (times the lens
light's amplitude, Ko 2024 Table I); lens light the same with the prefix ``lens_light_`` (its
centre defaults to the lens centre). Omitted ellipticities and centres are 0.

The defaults reproduce DeepLenseSim (mwt5345/DeepLenseSim, behind Deshmukh et al. 2023): an SIE of
1e12 Msun (e1 = 0.1) at z = 0.5 with shear 0.05, a Sersic source at z = 1 (magnitude 20,
R = 0.25", n = 1, e = (-0.1, 0.1), centre U(-0.35, 0.35)"), classes no_sub / cdm / vortex and an
axion-mass regression set. Their code turns masses into Einstein radii with luminosity distances
(theta_E = 1.28" for 1e12 Msun); the default here is angular-diameter distances (1.66"): set
``einstein_distances = "luminosity"`` to match their images. Their CDM code draws dn/dm ∝ m^-0.9
(docstring -1.9) and radii uniform in r: the defaults are slope -1.9 (the standard SHMF) and
uniform per area; set ``slope = -0.9`` and ``radial_distribution = "radius"`` to copy the code.

Why one module of ~450 lines: the kind's configuration, its survey presets and the three
stages above are one simulator; the priors it documents here are read by every stage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from lensbench.execution import ExecutionConfig
from lensbench.physics.cosmology import (
    host_m200_from_sigma_v,
    lensing_distances,
    point_mass_einstein_radius,
    sis_einstein_radius,
)
from lensbench.simulate import noise
from lensbench.simulate.priors import Prior, nonnegative, sample_priors
from lensbench.simulate.buckets import count_buckets, trimmed
from lensbench.simulate.scene import LENS_PROFILES, Observation, Scene
from lensbench.simulate.substructure import HostLenses, PopulationConfig, draw_population

SERSIC_SHAPE = ("R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
LIGHT_BRIGHTNESS = ("amp", "magnitude", "amp_ratio")
LENS_STRENGTH = ("lens_theta_E", "lens_sigma_v", "lens_mass")
PRIOR_NAMES = (
    ("z_lens", "z_source", "host_m200")
    + LENS_STRENGTH
    + ("lens_gamma", "lens_e1", "lens_e2", "lens_center_x", "lens_center_y")
    + ("shear_gamma1", "shear_gamma2", "shear_gamma_ext", "shear_phi_ext")
    + tuple(f"source_{key}" for key in LIGHT_BRIGHTNESS + SERSIC_SHAPE)
    + tuple(f"lens_light_{key}" for key in LIGHT_BRIGHTNESS[:2] + SERSIC_SHAPE)
)
"""Every prior name the strong-lensing kind understands."""
OPTIONAL_DEFAULTS = {"z_lens": 0.5, "z_source": 1.0, "lens_e1": 0.0, "lens_e2": 0.0, "lens_center_x": 0.0,
                     "lens_center_y": 0.0, "source_e1": 0.0, "source_e2": 0.0, "source_center_x": 0.0,
                     "source_center_y": 0.0, "lens_light_e1": 0.0, "lens_light_e2": 0.0}
"""Values of parameters whose prior is omitted."""
PRIOR_RANGES = nonnegative(("z_lens", "z_source", "host_m200", "shear_gamma_ext")
                           + LENS_STRENGTH
                           + tuple(f"source_{key}" for key in ("amp", "amp_ratio", "R_sersic", "n_sersic"))
                           + tuple(f"lens_light_{key}" for key in ("amp", "R_sersic", "n_sersic")))
"""Physical ranges a prior's support must lie in: redshifts, masses, the velocity dispersion,
Einstein radius and shear modulus, amplitudes, Sersic radii (arcsec) and indices are >= 0."""


def _fixed(value: float) -> Prior:
    return Prior("fixed", value=value)


def _deeplense_priors() -> dict[str, Prior]:
    return {
        "z_lens": _fixed(0.5), "z_source": _fixed(1.0), "lens_mass": _fixed(1e12), "lens_e1": _fixed(0.1),
        "shear_gamma1": _fixed(0.05), "shear_gamma2": _fixed(0.0), "source_magnitude": _fixed(20.0),
        "source_R_sersic": _fixed(0.25), "source_n_sersic": _fixed(1.0), "source_e1": _fixed(-0.1),
        "source_e2": _fixed(0.1), "source_center_x": Prior("uniform", low=-0.35, high=0.35),
        "source_center_y": Prior("uniform", low=-0.35, high=0.35),
    }


def _deeplense_classes() -> dict[str, PopulationConfig]:
    return {
        "no_sub": PopulationConfig(kind="none"),
        "cdm": PopulationConfig(kind="cdm", profile="point_mass", count_mode="fixed", count=25, m_min=1e6,
                                m_max=1e10, r_min=0.25, r_max=2.0),
        "vortex": PopulationConfig(kind="vortex"),
    }


MAX_NPIX = 4096
"""Largest image side (pixels): one 4096 x 4096 float32 image is 64 MB."""
MAX_SUPERSAMPLING = 32
"""Most sub-pixels per pixel side."""


@dataclass(frozen=True)
class StrongLensingSurvey:
    """How the lenses are observed: pixels, PSF, exposure and noise.

    Parameters
    ----------
    npix : int
        Image side (pixels).
    pixel_scale : float
        Pixel side (arcsec).
    psf_fwhm : float or None
        FWHM of a Gaussian PSF (arcsec); None for none.
    supersampling : int
        Sub-pixels per pixel side used to integrate the surface brightness.
    exposure_time : float
        Time of one exposure (s).
    num_exposures : int
        Exposures co-added (total time = exposure_time x num_exposures).
    magnitude_zero_point : float
        AB magnitude of 1 count/s.
    sky_brightness : float or None
        Sky surface brightness (mag/arcsec^2); None for no sky.
    read_noise : float
        Read-out noise per exposure (electrons).
    background_rms : float or None
        Gaussian background per pixel (counts/s); None to derive it from read noise and sky.
    sky_in_image : bool
        Keep the sky in the image as part of the Poisson mean (Brehmer+19) instead of subtracting
        it and modelling its shot noise as Gaussian background.
    """

    npix: int = 64
    pixel_scale: float = 0.08
    psf_fwhm: float | None = 0.08
    supersampling: int = 1
    exposure_time: float = 5400.0
    num_exposures: int = 1
    magnitude_zero_point: float = 25.96
    sky_brightness: float | None = 22.3
    read_noise: float = 4.0
    background_rms: float | None = None
    sky_in_image: bool = False

    def __post_init__(self):
        problems = []
        if int(self.npix) != self.npix or not 8 <= self.npix <= MAX_NPIX:
            problems.append(f"npix must be an integer in [8, {MAX_NPIX}], got {self.npix}")
        if int(self.supersampling) == self.supersampling and self.supersampling > MAX_SUPERSAMPLING:
            problems.append(f"supersampling must be <= {MAX_SUPERSAMPLING}, got {self.supersampling}")
        if not self.pixel_scale > 0:
            problems.append(f"pixel_scale must be > 0 arcsec, got {self.pixel_scale}")
        if self.psf_fwhm is not None and not self.psf_fwhm > 0:
            problems.append(f"psf_fwhm must be > 0 arcsec or omitted, got {self.psf_fwhm}")
        if int(self.supersampling) != self.supersampling or self.supersampling < 1:
            problems.append(f"supersampling must be an integer >= 1, got {self.supersampling}")
        if not self.exposure_time > 0:
            problems.append(f"exposure_time must be > 0 s, got {self.exposure_time}")
        if int(self.num_exposures) != self.num_exposures or self.num_exposures < 1:
            problems.append(f"num_exposures must be an integer >= 1, got {self.num_exposures}")
        if self.read_noise < 0:
            problems.append(f"read_noise must be >= 0 electrons, got {self.read_noise}")
        if self.background_rms is not None and self.background_rms < 0:
            problems.append(f"background_rms must be >= 0 counts/s, got {self.background_rms}")
        if self.sky_in_image and self.sky_brightness is None:
            problems.append("sky_in_image needs sky_brightness")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def total_exposure(self) -> float:
        """Total exposure time (s)."""
        return self.exposure_time * self.num_exposures

    def observation(self) -> Observation:
        """The pixel grid and PSF the renderers use."""
        return Observation(npix=int(self.npix), pixel_scale=self.pixel_scale,
                           supersampling=int(self.supersampling), psf_fwhm=self.psf_fwhm)

    def sky_level(self) -> float:
        """Sky counts/s per pixel kept in the image (0 unless ``sky_in_image``)."""
        if not self.sky_in_image:
            return 0.0
        return float(noise.magnitude_to_counts(self.sky_brightness, self.magnitude_zero_point)) * self.pixel_scale**2

    def background_sigma(self) -> float:
        """Gaussian background noise per pixel (counts/s)."""
        if self.background_rms is not None:
            return self.background_rms
        sky = None if self.sky_in_image else self.sky_brightness
        return noise.background_rms(self.exposure_time, self.pixel_scale, self.read_noise, sky,
                                    self.magnitude_zero_point, int(self.num_exposures))

    def add_noise(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``images`` (counts/s per pixel) with Poisson and background noise drawn from ``rng``."""
        return noise.add_noise(images, self.total_exposure, self.background_sigma(), rng, self.sky_level())


SURVEY_PRESETS: dict[str, StrongLensingSurvey] = {
    # lenstronomy SimulationAPI HST "WFC3_F160W" (5400 s, sky 22.3, zp 25.96, read noise 4 e-,
    # drizzled 0.08" pixels and PSF): DeepLenseSim Model III, the SSL paper's Model A.
    "hst": StrongLensingSurvey(),
    # lenstronomy SimulationAPI Euclid "VIS", 6-year co-add (4 x 566 s, sky 22.3, zp 25.72, read
    # noise 4.2 e-, 0.101" pixels, 0.16" PSF): DeepLenseSim Model II, the SSL paper's Model B.
    "euclid": StrongLensingSurvey(pixel_scale=0.101, psf_fwhm=0.16, exposure_time=566.0, num_exposures=4,
                                  magnitude_zero_point=25.72, sky_brightness=22.3, read_noise=4.2),
    # DeepLenseSim Model I (Model_I/sim_*.py): 150 x 150 at 0.05", 0.087" PSF, background rms
    # 0.01 counts/s; its exposure is drawn from 10^U(3, 3.5) s, fixed here at the middle 10^3.25.
    "deeplense_model_i": StrongLensingSurvey(npix=150, pixel_scale=0.05, psf_fwhm=0.087,
                                             exposure_time=10**3.25, background_rms=0.01),
    # Brehmer+19 (smsharma/mining-for-substructure-lens): 64 x 64 at 0.1", Gaussian PSF of FWHM
    # 0.18", 1610 s, zp 25.5, sky 22.8 mag/arcsec^2 (paper; the code uses 22.5) kept in the image
    # and Poisson-fluctuated with it; no read noise.
    "brehmer": StrongLensingSurvey(pixel_scale=0.1, psf_fwhm=0.18, exposure_time=1610.0, magnitude_zero_point=25.5,
                                   sky_brightness=22.8, read_noise=0.0, sky_in_image=True),
}
"""Named surveys. Ko (2024) states only 64 x 64 pixels for the strong-lensing set: use ``hst``."""


def renderers():
    """The registry of renderers, :data:`lensbench.simulate.backends.RENDERERS`, imported on first
    use (it loads torch)."""
    from lensbench.simulate.backends import RENDERERS

    return RENDERERS


@dataclass(frozen=True)
class StrongLensingConfig:
    """The ``[simulation]`` table of ``kind = "strong_lensing"``.

    Parameters
    ----------
    backend : str
        Renderer, a name in :data:`lensbench.simulate.backends.RENDERERS` ("torch", "lenstronomy").
    lens_profile : str
        Main deflector, a name in :data:`lensbench.simulate.scene.LENS_PROFILES`
        ("sis", "sie", "epl", "none").
    shear : bool
        External shear (needs shear priors).
    lens_light : bool
        Render the deflector's Sersic light (needs ``lens_light_*`` priors).
    priors : dict of str to Prior
        Per-lens parameters (names in this module's docstring).
    h0 : float
        Hubble constant (km/s/Mpc).
    omega_m : float
        Matter density today (flat LambdaCDM).
    einstein_distances : {"angular_diameter", "luminosity"}
        Distances for point-mass Einstein radii (main lens from ``lens_mass``, point-mass
        subhalos, vortex): ``luminosity`` copies DeepLenseSim's code.
    classes : dict of str to PopulationConfig
        Substructure of each class, in label order.
    regression : PopulationConfig
        Population of a continuous-label set (``class_name = None``); default the DeepLense
        axion-mass regression (vortices).
    max_subhalos : int
        Width that per-subhalo labels are padded to (NaN); more subhalos in one lens is an error.
    subhalo_labels : bool
        Store the per-subhalo labels (masses, positions, ...: (n, max_subhalos) arrays). False
        keeps only counts and sufficient statistics (Brehmer+19's populations reach thousands of
        subhalos per lens: 84 KB per image at 1,500 slots); ``max_subhalos`` then bounds nothing
        and every drawn subhalo is rendered.
    """

    backend: str = field(default="torch", metadata={"choices": renderers})
    lens_profile: str = field(default="sie", metadata={"choices": lambda: LENS_PROFILES})
    shear: bool = True
    lens_light: bool = False
    priors: dict[str, Prior] = field(default_factory=_deeplense_priors, metadata={
        "keys": lambda: PRIOR_NAMES, "what": "prior", "ranges": PRIOR_RANGES,
        "help": "Per-lens parameters, prior name -> prior (names below, explained in lensbench/simulate/strong.py; "
                "angles in arcsec, masses in Msun, velocities in km/s)."})
    h0: float = 70.0
    omega_m: float = 0.3
    einstein_distances: Literal["angular_diameter", "luminosity"] = "angular_diameter"
    classes: dict[str, PopulationConfig] = field(default_factory=_deeplense_classes)
    regression: PopulationConfig = field(default_factory=lambda: PopulationConfig(kind="vortex"))
    max_subhalos: int = 128
    subhalo_labels: bool = True

    def __post_init__(self):
        if self.lens_profile not in LENS_PROFILES:
            raise ValueError(LENS_PROFILES.unknown_message(self.lens_profile))
        problems = _prior_problems(self)
        if not 0 < self.omega_m <= 1:
            problems.append(f"omega_m must be in (0, 1], got {self.omega_m}")
        if not self.h0 > 0:
            problems.append(f"h0 must be > 0 km/s/Mpc, got {self.h0}")
        if not self.classes:
            problems.append("classes must name at least one class")
        if int(self.max_subhalos) != self.max_subhalos or self.max_subhalos < 1:
            problems.append(f"max_subhalos must be an integer >= 1, got {self.max_subhalos}")
        has_host_mass = "host_m200" in self.priors or "lens_sigma_v" in self.priors
        for name, population in list(self.classes.items()) + [("regression", self.regression)]:
            fixed = population.most_subhalos()
            if fixed is not None and fixed > self.max_subhalos and self.subhalo_labels:
                problems.append(f"{name}: {fixed} subhalos per lens exceed max_subhalos={self.max_subhalos}")
            if population.needs_host_mass and not has_host_mass:
                problems.append(f"{name}: this population needs the host's M200; give prior host_m200 or lens_sigma_v")
            if population.radius_unit == "theta_E" and not LENS_PROFILES.get(self.lens_profile).deflects:
                problems.append(f"{name}: radii in units of theta_E need a main lens")
        if problems:
            raise ValueError("; ".join(problems))


def _prior_problems(config: StrongLensingConfig) -> list[str]:
    """Every reason ``config.priors`` cannot describe its lenses."""
    priors = config.priors
    problems = [f"unknown prior '{name}'; known priors: {', '.join(PRIOR_NAMES)}" for name in priors if name not in PRIOR_NAMES]
    strength = [name for name in LENS_STRENGTH if name in priors]
    profile = LENS_PROFILES.get(config.lens_profile)
    if profile.deflects and len(strength) != 1:
        problems.append(f"give exactly one of {', '.join(LENS_STRENGTH)} for the main lens (got {len(strength)})")
    shape = [f"lens_{key}" for key in profile.keys if key != "theta_E"]
    problems += [f"lens profile '{config.lens_profile}' needs prior {name}" for name in shape
                 if name not in priors and name not in OPTIONAL_DEFAULTS]
    polar = {"shear_gamma_ext", "shear_phi_ext"} <= set(priors)
    cartesian = {"shear_gamma1", "shear_gamma2"} <= set(priors)
    if config.shear and polar == cartesian:
        problems.append("shear needs either shear_gamma1 and shear_gamma2 or shear_gamma_ext and shear_phi_ext")
    problems += _light_problems(priors, "source", allow_ratio=True)
    if config.lens_light:
        problems += _light_problems(priors, "lens_light", allow_ratio=False)
    if "source_amp_ratio" in priors and not config.lens_light:
        problems.append("source_amp_ratio scales the lens light's amplitude: set lens_light = true")
    return problems


def _light_problems(priors: dict[str, Prior], prefix: str, allow_ratio: bool) -> list[str]:
    brightness = [f"{prefix}_{key}" for key in LIGHT_BRIGHTNESS[: 3 if allow_ratio else 2] if f"{prefix}_{key}" in priors]
    problems = [] if len(brightness) == 1 else [
        f"give exactly one brightness for {prefix}: "
        + ", ".join(f"{prefix}_{key}" for key in LIGHT_BRIGHTNESS[: 3 if allow_ratio else 2])
    ]
    problems += [f"{prefix} needs prior {prefix}_{key}" for key in ("R_sersic", "n_sersic") if f"{prefix}_{key}" not in priors]
    return problems


def class_names(config: StrongLensingConfig) -> list[str]:
    """The classes of a strong-lensing dataset, in label order."""
    return list(config.classes)


def population_for(config: StrongLensingConfig, class_name: str | None) -> PopulationConfig:
    """The population of ``class_name`` (the regression population when None)."""
    if class_name is None:
        return config.regression
    if class_name not in config.classes:
        raise ValueError(f"unknown class '{class_name}'; one of: {', '.join(config.classes)}")
    return config.classes[class_name]


def _with_defaults(drawn: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    return {name: np.full(n, value) for name, value in OPTIONAL_DEFAULTS.items()} | drawn


def _einstein_radius(config: StrongLensingConfig, params: dict, distances, einstein_distances) -> np.ndarray:
    if "lens_theta_E" in params:
        return params["lens_theta_E"]
    if "lens_sigma_v" in params:
        return sis_einstein_radius(params["lens_sigma_v"], distances)
    return point_mass_einstein_radius(params["lens_mass"], einstein_distances)


def sersic_light(params: dict, prefix: str, zero_point: float, ratio_of: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """lenstronomy SERSIC_ELLIPSE kwargs (arrays) of the light named ``prefix``."""
    light = {key: params[f"{prefix}_{key}"] for key in SERSIC_SHAPE}
    if f"{prefix}_amp" in params:
        light["amp"] = params[f"{prefix}_amp"]
    elif f"{prefix}_magnitude" in params:
        counts = noise.magnitude_to_counts(params[f"{prefix}_magnitude"], zero_point)
        light["amp"] = noise.sersic_amplitude(counts, light["R_sersic"], light["n_sersic"])
    else:
        light["amp"] = params[f"{prefix}_amp_ratio"] * ratio_of
    return light


def draw_scene(
    config: StrongLensingConfig, survey: StrongLensingSurvey, class_name: str | None, n: int, rng: np.random.Generator
) -> tuple[Scene, dict[str, np.ndarray]]:
    """Draw every parameter of ``n`` lenses of ``class_name`` (priors, then substructure).

    Returns
    -------
    scene : Scene
        What the renderers draw.
    params : dict of str to numpy.ndarray
        Every drawn or derived parameter, leading dimension n: the priors, ``lens_theta_E``,
        ``host_m200`` (NaN when unknown), the lenstronomy kwargs of shear (``shear_gamma1/2``),
        source and lens light (``source_amp`` ...), and the population labels
        (:data:`lensbench.simulate.substructure.POPULATION_KEYS`).
    """
    population = population_for(config, class_name)
    params = _with_defaults(sample_priors(config.priors, rng, n), n)
    distances = lensing_distances(params["z_lens"], params["z_source"], config.h0, config.omega_m)
    einstein = lensing_distances(params["z_lens"], params["z_source"], config.h0, config.omega_m, config.einstein_distances)
    profile = LENS_PROFILES.get(config.lens_profile)
    if profile.deflects:
        params["lens_theta_E"] = _einstein_radius(config, params, distances, einstein)
    lens = {key: params[f"lens_{key}"] for key in profile.keys}
    if "host_m200" not in params:
        params["host_m200"] = host_m200_from_sigma_v(params["lens_sigma_v"]) if "lens_sigma_v" in params else np.full(n, np.nan)
    shear = None
    if config.shear:
        if "shear_gamma1" not in config.priors:
            params["shear_gamma1"] = params["shear_gamma_ext"] * np.cos(2.0 * params["shear_phi_ext"])
            params["shear_gamma2"] = params["shear_gamma_ext"] * np.sin(2.0 * params["shear_phi_ext"])
        shear = {"gamma1": params["shear_gamma1"], "gamma2": params["shear_gamma2"]}
    lens_light = None
    if config.lens_light:
        for axis in ("center_x", "center_y"):
            params.setdefault(f"lens_light_{axis}", params[f"lens_{axis}"])
        lens_light = sersic_light(params, "lens_light", survey.magnitude_zero_point)
        params["lens_light_amp"] = lens_light["amp"]
    source = sersic_light(params, "source", survey.magnitude_zero_point, None if lens_light is None else lens_light["amp"])
    params["source_amp"] = source["amp"]
    hosts = HostLenses(
        theta_E=params.get("lens_theta_E", np.zeros(n)), center_x=params["lens_center_x"],
        center_y=params["lens_center_y"], m200=None if np.isnan(params["host_m200"]).any() else params["host_m200"],
        distances=distances, einstein_distances=einstein,
    )
    drawn = draw_population(population, hosts, rng, int(config.max_subhalos) if config.subhalo_labels else 0)
    scene = Scene(n=n, lens_profile=config.lens_profile, lens=lens, shear=shear, convergence=None,
                  subhalos=drawn.planes, source=source, lens_light=lens_light)
    return scene, params | drawn.labels


def render(scene: Scene, observation: Observation, backend: str, execution: ExecutionConfig = ExecutionConfig()) -> np.ndarray:
    """Noiseless, PSF-convolved images (n, npix, npix) in counts/s per pixel from ``backend``,
    compiled as ``execution`` says, lenses rendered in buckets of similar subhalo counts
    (:func:`count_buckets`)."""
    renderer = renderers().get(backend)
    buckets = count_buckets(scene)
    if len(buckets) == 1 and tuple(p.max_count for p in scene.subhalos) == buckets[0][1]:
        return np.asarray(renderer(scene, observation, compile=execution.use_compile), dtype=np.float64)
    images = np.empty((scene.n, observation.npix, observation.npix))
    for idx, widths in buckets:
        part = trimmed(scene.subset(idx), widths)
        images[idx] = np.asarray(renderer(part, observation, compile=execution.use_compile), dtype=np.float64)
    return images


def simulate_batch(
    config: StrongLensingConfig,
    survey: StrongLensingSurvey,
    class_name: str | None,
    n: int,
    rng: np.random.Generator,
    *,
    execution: ExecutionConfig = ExecutionConfig(),
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulate ``n`` noisy strong-lens images of one class (or of the regression set).

    Parameters
    ----------
    config : StrongLensingConfig
    survey : StrongLensingSurvey
    class_name : str or None
        A key of ``config.classes``; None for the continuous-label (regression) set.
    n : int
        Number of images.
    rng : numpy.random.Generator
        Draws all parameters first, then the noise: the same seed gives the same bytes for the
        same backend.
    execution : ExecutionConfig
        Speed switches: whether the torch renderer compiles.

    Returns
    -------
    images : numpy.ndarray
        float32 (n, 1, npix, npix), counts/s per pixel, with noise.
    params : dict of str to numpy.ndarray
        Every drawn parameter (see :func:`draw_scene`), leading dimension n.
    """
    scene, params = draw_scene(config, survey, class_name, n, rng)
    images = survey.add_noise(render(scene, survey.observation(), config.backend, execution), rng)
    return images.astype(np.float32)[:, None], params
