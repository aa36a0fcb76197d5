"""Fitting observed FITS cutouts (``[fit_data]``, ``lensbench fit``): two mock lenses written as
FITS cutouts with a noise-map HDU and a PSF-kernel file, plus one broken file, fitted at the
smoke preset of the differentiable spec."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from astropy.io import fits
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.fit import Parameter, ParameterSpace, make_prior
from lensbench.fit.cutouts import (
    NoiseSettings,
    header_pixel_scale,
    read_cutouts,
    read_psf_kernel,
    sigma_map,
)
from lensbench.fit.likelihood import gaussian_log_likelihood
from lensbench.fit.observed import KernelPSFImageModel, PixelNoise
from lensbench.physics.optics import convolve_gaussian, gaussian_kernel_1d
from lensbench.simulate.scene import Observation
from lensbench.spec import load_spec
from lensbench.steps.fit_data import fixed_values

PIXEL_SCALE = 0.08  # arcsec
NPIX = 24
PSF_FWHM = 0.12  # arcsec
SNRS = (300.0, 30.0)  # the first mock is the nearly noiseless one
THETA_E = (0.66, 0.58)  # arcsec, inside the smoke prior U(0.5, 0.8)


def _kernel() -> np.ndarray:
    one = gaussian_kernel_1d(PSF_FWHM, PIXEL_SCALE).numpy()
    return np.outer(one, one)


def _celestial_header(scale_arcsec: float) -> fits.Header:
    header = fits.Header()
    header.update(CTYPE1="RA---TAN", CTYPE2="DEC--TAN", CRVAL1=150.0, CRVAL2=2.0, CRPIX1=NPIX / 2, CRPIX2=NPIX / 2,
                  CD1_1=-scale_arcsec / 3600, CD1_2=0.0, CD2_1=0.0, CD2_2=scale_arcsec / 3600)
    return header


def write_cutouts(folder, spec_path) -> dict:
    """Two mock lenses (theta_E and the source centre from the test, every other parameter at its
    smoke-prior median, what [fit_data] holds fixed) as cutouts with a NOISE HDU, a PSF kernel
    file and one broken file; returns the truths."""
    spec = load_spec(spec_path, preset="smoke")[0]
    mocks = spec.task_sections["mocks"]
    observation = Observation(npix=NPIX, pixel_scale=PIXEL_SCALE, psf_fwhm=None)
    model = KernelPSFImageModel("sie", observation, _kernel())
    space = ParameterSpace([Parameter(n, make_prior(*mocks.priors[n])) for n in model.names])
    truth = np.tile(fixed_values(space, {}), (2, 1))
    truth[:, model.names.index("lens_theta_E")] = THETA_E
    truth[:, model.names.index("source_center_x")] = (0.03, -0.05)
    truth[:, model.names.index("source_center_y")] = (-0.02, 0.04)
    with torch.no_grad():
        clean = model.render(torch.as_tensor(truth)).numpy()
    rng = np.random.default_rng(7)
    folder.mkdir()
    for i, snr in enumerate(SNRS):
        sigma = np.sqrt((clean[i] ** 2).sum()) / snr
        data = clean[i] + sigma * rng.standard_normal(clean[i].shape)
        header = _celestial_header(PIXEL_SCALE) if i == 0 else fits.Header()  # the second: pixel scale from the spec
        fits.HDUList([fits.PrimaryHDU(), fits.ImageHDU(data.astype(np.float32), header=header, name="SCI"),
                      fits.ImageHDU(np.full_like(data, sigma, dtype=np.float32), name="NOISE")]).writeto(folder / f"lens{i}.fits")
    (folder / "broken.fits").write_bytes(b"SIMPLE  = this is not a FITS file" + bytes(100))
    fits.PrimaryHDU(_kernel().astype(np.float32)).writeto(folder.parent / "psf.fits")
    return {"theta_E": THETA_E, "names": model.names, "truth": truth}


@pytest.fixture
def cutouts(repo, tmp_path):
    """A spec extending the differentiable paper spec with [fit_data], and its cutouts."""
    spec = tmp_path / "fit_data.toml"
    spec.write_text(f'extends = "{repo / "specs/papers/differentiable.toml"}"\n'
                    '[fit_data]\ninputs = ["${CUTOUT_DIR:-cutouts}/*.fits"]\nimage_hdu = "SCI"\nnoise_hdu = "NOISE"\n'
                    'psf = "psf.fits"\npixel_scale = 0.08\n')
    truth = write_cutouts(tmp_path / "cutouts", spec)
    return spec, truth


def test_fit_data_smoke_counts_the_bad_file_and_the_map_recovers_theta_E(cutouts, tmp_path):
    spec, truth = cutouts
    out, cache = tmp_path / "report", tmp_path / "cache"
    result = CliRunner().invoke(app, ["run", str(spec), "--preset", "smoke", "--out", str(out), "--cache", str(cache),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())["branches"]["main"]["metrics"]
    assert metrics["files_fitted"] == 2 and metrics["files_skipped"] == 1
    report = (out / "report.md").read_text()
    for text in ("Fitted cutouts", "Posteriors per file", "broken.fits", "lens0.fits", "reduced χ²"):
        assert text in report
    assert "Recovery against SNR" not in report  # no truth: no recovery section
    assert (out / "figures" / "fit-data-panels-0.png").stat().st_size > 0
    summary = json.loads(next(cache.glob("**/summary.json")).read_text())
    assert [s["file"].split("/")[-1] for s in summary["skipped"]] == ["broken.fits"]
    files = {f["file"].split("/")[-1]: f for f in summary["files"]}
    assert set(files) == {"lens0.fits", "lens1.fits"}
    for entry in files.values():
        for quantiles in entry["posterior"].values():
            assert all(np.isfinite(quantiles[q]) for q in ("q025", "q16", "median", "q84", "q975"))
    assert files["lens0.fits"]["pixel_scale_source"] == "header" and files["lens1.fits"]["pixel_scale_source"] == "spec"
    # the SNR 300 mock: the MAP's and the posterior median's theta_E within 1 % (the prior spans 0.5-0.8")
    assert abs(files["lens0.fits"]["map"]["lens_theta_E"] - truth["theta_E"][0]) < 0.01 * truth["theta_E"][0]
    assert abs(files["lens0.fits"]["posterior"]["lens_theta_E"]["median"] - truth["theta_E"][0]) < 0.01 * truth["theta_E"][0]
    # the data-based SNR estimate is unbiased for the SNR the mocks were made at
    assert files["lens0.fits"]["snr_data_estimate"] == pytest.approx(SNRS[0], rel=0.1)


def test_cli_fit_runs_and_refuses_missing_pixel_scale_and_psf(cutouts, tmp_path):
    folder = tmp_path / "cutouts"
    runner = CliRunner()
    no_scale = runner.invoke(app, ["fit", str(folder / "lens1.fits"), "--psf", str(tmp_path / "psf.fits"),
                                   "--noise-hdu", "NOISE", "--preset", "smoke", "--out", str(tmp_path / "a")])
    assert no_scale.exit_code == 2 and "no pixel scale for" in no_scale.output and "--pixel-scale" in no_scale.output
    no_psf = runner.invoke(app, ["fit", str(folder / "lens0.fits"), "--noise-hdu", "NOISE", "--preset", "smoke",
                                 "--out", str(tmp_path / "c")])
    assert no_psf.exit_code == 2 and "no PSF" in no_psf.output
    missing_psf = runner.invoke(app, ["fit", str(folder / "lens0.fits"), "--psf", str(tmp_path / "nope.fits"),
                                      "--noise-hdu", "NOISE", "--preset", "smoke", "--out", str(tmp_path / "d")])
    assert missing_psf.exit_code == 2 and "PSF file not found" in missing_psf.output
    ran = runner.invoke(app, ["fit", str(folder / "lens0.fits"), str(folder / "broken.fits"), "--psf-fwhm", "0.12",
                              "--noise-hdu", "NOISE", "--image-hdu", "SCI", "--preset", "smoke",
                              "--out", str(tmp_path / "b"), "--no-progress"])
    assert ran.exit_code == 0, ran.output
    metrics = json.loads((tmp_path / "b" / "metrics.json").read_text())["branches"]["main"]["metrics"]
    assert metrics["files_fitted"] == 1 and metrics["files_skipped"] == 1


def test_spec_without_psf_is_a_positioned_error(repo, tmp_path):
    spec = tmp_path / "bad.toml"
    spec.write_text(f'extends = "{repo / "specs/papers/differentiable.toml"}"\n'
                    '[fit_data]\ninputs = ["x.fits"]\nbackground_rms = 0.1\n')
    result = CliRunner().invoke(app, ["validate", str(spec)])
    assert result.exit_code == 2
    assert "bad.toml:2: fit_data: no PSF" in result.output


def test_pixel_noise_matches_the_gaussian_likelihood_and_ignores_masked_pixels():
    rng = np.random.default_rng(1)
    model, data = torch.as_tensor(rng.normal(size=(2, 5, 5))), torch.as_tensor(rng.normal(size=(2, 5, 5)))
    sigma = torch.tensor([0.3, 0.7], dtype=torch.float64)
    uniform = PixelNoise(sigma[:, None, None].expand(2, 5, 5).clone())
    assert torch.allclose(uniform.log_likelihood(model, data), gaussian_log_likelihood(model, data, sigma))
    masked = uniform.sigma.clone()
    masked[:, 0, 0] = torch.inf
    corrupted = data.clone()
    corrupted[:, 0, 0] = 1e6  # a masked pixel's value must not matter
    by_hand = (-0.5 * ((data - model) / uniform.sigma)[:, 1:, :].pow(2).sum((1, 2))
               - 0.5 * ((data - model) / uniform.sigma)[:, 0, 1:].pow(2).sum(1)
               - 24 * torch.log(sigma * np.sqrt(2 * np.pi)))
    assert torch.allclose(PixelNoise(masked).log_likelihood(model, corrupted), by_hand)


def test_kernel_psf_model_matches_the_gaussian_psf_model_for_a_gaussian_kernel():
    from lensbench.fit.lens_model import LensImageModel

    observation = Observation(npix=NPIX, pixel_scale=PIXEL_SCALE, psf_fwhm=PSF_FWHM)
    gaussian = LensImageModel("sie", observation)
    kernel = KernelPSFImageModel("sie", observation, _kernel())
    theta = torch.tensor([[0.7, 0.05, -0.03, 0.01, 0.0, 0.01, -0.02, 10.0, 0.2, 1.5, 0.1, 0.0, 0.02, 0.01]],
                         dtype=torch.float64)
    a, b = gaussian.render(theta), kernel.render(theta)
    # same Gaussian, separable with replicated edges vs 2-D FFT with zeros beyond the edge: equal
    # away from the border, where the lensed light is
    inner = (slice(None), slice(6, -6), slice(6, -6))
    assert torch.allclose(a[inner], b[inner], rtol=1e-6, atol=1e-9 * float(a.max()))
    assert float(convolve_gaussian(a, PSF_FWHM, PIXEL_SCALE).sum()) > 0


def test_reader_names_problems_and_converts_noise(tmp_path):
    image = np.ones((8, 8))
    image[0, 0] = np.nan
    fits.HDUList([fits.PrimaryHDU(image, header=_celestial_header(0.05)),
                  fits.ImageHDU(np.full((8, 8), 4.0), name="VAR")]).writeto(tmp_path / "a.fits")
    fits.PrimaryHDU(np.ones((6, 6))).writeto(tmp_path / "b.fits")  # no VAR HDU
    fits.HDUList([fits.PrimaryHDU(np.ones((8, 8)), header=_celestial_header(0.1)),
                  fits.ImageHDU(np.ones((8, 8)), name="VAR")]).writeto(tmp_path / "c.fits")  # other pixel scale
    problems = []
    cut = read_cutouts([tmp_path / n for n in ("a.fits", "b.fits", "c.fits")], NoiseSettings(hdu="VAR", kind="variance"),
                       problems=problems)
    assert cut.files == [str(tmp_path / "a.fits")] and cut.pixel_scale == pytest.approx(0.05)
    assert cut.sigma[0, 1, 1] == 2.0 and np.isinf(cut.sigma[0, 0, 0]) and cut.data[0, 0, 0] == 0.0
    reasons = {p.file.split("/")[-1]: p.reason for p in problems}
    assert "no HDU 'VAR'" in reasons["b.fits"] and "differs from the run's" in reasons["c.fits"]
    stated = sigma_map(np.array([[4.0, -1.0]]), None, NoiseSettings(background_rms=0.5, exposure_time=2.0))
    assert np.allclose(stated, [[np.sqrt(0.25 + 2.0), 0.5]])
    assert header_pixel_scale(fits.Header()) is None
    fits.PrimaryHDU(np.ones((4, 4))).writeto(tmp_path / "even_psf.fits")
    with pytest.raises(Exception, match="odd square"):
        read_psf_kernel(tmp_path / "even_psf.fits", 0.05)


def test_the_truth_fits_the_cutouts_down_to_the_noise(cutouts, tmp_path):
    """Read back through FITS (image, NOISE HDU, PSF kernel file, WCS or spec pixel scale), the
    mocks' own parameters give a reduced chi^2 near 1 (a flipped axis, a wrong sigma or a
    misplaced kernel would not)."""
    from lensbench.fit.observed import observed_model, reduced_chi2

    _, truth = cutouts
    problems = []
    read = read_cutouts(sorted((tmp_path / "cutouts").glob("lens*.fits")), NoiseSettings(hdu="NOISE"), image_hdu="SCI",
                        pixel_scale=PIXEL_SCALE, problems=problems)
    record = {"data": read.data, "pixel_scale": read.pixel_scale, "supersampling": 1,
              "psf_kernel": read_psf_kernel(tmp_path / "psf.fits", read.pixel_scale)}
    with torch.no_grad():
        model = observed_model("sie", record, 0.3).render(torch.as_tensor(truth["truth"])).numpy()
    chi2 = reduced_chi2(model, read.data, read.sigma, 0)
    assert not problems and np.all(np.abs(chi2 - 1) < 0.2), chi2
    shifted = np.roll(model, 1, axis=-1)  # one pixel off: far from the noise at SNR 300
    assert reduced_chi2(shifted, read.data, read.sigma, 0)[0] > 5
