"""Reference renderer: one lenstronomy ``ImageModel`` per lens system.

This is how dataset generators built on lenstronomy work (DeepLenseSim, Brehmer et al.'s code):
slow but the community reference that the torch renderer is checked against.
"""

from __future__ import annotations

import numpy as np

from lensbench.simulate.scene import Observation, Scene


def _lenstronomy_data_and_psf(observation: Observation):
    """lenstronomy ``ImageData`` (centred grid, row = y) and ``PSF`` for ``observation``."""
    from lenstronomy.Data.imaging_data import ImageData
    from lenstronomy.Data.psf import PSF

    corner = -(observation.npix - 1) / 2 * observation.pixel_scale
    data = ImageData(
        image_data=np.zeros((observation.npix, observation.npix)),
        ra_at_xy_0=corner,
        dec_at_xy_0=corner,
        transform_pix2angle=np.eye(2) * observation.pixel_scale,
    )
    if observation.psf_kernel is not None:
        psf = PSF(psf_type="PIXEL", kernel_point_source=np.array(observation.psf_kernel))
    elif observation.psf_fwhm is not None:
        psf = PSF(psf_type="GAUSSIAN", fwhm=observation.psf_fwhm, pixel_size=observation.pixel_scale)
    else:
        psf = PSF(psf_type="NONE")
    return data, psf


def render_lenstronomy(scene: Scene, observation: Observation, *, compile: bool = False) -> np.ndarray:
    """Noiseless, PSF-convolved images of every system in ``scene`` with lenstronomy.

    Parameters
    ----------
    scene : Scene
        ``n`` lens systems.
    observation : Observation
        Pixel grid and PSF.
    compile : bool
        Ignored (lenstronomy renders with numpy); every renderer takes it, so the simulators call
        them alike.

    Returns
    -------
    numpy.ndarray
        ``(n, npix, npix)`` float64, counts/s per pixel (``ImageModel.image``); row 0 is the
        lowest y.
    """
    from lenstronomy.ImSim.image_model import ImageModel
    from lenstronomy.LensModel.lens_model import LensModel
    from lenstronomy.LightModel.light_model import LightModel

    data, psf = _lenstronomy_data_and_psf(observation)
    numerics = {"supersampling_factor": observation.supersampling, "supersampling_convolution": False}
    images = np.zeros((scene.n, observation.npix, observation.npix))
    for i in range(scene.n):
        kwargs = scene.lenstronomy_kwargs(i)
        model = ImageModel(
            data_class=data,
            psf_class=psf,
            lens_model_class=LensModel(kwargs["lens_model_list"]),
            source_model_class=LightModel(kwargs["source_light_model_list"]),
            lens_light_model_class=LightModel(kwargs["lens_light_model_list"]),
            kwargs_numerics=numerics,
        )
        images[i] = model.image(
            kwargs_lens=kwargs["kwargs_lens"],
            kwargs_source=kwargs["kwargs_source"],
            kwargs_lens_light=kwargs["kwargs_lens_light"] or None,
        )
    return images
