"""The parameter names, units and prior families of a fit's forward model
(:mod:`lensbench.fit.lens_model`, :mod:`lensbench.fit.parameters`), apart from them so that
validating a spec imports no torch."""

LENS_KEYS = {"epl": ("theta_E", "gamma", "e1", "e2", "center_x", "center_y"),
             "sie": ("theta_E", "e1", "e2", "center_x", "center_y")}
"""Lens-mass keywords of each supported profile."""
SHEAR_KEYS = ("gamma1", "gamma2")
SOURCE_KEYS = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
VAE_SOURCE_KEYS = ("flux", "scale", "center_x", "center_y")
"""Keywords of the neural (VAE) source besides its latent vector ``z0, z1, ...``
(:mod:`lensbench.fit.source_vae`)."""
SOURCE_KINDS = ("sersic", "vae")
MAX_LATENT_DIM = 256
"""Most latent dimensions a VAE source may have (``source_z0`` ... ``source_z255``)."""

PRIOR_KINDS = ("uniform", "normal", "lognormal")
"""Prior families a spec may name: ``uniform`` (low, high), ``normal`` (mean, sd) and
``lognormal`` (median, sd of the natural log)."""

PARAMETER_UNITS = {
    "lens_theta_E": "arcsec", "lens_gamma": "", "lens_e1": "", "lens_e2": "", "lens_center_x": "arcsec",
    "lens_center_y": "arcsec", "shear_gamma1": "", "shear_gamma2": "", "source_amp": "counts/s/arcsec^2",
    "source_R_sersic": "arcsec", "source_n_sersic": "", "source_e1": "", "source_e2": "",
    "source_center_x": "arcsec", "source_center_y": "arcsec", "source_flux": "counts/s", "source_scale": "",
    **{f"source_z{i}": "" for i in range(MAX_LATENT_DIM)},
}
"""Every parameter the lens model knows (EPL/SIE + external shear + Sersic or VAE source), with
units: ``source_flux`` is the VAE source's total flux, ``source_scale`` a factor on its grid's
pixel side, ``source_z<i>`` its latent components."""


def model_names(lens_profile: str, source: str = "sersic", latent_dim: int = 0) -> tuple[str, ...]:
    """Every parameter of a lens model, in column order: lens, shear, then the Sersic source, or
    the VAE source's ``latent_dim`` latents followed by :data:`VAE_SOURCE_KEYS`."""
    if source not in SOURCE_KINDS:
        raise ValueError(f"source must be one of {', '.join(SOURCE_KINDS)}, got {source!r}")
    keys = SOURCE_KEYS if source == "sersic" else tuple(f"z{i}" for i in range(latent_dim)) + VAE_SOURCE_KEYS
    return (tuple(f"lens_{k}" for k in LENS_KEYS[lens_profile]) + tuple(f"shear_{k}" for k in SHEAR_KEYS)
            + tuple(f"source_{k}" for k in keys))


def is_latent(name: str) -> bool:
    """Whether ``name`` is a latent component of the VAE source (standard-normal prior)."""
    return name.startswith("source_z") and name[len("source_z"):].isdigit()


def check_prior(kind: str, a: float, b: float) -> None:
    """Raise ValueError for an unknown prior family or invalid numbers (low >= high, sd <= 0,
    median <= 0); see :data:`PRIOR_KINDS`."""
    if kind == "uniform" and not a < b:
        raise ValueError(f"uniform prior needs low < high, got ({a}, {b})")
    if kind == "normal" and not b > 0:
        raise ValueError(f"normal prior needs sd > 0, got {b}")
    if kind == "lognormal" and not (a > 0 and b > 0):
        raise ValueError(f"lognormal prior needs median > 0 and sd > 0, got ({a}, {b})")
    if kind not in PRIOR_KINDS:
        raise ValueError(f"unknown prior kind {kind!r}; one of: {', '.join(PRIOR_KINDS)}")
