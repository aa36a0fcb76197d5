"""Vattis+21 Fig 7: where the scenario-D classifier looks, and whether that is near the subhalos.

Integrated gradients (:func:`lensbench.attribution.integrated_gradients`; Vattis+21 eq 15) of the
positive-class log-odds on positive test maps, positive attributions smoothed by a Gaussian of 3
pixels, beside the ten most-signalling subhalos, with an enrichment number
(:func:`attribution_enrichment`): how much more often the top pixels lie near a subhalo than
random pixels do.
"""

from __future__ import annotations

import math

import healpy as hp
import numpy as np
import torch
from matplotlib.figure import Figure as MplFigure
from scipy import ndimage

from lensbench.attribution import integrated_gradients
from lensbench.models.saved import load_model, normaliser
from lensbench.report.branch import BranchData
from lensbench.report.document import Figure, Paragraph, Table
from lensbench.simulate.astrometric import SCENARIOS
from lensbench.simulate.sky_projection import pixel_directions, project
from lensbench.simulate.store import ShardedDataset, load_signal

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
#: Gauss-Legendre nodes of the path integral of eq 15.
IG_STEPS = 32
#: Survey of Fig 7, as in the paper.
FIG7_SCENARIO = "D"
#: Colour scales of Fig 7 end at this percentile of each panel, so a few bright pixels do not hide the rest.
DISPLAY_PERCENTILE = 99.5


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
        (H, W, 3) unit vectors of the pixels (:func:`lensbench.simulate.sky_projection.pixel_directions`).
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
                                   steps: int = IG_STEPS, wrap: bool = True) -> np.ndarray:
    """Integrated gradients (eq 15) of the positive-class log-odds, positive part, smoothed.

    The baseline is the all-zero input (the network's input space: an empty, noise-free sky);
    the two channels' attributions are summed; negative sums are set to 0; each map is smoothed
    by a Gaussian of :data:`SMOOTHING_PIXELS` pixels, wrapping around in longitude (the columns of
    a full-sky cylindrical image) when ``wrap``, else not (the stacked faces of "healpix_faces").

    Parameters
    ----------
    model : torch.nn.Module
        A two-class classifier in eval mode.
    inputs : torch.Tensor
        (N, C, H, W) images as the network sees them (after the training normalisation).
    positive : int
        Index of the positive class.
    steps : int
        Quadrature nodes of the path integral.

    Returns
    -------
    np.ndarray
        (N, H, W) smoothed positive attributions (log-odds units per pixel).
    """
    negative = 1 - positive

    def log_odds(x):
        logits = model(x)
        return logits[:, positive] - logits[:, negative]

    attribution = integrated_gradients(log_odds, inputs, steps=steps)
    positive_part = attribution.sum(dim=1).clamp_min(0.0).cpu().numpy()
    return ndimage.gaussian_filter(positive_part, sigma=(0, SMOOTHING_PIXELS, SMOOTHING_PIXELS),
                                   mode=("nearest", "nearest", "wrap" if wrap else "nearest"))


def _fig7_branch(branches: dict[str, BranchData], main_architecture: str) -> tuple[str | None, BranchData | None]:
    """The branch observing Table I's scenario D through a cylindrical image (not the HEALPix faces,
    which Fig 7's longitude-latitude panels cannot show), preferring the main architecture."""
    candidates = [(n, b) for n, b in branches.items() if b.survey_scenario == FIG7_SCENARIO
                  and b.survey == SCENARIOS[FIG7_SCENARIO] and b.simulation.projection != "healpix_faces"]
    candidates.sort(key=lambda item: item[1].architecture != main_architecture)
    return candidates[0] if candidates else (None, None)


def attribution_blocks(branches: dict[str, BranchData], main_architecture: str, device: str) -> list:
    """Fig 7, its enrichment table and text, or a paragraph saying why there are none.

    Parameters
    ----------
    branches : dict[str, BranchData]
        Every branch of the run; the scenario-D one needs outputs ``train``, ``simulate:test``
        and ``signal:test``.
    main_architecture : str
        The architecture preferred when several branches observe scenario D.
    device : str
        "cpu" or "cuda": where the integrated gradients are computed.
    """
    name, branch = _fig7_branch(branches, main_architecture)
    if branch is None:
        return [Paragraph(f"No branch observes scenario {FIG7_SCENARIO} of Table I: no attribution maps.")]
    model, info = load_model(branch.outputs["train"])
    model = model.to(device)
    test = ShardedDataset(branch.outputs["simulate:test"])
    positive = len(info["classes"]) - 1
    index = np.flatnonzero(test.labels == positive)[:ATTRIBUTED_MAPS]
    raw = test.images(index)
    transform = normaliser(info["normalize"], info.get("normalize_constants")) or (lambda x: x)
    inputs = torch.stack([transform(torch.from_numpy(image)) for image in raw]).to(device)
    config = branch.simulation
    attributions = smoothed_positive_attributions(model, inputs, positive, wrap=config.projection != "healpix_faces")
    params = test.params()
    height, width = raw.shape[-2:]
    pixels = pixel_directions(config.projection, config.data_nside, config.image_height, config.image_width)
    subhalos = [_subhalo_directions(params["top_l_deg"][i], params["top_b_deg"][i]) for i in index]
    radii = (ENRICHMENT_RADIUS_DEG,) + CONTEXT_RADII_DEG
    scores = {r: [attribution_enrichment(a, pixels, s, r) for a, s in zip(attributions, subhalos)] for r in radii}
    rows = tuple((r, len(index), float(np.mean([s["top_rate"] for s in scores[r]])),
                  float(np.mean([s["random_rate"] for s in scores[r]])),
                  float(np.mean([s["top_rate"] for s in scores[r]]) / np.mean([s["random_rate"] for s in scores[r]])))
                 for r in radii)
    headline = rows[0][4]
    signal = _noise_free_signal(branch, test, index[0])
    figure = _fig7_figure(signal, raw[0], attributions[0], params["top_l_deg"][index[0]],
                          params["top_b_deg"][index[0]], config.projection)
    n_top = max(1, int(round(TOP_FRACTION * height * width)))
    return [
        Paragraph(
            f"Integrated gradients (Vattis+21 eq 15; captum, {IG_STEPS}-node Gauss-Legendre quadrature, all-zero "
            f"baseline in the network's normalised input space) of the {info['architecture']} trained on scenario "
            f"{FIG7_SCENARIO} ({name}), for the positive-class log-odds, on the first {len(index)} positive test "
            f"maps. The two channels are summed, negative attributions dropped and the rest smoothed by a Gaussian "
            f"of {SMOOTHING_PIXELS:g} pixels. The top {TOP_FRACTION:.0%} of pixels ({n_top} of {height * width}) lie "
            f"within {ENRICHMENT_RADIUS_DEG:g} deg of one of the ten most-signalling subhalos (largest summed "
            f"|u|^2 over the sky) {headline:.2f} times as often as random pixels do (ratio of the mean rates over "
            "the maps; the random rate is the exact fraction of all image pixels within that radius, i.e. the "
            "expected rate of pixels drawn uniformly from the image; 1 = no localisation)."),
        Table(("radius (deg)", "maps", "top-pixel rate", "random rate", "enrichment"), rows,
              "Fraction of the top-1% attribution pixels and of all pixels within a radius of the ten "
              "most-signalling subhalos, averaged over the attributed maps, and their ratio."),
        Figure.from_matplotlib("astro-attribution", figure, (
            f"Fig 7: one positive scenario-{FIG7_SCENARIO} test map. Left: noise-free |u| of its population as the "
            "network input shows it [muas/yr]; middle: the noisy input |u| [muas/yr]; right: smoothed positive integrated "
            "gradients, normalised to 1, with the top-1% pixels outlined; colours saturate at each panel's "
            "99.5th percentile. Circles: the ten most-signalling "
            f"subhalos ({ENRICHMENT_RADIUS_DEG:g} deg radius). The network's input image (projection "
            f"'{config.projection}'), l from 180 deg (left) to -180 deg (right), "
            + ("sin b from -1 to 1 (equal-area rows)." if config.projection == "area_weighted"
               else "b from -90 to 90 deg."))),
    ]


def _subhalo_directions(l_deg: np.ndarray, b_deg: np.ndarray) -> np.ndarray:
    """(S, 3) unit vectors of the finite (l, b) pairs [deg] (NaN pads dropped)."""
    finite = np.isfinite(l_deg) & np.isfinite(b_deg)
    return np.asarray(hp.ang2vec(l_deg[finite], b_deg[finite], lonlat=True)).reshape(-1, 3)


def _noise_free_signal(branch: BranchData, test: ShardedDataset, test_index: int) -> np.ndarray:
    """The signal step's (2, H, W) signal of positive test example ``test_index``, as the network
    input represents it [muas/yr].

    Signal shard ``s`` holds, in order, the positive examples of test shard ``s``.
    """
    shard_size = test.manifest["shard_size"]
    shard = test_index // shard_size
    positive = len(test.class_names) - 1
    position = int(np.sum(test.labels[shard * shard_size:test_index] == positive))
    signal, _ = load_signal(branch.outputs["signal:test"], shard)
    config = branch.simulation
    return project(signal[position], config.projection, config.image_height, config.image_width)


def _fig7_figure(signal, data, attribution, l_deg, b_deg, projection: str) -> MplFigure:
    """Noise-free |u|, data |u| and the smoothed attribution of one cylindrical image (rows equal
    steps in b for "nearest", in sin b for "area_weighted"), subhalos circled."""
    figure = MplFigure(figsize=(12, 2.6), constrained_layout=True)
    axes = figure.subplots(1, 3)
    equal_area = projection == "area_weighted"
    extent = (180.0, -180.0, -1.0, 1.0) if equal_area else (180.0, -180.0, -90.0, 90.0)
    vertical = np.sin(np.radians(np.asarray(b_deg))) if equal_area else b_deg
    panels = ((np.hypot(*signal), "noise-free |u| (muas/yr)", "magma"),
              (np.hypot(*data), "data |u| (muas/yr)", "magma"),
              (attribution / max(float(attribution.max()), 1e-300), "positive IG, smoothed (normalised)", "viridis"))
    threshold = np.sort(attribution.ravel())[-max(1, int(round(TOP_FRACTION * attribution.size)))]
    wrapped_l = (np.asarray(l_deg) + 180.0) % 360.0 - 180.0
    for axes_, (image, title, cmap) in zip(axes, panels):
        shown = axes_.imshow(image, origin="lower", extent=extent, aspect="auto", cmap=cmap, interpolation="nearest",
                             vmax=float(np.percentile(image, DISPLAY_PERCENTILE)))
        figure.colorbar(shown, ax=axes_, fraction=0.04, pad=0.01)
        axes_.scatter(wrapped_l, vertical, s=60, facecolors="none", edgecolors="cyan", linewidths=1.0)
        axes_.set_title(title, fontsize=9)
        axes_.set_xlabel("l (deg)", fontsize=8)
        axes_.tick_params(labelsize=7)
    axes[0].set_ylabel("sin b" if equal_area else "b (deg)", fontsize=8)
    axes[2].contour(attribution >= threshold, levels=[0.5], colors="red", linewidths=0.8, origin="lower",
                    extent=extent)
    return figure
