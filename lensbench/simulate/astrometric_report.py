"""Report sections of the astrometric kind: Vattis+21 Figs 3-7 from a finished run.

:func:`report_sections` is the astrometric kind's ``report_sections`` hook. From the branches of a
run it draws

* Fig 3: the noise-free lensing fields (deflection [muas], velocity [muas/yr], acceleration
  [muas/yr^2]) of the first test population, re-drawn from the signal step's own generator;
* Fig 4: noisy data of that population for scenario C (or the first survey of the run), with the
  signal and without;
* Fig 6: ROC curves of every survey trained with the run's main architecture, the paper's AUC
  beside ours, with a table of the per-pixel noise of each survey;
* Fig 5: ROC curves of the architectures trained on one survey;
* Fig 7: integrated gradients (Sundararajan+17, Vattis+21 eq 15) of the scenario-D model on
  positive test maps, positive attributions smoothed by a Gaussian of 3 pixels, beside the ten
  most-signalling subhalos, with an enrichment number (:func:`attribution_enrichment`);
* a training check: whether each branch learned anything (losses against ln 2).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import healpy as hp
import numpy as np
import torch
from matplotlib.figure import Figure as MplFigure
from scipy import ndimage

from lensbench.report import figures as F
from lensbench.report.document import Figure, Paragraph, Section, Table
from lensbench.simulate.astrometric import (
    SCENARIOS,
    data_maps,
    degrade_nested,
    project_maps,
    signal_field_nested,
    signal_map,
)
from lensbench.simulate.astrometric_plots import data_figure, signal_figure
from lensbench.simulate.milky_way import sample_population

#: Standard deviation of the Gaussian that smooths positive attributions (Vattis+21 Fig 7) [pixels].
SMOOTHING_PIXELS = 3.0
#: Fraction of image pixels with the highest smoothed attribution counted as "top" pixels.
TOP_FRACTION = 0.01
#: Angular radius within which a top pixel counts as near a subhalo (headline number) [deg].
ENRICHMENT_RADIUS_DEG = 10.0
#: Further radii reported for context [deg].
CONTEXT_RADII_DEG = (5.0, 20.0)
#: Positive scenario-D test maps attributed (the enrichment is averaged over them).
ATTRIBUTED_MAPS = 8
#: Steps of the Riemann sum approximating the path integral of eq 15.
IG_STEPS = 32
#: Survey whose data Fig 4 shows, as in the paper.
FIG4_SCENARIO = "C"
#: Survey of Fig 7, as in the paper.
FIG7_SCENARIO = "D"
CHANCE_LOSS = math.log(2.0)
#: Colour scales of Fig 7 end at this percentile of each panel, so a few bright pixels do not hide the rest.
DISPLAY_PERCENTILE = 99.5


def report_sections(branches: dict, device: str) -> list[Section]:
    """The astrometric sections of a run's report (the kind's ``report_sections`` hook).

    Parameters
    ----------
    branches : dict[str, lensbench.simulate.kinds.BranchOutputs]
        Every branch of the run by name.
    device : str
        "cpu" or "cuda": where the integrated gradients are computed.

    Returns
    -------
    list of Section
        "Sky maps (Figs 3-4)", "Surveys and architectures (Figs 5-6)", "Attribution (Fig 7)"
        and "Training check".
    """
    return [
        Section("Sky maps (Figs 3-4)", _sky_map_blocks(branches)),
        Section("Surveys and architectures (Figs 5-6)", _roc_blocks(branches)),
        Section("Attribution (Fig 7)", _attribution_blocks(branches, device)),
        Section("Training check", _training_check_blocks(branches)),
    ]


# ----------------------------------------------------------------------------------------------
# Figs 3-4


def _first_with_signal(branches: dict):
    """A branch whose test split has a signal folder (all share it), preferring scenario C."""
    with_signal = [b for b in branches.values() if b.signal_test_dir is not None]
    preferred = [b for b in with_signal if b.spec.survey_scenario == FIG4_SCENARIO]
    return (preferred or with_signal or [None])[0]


def _sky_map_blocks(branches: dict) -> list:
    from lensbench.steps.signal import load_signal, signal_rng

    branch = _first_with_signal(branches)
    if branch is None:
        return [Paragraph("No branch has a signal step: no sky maps to show.")]
    spec = branch.spec
    config = dataclasses.replace(spec.simulation, compile=False)
    signal, _ = load_signal(branch.signal_test_dir, 0)
    population = sample_population(config.population, signal_rng(spec.experiment.seed, "test", 0))
    nested, _ = signal_field_nested(config, population)
    redrawn = degrade_nested(config, nested)
    mismatch = float(np.max(np.abs(redrawn - signal[0])) / np.max(np.abs(signal[0])))
    fields = {name: signal_map(dataclasses.replace(config, field=name), population)
              for name in ("deflection", "velocity", "acceleration")}
    magnitude = np.hypot(*fields["velocity"])
    rng = np.random.default_rng([spec.experiment.seed, 4])
    survey_name = spec.survey_scenario or "of the first branch"
    with_signal = data_maps(config, spec.survey, signal[:1], True, rng)[0]
    noise_only = data_maps(config, spec.survey, signal[:1], False, rng)[0]
    return [
        Figure.from_matplotlib("astro-signal-maps", signal_figure(fields), (
            f"Fig 3: noise-free lensing of the first test population ({len(population['m200'])} subhalos, "
            f"1e7-1e10 Msun) at HEALPix nside {config.nside}, each subhalo cut at {config.truncation_deg:g} deg: "
            "deflection [muas], induced velocity u [muas/yr] and acceleration [muas/yr^2], components along "
            "Galactic longitude l and latitude b (Mollweide, l = 0 at the centre, increasing to the left). "
            f"|u| median {np.median(magnitude):.2e}, maximum {magnitude.max():.2e} muas/yr. The population is "
            "re-drawn from the signal step's generator; its velocity map averaged onto the data grid matches the "
            f"stored test signal to a relative {mismatch:.1e}.")),
        Figure.from_matplotlib("astro-data-maps", data_figure(with_signal, noise_only, survey_name), (
            f"Fig 4: simulated data of scenario {survey_name} (N_q = {spec.survey.n_quasars:.0e} quasars, "
            f"sigma_u = {spec.survey.sigma_u:g} muas/yr per quasar) at nside {config.data_nside}: the population "
            "of Fig 3 plus noise (top) and noise only (bottom), velocity components in muas/yr. The noise is "
            "drawn anew here (generator seeded by the experiment seed), not taken from the test set.")),
    ]


# ----------------------------------------------------------------------------------------------
# Figs 5-6


def _survey_label(spec) -> str:
    """Scenario name, or its name marked as modified when the survey differs from Table I."""
    name = spec.survey_scenario
    if name in SCENARIOS and SCENARIOS[name] == spec.survey:
        return name
    return f"{name or 'custom'}*"


def _survey_text(spec) -> str:
    return f"N_q={spec.survey.n_quasars:.0e}, σ_u={spec.survey.sigma_u:g}"


def _paper_auc(branch_name: str, spec):
    return spec.experiment.paper.table.get(branch_name, {}).get("auc")


def _roc_entry(branch) -> dict:
    return {**branch.results["curves"]["roc"], "auc": branch.results["metrics"].get("auc")}


def main_architecture(branches: dict) -> str:
    """The architecture most branches use (the first such one on a tie)."""
    return Counter(b.spec.model.architecture for b in branches.values()).most_common(1)[0][0]


def _pixel_noise(spec) -> float:
    """Per-pixel, per-component noise sigma_u / sqrt(N_q / npix) of a survey [muas/yr]."""
    npix = hp.nside2npix(spec.simulation.data_nside)
    return spec.survey.sigma_u / math.sqrt(spec.survey.n_quasars / npix)


def _roc_blocks(branches: dict) -> list:
    with_roc = {n: b for n, b in branches.items() if "roc" in b.results.get("curves", {})}
    if not with_roc:
        return [Paragraph("No branch computed ROC curves (add \"roc\" to evaluation.metrics).")]
    main = main_architecture(with_roc)
    surveys = {n: b for n, b in with_roc.items() if b.spec.model.architecture == main}
    blocks = []
    if len(surveys) > 1:
        labels = {n: f"{_survey_label(b.spec)} ({_survey_text(b.spec)})" for n, b in surveys.items()}
        curves = {labels[n]: _roc_entry(b) for n, b in surveys.items()}
        paper = {labels[n]: _paper_auc(n, b.spec) for n, b in surveys.items() if _paper_auc(n, b.spec) is not None}
        blocks.append(Figure.from_matplotlib("astro-roc-surveys", F.roc_curves(curves, paper or None), (
            f"Fig 6: ROC curves of {main} on the test set of each survey (N_q quasars, velocity uncertainty "
            "σ_u per quasar in muas/yr), with the paper's AUC in brackets where it gives one. "
            "A '*' marks a survey changed from Table I.")))
        rows = tuple((_survey_label(b.spec), b.spec.survey.n_quasars, b.spec.survey.sigma_u, _pixel_noise(b.spec),
                      b.results["metrics"].get("auc"), _paper_auc(n, b.spec)) for n, b in surveys.items())
        blocks.append(Table(("survey", "N_q", "σ_u (muas/yr)", "pixel noise (muas/yr)", "AUC", "paper AUC"), rows,
                            f"AUC of {main} per survey; pixel noise is σ_u / sqrt(N_q / 12 nside^2), the "
                            "standard deviation of each velocity component of a data pixel."))
    for index, group in enumerate(_architecture_groups(with_roc)):
        spec = next(iter(group.values())).spec
        curves = {b.spec.model.architecture: _roc_entry(b) for b in group.values()}
        paper = {b.spec.model.architecture: _paper_auc(n, b.spec) for n, b in group.items()
                 if _paper_auc(n, b.spec) is not None}
        blocks.append(Figure.from_matplotlib(f"astro-roc-architectures-{index}", F.roc_curves(curves, paper or None), (
            f"Fig 5: ROC curves of the architectures trained on survey {_survey_label(spec)} "
            f"({_survey_text(spec)} muas/yr), same training and test data for each.")))
    return blocks


def _architecture_groups(branches: dict) -> list[dict]:
    """Branches grouped by survey (and everything but the model), for groups of several architectures."""
    groups: dict = {}
    for name, b in branches.items():
        key = (repr(b.spec.survey), repr(b.spec.simulation), repr(b.spec.data), repr(b.spec.training))
        groups.setdefault(key, {})[name] = b
    return [g for g in groups.values() if len({b.spec.model.architecture for b in g.values()}) > 1]


# ----------------------------------------------------------------------------------------------
# Fig 7


def image_pixel_directions(height: int, width: int) -> np.ndarray:
    """Unit vectors (Galactic frame) of the sky points sampled by each pixel of a Cartesian image.

    The points are those of healpy's CartesianProj, which
    :func:`lensbench.simulate.astrometric.project_maps` samples: longitude from 180 deg (left)
    to -180 deg (right), latitude from -90 deg (row 0) to 90 deg (last row).

    Returns
    -------
    np.ndarray
        (height, width, 3).
    """
    projector = hp.projector.CartesianProj(xsize=width, ysize=height)
    x, y = projector.ij2xy()
    return np.moveaxis(np.asarray(projector.xy2vec(x, y)), 0, -1)


def attribution_enrichment(attribution: np.ndarray, pixel_directions: np.ndarray, subhalo_directions: np.ndarray,
                           radius_deg: float, top_fraction: float = TOP_FRACTION) -> dict[str, float]:
    """How much more often the highest-attribution pixels lie near a subhalo than random pixels do.

    A pixel is *near* when its sky direction is within ``radius_deg`` of any subhalo. The top
    pixels are the ``top_fraction`` of pixels with the largest attribution (at least one). The
    random baseline is exact: a pixel drawn uniformly at random from the image is near with
    probability (near pixels) / (all pixels), so no random draw is needed.

    Parameters
    ----------
    attribution : np.ndarray
        (H, W) attribution map (larger is more important).
    pixel_directions : np.ndarray
        (H, W, 3) unit vectors of the pixels (:func:`image_pixel_directions`).
    subhalo_directions : np.ndarray
        (S, 3) unit vectors of the subhalos.
    radius_deg : float
        Angular radius [deg].
    top_fraction : float
        Fraction of pixels counted as top pixels.

    Returns
    -------
    dict
        ``top_rate`` (fraction of top pixels near a subhalo), ``random_rate`` (fraction of all
        pixels near one) and ``enrichment`` = top_rate / random_rate (NaN when no pixel is near).
    """
    values = np.asarray(attribution, dtype=np.float64).ravel()
    n_top = max(1, int(round(top_fraction * values.size)))
    top = np.argsort(-values, kind="stable")[:n_top]
    cosines = pixel_directions.reshape(-1, 3) @ np.asarray(subhalo_directions, dtype=np.float64).T
    near = (cosines >= math.cos(math.radians(radius_deg))).any(axis=1)
    top_rate, random_rate = float(near[top].mean()), float(near.mean())
    return {"top_rate": top_rate, "random_rate": random_rate,
            "enrichment": top_rate / random_rate if random_rate > 0 else float("nan")}


def smoothed_positive_attributions(model: torch.nn.Module, inputs: torch.Tensor, positive: int,
                                   steps: int = IG_STEPS) -> np.ndarray:
    """Integrated gradients (eq 15) of the positive-class log-odds, positive part, smoothed.

    The baseline is the all-zero input (the network's input space: an empty, noise-free sky);
    the two channels' attributions are summed; negative sums are set to 0; each map is smoothed
    by a Gaussian of :data:`SMOOTHING_PIXELS` pixels, wrapping around in longitude.

    Parameters
    ----------
    model : torch.nn.Module
        A two-class classifier in eval mode.
    inputs : torch.Tensor
        (N, C, H, W) images as the network sees them (after the training normalisation).
    positive : int
        Index of the positive class.

    Returns
    -------
    np.ndarray
        (N, H, W) smoothed positive attributions (log-odds units per pixel).
    """
    from captum.attr import IntegratedGradients

    negative = 1 - positive

    def log_odds(x):
        logits = model(x)
        return logits[:, positive] - logits[:, negative]

    attribution = IntegratedGradients(log_odds).attribute(inputs, baselines=torch.zeros_like(inputs), n_steps=steps,
                                                          internal_batch_size=steps)
    positive_part = attribution.sum(dim=1).clamp_min(0.0).detach().cpu().numpy()
    return ndimage.gaussian_filter(positive_part, sigma=(0, SMOOTHING_PIXELS, SMOOTHING_PIXELS),
                                   mode=("nearest", "nearest", "wrap"))


def _fig7_branch(branches: dict):
    main = main_architecture(branches)
    candidates = [(n, b) for n, b in branches.items() if b.spec.survey_scenario == FIG7_SCENARIO
                  and b.spec.survey == SCENARIOS[FIG7_SCENARIO]]
    candidates.sort(key=lambda item: item[1].spec.model.architecture != main)
    return candidates[0] if candidates else (None, None)


def _attribution_blocks(branches: dict, device: str) -> list:
    from lensbench.simulate.store import ShardedDataset
    from lensbench.models.saved import load_model, normaliser

    name, branch = _fig7_branch(branches)
    if branch is None:
        return [Paragraph(f"No branch observes scenario {FIG7_SCENARIO} of Table I: no attribution maps.")]
    model, info = load_model(branch.model_dir)
    model = model.to(device)
    test = ShardedDataset(branch.test_dir)
    positive = len(info["classes"]) - 1
    index = np.flatnonzero(test.labels == positive)[:ATTRIBUTED_MAPS]
    raw = test.images(index)
    transform = normaliser(info["normalize"]) or (lambda x: x)
    inputs = torch.stack([transform(torch.from_numpy(image)) for image in raw]).to(device)
    attributions = smoothed_positive_attributions(model, inputs, positive)
    params = test.params()
    height, width = raw.shape[-2:]
    pixels = image_pixel_directions(height, width)
    subhalos = [_subhalo_directions(params["top_l_deg"][i], params["top_b_deg"][i]) for i in index]
    radii = (ENRICHMENT_RADIUS_DEG,) + CONTEXT_RADII_DEG
    scores = {r: [attribution_enrichment(a, pixels, s, r) for a, s in zip(attributions, subhalos)] for r in radii}
    rows = tuple((r, len(index), float(np.mean([s["top_rate"] for s in scores[r]])),
                  float(np.mean([s["random_rate"] for s in scores[r]])),
                  float(np.mean([s["top_rate"] for s in scores[r]]) / np.mean([s["random_rate"] for s in scores[r]])))
                 for r in radii)
    headline = rows[0][4]
    signal = _noise_free_signal(branch, index[0], height, width)
    figure = _fig7_figure(signal, raw[0], attributions[0], pixels, params["top_l_deg"][index[0]],
                          params["top_b_deg"][index[0]])
    n_top = max(1, int(round(TOP_FRACTION * height * width)))
    return [
        Paragraph(
            f"Integrated gradients (Vattis+21 eq 15; captum, {IG_STEPS} steps, all-zero baseline in the network's "
            f"normalised input space) of the {info['architecture']} trained on scenario {FIG7_SCENARIO} "
            f"({name}), for the positive-class log-odds, on the first {len(index)} positive test maps. The two "
            f"channels are summed, negative attributions dropped and the rest smoothed by a Gaussian of "
            f"{SMOOTHING_PIXELS:g} pixels. The top {TOP_FRACTION:.0%} of pixels ({n_top} of {height * width}) lie "
            f"within {ENRICHMENT_RADIUS_DEG:g} deg of one of the ten most-signalling subhalos (largest summed "
            f"|u|^2 over the sky) {headline:.2f} times as often as random pixels do (ratio of the mean rates over "
            "the maps; the random rate is the exact fraction of all image pixels within that radius, i.e. the "
            "expected rate of pixels drawn uniformly from the image; 1 = no localisation)."),
        Table(("radius (deg)", "maps", "top-pixel rate", "random rate", "enrichment"), rows,
              "Fraction of the top-1% attribution pixels and of all pixels within a radius of the ten "
              "most-signalling subhalos, averaged over the attributed maps, and their ratio."),
        Figure.from_matplotlib("astro-attribution", figure, (
            f"Fig 7: one positive scenario-{FIG7_SCENARIO} test map. Left: noise-free |u| of its population on the "
            "data grid [muas/yr]; middle: the noisy input |u| [muas/yr]; right: smoothed positive integrated "
            "gradients, normalised to 1, with the top-1% pixels outlined; colours saturate at each panel's 99.5th percentile. Circles: the ten most-signalling "
            f"subhalos ({ENRICHMENT_RADIUS_DEG:g} deg radius). Cartesian projection, l from 180 deg (left) to "
            "-180 deg (right), b from -90 to 90 deg.")),
    ]


def _subhalo_directions(l_deg: np.ndarray, b_deg: np.ndarray) -> np.ndarray:
    """(S, 3) unit vectors of the finite (l, b) pairs [deg] (NaN pads dropped)."""
    finite = np.isfinite(l_deg) & np.isfinite(b_deg)
    return np.asarray(hp.ang2vec(l_deg[finite], b_deg[finite], lonlat=True)).reshape(-1, 3)


def _noise_free_signal(branch, test_index: int, height: int, width: int) -> np.ndarray:
    """The signal step's (2, H, W) projected signal of positive test example ``test_index`` [muas/yr].

    Signal shard ``s`` holds, in order, the positive examples of test shard ``s``.
    """
    from lensbench.simulate.store import ShardedDataset
    from lensbench.steps.signal import load_signal

    test = ShardedDataset(branch.test_dir)
    shard_size = test.manifest["shard_size"]
    shard = test_index // shard_size
    labels = test.labels
    positive = len(test.class_names) - 1
    position = int(np.sum(labels[shard * shard_size:test_index] == positive))
    signal, _ = load_signal(branch.signal_test_dir, shard)
    return project_maps(signal[position], height, width)


def _fig7_figure(signal, data, attribution, pixels, l_deg, b_deg) -> MplFigure:
    figure = MplFigure(figsize=(12, 2.6), constrained_layout=True)
    axes = figure.subplots(1, 3)
    extent = (180.0, -180.0, -90.0, 90.0)
    panels = ((np.hypot(*signal), "noise-free |u| (muas/yr)", "magma"),
              (np.hypot(*data), "data |u| (muas/yr)", "magma"),
              (attribution / max(float(attribution.max()), 1e-300), "positive IG, smoothed (normalised)", "viridis"))
    threshold = np.sort(attribution.ravel())[-max(1, int(round(TOP_FRACTION * attribution.size)))]
    wrapped_l = (np.asarray(l_deg) + 180.0) % 360.0 - 180.0
    for axes_, (image, title, cmap) in zip(axes, panels):
        shown = axes_.imshow(image, origin="lower", extent=extent, aspect="auto", cmap=cmap, interpolation="nearest",
                             vmax=float(np.percentile(image, DISPLAY_PERCENTILE)))
        figure.colorbar(shown, ax=axes_, fraction=0.04, pad=0.01)
        axes_.scatter(wrapped_l, b_deg, s=60, facecolors="none", edgecolors="cyan", linewidths=1.0)
        axes_.set_title(title, fontsize=9)
        axes_.set_xlabel("l (deg)", fontsize=8)
        axes_.tick_params(labelsize=7)
    axes[0].set_ylabel("b (deg)", fontsize=8)
    axes[2].contour(attribution >= threshold, levels=[0.5], colors="red", linewidths=0.8, origin="lower",
                    extent=extent)
    return figure


# ----------------------------------------------------------------------------------------------
# Training check


def _training_check_blocks(branches: dict) -> list:
    rows, flat = [], []
    for name, b in branches.items():
        loss = b.results.get("curves", {}).get("loss", {})
        train, val = loss.get("train_loss") or [], loss.get("val_loss") or []
        lowest = min(train) if train else None
        rows.append((name, b.spec.training.lr, lowest, min(val) if val else None, b.results["metrics"].get("auc")))
        if lowest is not None and lowest > CHANCE_LOSS - 0.01:
            flat.append(f"{name} (initial learning rate {b.spec.training.lr:g})")
    verdict = ("Every branch's training loss fell below chance." if not flat else
               "Did not learn (training loss never fell 0.01 below ln 2): " + "; ".join(flat) + ". At scenario A "
               "there may be nothing to learn; elsewhere suspect the learning rate (the paper prints 1e-1 with Adam).")
    return [Table(("branch", "initial lr", "lowest train loss", "lowest val loss", "AUC"), tuple(rows),
                  f"Cross-entropy losses against chance, ln 2 = {CHANCE_LOSS:.4f} (two balanced classes)."),
            Paragraph(verdict)]
