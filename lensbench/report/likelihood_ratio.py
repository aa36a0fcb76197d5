"""Report sections of the likelihood_ratio task: expected f_sub limits beside Brehmer+19's Fig. 3,
the Fig. 2/3/5-style figures, calibration curves and coverage.

Reads plain branch data (:class:`lensbench.report.branch.BranchData`): the infer step's
``inference.json`` and ``maps.npz`` (role ``evaluate``) and the calibrate step's ``calibration.npz``.
"""

from __future__ import annotations

import json

import numpy as np

from lensbench.physics.cosmology import host_m200_from_sigma_v
from lensbench.report import figures as F
from lensbench.report import likelihood_ratio_figures as LF
from lensbench.report.document import Figure, Notice, Paragraph, Table
from lensbench.sbi.inference import threshold

PAPER_REGION_100 = ((0.032, 0.083), (-1.17, -0.68))
"""The paper's 100-lens 2-D 95 % CL region (f_sub and beta extents), read from Fig. 3."""
ESTIMATOR_LABELS = {"alices_calibrated": "ALICES, calibrated", "nre": "sbi NRE"}
"""Display names of the estimators keyed in ``inference.json`` and ``baseline.json``."""
SMALL_EFFECTIVE_SIZE = 50
"""Median effective sample size of the calibration's numerator sample below which the report warns
that the calibrated ratio rests on too few images (50 bins need more than 50 images)."""


def _interval(found: dict, f_range: tuple[float, float]) -> str:
    """An f_sub interval as text; "none" when no grid point of the slice is inside, and the box
    edge it reaches (the interval is then cut by the proposal, not closed by the data)."""
    low, high = found["f_sub_low"], found["f_sub_high"]
    if low is None or not np.isfinite(low):
        return "empty at this beta"
    cut = [side for side, hit in (("low", low <= f_range[0]), ("high", high >= f_range[1])) if hit]
    return f"[{low:.3f}, {high:.3f}]" + (f" (reaches the box's {' and '.join(cut)} edge)" if cut else "")


def _paper_interval(context, branch: str, n: str):
    low = context.paper_value(branch, f"f_sub_low_calibrated_n{n}")
    high = context.paper_value(branch, f"f_sub_high_calibrated_n{n}")
    return None if low is None or high is None else (low, high)


def _inference(b) -> dict:
    return json.loads((b.outputs["evaluate"] / "inference.json").read_text())


def _baseline(b) -> dict | None:
    """The ratio_sbi step's ``baseline.json`` (None when the spec has no sbi baseline)."""
    folder = b.outputs.get("baseline")
    return json.loads((folder / "baseline.json").read_text()) if folder is not None else None


def limits_blocks(name: str, b, context) -> list:
    """The limits table (calibrated and raw, beside the paper's Fig. 3 numbers) and Fig. 3."""
    results = _inference(b)
    scale = b.scale
    fiducial = results["fiducial"]
    rows = []
    with np.load(b.outputs["evaluate"] / "maps.npz") as maps:
        f_range = (float(maps["f_sub"][0]), float(maps["f_sub"][-1]))
    baseline = _baseline(b)
    for n, found in results["limits"]["calibrated"].items():
        raw = results["limits"]["raw"][n]
        paper = _paper_interval(context, name, n)
        region = f"f_sub [{found['region_f_sub'][0]:.3f}, {found['region_f_sub'][1]:.3f}], " \
                 f"beta [{found['region_beta'][0]:.2f}, {found['region_beta'][1]:.2f}]"
        nre = () if baseline is None else (_interval(baseline["limits"]["nre"][n], f_range),)
        rows.append((int(n), _interval(found, f_range), _interval(raw, f_range), *nre,
                     "–" if paper is None else f"[{paper[0]:.3f}, {paper[1]:.3f}]", region))
    (f_low, f_high), (b_low, b_high) = PAPER_REGION_100
    caption = (f"Expected 95 % CL limits on f_sub at beta = {fiducial['beta']:g} (the slice of the 2-dof region) for "
               f"lenses simulated at the true point (f_sub, beta) = ({fiducial['f_sub']:g}, {fiducial['beta']:g}); "
               f"expectation over {results['n_fiducial']} simulated lenses. Paper: expected 95 % CL limits read from "
               f"Fig. 3, grid step 0.008 (calibrated ALICES, 'full' scenario, 10^6 training images); its 100-lens "
               f"2-D region spans f_sub [{f_low}, {f_high}], beta [{b_low}, {b_high}]. This run: "
               f"{scale.n_train if scale else '?'} training images, {scale.epochs if scale else '?'} epochs.")
    nre_column = ()
    if baseline is not None:
        nre_column = ("f_sub, sbi NRE (ours)",)
        caption += (f" sbi NRE: the sbi package's amortised NRE-A on the same {baseline['n_train']} images and trunk, "
                    "trained on (x, theta) pairs alone (no joint ratio or score), uncalibrated, on the same lenses.")
    blocks = [Table(("lenses", "f_sub, calibrated (ours)", "f_sub, uncalibrated (ours)", *nre_column,
                     "f_sub, paper (Fig. 3)", "2-D region, calibrated (ours)"), tuple(rows), caption)]
    with np.load(b.outputs["evaluate"] / "maps.npz") as maps:
        counts = [int(n) for n in results["limits"]["calibrated"]]
        paper = {n: _paper_interval(context, name, str(n)) for n in counts}
        fig = LF.expected_limits(maps["f_sub"], maps["beta"], maps["mean_calibrated"].reshape(len(maps["beta"]), -1),
                                 counts, (fiducial["f_sub"], fiducial["beta"]), fiducial["beta"],
                                 {n: v for n, v in paper.items() if v})
        blocks.append(Figure.from_matplotlib(f"expected_limits_{_slug(name)}", fig,
                                             "As Fig. 3 of the paper, calibrated: left, the expected -2 Δln r per lens "
                                             "and the 95 % CL contours for each lens count; right, the slice at "
                                             "beta = -0.9 (grey line: the 2-dof 95 % threshold; shaded: the paper's "
                                             "intervals)."))
        if len(maps["example_images"]):
            fig = LF.example_lenses(maps["example_images"], maps["example_q"].reshape(len(maps["example_q"]),
                                                                                      len(maps["beta"]), -1),
                                    maps["f_sub"], maps["beta"], (fiducial["f_sub"], fiducial["beta"]))
            blocks.append(Figure.from_matplotlib(f"example_lenses_{_slug(name)}", fig,
                                                 "As Fig. 2: simulated lenses at the true point (star; counts/s per "
                                                 "pixel) and their own uncalibrated -2 Δln r maps with 95 % CL contours."))
        fig = LF.posterior_and_shmf(maps["f_sub"], maps["beta"], maps["posterior"], maps["shmf_masses"],
                                    maps["shmf_band"], _true_shmf(maps["shmf_masses"], fiducial, b))
        blocks.append(Figure.from_matplotlib(f"posterior_{_slug(name)}", fig,
                                             f"As Fig. 5: posterior for {max(counts)} lenses from the expected "
                                             "calibrated ratio, prior uniform in f_sub and N(-0.9, 0.1) in beta; right, "
                                             "the subhalo mass function per host mass (median, 68 and 95 % bands) "
                                             "against the true one (dotted)."))
        if "accumulated_posteriors" in maps and len(maps["accumulated_counts"]) > 1:
            counts_shown = maps["accumulated_counts"]
            blocks.append(Figure(f"posterior_accumulating_{_slug(name)}", LF.posterior_animation(
                maps["f_sub"], maps["beta"], maps["accumulated_posteriors"], counts_shown,
                (fiducial["f_sub"], fiducial["beta"])),
                f"Animated: the calibrated posterior (same prior) of one realisation, the first "
                f"{', '.join(str(int(k)) for k in counts_shown)} lenses simulated at the true point (star) "
                "combined. An animated PNG: a browser plays it; a viewer that does not shows its first frame."))
    return blocks


def _true_shmf(masses, fiducial, b) -> np.ndarray:
    """dn/dm / M200 at the fiducial point, f_sub normalised over [m_def, m_max] (eq. 15)."""
    population = b.simulation.regression
    m_def = population.f_sub_m_min or population.m_min
    sigma = b.simulation.priors.get("lens_sigma_v")
    centre = sigma.value if sigma.dist == "fixed" else sigma.mu
    m_max = population.m_max_host_fraction * host_m200_from_sigma_v(np.array([centre]))[0]
    a = fiducial["beta"] + 1.0
    integral = (m_max**a - m_def**a) / a
    return fiducial["f_sub"] * masses ** fiducial["beta"] / integral


def offset_error_sentence(summary: dict, lenses: int = 100) -> str:
    """What the normalized calibration's reference sample leaves uncertain: the Monte-Carlo standard
    error of its offsets, sqrt(1/ESS - 1/M) nats (the delta method for -ln of a mean of M weights
    worth ESS images), beside the per-lens error that alone moves the ``lenses``-lens limits."""
    m = summary["n_reference"]

    def error(ess: float) -> float:
        return float(np.sqrt(max(1.0 / ess - 1.0 / m, 0.0)))

    reach = threshold(0.95) / (2 * lenses)
    return (f"The offsets' Monte-Carlo standard error, sqrt(1/ESS - 1/M) with M = {m}, is "
            f"{error(summary['effective_size_median']):.3f} nats at the median point and "
            f"{error(summary['effective_size_min']):.3f} at the worst; an error of e nats shared by all lenses at a "
            f"point moves its {lenses}-lens statistic by {2 * lenses} e, and {reach:.3f} nats already reach the 95 % "
            "threshold: the reference sample's size bounds how far the many-lens limits can be trusted.")


def calibration_blocks(name: str, b) -> list:
    """Calibration curves at a few grid points and the effective sample sizes of its numerator sample."""
    folder = b.outputs.get("calibrate")
    if folder is None:
        return []
    summary = json.loads((folder / "calibration.json").read_text())
    with np.load(folder / "calibration.npz") as data:
        f_sub, beta = data["f_sub"], data["beta"]
        picks = [(len(beta) // 2) * len(f_sub) + k for k in (1, len(f_sub) // 4, len(f_sub) // 2, len(f_sub) - 2)]
        labels = [f"f_sub={f_sub[g % len(f_sub)]:.3f}, beta={beta[g // len(f_sub)]:.2f}" for g in picks]
        fig = LF.calibration_curves(data["curve_log_r_hat"][picks], data["curve_log_r"][picks], labels)
    figure = Figure.from_matplotlib(f"calibration_{_slug(name)}", fig,
                                    "Calibrated ln r against the network's ln r_hat at grid points along beta's "
                                    "middle row; the dotted diagonal is a network already calibrated.")
    method = summary.get("method", "reweighted")
    if method == "normalized":
        return [
            Paragraph(f"Temperature-scaled, self-normalised calibration (beyond the paper): ln r = b ln r_hat - "
                      f"ln mean_j r_hat(x_j|theta)^b, with b = {summary['temperature']:.3g} the slope of a logistic "
                      f"regression that separates the {summary['n_reference']} reference images at the theta they "
                      "were simulated at from the same images paired with other images' theta, and the mean over "
                      "the reference images so that E_ref[r] = 1 at every point (effective images in that mean: "
                      f"minimum {summary['effective_size_min']:.0f}, median {summary['effective_size_median']:.0f}). "
                      f"{offset_error_sentence(summary)} "
                      "The paper's 50-bin histograms at each of the 625 points need far more images than a laptop "
                      "simulates, and their noise does not average out over lenses."),
            figure,
        ]
    warning = []
    if summary["effective_size_median"] < SMALL_EFFECTIVE_SIZE:
        cause = ("the joint ratio of a population of hundreds of subhalos is far sharper than the network's, so a "
                 "few images carry all the weight" if method == "reweighted" else
                 f"{summary['per_point']} images were simulated per point")
        warning = [Notice(f"The calibration's numerator sample is worth a median of only "
                          f"{summary['effective_size_median']:.0f} images per grid point (fewer than its "
                          f"{summary['bins']} bins): {cause}. The calibrated ratio is noisy, and its noise does not "
                          "average out over lenses; the uncalibrated columns show what the network learnt. More "
                          "calibration images per grid point are needed.")]
    if method == "simulated":
        sample = (f"{summary['per_point']} lenses simulated at each grid point ({summary['n_simulated']} in all), "
                  "each also counted at the other points with its multiple-importance-sampling weight "
                  "p(z|theta) / mean_k p(z|theta_k)")
    else:
        sample = f"the {summary['n_reference']} reference images, reweighted by their joint ratio at each grid point"
    return warning + [
        Paragraph(f"Histogram calibration ({summary['bins']} bins at quantiles of ln r_hat). Numerator sample: "
                  f"{sample} (effective sample size: minimum {summary['effective_size_min']:.0f}, median "
                  f"{summary['effective_size_median']:.0f} over the grid); denominator: the "
                  f"{summary['n_reference']} reference images drawn from the proposal."),
        figure,
    ]


def coverage_blocks(name: str, b) -> list:
    """Nominal against empirical coverage of the 68 % and 95 % regions."""
    results = _inference(b)
    baseline = _baseline(b)
    rows, bars = [], []
    everything = {**results["coverage"], **(baseline["coverage"] if baseline else {})}
    for key, levels in everything.items():
        kind, n = key.rsplit("_n", 1)
        kind = ESTIMATOR_LABELS.get(kind, kind)
        for level, value in levels.items():
            rows.append((kind, int(n), float(level), value))
            bars.append((f"{kind} n={n} {float(level):.0%}", float(level), value))
    caption = (f"Coverage over {results['coverage_ensembles']} ensembles, each with its true (f_sub, beta) drawn from "
               "the Fig. 5 prior inside the proposal box: the fraction whose 2-dof region at the nominal level "
               "contains the truth (q at the truth by bilinear interpolation on the grid). Beyond the paper.")
    return [Table(("estimator", "lenses", "nominal", "empirical"), tuple(rows), caption),
            Figure.from_matplotlib(f"coverage_{_slug(name)}", LF.coverage_bars(bars),
                                   "Empirical coverage (bars) against nominal (red marks).")]


def sbc_blocks(name: str, b) -> list:
    """Simulation-based calibration of calibrated ALICES and of the sbi NRE, and the NRE's training."""
    baseline = _baseline(b)
    if baseline is None:
        return []
    rows = [(ESTIMATOR_LABELS.get(estimator, estimator), parameter, values["ks_statistic"], values["ks_pvalue"])
            for estimator, per in baseline["sbc"].items() for parameter, values in per.items()]
    with np.load(b.outputs["baseline"] / "sbc.npz") as data:
        pits = {"ALICES, calibrated": data["pit_alices_calibrated"], "sbi NRE": data["pit_nre"]}
    return [
        Paragraph(f"Baseline: the sbi package's NRE-A (amortised neural ratio estimation; Adam, learning rate "
                  f"{baseline['learning_rate']:g}, sbi's own validation split and early stopping) on the same "
                  f"{baseline['n_train']} training images with the same trunk, from (x, theta) pairs alone: "
                  f"{baseline['epochs_run']} epochs run of at most {baseline['epochs']}. Its limits are in the "
                  "limits table and its coverage in the coverage table; what separates it from ALICES is the "
                  "simulator's joint ratio (and score) that ALICES trains on."),
        Table(("estimator", "parameter", "KS statistic", "KS p-value"), tuple(rows),
              f"Simulation-based calibration over {baseline['sbc_lenses']} single lenses, each simulated at its own "
              "point of the Fig. 5 prior: the marginal posterior CDF at the truth (on the grid, same prior) is "
              "uniform for a calibrated posterior; Kolmogorov-Smirnov test against uniform. Beyond the paper."),
        Figure.from_matplotlib(f"sbc_{_slug(name)}", LF.sbc_histograms(pits),
                               "SBC histograms: the truths' marginal posterior CDF values (dashed: uniform; grey: its "
                               "95 % band per bin). A U shape means overconfident posteriors, a hump underconfident, "
                               "a slope biased."),
    ]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)


def training_blocks(branches: dict) -> list:
    """The estimator's loss per epoch (train and val) and what it was trained on."""
    histories = {name: b.history for name, b in branches.items() if b.history}
    if not histories:
        return []
    cards = {name: json.loads((b.outputs["train"] / "model.json").read_text()) for name, b in branches.items()
             if "train" in b.outputs}
    text = "; ".join(f"{name}: loss {card['loss']} (alpha = {card['alpha']:g}), {card['n_train']} training images, "
                     f"best epoch {branches[name].history.get('best_epoch', -1) + 1}" for name, card in cards.items())
    return [Paragraph(f"Each image is paired with its own theta (numerator) and a second proposal draw theta' "
                      f"(reference), both with the joint ratio and score of its population. {text}."),
            Figure.from_matplotlib("ratio_training", F.loss_curves(histories),
                                   "Training and validation loss per epoch (the ALICES cross-entropy plus alpha "
                                   "times the squared score error, averaged over (x, theta) pairs).")]


def ratio_sections(branches: dict, context) -> dict[str, list]:
    """``Results`` (limits, Figs 3, 2, 5), ``Calibration``, ``Coverage``, ``Simulation-based
    calibration`` (with an sbi baseline) and ``Training`` of every branch."""
    out = {"Results": [], "Calibration": [], "Coverage": [], "Simulation-based calibration": [],
           "Training": training_blocks(branches)}
    for name, b in branches.items():
        out["Results"] += limits_blocks(name, b, context)
        out["Calibration"] += calibration_blocks(name, b)
        out["Coverage"] += coverage_blocks(name, b)
        out["Simulation-based calibration"] += sbc_blocks(name, b)
    if not out["Simulation-based calibration"]:
        del out["Simulation-based calibration"]
    return out
