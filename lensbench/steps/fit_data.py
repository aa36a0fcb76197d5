"""Step kinds of the ``fit`` task on observed cutouts (``[fit_data]``): read them, and summarise
their MAP and posteriors per file.

``fit_data`` writes the cutouts into the ``mocks.npz`` layout the ``fit_map`` and ``fit_nuts``
steps read (:mod:`lensbench.fit.observed`), so those run unchanged; ``fit_data_summary`` takes
the place of the mocks' recovery (there is no truth to compare with).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from lensbench.fit import ParameterSpace
from lensbench.fit.cutouts import NoiseSettings, read_cutouts, read_psf_kernel
from lensbench.fit.observed import matched_snr, reduced_chi2
from lensbench.io.atomic import write_json
from lensbench.io.fits import expand_inputs
from lensbench.steps.base import STEP_KINDS
from lensbench.steps.fit import _save, problem

POSTERIOR_QUANTILES = (0.025, 0.16, 0.5, 0.84, 0.975)
"""Posterior quantiles the summary keeps: the median and the central 68 % and 95 % intervals."""


def noise_settings(cfg: dict) -> NoiseSettings:
    """The noise settings of a ``[fit_data]`` table."""
    return NoiseSettings(hdu=cfg["noise_hdu"], file=cfg["noise_file"], kind=cfg["noise_kind"],
                         background_rms=cfg["background_rms"], exposure_time=cfg["exposure_time"])


def snr_estimate(data: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The SNR ``sqrt(sum m^2 / sigma^2)`` of the unknown noiseless image ``m``, estimated from the
    data (N,): ``E[d^2] = m^2 + sigma^2``, so ``sum (d^2 - sigma^2) / sigma^2`` is unbiased for
    ``SNR^2`` (clipped at 0; masked pixels, ``sigma = inf``, do not count)."""
    usable = np.isfinite(sigma)
    return np.sqrt(np.clip(((data / sigma) ** 2 - usable).sum((-2, -1)), 0, None))


def fixed_values(space: ParameterSpace, fixed: dict) -> np.ndarray:
    """Every model parameter's value where it is not fitted (P,): ``fixed``, else the prior median."""
    medians = [float(p.prior.icdf(torch.tensor(0.5, dtype=torch.float64))) for p in space.parameters]
    return np.array([fixed.get(name, median) for name, median in zip(space.names, medians)])


@STEP_KINDS.register("fit_data")
class FitData:
    """Read the cutouts, their noise maps and the PSF (``mocks.npz``: ``data``, ``sigma``,
    ``fixed``, ``files``, pixel grid and PSF; ``problems.json``: the files skipped)."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def run(ctx) -> dict:
        cfg = ctx.params["fit_data"]
        problems: list = []
        files = expand_inputs(cfg["inputs"], problems)
        cutouts = read_cutouts(files, noise_settings(cfg), image_hdu=cfg["image_hdu"], pixel_scale=cfg["pixel_scale"],
                               npix=cfg["npix"], problems=problems)
        psf = {"psf_kernel": read_psf_kernel(Path(cfg["psf"]), cutouts.pixel_scale, cfg["psf_hdu"])} if cfg["psf"] \
            else {"psf_fwhm": np.array(cfg["psf_fwhm"])}
        record = {"data": cutouts.data, "sigma": cutouts.sigma, "pixel_scale": np.array(cutouts.pixel_scale),
                  "supersampling": np.array(cfg["supersampling"]), **psf}
        model, full, _ = problem(ctx.params, record)
        fixed = np.tile(fixed_values(full, cfg["fixed"]), (len(cutouts.files), 1))
        _save(ctx.work / "mocks.npz", names=np.array(model.names), fixed=fixed, files=np.array(cutouts.files),
              group=np.arange(len(cutouts.files)), snr=snr_estimate(cutouts.data, cutouts.sigma),
              pixel_scale_source=np.array(cutouts.pixel_scale_source), **record)
        write_json(ctx.work / "problems.json", [{"file": p.file, "hdu": p.hdu, "reason": p.reason} for p in problems])
        for p in problems:
            ctx.log.warning("skipped: %s", p)
        ctx.log.info("%d cutout(s) of %d x %d pixels of %.4g\" read, %d skipped", len(cutouts.files),
                     cutouts.data.shape[-1], cutouts.data.shape[-1], cutouts.pixel_scale, len(problems))
        return {"n": len(cutouts.files), "skipped": len(problems)}


@STEP_KINDS.register("fit_data_summary")
class FitDataSummary:
    """Per-file MAP, posterior quantiles, reduced chi^2 and SNR of observed cutouts: headline
    metrics in ``results.json``, every table in ``summary.json``."""

    VERSION = 1
    CACHED = True

    @staticmethod
    def run(ctx) -> dict:
        record = np.load(ctx.inputs["mocks"] / "mocks.npz")
        fitted = np.load(ctx.inputs["map"] / "map.npz")
        nuts = np.load(ctx.inputs["nuts"] / "nuts.npz")
        summary = data_summary(record, fitted, nuts)
        summary["skipped"] = json.loads((ctx.inputs["mocks"] / "problems.json").read_text())
        summary["metrics"]["files_skipped"] = len(summary["skipped"])
        summary["setup"] = {"lens_profile": ctx.params["mocks"]["lens_profile"], "sampler": ctx.params["sampler"],
                            "noise": noise_settings(ctx.params["fit_data"]).describe(),
                            "psf": (f"pixel kernel {Path(ctx.params['fit_data']['psf']).name}" if "psf_kernel" in record
                                    else f"Gaussian, FWHM {float(record['psf_fwhm']):g}\""),
                            "pixel_scale": float(record["pixel_scale"]), "npix": int(record["data"].shape[-1])}
        write_json(ctx.work / "results.json", {"task": "fit", "metrics": summary["metrics"], "curves": {},
                                               "n_test": len(summary["files"])})
        write_json(ctx.work / "summary.json", summary)
        return summary["metrics"]


def data_summary(record, fitted, nuts) -> dict:
    """The per-file tables of a fit of observed cutouts (``summary.json``, less ``setup`` and
    ``skipped``)."""
    names = [str(n) for n in fitted["names"]]
    files = [str(f) for f in record["files"]]
    data, sigma, model = record["data"], record["sigma"], fitted["model"].astype(np.float64)
    chi2 = reduced_chi2(model, data, sigma, len(names))
    snr = matched_snr(model, sigma)
    per_file = [{"file": f, "map": dict(zip(names, map(float, fitted["theta"][i]))), "reduced_chi2": float(chi2[i]),
                 "snr_map_model": float(snr[i]), "snr_data_estimate": float(record["snr"][i]),
                 "map_success": float(np.mean(fitted["success"][i])), "pixel_scale_source": str(record["pixel_scale_source"][i])}
                for i, f in enumerate(files)]
    for k, row in enumerate(nuts["rows"]):
        draws = nuts["samples"][k].reshape(-1, len(names)).astype(np.float64)
        quantiles = np.quantile(draws, POSTERIOR_QUANTILES, axis=0)
        per_file[int(row)]["posterior"] = {
            n: {"q025": q[0], "q16": q[1], "median": q[2], "q84": q[3], "q975": q[4], "rhat": float(nuts["rhat"][k, j]),
                "ess": float(nuts["ess"][k, j])}
            for j, (n, q) in enumerate(zip(names, quantiles.T.tolist()))}
        per_file[int(row)]["divergences"] = int(nuts["divergences"][k])
    metrics = {"median_reduced_chi2": float(np.median(chi2)), "files_fitted": len(files),
               "map_success_rate": float(fitted["success"].mean())}  # first: the report's headline
    if len(nuts["rows"]):
        metrics["max_rhat"] = float(nuts["rhat"].max())
        metrics["min_ess"] = float(nuts["ess"].min())
    return {"task": "fit", "metrics": metrics, "parameters": names, "files": per_file,
            "map_wall_s": float(fitted["wall_s"]), "nuts_wall_s": nuts["wall_s"].tolist()}
