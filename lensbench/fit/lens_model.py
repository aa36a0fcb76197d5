"""The forward model a fit differentiates: parameters -> noiseless image, on the torch renderer.

Lens: EPL (Tessore & Metcalf 2015) or SIE (Keeton & Kochanek 1998) plus external shear; source:
an elliptical Sersic, or a neural source (Chianese et al. 2020): a decoder maps the latent vector
to a unit-flux image on its own grid, drawn at ``source_center`` with pixel side
``pixel_scale * source_scale`` (arcsec) and total flux ``source_flux`` (counts/s), so its surface
brightness is ``flux * D(z) / (pixel_scale * scale)^2`` (counts/s/arcsec^2), bilinearly
interpolated at the ray-traced positions. Images are counts/s per pixel, PSF-convolved
(:func:`lensbench.simulate.backends.torch_renderer.render_tensors`).
"""

from __future__ import annotations

import torch

from lensbench.fit.keys import LENS_KEYS, SHEAR_KEYS, SOURCE_KEYS, VAE_SOURCE_KEYS, model_names  # noqa: F401  (re-exported)
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
    source_decoder : lensbench.fit.source_vae.SourceVAE, optional
        A neural source model (its ``decode`` and ``config``); without one the source is a Sersic.
    """

    def __init__(self, lens_profile: str, observation: Observation, max_eccentricity: float = 0.5,
                 source_decoder=None):
        if lens_profile not in LENS_KEYS:
            raise ValueError(f"lens_profile must be one of {', '.join(LENS_KEYS)}, got {lens_profile!r}")
        self.lens_profile = lens_profile
        self.observation = observation
        c = min(max_eccentricity, profiles.MAX_ECCENTRICITY)
        terms = profiles.epl_series_terms((1 - c) / (1 + c), torch.float64) if lens_profile == "epl" else 0
        self.layout = RenderLayout(
            lens_profile=lens_profile, has_shear=True, has_convergence=False, subhalo_profiles=(),
            has_lens_light=False,
            source_image_scale=None if source_decoder is None else source_decoder.config.pixel_scale,
            npix=observation.npix,
            pixel_scale=observation.pixel_scale, supersampling=observation.supersampling,
            psf_fwhm=observation.psf_fwhm, has_psf_kernel=False, epl_terms=terms)
        self.source_decoder = source_decoder
        self.latent_dim = 0 if source_decoder is None else source_decoder.config.latent_dim

    @property
    def names(self) -> tuple[str, ...]:
        """Every parameter of the model, in column order of :meth:`render`'s input."""
        return model_names(self.lens_profile, "sersic" if self.source_decoder is None else "vae", self.latent_dim)

    def render(self, theta: torch.Tensor) -> torch.Tensor:
        """Noiseless images ``(B, npix, npix)`` (counts/s per pixel) from ``theta`` (B, P) in
        :attr:`names` order (units of :data:`lensbench.fit.parameters.PARAMETER_UNITS`)."""
        columns = dict(zip(self.names, theta.unbind(-1)))
        tensors = {
            "lens": {k: columns[f"lens_{k}"] for k in LENS_KEYS[self.lens_profile]},
            "shear": {k: columns[f"shear_{k}"] for k in SHEAR_KEYS},
            "subhalos": [],
        }
        if self.source_decoder is None:
            tensors["source"] = {k: columns[f"source_{k}"] for k in SOURCE_KEYS}
        else:
            tensors.update(self.vae_source(theta))
        return render_tensors(tensors, self.layout)

    def vae_source(self, theta: torch.Tensor) -> dict:
        """The renderer's ``source`` table and ``source_image`` of the neural source at ``theta``
        (B, P): the decoded unit-flux image and ``amp = flux / (pixel_scale * scale)^2``."""
        columns = dict(zip(self.names, theta.unbind(-1)))
        latent = theta[..., len(self.names) - len(VAE_SOURCE_KEYS) - self.latent_dim:len(self.names) - len(VAE_SOURCE_KEYS)]
        image = self.source_decoder.decode(latent.to(next(self.source_decoder.parameters()).dtype)).to(theta.dtype)
        pixel = self.source_decoder.config.pixel_scale * columns["source_scale"]
        source = {"center_x": columns["source_center_x"], "center_y": columns["source_center_y"],
                  "amp": columns["source_flux"] / pixel**2, "scale": columns["source_scale"]}
        return {"source": source, "source_image": image}
