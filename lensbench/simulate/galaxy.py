"""The ``galaxy`` simulation kind: one galaxy's light, weakly lensed by its own NFW halo (Ko 2024).

Ko's single-galaxy task (Sec. II.A.2) renders a galaxy with lenstronomy without a main lens and,
for the "halo" class, deflects its light by an NFW halo; a CNN then tells halo from no halo and is
applied to HST COSMOS cutouts. Here the galaxy is an elliptical Sersic profile (Ko calls it a
"power law galaxy model"; Table I gives Sersic priors) with Ko's Table I priors, the halo is
:class:`~lensbench.simulate.substructure.PopulationConfig` of kind ``"halo"`` (Rs ~ U(10, 100)",
alpha_Rs ~ N_log(0, 0.1)", centre ~ N(0, 0.102)"; see that module on what Rs >> stamp means),
and the survey imitates COSMOS: ACS F814W drizzled to 0.03"/px (``SURVEY_PRESETS["cosmos"]``).

Priors (``[simulation.priors]``): ``galaxy_amp`` (counts/s/arcsec^2 at R_sersic) or
``galaxy_magnitude`` (AB), ``galaxy_R_sersic`` (arcsec), ``galaxy_n_sersic``, ``galaxy_e1``,
``galaxy_e2``, ``galaxy_center_x``, ``galaxy_center_y`` (arcsec; omitted ones are 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lensbench.execution import ExecutionConfig
from lensbench.physics.cosmology import lensing_distances
from lensbench.simulate.priors import Prior, nonnegative, sample_priors
from lensbench.simulate.scene import Scene
from lensbench.simulate.strong import SERSIC_SHAPE, StrongLensingSurvey, render, renderers, sersic_light
from lensbench.simulate.substructure import HostLenses, PopulationConfig, draw_population

CLASS_NAMES = ("no_halo", "halo")
"""Classes of the galaxy kind, in label order."""
PRIOR_NAMES = ("galaxy_amp", "galaxy_magnitude") + tuple(f"galaxy_{key}" for key in SERSIC_SHAPE)
"""Every prior name the galaxy kind understands."""
PRIOR_RANGES = nonnegative(("galaxy_amp", "galaxy_R_sersic", "galaxy_n_sersic"))
"""Physical ranges a prior's support must lie in: amplitude, Sersic radius (arcsec) and index >= 0."""
OPTIONAL_DEFAULTS = {"galaxy_e1": 0.0, "galaxy_e2": 0.0, "galaxy_center_x": 0.0, "galaxy_center_y": 0.0}


def _ko_galaxy_priors() -> dict[str, Prior]:
    """Ko (2024) Table I, "Galaxies": amplitude, Sersic radius and index, ellipticity, centre."""
    return {
        "galaxy_amp": Prior("uniform", low=1.0, high=15.0),
        "galaxy_R_sersic": Prior("lognormal", mu=-0.7, sigma=0.4),
        "galaxy_n_sersic": Prior("lognormal", mu=0.7, sigma=0.4),
        "galaxy_e1": Prior("normal", mu=0.0, sigma=0.2),
        "galaxy_e2": Prior("normal", mu=0.0, sigma=0.2),
        "galaxy_center_x": Prior("normal", mu=0.0, sigma=0.102),
        "galaxy_center_y": Prior("normal", mu=0.0, sigma=0.102),
    }


SURVEY_PRESETS: dict[str, StrongLensingSurvey] = {
    # COSMOS ACS/WFC F814W (Koekemoer et al. 2007): drizzled 0.03" pixels, PSF FWHM ~0.09", one
    # orbit of 4 x 507 s, AB zero point 25.94; sky ~22.4 mag/arcsec^2 and read noise 5 e- are
    # typical ACS values (our choice). Real COSMOS noise is correlated by drizzling; this is white.
    "cosmos": StrongLensingSurvey(npix=64, pixel_scale=0.03, psf_fwhm=0.09, exposure_time=507.0, num_exposures=4,
                                  magnitude_zero_point=25.94, sky_brightness=22.4, read_noise=5.0),
}
"""Named surveys of the galaxy kind."""


@dataclass(frozen=True)
class GalaxyConfig:
    """The ``[simulation]`` table of ``kind = "galaxy"``.

    Parameters
    ----------
    backend : str
        Renderer, a name in :data:`lensbench.simulate.backends.RENDERERS` ("torch", "lenstronomy").
    priors : dict of str to Prior
        Galaxy light (names in this module's docstring); default Ko's Table I.
    halo : PopulationConfig
        The halo of the "halo" class and of the regression set (``kind = "halo"``).
    """

    backend: str = field(default="torch", metadata={"choices": renderers})
    priors: dict[str, Prior] = field(default_factory=_ko_galaxy_priors, metadata={
        "keys": lambda: PRIOR_NAMES, "what": "prior", "ranges": PRIOR_RANGES,
        "help": "Galaxy light, prior name -> prior (names below, explained in lensbench/simulate/galaxy.py); "
                "default Ko's Table I."})
    halo: PopulationConfig = field(default_factory=lambda: PopulationConfig(kind="halo"))

    def __post_init__(self):
        problems = [f"unknown prior '{name}'; known priors: {', '.join(PRIOR_NAMES)}"
                    for name in self.priors if name not in PRIOR_NAMES]
        if ("galaxy_amp" in self.priors) == ("galaxy_magnitude" in self.priors):
            problems.append("give exactly one of galaxy_amp, galaxy_magnitude")
        problems += [f"galaxy needs prior galaxy_{key}" for key in ("R_sersic", "n_sersic") if f"galaxy_{key}" not in self.priors]
        if self.halo.kind != "halo":
            problems.append(f"halo.kind must be 'halo', got '{self.halo.kind}'")
        if problems:
            raise ValueError("; ".join(problems))


def class_names(config: GalaxyConfig) -> list[str]:
    """The classes of a galaxy dataset, in label order: no halo, halo."""
    return list(CLASS_NAMES)


def draw_scene(
    config: GalaxyConfig, survey: StrongLensingSurvey, class_name: str | None, n: int, rng: np.random.Generator
) -> tuple[Scene, dict[str, np.ndarray]]:
    """Draw ``n`` galaxies (priors, then the halo unless ``class_name == "no_halo"``).

    Returns the Scene (no main lens; the galaxy is the Sersic "source", the halo one NFW subhalo
    plane) and every parameter: the priors, ``galaxy_amp``, and the population labels
    (``halo_Rs``, ``halo_alpha_Rs``, ``halo_center_x``, ``halo_center_y`` in arcsec; NaN without halo).
    """
    if class_name is not None and class_name not in CLASS_NAMES:
        raise ValueError(f"unknown class '{class_name}'; one of: {', '.join(CLASS_NAMES)}")
    params = {name: np.full(n, value) for name, value in OPTIONAL_DEFAULTS.items()}
    params |= sample_priors(config.priors, rng, n)
    galaxy = sersic_light(params, "galaxy", survey.magnitude_zero_point)
    params["galaxy_amp"] = galaxy["amp"]
    population = PopulationConfig(kind="none") if class_name == "no_halo" else config.halo
    distances = lensing_distances(np.full(n, 0.5), 1.0)  # unused by a halo drawn in angles
    hosts = HostLenses(np.zeros(n), np.zeros(n), np.zeros(n), None, distances, distances)
    drawn = draw_population(population, hosts, rng, max_count=1)
    scene = Scene(n=n, lens_profile="none", lens={}, shear=None, convergence=None, subhalos=drawn.planes,
                  source=galaxy, lens_light=None)
    return scene, params | drawn.labels


def simulate_batch(
    config: GalaxyConfig,
    survey: StrongLensingSurvey,
    class_name: str | None,
    n: int,
    rng: np.random.Generator,
    *,
    execution: ExecutionConfig = ExecutionConfig(),
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulate ``n`` noisy single-galaxy images of one class (None: every galaxy has a halo, for
    regressing its parameters).

    Returns float32 images (n, 1, npix, npix) in counts/s per pixel and every drawn parameter
    (leading dimension n); all parameters are drawn before the noise. ``execution`` says whether
    the torch renderer compiles.
    """
    scene, params = draw_scene(config, survey, class_name, n, rng)
    images = survey.add_noise(render(scene, survey.observation(), config.backend, execution), rng)
    return images.astype(np.float32)[:, None], params
