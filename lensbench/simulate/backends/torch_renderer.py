"""Batched, differentiable torch renderer of strong-lens scenes (CPU or GPU).

It computes what :func:`~lensbench.simulate.backends.lenstronomy_renderer.render_lenstronomy`
computes, for a whole batch at once: ray-shooting through the main lens, external shear, a mass
sheet and any number of padded subhalo planes, Sersic or pixelated source light, deflector
light, supersampling and PSF convolution. Images are counts/s per pixel (surface brightness in
counts/s/arcsec^2 times the pixel area, as lenstronomy's ``ImageModel.image``).

On CPU, ``torch.compile`` fuses the elementwise work and is what makes torch beat lenstronomy
(NOTES.md: 0.30 vs 0.74 ms/image eager for 25 NFW subhalos). One compiled function is kept per
scene layout (which profiles are present, grid and PSF); pass ``compile=False`` (the simulators
pass ``[execution] compile``) to run eagerly. If compilation fails the renderer warns and runs eagerly.
Shapes are dynamic: the first call compiles for its sizes, and the first call with another batch
size or subhalo width compiles once more with those sizes symbolic (2-3 s idle, 10-60 s on a
loaded machine); after that, chunks of any size and buckets of any width
(:mod:`lensbench.simulate.buckets`) share the compiled renderer. NFW subhalo planes are split into
compact subhalos, drawn on stencils (:mod:`lensbench.physics.nfw_grid`: about half the time of the
closed form on every pixel for Brehmer+19's populations), and the others.
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from lensbench.physics import light, nfw_grid, optics, profiles
from lensbench.simulate.scene import LENS_PROFILES, SERSIC_KEYS, SHEAR_KEYS, SUBHALO_KEYS, Observation, Scene, Subhalos

ELEMENT_BUDGET = 1 << 22
"""Most elements of one (batch x subhalo x sub-pixel) tensor per chunk (16 MiB in float32)."""

LENS_DEFLECTIONS: dict[str, Callable] = {
    "sis": profiles.sis_deflection,
    "sie": profiles.sie_deflection,
    "epl": profiles.epl_deflection,
}


@dataclass(frozen=True)
class RenderLayout:
    """What stays fixed across a batch: the compile-cache key (no array values).

    ``epl_terms`` is the number of series terms of an EPL main lens (0 otherwise).
    ``stencil_planes`` are the indices of NFW subhalo planes that hold only compact subhalos,
    rendered with :func:`lensbench.physics.nfw_grid.grid_deflection` (their masks are float).
    """

    lens_profile: str
    has_shear: bool
    has_convergence: bool
    subhalo_profiles: tuple[str, ...]
    has_lens_light: bool
    source_image_scale: float | None
    npix: int
    pixel_scale: float
    supersampling: int
    psf_fwhm: float | None
    has_psf_kernel: bool
    epl_terms: int = 0
    stencil_planes: tuple[int, ...] = ()

    @classmethod
    def of(cls, scene: Scene, observation: Observation, dtype: torch.dtype) -> "RenderLayout":
        """The layout of ``scene`` seen through ``observation``, rendered in ``dtype``."""
        epl_terms = 0
        if scene.lens_profile == "epl" and scene.n:
            ecc = np.hypot(scene.lens["e1"], scene.lens["e2"]).max()
            c = min(ecc, profiles.MAX_ECCENTRICITY)
            # rounded up to a power of two: more terms only add accuracy, and batches with
            # slightly different eccentricities then share one compiled renderer
            epl_terms = 1 << (profiles.epl_series_terms((1 - c) / (1 + c), dtype) - 1).bit_length()
        return cls(
            lens_profile=scene.lens_profile,
            has_shear=scene.shear is not None,
            has_convergence=scene.convergence is not None,
            subhalo_profiles=tuple(plane.profile for plane in scene.subhalos),
            has_lens_light=scene.lens_light is not None,
            source_image_scale=scene.source_image_scale if scene.source_image is not None else None,
            npix=observation.npix,
            pixel_scale=observation.pixel_scale,
            supersampling=observation.supersampling,
            psf_fwhm=None if observation.psf_kernel is not None else observation.psf_fwhm,
            has_psf_kernel=observation.psf_kernel is not None,
            epl_terms=epl_terms,
        )

    @property
    def subhalo_count(self) -> int:
        """Number of subhalo planes."""
        return len(self.subhalo_profiles)


def scene_tensors(scene: Scene, observation: Observation, *, dtype=torch.float32, device="cpu") -> dict:
    """The arrays of ``scene`` (and the PSF kernel) as tensors: the inputs of :func:`render_tensors`.

    Set ``requires_grad`` on any of them to differentiate images with respect to parameters.
    """

    def tensor(array):
        return torch.as_tensor(np.asarray(array), dtype=dtype, device=device)

    def table(values, keys):
        return {key: tensor(values[key]) for key in keys}

    source_keys = ("center_x", "center_y") if scene.source_image is not None else SERSIC_KEYS
    out = {
        "lens": table(scene.lens, LENS_PROFILES.get(scene.lens_profile).keys),
        "source": table(scene.source, source_keys),
        "subhalos": [
            {"params": table(plane.params, SUBHALO_KEYS[plane.profile]), "mask": torch.as_tensor(plane.mask, device=device)}
            for plane in scene.subhalos
        ],
    }
    if scene.source_image is not None:
        out["source_image"] = tensor(scene.source_image)
        out["source"]["amp"] = tensor(scene.source["amp"] if "amp" in scene.source else np.ones(scene.n))
    if scene.shear is not None:
        out["shear"] = table(scene.shear, SHEAR_KEYS)
    if scene.convergence is not None:
        out["convergence"] = tensor(scene.convergence)
    if scene.lens_light is not None:
        out["lens_light"] = table(scene.lens_light, SERSIC_KEYS)
    if observation.psf_kernel is not None:
        out["psf_kernel"] = tensor(observation.psf_kernel)
    return out


def _deflection(tensors: dict, layout: RenderLayout, x, y):
    """Total deflection (arcsec) at ``x, y`` of shape ``(B, S, S)``."""
    alpha_x, alpha_y = torch.zeros_like(x), torch.zeros_like(y)
    if layout.lens_profile != "none":
        extra = {"n_terms": layout.epl_terms} if layout.lens_profile == "epl" else {}
        ax, ay = LENS_DEFLECTIONS[layout.lens_profile](x, y, **tensors["lens"], **extra)
        alpha_x, alpha_y = alpha_x + ax, alpha_y + ay
    if layout.has_shear:
        ax, ay = profiles.shear_deflection(x, y, tensors["shear"]["gamma1"], tensors["shear"]["gamma2"])
        alpha_x, alpha_y = alpha_x + ax, alpha_y + ay
    if layout.has_convergence:
        ax, ay = profiles.convergence_sheet_deflection(x, y, tensors["convergence"])
        alpha_x, alpha_y = alpha_x + ax, alpha_y + ay
    for index, (profile, plane) in enumerate(zip(layout.subhalo_profiles, tensors["subhalos"])):
        if index in layout.stencil_planes:
            spacing = layout.pixel_scale / layout.supersampling
            ax, ay = nfw_grid.grid_deflection(x, y, spacing, plane["params"], plane["mask"])
        else:
            ax, ay = profiles.subhalo_plane_deflection(x, y, profile, plane["params"], plane["mask"])
        alpha_x, alpha_y = alpha_x + ax, alpha_y + ay
    return alpha_x, alpha_y


def render_tensors(tensors: dict, layout: RenderLayout) -> torch.Tensor:
    """Noiseless images ``(B, npix, npix)`` (counts/s per pixel) from :func:`scene_tensors` output.

    Pure and differentiable: lens equation ``beta = theta - alpha(theta)`` (Schneider et al. 1992
    eq 2.15), source brightness at ``beta`` plus deflector light at ``theta``, averaged over
    sub-pixels, times the pixel area, convolved with the PSF. A pixelated source's table may hold
    ``scale`` (B,), a factor on ``layout.source_image_scale`` (a fitted source size).
    """
    reference = tensors["source"]["center_x"]
    batch = reference.shape[0]
    grid_x, grid_y = optics.pixel_grid(
        layout.npix, layout.pixel_scale, layout.supersampling, dtype=reference.dtype, device=reference.device
    )
    size = grid_x.shape[-1]
    x, y = grid_x.expand(batch, size, size), grid_y.expand(batch, size, size)
    alpha_x, alpha_y = _deflection(tensors, layout, x, y)
    beta_x, beta_y = x - alpha_x, y - alpha_y
    if layout.source_image_scale is not None:
        src = tensors["source"]
        scale = layout.source_image_scale * src["scale"].reshape(-1, 1, 1) if "scale" in src else layout.source_image_scale
        brightness = light.interpolated_image(
            beta_x, beta_y, tensors["source_image"], scale, src["center_x"], src["center_y"], src["amp"]
        )
    else:
        brightness = light.sersic_ellipse(beta_x, beta_y, **tensors["source"])
    if layout.has_lens_light:
        brightness = brightness + light.sersic_ellipse(x, y, **tensors["lens_light"])
    flux = optics.bin_supersampled(brightness, layout.supersampling) * layout.pixel_scale**2
    return optics.apply_psf(flux, layout.pixel_scale, layout.psf_fwhm, tensors.get("psf_kernel"))


_COMPILED: dict[RenderLayout, Callable] = {}
_COMPILE_FAILED: set[RenderLayout] = set()


def _renderer_for(layout: RenderLayout, use_compile: bool) -> Callable:
    """``render_tensors`` bound to ``layout``, compiled once per layout when ``use_compile``."""

    def render(tensors):
        return render_tensors(tensors, layout)

    if not use_compile or layout in _COMPILE_FAILED:
        return render
    if layout not in _COMPILED:
        # automatic dynamic shapes: a second batch or subhalo width compiles once more with that
        # size symbolic, so buckets of many widths share one compiled renderer
        _COMPILED[layout] = torch.compile(render, dynamic=None)
    return _COMPILED[layout]


STENCIL_COST = 0.5
"""Time of a compact subhalo on stencils (far form on every pixel plus an 11 x 11 stencil) relative to
the closed form on every pixel, compiled float32 on CPU (measured ~2.2 against ~4.5 ns per pixel)."""


def split_stencil_planes(scene: Scene, spacing: float) -> tuple[Scene, tuple[int, ...]]:
    """``scene`` with each NFW subhalo plane split in two where that is faster: its compact
    subhalos (:func:`nfw_grid.is_compact` on a grid of ``spacing`` arcsec), rendered on stencils,
    and the others, rendered with the closed form on every pixel. Each part is gathered into a
    plane as wide as its largest count per lens (rounded up to 8; omitted when empty). A plane
    stays whole when the two parts' widths would cost more (:data:`STENCIL_COST`): few subhalos,
    most of them too large for a stencil. Returns the new scene and the indices of its stencil
    planes."""
    planes, stencil_planes = [], []
    for plane in scene.subhalos:
        if plane.profile != "nfw":
            planes.append(plane)
            continue
        compact, extended = nfw_grid.split_compact(plane.params["Rs"], plane.mask, spacing)
        if STENCIL_COST * _gathered_width(plane, compact) + _gathered_width(plane, extended) >= plane.max_count:
            planes.append(plane)
            continue
        if compact.any():
            stencil_planes.append(len(planes))
            planes.append(_gathered(plane, compact))
        if extended.any():
            planes.append(_gathered(plane, extended))
    return dataclasses.replace(scene, subhalos=tuple(planes)), tuple(stencil_planes)


def _gathered_width(plane: Subhalos, keep: np.ndarray) -> int:
    """The width of :func:`_gathered`'s plane: the largest count per lens rounded up to 8, at most
    the plane's width (0 when nothing is kept)."""
    return min(plane.max_count, -(-int(keep.sum(axis=1).max(initial=0)) // 8) * 8)


def _gathered(plane: Subhalos, keep: np.ndarray) -> Subhalos:
    """The subhalos of ``plane`` where ``keep``, first in each lens's row, in a plane of
    :func:`_gathered_width`; the other entries are set to a zero-amplitude subhalo of Rs = 1
    arcsec (finite, no deflection)."""
    order = np.argsort(~keep, axis=1, kind="stable")[:, : _gathered_width(plane, keep)]
    mask = np.take_along_axis(keep, order, axis=1)
    fill = {"Rs": 1.0, "alpha_Rs": 0.0, "center_x": 0.0, "center_y": 0.0}
    params = {key: np.where(mask, np.take_along_axis(value, order, axis=1), fill[key]) for key, value in plane.params.items()}
    return Subhalos(plane.profile, params, mask)


def _chunk_size(scene: Scene, observation: Observation, batch_size: int) -> int:
    """Systems per chunk: at most ``batch_size``, and a (chunk x K x sub-pixels) tensor within
    :data:`ELEMENT_BUDGET` (eager rendering materialises it)."""
    subpixels = (observation.npix * observation.supersampling) ** 2
    widest = max([plane.max_count for plane in scene.subhalos] + [1])
    return max(1, min(batch_size, scene.n, ELEMENT_BUDGET // (widest * subpixels)))


def render_torch(
    scene: Scene,
    observation: Observation,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    compile: bool = True,
) -> np.ndarray:
    """Noiseless, PSF-convolved images of every system in ``scene``, batched in torch.

    Parameters
    ----------
    scene : Scene
        ``n`` lens systems.
    observation : Observation
        Pixel grid and PSF.
    dtype : torch.dtype
        Working precision (float32 or float64).
    device : str or torch.device
        ``"cpu"``, ``"cuda"``, ...
    batch_size : int
        Most systems rendered at once (fewer when many subhalos would exceed the memory budget).
    compile : bool
        Use torch.compile (one compiled function per scene layout); False renders eagerly.

    Returns
    -------
    numpy.ndarray
        ``(n, npix, npix)`` float64, counts/s per pixel; row 0 is the lowest y.
    """
    images = np.zeros((scene.n, observation.npix, observation.npix))
    if scene.n == 0:
        return images
    scene, stencil_planes = split_stencil_planes(scene, observation.pixel_scale / observation.supersampling)
    layout = dataclasses.replace(RenderLayout.of(scene, observation, dtype), stencil_planes=stencil_planes)
    chunk = _chunk_size(scene, observation, batch_size)
    render = _renderer_for(layout, compile)
    for start in range(0, scene.n, chunk):
        idx = np.arange(start, min(start + chunk, scene.n))
        tensors = scene_tensors(scene.subset(idx), observation, dtype=dtype, device=device)
        for index in stencil_planes:
            plane = tensors["subhalos"][index]
            plane["mask"] = plane["mask"].to(dtype)
        with torch.no_grad():
            out = _run(render, tensors, layout)
        count = min(chunk, scene.n - start)
        images[start : start + count] = out[:count].detach().to("cpu", torch.float64).numpy()
    return images


def _run(render: Callable, tensors: dict, layout: RenderLayout) -> torch.Tensor:
    """``render(tensors)``; if a compiled renderer fails, warn once and fall back to eager."""
    if layout not in _COMPILED or layout in _COMPILE_FAILED:
        return render(tensors)
    try:
        return render(tensors)
    except Exception as error:  # torch.compile raises many backend-specific types
        _COMPILE_FAILED.add(layout)
        warnings.warn(f"torch.compile failed ({type(error).__name__}: {error}); rendering eagerly", RuntimeWarning)
        return render_tensors(tensors, layout)
