"""Report sections of the ``fit`` task: recovery against SNR, coverage, sampler diagnostics,
MAP start success, and data / model / residual / source panels."""

from __future__ import annotations

import json

import numpy as np
import torch

from lensbench.fit.recovery import is_relative
from lensbench.physics import light
from lensbench.report.document import Figure, KeyValues, Notice, Paragraph, Table
from lensbench.report.figures import new_figure
from lensbench.report.fit_source import decoded_source, source_model_blocks

PAPER_STATEMENT = "lens parameters recovered to the percent level (abstract; no numbers printed)"
"""What Chianese et al. (2020) state about recovery, shown beside our numbers."""
RHAT_LIMIT = 1.01
"""Split R-hat above which the report warns that chains have not converged."""
HIGH_SNR = 100.0
"""SNRs from here up count as 'high' in the headline (the issue's percent-level check)."""

SOURCE_NAMES = {"sersic": "Sersic", "vae": "VAE"}
"""How the mocks' source kinds read in the report."""


def _unit(name: str) -> str:
    from lensbench.fit.parameters import PARAMETER_UNITS

    return "relative" if is_relative(name) else (PARAMETER_UNITS[name] or "absolute")


def fit_sections(branches: dict, context) -> dict[str, list]:
    """Section title -> blocks for every branch of task ``fit``."""
    sections: dict[str, list] = {"Recovery against SNR": [], "Posteriors (NUTS)": [], "MAP starts": [],
                                 "Fits": []}
    for index, (name, b) in enumerate(branches.items()):
        res = json.loads((b.outputs["evaluate"] / "recovery.json").read_text())
        sections["Recovery against SNR"] += _headline(res) + _recovery(index, res)
        sections["Posteriors (NUTS)"] += _posterior(res)
        sections["MAP starts"] += _starts(res)
        sections["Fits"] += _panels(index, b)
        if "source_model" in b.outputs:
            names = [str(n) for n in np.load(b.outputs["mocks"] / "mocks.npz")["names"]]
            sections.setdefault("Source model (VAE)", []).extend(source_model_blocks(index, b.outputs, names))
    return sections


def _headline(res) -> list:
    by_snr, setup = res["map"]["by_snr"], res["setup"]
    high = [v["median_abs"]["lens_theta_E"] for snr, v in by_snr.items() if float(snr) >= HIGH_SNR
            and "lens_theta_E" in v["median_abs"]]
    post = res["posterior"]
    entries = [("Chianese et al. (2020)", PAPER_STATEMENT),
               ("ours: θ_E, median |relative error| of the MAP at SNR ≥ 100",
                f"{100 * float(np.median(high)):.2f} %" if high else "θ_E not fitted"),
               ("ours: mocks", (f"{res['n_test']} ({len(by_snr)} SNRs × {next(iter(by_snr.values()))['n']}), "
                                f"{setup['lens_profile'].upper()} + external shear + {SOURCE_NAMES.get(setup.get('source', 'sersic'), setup.get('source', 'sersic'))} source, "
                                f"{len(res['parameters'])} free parameters, {setup['npix']} × {setup['npix']} pixels of "
                                f"{setup['pixel_scale']:g}\", {setup['noise']} noise")),
               ("ours: NUTS", f"{len(post.get('rows', []))} lenses" + (
                   f", 68 % / 95 % coverage {res['metrics']['coverage_68']:.2f} / {res['metrics']['coverage_95']:.2f}, "
                   f"max R-hat {res['metrics']['max_rhat']:.3f}" if post else ""))]
    return [KeyValues(tuple(entries)),
            Paragraph("SNR (our definition): sqrt(Σ m_i² / σ_i²) of the noiseless lensed image m in its own noise σ_i; "
                      "every number beyond the paper's abstract (SNRs, priors, image size, sampler settings) is our choice.")]


def _recovery(index: int, res) -> list:
    names, by_snr = res["parameters"], res["map"]["by_snr"]
    snrs = sorted(by_snr, key=float)
    rows = tuple((n, _unit(n), *[by_snr[s]["median_abs"][n] for s in snrs], *[by_snr[s]["bias"][n] for s in snrs])
                 for n in names)
    columns = ("parameter", "error", *[f"|err| SNR {float(s):g}" for s in snrs], *[f"bias SNR {float(s):g}" for s in snrs])
    blocks = [Table(columns, rows, "MAP against truth, per SNR: median |error| and mean signed error (bias); "
                                   "relative errors for positive parameters, absolute ones in the parameter's unit."),
              Figure.from_matplotlib(f"fit-recovery-{index}", _recovery_figure(names, by_snr, snrs),
                                     "Median |error| of the MAP against SNR (left: relative, right: absolute).")]
    return blocks


def _recovery_figure(names, by_snr, snrs):
    fig = new_figure(9.0, 3.6)
    axes = fig.subplots(1, 2)
    x = [float(s) for s in snrs]
    for n in names:
        ax = axes[0] if is_relative(n) else axes[1]
        ax.plot(x, [max(by_snr[s]["median_abs"][n], 1e-6) for s in snrs], marker="o", label=n)
    for ax, title in zip(axes, ("relative error", "absolute error")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("SNR")
        ax.set_ylabel(f"median |{title}|")
        ax.legend(fontsize=6)
    axes[0].axhline(0.01, color="grey", linestyle=":", linewidth=1)
    return fig


def _posterior(res) -> list:
    post = res["posterior"]
    if not post:
        return [Paragraph("No lens was sampled ([sampler] per_snr = 0).")]
    names = res["parameters"]
    rows = tuple((n, post["coverage_68"][n], post["coverage_95"][n], post["median_abs_error"][n], post["max_rhat"][n],
                  post["min_ess"][n]) for n in names)
    wall = np.array(post["wall_s"])
    sampler = res["setup"]["sampler"]
    blocks = []
    if res["metrics"]["max_rhat"] > RHAT_LIMIT:
        blocks.append(Notice(f"Max split R-hat {res['metrics']['max_rhat']:.3f} > {RHAT_LIMIT}: the chains "
                             f"({sampler['chains']} × {sampler['warmup']} warm-up + {sampler['draws']} draws) have not "
                             f"converged{_unconverged(post)}; the intervals and coverage below are indicative only."))
    return blocks + [Table(("parameter", "68 % coverage", "95 % coverage", "median |error| of posterior median", "max R-hat",
                   "min ESS"), rows,
                  f"NUTS posteriors of {len(post['rows'])} lenses (SNRs {sorted(set(post['snr']))}): fraction of "
                  "central intervals holding the truth (nominal 0.68 / 0.95), split R-hat and effective sample "
                  "size over all chains."),
            KeyValues((("divergent transitions", post["divergences"]),
                       ("NUTS wall time per lens (s)", f"{wall.mean():.1f} (all chains, one CPU thread)")))]


def _unconverged(post) -> str:
    """Which sampled lenses have a split R-hat above the limit (empty when unknown): the chains of
    such a lens disagree, as in a posterior with separated modes or a tail they visit rarely."""
    worst = post.get("lens_max_rhat")
    if worst is None:
        return ""
    bad = [f"mock {row} (SNR {snr:g}, R-hat {r:.3f})" for row, snr, r in zip(post["rows"], post["snr"], worst)
           if r > RHAT_LIMIT]
    return (f" on {len(bad)} of {len(worst)} lenses: {', '.join(bad)}. Their chains disagree, as in a posterior with "
            "separated modes or a tail they visit rarely, which NUTS started at one MAP does not cross")


def _starts(res) -> list:
    success = res["map"]["success_by_snr"]
    rows = tuple((float(s), v) for s, v in sorted(success.items(), key=lambda kv: float(kv[0])))
    return [Table(("SNR", "start success rate"), rows,
                  "Fraction of MAP starts (prior draws) ending within [fit] success_tolerance nats of their "
                  f"lens's best; MAP of all mocks took {res['map']['wall_s']:.0f} s.")]


def _panels(index: int, b) -> list:
    mocks = np.load(b.outputs["mocks"] / "mocks.npz")
    fitted = np.load(b.outputs["map"] / "map.npz")
    snr = mocks["snr"]
    picks = [int(np.flatnonzero(snr == level)[0]) for level in np.unique(snr)][:4]
    all_names = [str(n) for n in mocks["names"]]
    free = [str(n) for n in fitted["names"]]
    fig = new_figure(8.0, 2.0 * len(picks) + 0.3)
    axes = fig.subplots(len(picks), 4, squeeze=False)
    for row, i in enumerate(picks):
        params = mocks["truth"][i].copy()
        params[[all_names.index(n) for n in free]] = fitted["theta"][i]
        data, model = mocks["data"][i], fitted["model"][i]
        sigma = mocks["noise_scale"][i]
        fitted_params = dict(zip(all_names, params))
        source = decoded_source(b.outputs, fitted_params) if "source_model" in b.outputs else _source_image(fitted_params)
        panels = (data, model, (data - model) / sigma, source)
        for ax, image, title in zip(axes[row], panels, ("data", "MAP model", "residual / σ", "MAP source")):
            limit = np.abs(image).max() if title.startswith("residual") else None
            ax.imshow(image, origin="lower", cmap="RdBu_r" if limit else "viridis",
                      vmin=-limit if limit else None, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{title}" + (f" (SNR {snr[i]:g})" if title == "data" else ""), fontsize=8)
    return [Figure.from_matplotlib(f"fit-panels-{index}", fig,
                                   "One mock per SNR: data, MAP model, normalised residual and the MAP source "
                                   "(Sersic: ±0.6\" around its centre; VAE: its decoded grid times the flux).")]


def _source_image(p: dict, npix: int = 48, half_width: float = 0.6) -> np.ndarray:
    """The Sersic source of parameters ``p`` on a ``npix`` grid of +-``half_width`` arcsec around its centre."""
    axis = torch.linspace(-half_width, half_width, npix, dtype=torch.float64)
    y, x = torch.meshgrid(axis + p["source_center_y"], axis + p["source_center_x"], indexing="ij")
    keys = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
    return light.sersic_ellipse(x, y, **{k: torch.tensor(p[f"source_{k}"], dtype=torch.float64) for k in keys}).numpy()
