"""The forward model a fit differentiates: parameters -> noiseless image, on the torch renderer.

Lens: EPL (Tessore & Metcalf 2015) or SIE (Keeton & Kochanek 1998) plus external shear; source:
an elliptical Sersic. Images are counts/s per pixel, PSF-convolved
(:func:`lensbench.simulate.backends.torch_renderer.render_tensors`).
"""

from __future__ import annotations

import torch

from lensbench.fit.keys import LENS_KEYS, SHEAR_KEYS, SOURCE_KEYS  # noqa: F401  (re-exported)
from lensbench.physics import profiles
from lensbench.simulate.backends.torch_renderer import RenderLayout, render_tensors
from lensbench.simulate.scene import Observation



class LensImageModel:
    """Renders images from a full parameter table.

    Parameters
    ----------
    lens_profile : {"epl", "sie"}
        Main-lens mass profile.
    observation : Observation
        Pixel grid and Gaussian PSF.
    max_eccentricity : float
        Largest lens |e| the fit can reach; fixes the number of EPL series terms (TM15 eq 23) so
        the graph is the same for every parameter value.
    """

    def __init__(self, lens_profile: str, observation: Observation, max_eccentricity: float = 0.5):
        if lens_profile not in LENS_KEYS:
            raise ValueError(f"lens_profile must be one of {', '.join(LENS_KEYS)}, got {lens_profile!r}")
        self.lens_profile = lens_profile
        self.observation = observation
        c = min(max_eccentricity, profiles.MAX_ECCENTRICITY)
        terms = profiles.epl_series_terms((1 - c) / (1 + c), torch.float64) if lens_profile == "epl" else 0
        self.layout = RenderLayout(
            lens_profile=lens_profile, has_shear=True, has_convergence=False, subhalo_profiles=(),
            has_lens_light=False, source_image_scale=None, npix=observation.npix,
            pixel_scale=observation.pixel_scale, supersampling=observation.supersampling,
            psf_fwhm=observation.psf_fwhm, has_psf_kernel=False, epl_terms=terms)

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter of the model, in column order of :meth:`render`'s input."""
        return (tuple(f"lens_{k}" for k in LENS_KEYS[self.lens_profile]) + tuple(f"shear_{k}" for k in SHEAR_KEYS)
                + tuple(f"source_{k}" for k in SOURCE_KEYS))

    def render(self, theta: torch.Tensor) -> torch.Tensor:
        """Noiseless images ``(B, npix, npix)`` (counts/s per pixel) from ``theta`` (B, P) in
        :attr:`names` order (units of :data:`lensbench.fit.parameters.PARAMETER_UNITS`)."""
        columns = dict(zip(self.names, theta.unbind(-1)))
        tensors = {
            "lens": {k: columns[f"lens_{k}"] for k in LENS_KEYS[self.lens_profile]},
            "shear": {k: columns[f"shear_{k}"] for k in SHEAR_KEYS},
            "source": {k: columns[f"source_{k}"] for k in SOURCE_KEYS},
            "subhalos": [],
        }
        return render_tensors(tensors, self.layout)
