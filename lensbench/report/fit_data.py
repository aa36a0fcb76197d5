"""Report sections of the ``fit`` task on observed cutouts (``[fit_data]``): per-file posterior
medians and intervals, fit quality, data / model / residual / source panels, and the files
skipped. No recovery section: real data have no truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lensbench.report.document import Figure, KeyValues, Notice, Paragraph, Table
from lensbench.report.figures import new_figure
from lensbench.report.fit import RHAT_LIMIT, _source_image

MAX_PANEL_FILES = 6
"""Cutouts shown in the data / model / residual figure (the first ones)."""


def fit_data_sections(branches: dict, context) -> dict[str, list]:
    """Section title -> blocks for every branch that fitted observed cutouts."""
    sections: dict[str, list] = {"Fitted cutouts": [], "Posteriors per file": [], "Fits": [], "Skipped files": []}
    for index, (name, b) in enumerate(branches.items()):
        res = json.loads((b.outputs["evaluate"] / "summary.json").read_text())
        sections["Fitted cutouts"] += _overview(res)
        sections["Posteriors per file"] += _posteriors(res)
        sections["Fits"] += _panels(index, b, res)
        sections["Skipped files"] += _skipped(res)
    return sections


def _short(path: str) -> str:
    return Path(path).name


def _headline_parameter(res) -> str:
    return "lens_theta_E" if "lens_theta_E" in res["parameters"] else res["parameters"][0]


def _interval(entry: dict, name: str) -> str:
    """``median [q16, q84]`` of the posterior, or the MAP when the file was not sampled."""
    post = entry.get("posterior")
    if post is None:
        return f"{entry['map'][name]:.4g} (MAP)"
    q = post[name]
    return f"{q['median']:.4g} [{q['q16']:.4g}, {q['q84']:.4g}]"


def _overview(res) -> list:
    setup, metrics, files = res["setup"], res["metrics"], res["files"]
    name = _headline_parameter(res)
    entries = (("cutouts fitted / skipped", f"{metrics['files_fitted']} / {metrics['files_skipped']}"),
               ("model", (f"{setup['lens_profile'].upper()} + external shear + Sersic source, "
                          f"{len(res['parameters'])} free parameters ({', '.join(res['parameters'])})")),
               ("pixels", f"{setup['npix']} × {setup['npix']} of {setup['pixel_scale']:.4g}\""),
               ("PSF", setup["psf"]), ("noise", setup["noise"]),
               ("median reduced χ² of the MAP", f"{metrics['median_reduced_chi2']:.3f}"))
    rows = tuple((_short(e["file"]), e["snr_map_model"], e["reduced_chi2"], _interval(e, name),
                  max(q["rhat"] for q in e["posterior"].values()) if "posterior" in e else "not sampled")
                 for e in files)
    blocks = [KeyValues(entries),
              Table(("file", "SNR of the MAP model", "reduced χ²", f"{name}: median [16 %, 84 %]", "max R-hat"), rows,
                    "Per cutout: SNR = sqrt(Σ m_i² / σ_i²) of the MAP model m in the cutout's noise σ_i; reduced χ² "
                    "of the MAP over the unmasked pixels (≈ 1 when the model fits down to the noise); the posterior "
                    "median and central 68 % interval from NUTS."),
              Paragraph("Coordinates are the cutouts' own pixel axes (x along columns, y along rows, origin at the "
                        "cutout centre), not RA/Dec; there is no truth, so no recovery is shown.")]
    if metrics.get("max_rhat", 0.0) > RHAT_LIMIT:
        sampler = setup["sampler"]
        blocks.insert(1, Notice(f"Max split R-hat {metrics['max_rhat']:.3f} > {RHAT_LIMIT}: the chains "
                                f"({sampler['chains']} × {sampler['warmup']} warm-up + {sampler['draws']} draws) have not "
                                "converged; the intervals are indicative only."))
    return blocks


def _posteriors(res) -> list:
    from lensbench.fit.keys import PARAMETER_UNITS

    rows = []
    for e in res["files"]:
        for n in res["parameters"]:
            q = e.get("posterior", {}).get(n)
            spread = (q["median"], q["q16"], q["q84"], q["q025"], q["q975"], q["rhat"], q["ess"]) if q else ("",) * 7
            rows.append((_short(e["file"]), n, PARAMETER_UNITS[n] or "–", e["map"][n], *spread))
    return [Table(("file", "parameter", "unit", "MAP", "median", "16 %", "84 %", "2.5 %", "97.5 %", "R-hat", "ESS"),
                  tuple(rows), "Every fitted parameter of every cutout: the MAP (best of the starts) and the NUTS "
                               "posterior's median, central 68 % and 95 % intervals, split R-hat and effective "
                               "sample size (empty where the cutout was not sampled).")]


def _panels(index: int, b, res) -> list:
    record = np.load(b.outputs["data"] / "mocks.npz")
    fitted = np.load(b.outputs["map"] / "map.npz")
    all_names = [str(n) for n in record["names"]]
    free = [str(n) for n in fitted["names"]]
    picks = range(min(len(record["files"]), MAX_PANEL_FILES))
    fig = new_figure(8.0, 2.0 * len(picks) + 0.3)
    axes = fig.subplots(len(picks), 4, squeeze=False)
    for row, i in enumerate(picks):
        params = record["fixed"][i].copy()
        params[[all_names.index(n) for n in free]] = fitted["theta"][i]
        data, model, sigma = record["data"][i], fitted["model"][i], record["sigma"][i]
        residual = np.where(np.isfinite(sigma), (data - model) / sigma, 0.0)
        panels = (data, model, residual, _source_image(dict(zip(all_names, params))))
        for ax, image, title in zip(axes[row], panels, ("data", "MAP model", "residual / σ", "MAP source")):
            limit = max(np.abs(image).max(), 1e-12) if title.startswith("residual") else None
            ax.imshow(image, origin="lower", cmap="RdBu_r" if limit else "viridis",
                      vmin=-limit if limit else None, vmax=limit)
            ax.set_xticks([])
            ax.set_yticks([])
            label = f"{title} ({_short(str(record['files'][i]))})" if title == "data" else title
            ax.set_title(label, fontsize=7)
    shown = f"the first {len(picks)} of {len(record['files'])}" if len(record["files"]) > len(picks) else "every"
    return [Figure.from_matplotlib(f"fit-data-panels-{index}", fig,
                                   f"{shown.capitalize()} cutout: data, MAP model, normalised residual (masked pixels 0) "
                                   "and the MAP Sersic source (±0.6\" around the source centre).")]


def _skipped(res) -> list:
    skipped = res["skipped"]
    if not skipped:
        return [Paragraph("Every input file was fitted; none was skipped.")]
    rows = tuple((p["file"], "" if p["hdu"] is None else p["hdu"], p["reason"]) for p in skipped)
    return [Table(("file", "HDU", "why it was skipped"), rows,
                  f"{len(skipped)} input(s) could not be used and were skipped.")]
