"""The scene contract and the two renderers: torch must reproduce lenstronomy's images.

Image agreement is measured two ways: relative to the image peak, max|torch - ref| / max|ref|,
and pointwise, max |torch - ref| / |ref| over pixels brighter than 1e-8 of the peak. float64:
both <= 1e-4 (observed ~1e-11). float32 (documented): peak-relative <= 1e-4 (observed ~3e-6).
The torch renderer runs eagerly here (compiling takes tens of seconds); the benchmark
checks the compiled renderer against lenstronomy.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from lensbench.simulate.backends import RENDERERS, render_lenstronomy, render_torch
from lensbench.simulate.backends import torch_renderer
from lensbench.simulate.scene import LENS_PROFILES, SERSIC_KEYS, Observation, Scene, Subhalos


def make_scene(n, *, lens="sie", subhalo="nfw", count=6, lens_light=False, sheet=True, seed=0):
    """Random systems around DeepLense/Brehmer-like values (arcsec, counts/s/arcsec^2)."""
    rng = np.random.default_rng(seed)
    lens_params = {
        "theta_E": rng.uniform(0.8, 1.5, n),
        "e1": rng.uniform(-0.2, 0.2, n),
        "e2": rng.uniform(-0.2, 0.2, n),
        "center_x": rng.uniform(-0.1, 0.1, n),
        "center_y": rng.uniform(-0.1, 0.1, n),
    }
    if lens == "epl":
        lens_params["gamma"] = rng.uniform(1.7, 2.3, n)
    if lens == "none":
        lens_params = {}
    planes = ()
    if count:
        if subhalo == "point_mass":
            params = {"theta_E": rng.uniform(0.005, 0.05, (n, count))}
        else:
            params = {"Rs": rng.uniform(0.05, 0.3, (n, count)), "alpha_Rs": rng.uniform(0.001, 0.03, (n, count))}
            if subhalo == "tnfw":
                params["r_trunc"] = rng.uniform(0.3, 2.0, (n, count))
        params["center_x"] = rng.uniform(-2, 2, (n, count))
        params["center_y"] = rng.uniform(-2, 2, (n, count))
        planes = (Subhalos(subhalo, params, rng.random((n, count)) < 0.8),)
    source = {
        "amp": rng.uniform(5, 20, n),
        "R_sersic": rng.uniform(0.1, 0.4, n),
        "n_sersic": rng.uniform(0.7, 3.0, n),
        "e1": rng.uniform(-0.2, 0.2, n),
        "e2": rng.uniform(-0.2, 0.2, n),
        "center_x": rng.uniform(-0.3, 0.3, n),
        "center_y": rng.uniform(-0.3, 0.3, n),
    }
    deflector_light = None
    if lens_light:
        deflector_light = {key: rng.uniform(0.5, 1.0, n) for key in ("R_sersic",)}
        deflector_light.update(amp=rng.uniform(1, 5, n), n_sersic=rng.uniform(2, 4, n), e1=rng.uniform(-0.1, 0.1, n))
        deflector_light.update(e2=rng.uniform(-0.1, 0.1, n), center_x=np.zeros(n), center_y=np.zeros(n))
    return Scene(
        n=n,
        lens_profile=lens,
        lens=lens_params,
        shear={"gamma1": rng.uniform(-0.05, 0.05, n), "gamma2": rng.uniform(-0.05, 0.05, n)},
        convergence=rng.uniform(0, 0.05, n) if sheet else None,
        subhalos=planes,
        source=source,
        lens_light=deflector_light,
    )


def peak_relative(ours, reference):
    return np.max(np.abs(ours - reference)) / np.max(np.abs(reference))


def pointwise_relative(ours, reference):
    bright = np.abs(reference) > 1e-8 * np.max(np.abs(reference))
    return np.max(np.abs(ours - reference)[bright] / np.abs(reference[bright]))


SMALL = dict(npix=32, pixel_scale=0.12)
CASES = [
    ("sie", "nfw", False, Observation(**SMALL, psf_fwhm=0.15)),
    ("epl", "tnfw", True, Observation(**SMALL, supersampling=2, psf_fwhm=0.25)),
    ("sis", "point_mass", True, Observation(**SMALL, psf_fwhm=None)),
    ("none", "nfw", False, Observation(**SMALL, psf_kernel=np.outer([0.2, 0.6, 0.2], [0.1, 0.8, 0.1]))),
    ("sie", "nfw", True, Observation(npix=40, pixel_scale=0.101, supersampling=3, psf_fwhm=0.16)),
]


@pytest.mark.parametrize("lens,subhalo,lens_light,observation", CASES)
def test_torch_float64_matches_lenstronomy(lens, subhalo, lens_light, observation):
    scene = make_scene(3, lens=lens, subhalo=subhalo, lens_light=lens_light, seed=7)
    reference = render_lenstronomy(scene, observation)
    ours = render_torch(scene, observation, dtype=torch.float64, compile=False)
    assert ours.shape == reference.shape == (3, observation.npix, observation.npix)
    assert ours.dtype == np.float64
    assert peak_relative(ours, reference) <= 1e-4
    assert pointwise_relative(ours, reference) <= 1e-4


@pytest.mark.parametrize("lens,subhalo,lens_light,observation", CASES[:3])
def test_torch_float32_agreement_is_documented(lens, subhalo, lens_light, observation):
    scene = make_scene(3, lens=lens, subhalo=subhalo, lens_light=lens_light, seed=1)
    reference = render_lenstronomy(scene, observation)
    ours = render_torch(scene, observation, dtype=torch.float32, compile=False)
    assert peak_relative(ours, reference) <= 1e-4


def test_pixelated_source_matches_lenstronomy_interpol():
    """A COSMOS-like stamp (0.03"/px) as the source of an SIE + shear + subhalos."""
    scene = make_scene(2, count=4, seed=3)
    rng = np.random.default_rng(8)
    yy, xx = np.mgrid[-20:21, -20:21] * 0.03
    stamps = np.stack([np.exp(-(xx**2 + 2 * yy**2) / 0.05) * 30 + rng.random((41, 41)) for _ in range(2)])
    pixelated = Scene(
        n=2,
        lens_profile=scene.lens_profile,
        lens=scene.lens,
        shear=scene.shear,
        convergence=scene.convergence,
        subhalos=scene.subhalos,
        source={"center_x": np.array([0.05, -0.1]), "center_y": np.array([0.0, 0.1]), "amp": np.array([1.0, 2.0])},
        lens_light=None,
        source_image=stamps,
        source_image_scale=0.03,
    )
    observation = Observation(**SMALL, supersampling=2, psf_fwhm=0.15)
    reference = render_lenstronomy(pixelated, observation)
    ours = render_torch(pixelated, observation, dtype=torch.float64, compile=False)
    assert reference.max() > 0
    assert peak_relative(ours, reference) <= 1e-4


def test_images_scale_with_source_amplitude_and_pixel_area():
    """Counts/s per pixel: doubling amp doubles the image; the flux of an unlensed source equals
    its integrated surface brightness."""
    scene = make_scene(1, lens="none", count=0, sheet=False, seed=4)
    unlensed = Scene(1, "none", {}, None, None, (), scene.source, None)
    observation = Observation(npix=64, pixel_scale=0.05, supersampling=4, psf_fwhm=None)
    image = render_torch(unlensed, observation, dtype=torch.float64, compile=False)
    fine = Observation(npix=256, pixel_scale=0.0125, supersampling=1, psf_fwhm=None)
    assert image.sum() == pytest.approx(render_torch(unlensed, fine, dtype=torch.float64, compile=False).sum(), rel=1e-3)
    brighter = Scene(1, "none", {}, None, None, (), dict(scene.source, amp=2 * scene.source["amp"]), None)
    assert np.allclose(render_torch(brighter, observation, dtype=torch.float64, compile=False), 2 * image, rtol=1e-12)


def test_subhalos_change_the_image_and_padding_does_not():
    scene = make_scene(2, count=8, seed=5)
    observation = Observation(**SMALL)
    with_subhalos = render_torch(scene, observation, dtype=torch.float64, compile=False)
    plane = scene.subhalos[0]
    padded_params = {k: np.concatenate([v, np.zeros((2, 5))], axis=1) for k, v in plane.params.items()}
    padded = Subhalos(plane.profile, padded_params, np.concatenate([plane.mask, np.zeros((2, 5), bool)], axis=1))
    padded_scene = Scene(2, scene.lens_profile, scene.lens, scene.shear, scene.convergence, (padded,), scene.source, None)
    assert np.allclose(render_torch(padded_scene, observation, dtype=torch.float64, compile=False), with_subhalos, rtol=1e-12)
    without = Scene(2, scene.lens_profile, scene.lens, scene.shear, scene.convergence, (), scene.source, None)
    assert peak_relative(render_torch(without, observation, dtype=torch.float64, compile=False), with_subhalos) > 1e-4


def test_chunking_does_not_change_images():
    scene = make_scene(5, count=3, seed=6)
    observation = Observation(**SMALL)
    whole = render_torch(scene, observation, dtype=torch.float64, compile=False, batch_size=5)
    chunked = render_torch(scene, observation, dtype=torch.float64, compile=False, batch_size=2)
    assert np.array_equal(whole, chunked)


def test_rendering_is_reproducible_bytewise():
    scene = make_scene(3, count=4, seed=7)
    first = render_torch(scene, Observation(**SMALL), compile=False)
    second = render_torch(scene, Observation(**SMALL), compile=False)
    assert first.tobytes() == second.tobytes()


def test_images_are_differentiable_in_the_parameters():
    scene = make_scene(1, count=2, seed=9)
    observation = Observation(npix=16, pixel_scale=0.2, psf_fwhm=0.3)
    layout = torch_renderer.RenderLayout.of(scene, observation, torch.float64)
    tensors = torch_renderer.scene_tensors(scene, observation, dtype=torch.float64)
    theta = tensors["lens"]["theta_E"].requires_grad_(True)
    torch_renderer.render_tensors(tensors, layout).sum().backward()
    step = 1e-6
    totals = []
    for sign in (1, -1):
        shifted = torch_renderer.scene_tensors(scene, observation, dtype=torch.float64)
        shifted["lens"]["theta_E"] = theta.detach() + sign * step
        totals.append(torch_renderer.render_tensors(shifted, layout).sum().item())
    assert theta.grad.item() == pytest.approx((totals[0] - totals[1]) / (2 * step), rel=1e-5)


def test_registry_holds_both_renderers():
    assert RENDERERS.names() == ["lenstronomy", "torch"]
    with pytest.raises(KeyError, match="one of: lenstronomy, torch"):
        RENDERERS.get("galsim")


def test_eager_rendering_never_compiles(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("torch.compile must not be called"))
    scene = make_scene(1, count=1, seed=10)
    assert render_torch(scene, Observation(**SMALL), compile=False).shape == (1, 32, 32)
    assert RENDERERS.get("lenstronomy")(scene, Observation(**SMALL), compile=True).shape == (1, 32, 32)


def test_failed_compilation_falls_back_to_eager(monkeypatch):
    def broken_compile(function, **kwargs):
        def run(*args):
            raise RuntimeError("no C++ compiler")

        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    monkeypatch.setattr(torch_renderer, "_COMPILED", {})
    monkeypatch.setattr(torch_renderer, "_COMPILE_FAILED", set())
    scene = make_scene(2, count=2, seed=11)
    observation = Observation(npix=24, pixel_scale=0.1)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        images = render_torch(scene, observation, dtype=torch.float64, compile=True)
    assert np.allclose(images, render_torch(scene, observation, dtype=torch.float64, compile=False), rtol=1e-12)


# --------------------------------------------------------------------------------------------
# The scene contract
# --------------------------------------------------------------------------------------------


def test_subset_and_lenstronomy_kwargs():
    scene = make_scene(4, count=3, lens_light=True, seed=12)
    part = scene.subset([3, 1])
    assert part.n == 2 and part.subhalos[0].mask.shape == (2, 3)
    assert part.lens["theta_E"][0] == scene.lens["theta_E"][3]
    kwargs = scene.lenstronomy_kwargs(3)
    expected_subhalos = int(scene.subhalos[0].mask[3].sum())
    assert kwargs["lens_model_list"] == ["SIE", "SHEAR", "CONVERGENCE"] + ["NFW"] * expected_subhalos
    assert set(kwargs["kwargs_lens"][0]) == set(LENS_PROFILES.get("sie").keys)
    assert set(kwargs["kwargs_source"][0]) == set(SERSIC_KEYS)
    assert kwargs["lens_light_model_list"] == ["SERSIC_ELLIPSE"]
    assert scene.subset(np.array([True, False, True, False])).n == 2


@pytest.mark.parametrize(
    "change,message",
    [
        (dict(lens_profile="nie"), "unknown lens profile"),
        (dict(lens={"theta_E": np.ones(2)}), "lens lacks"),
        (dict(source={"amp": np.ones(3)}), "source lacks"),
        (dict(convergence=np.ones(3)), "convergence has shape"),
        (dict(source_image=np.ones((2, 5, 5))), "source_image_scale"),
    ],
)
def test_scene_rejects_inconsistent_input(change, message):
    scene = make_scene(2, count=0, seed=13)
    fields = dict(
        n=2, lens_profile="sie", lens=scene.lens, shear=scene.shear, convergence=None, subhalos=(),
        source=scene.source, lens_light=None,
    )
    with pytest.raises(ValueError, match=message):
        Scene(**(fields | change))


def test_observation_and_subhalos_validate():
    with pytest.raises(ValueError, match="odd square"):
        Observation(psf_kernel=np.ones((4, 4)) / 16)
    with pytest.raises(ValueError, match="sum to 1"):
        Observation(psf_kernel=np.ones((3, 3)))
    with pytest.raises(ValueError, match="unknown subhalo profile"):
        Subhalos("sis", {}, np.ones((1, 1), bool))
    with pytest.raises(ValueError, match="lacks"):
        Subhalos("nfw", {"Rs": np.ones((1, 1))}, np.ones((1, 1), bool))


def test_stencil_split_renders_what_the_closed_form_renders():
    """NFW planes split into compact subhalos (stencils) and the others give the images of the
    closed form on every pixel, to float64 rounding; the split keeps every subhalo once."""
    observation = Observation(npix=32, pixel_scale=0.12, supersampling=2, psf_fwhm=0.15)
    scene = make_scene(4, count=60, seed=11)
    plane = scene.subhalos[0]
    Rs = np.random.default_rng(12).uniform(0.01, 0.08, plane.mask.shape)  # ~80 % compact at 0.06" spacing
    scene = dataclasses.replace(scene, subhalos=(Subhalos("nfw", plane.params | {"Rs": Rs}, plane.mask),))
    spacing = observation.pixel_scale / observation.supersampling
    split, stencil_planes = torch_renderer.split_stencil_planes(scene, spacing)
    assert stencil_planes == (0,) and len(split.subhalos) == 2
    assert sum(int(p.mask.sum()) for p in split.subhalos) == int(plane.mask.sum())
    layout = torch_renderer.RenderLayout.of(scene, observation, torch.float64)
    closed_form = torch_renderer.render_tensors(torch_renderer.scene_tensors(scene, observation, dtype=torch.float64), layout)
    ours = render_torch(scene, observation, dtype=torch.float64, compile=False)
    assert peak_relative(ours, closed_form.numpy()) <= 1e-12


def test_planes_of_mostly_large_subhalos_stay_whole():
    """When most subhalos are too large for a stencil, two planes would cost more than one."""
    scene = make_scene(4, count=30, seed=11)  # Rs 0.05-0.3": < 10 % compact at 0.06" spacing
    split, stencil_planes = torch_renderer.split_stencil_planes(scene, 0.06)
    assert stencil_planes == () and split.subhalos == scene.subhalos
