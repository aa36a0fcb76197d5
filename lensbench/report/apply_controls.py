"""What an application's positive fraction does and does not mean: the training-domain check and
the controls of :mod:`lensbench.scoring.controls`, in words, tables and figures.

Used by :mod:`lensbench.report.apply` for the application report and for the run report's
application section, so both say the same.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure as MplFigure

from lensbench.metrics import binomial_interval
from lensbench.report.document import Figure, Paragraph, Section, Table
from lensbench.report.figures import new_figure
from lensbench.scoring.outputs import CONFIDENCE, INTERVAL_METHOD, fraction_entry

#: Figures of this module, by name, and what they show.
FIGURE_CAPTIONS = {
    "zoom_curve": "Fraction of real stamps called positive against a zoom of the stamps",
    "score_vs_radius": "Score against half-light radius of the real stamps",
    "radius_distributions": "Half-light radii: real stamps, simulated no-halo prior, size-matched control",
}


def _percent(value) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _interval_text(interval) -> str:
    return "" if not interval else f" [{interval[0]:.1%}, {interval[1]:.1%}]"


# ---------------------------------------------------------------------------------------------
# Training domain


def domain_blocks(summary: dict) -> list:
    """The model's training domain beside the inputs', and every mismatch as a sentence."""
    domain = summary.get("domain")
    if domain is None:
        return [Paragraph("This application predates the training-domain check.")]
    model, inputs = domain["model"], domain["inputs"]

    def scale(values):
        return "unknown" if not values else " - ".join(f"{value:.4g}" for value in dict.fromkeys(values))

    table = Table(("", "model (trained on)", "inputs (as the network got them)"), (
        ("simulation kind", model["kind"] or "not recorded", inputs["kind"] or "not stated"),
        ("pixel scale (arcsec/px)", model["pixel_scale"] or "not recorded",
         scale(inputs["network_pixel_scale"])),
        ("image side (px)", model["input_size"][0],
         "none scored" if not inputs["sides"] else
         f"{scale(inputs['sides'])} read, {summary['preprocessing']['preparation']} to "
         f"{model['input_size'][0]}"),
    ), "The model's training domain (its model card) against the scored stamps.")
    if domain["warnings"]:
        text = "Warning: " + " ".join(f"{warning[0].upper()}{warning[1:]}." for warning in domain["warnings"])
    else:
        text = "The inputs match the model's training domain in kind, pixel scale and size."
    return [Paragraph(text), table]


# ---------------------------------------------------------------------------------------------
# The controls


def _control_rows(summary: dict) -> list[tuple]:
    """Rows (sample, fraction, low, high, what it is) of the controls that ran."""
    control = summary.get("control") or {}
    rows = []
    if control.get("fraction") is not None:
        low, high = control["interval"]
        rows.append(("simulated, no halo, size-matched", control["fraction"], low, high,
                     f"{control['neighbours']} nearest of {control['pool']['size']} per real "
                     f"stamp in half-light radius and flux; bootstrap over real stamps"))
    if control.get("pool"):
        fraction, size = control["pool"]["fraction"], control["pool"]["size"]
        low, high = binomial_interval(round(fraction * size), size, CONFIDENCE, INTERVAL_METHOD)
        rows.append(("simulated, no halo, training prior", fraction, low, high,
                     "the classifier's false-positive rate on its own simulation"))
    return rows


def meaning_text(summary: dict) -> str:
    """What the positive fraction does and does not mean, with this application's numbers."""
    positive = summary["positive_class"]
    ours = summary["predicted_positive"]
    control, zoom = summary.get("control") or {}, summary.get("zoom") or {}
    rho = (summary.get("size") or {}).get("score_radius_spearman") or {}
    parts = [f"{_percent(ours['fraction'])}{_interval_text(ours['interval'])} of the scored real "
             f"stamps are called '{positive}'."]
    if summary["model"].get("simulation_kind") == "galaxy":
        parts.append(
            "What that measures: the NFW halo of Ko's single-galaxy task (r_s = 10-100 arcsec) is "
            "far larger than the stamp, so over the stamp it acts almost as a uniform "
            "magnification (about 7 % larger in size for Ko's priors) with little shear. One "
            "image cannot tell that from the galaxy's own size, so the classifier's score follows "
            "apparent size, and the fraction of real galaxies called 'halo' compares the real "
            "galaxies' sizes with the simulated size prior. It is not a count of galaxies with "
            "halos.")
    if control.get("fraction") is not None:
        parts.append(f"Simulated galaxies without any halo, matched to the real stamps in "
                     f"half-light radius and flux and scored by the same model, are called "
                     f"'{positive}' {_percent(control['fraction'])}"
                     f"{_interval_text(control['interval'])} of the time (the training prior's "
                     f"no-halo galaxies: {_percent(control['pool']['fraction'])}): a fraction "
                     f"near that is what size alone gives.")
    elif control.get("skipped"):
        parts.append(f"No size-matched control: {control['skipped']}.")
    fractions = [(z, f) for z, f in zip(zoom.get("zooms", ()), zoom.get("fraction", ())) if f is not None]
    if len(fractions) > 1:
        parts.append(f"Zooming the real stamps from {fractions[0][0]:g} to {fractions[-1][0]:g} "
                     f"moves the fraction from {_percent(fractions[0][1])} to "
                     f"{_percent(fractions[-1][1])}.")
    if rho.get("rho") is not None:
        parts.append(f"Score and half-light radius have a Spearman rank correlation of "
                     f"{rho['rho']:.2f} (p = {rho['p_value']:.2g}, {rho['n']} stamps).")
    if "paper" in summary and summary["paper"]["predicted_positive"].get("fraction") is not None:
        parts.append(f"The paper's {_percent(summary['paper']['predicted_positive']['fraction'])} "
                     f"is shown beside ours with this caveat, not as a target.")
    return " ".join(parts)


def zoom_rows(summary: dict) -> list[tuple]:
    """(zoom, positive, scored, fraction, Wilson low, high) per zoom factor."""
    zoom = summary.get("zoom") or {}
    rows = []
    for factor, positive, scored in zip(zoom.get("zooms", ()), zoom.get("positive", ()),
                                        zoom.get("scored", ())):
        entry = fraction_entry(positive, scored)
        rows.append((factor, positive, scored, entry["fraction"], *(entry["interval"] or (None, None))))
    return rows


def zoom_figure(summary: dict) -> MplFigure:
    """Fraction called positive against zoom, with Wilson intervals, the size-matched control's
    fraction (band) and the paper's (dotted)."""
    rows = [row for row in zoom_rows(summary) if row[3] is not None]
    zooms = np.array([row[0] for row in rows])
    fractions = np.array([row[3] for row in rows])
    errors = np.array([[row[3] - row[4], row[5] - row[3]] for row in rows]).T
    figure = new_figure(5.0, 3.4)
    ax = figure.add_subplot()
    ax.errorbar(zooms, fractions, yerr=errors, marker="o", capsize=3, label="real stamps")
    control = summary.get("control") or {}
    if control.get("fraction") is not None:
        ax.axhspan(*control["interval"], color="tab:orange", alpha=0.25,
                   label="simulated no-halo, size-matched (95 %)")
        ax.axhline(control["fraction"], color="tab:orange")
    paper = (summary.get("paper") or {}).get("predicted_positive") or {}
    if paper.get("fraction") is not None:
        ax.axhline(paper["fraction"], color="black", linestyle=":", label="paper (not a target)")
    ax.set_xlabel("zoom factor of the real stamps (1 = as observed)")
    ax.set_ylabel(f"fraction called '{summary['positive_class']}'")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize=7, loc="best")
    return figure


def radius_figure(scores: np.ndarray, radii_arcsec: np.ndarray, summary: dict) -> MplFigure:
    """Score against half-light radius (arcsec) of the scored real stamps."""
    finite = np.isfinite(scores) & np.isfinite(radii_arcsec)
    figure = new_figure(5.0, 3.4)
    ax = figure.add_subplot()
    ax.scatter(radii_arcsec[finite], scores[finite], s=12, alpha=0.7)
    rho = summary["size"]["score_radius_spearman"]
    title = (f"Spearman rho = {rho['rho']:.2f} (p = {rho['p_value']:.2g}, n = {rho['n']})"
             if rho["rho"] is not None else f"n = {rho['n']}: too few for a correlation")
    ax.set_title(title, fontsize=9)
    ax.set_xscale("log")
    ax.set_xlabel("half-light radius (arcsec, at the model's pixel scale)")
    ax.set_ylabel(f"score: probability of '{summary['positive_class']}'")
    ax.set_ylim(-0.02, 1.02)
    return figure


def distributions_figure(summary: dict) -> MplFigure:
    """Normalised histograms of the half-light radii of the real stamps, the simulated no-halo
    prior and the size-matched control (arcsec)."""
    histogram = summary["control"]["radius_histogram"]
    edges = np.array(histogram["edges"])
    figure = new_figure(5.0, 3.4)
    ax = figure.add_subplot()
    styles = {"real": ("real stamps", "tab:blue"), "pool": ("simulated no-halo prior", "tab:gray"),
              "matched": ("size-matched control", "tab:orange")}
    for key, (label, colour) in styles.items():
        counts = np.array(histogram.get(key, []), dtype=float)
        if counts.sum() > 0:
            ax.stairs(counts / counts.sum(), edges, label=label, color=colour)
    ax.set_xscale("log")
    ax.set_xlabel("half-light radius (arcsec)")
    ax.set_ylabel("fraction per bin")
    ax.legend(fontsize=7)
    return figure


def controls_section(summary: dict, scores: np.ndarray, radii_px: np.ndarray) -> Section:
    """The application report's section on what the fraction means: text, the controls' table,
    the zoom table and the three figures (those whose data exist)."""
    positive = summary["positive_class"]
    ours = summary["predicted_positive"]
    low, high = ours["interval"] or (None, None)
    rows = [("real stamps (these inputs)", ours["fraction"], low, high, "the application")]
    rows += _control_rows(summary)
    blocks = [Paragraph(meaning_text(summary)),
              Table(("sample", f"fraction '{positive}'", "95 % low", "95 % high", "what it is"),
                    rows, "The real fraction beside simulated galaxies that have no halo.")]
    zooms = zoom_rows(summary)
    if zooms:
        blocks.append(Table(("zoom", f"called '{positive}'", "scored", "fraction", "95 % Wilson low",
                             "95 % Wilson high"), zooms,
                            "The real stamps magnified about their centre before preparation."))
        blocks.append(Figure.from_matplotlib("zoom_curve", zoom_figure(summary),
                                             FIGURE_CAPTIONS["zoom_curve"] + "; bars: 95 % Wilson."))
    scale = summary["model"].get("pixel_scale")
    if scale and np.isfinite(radii_px).any():
        blocks.append(Figure.from_matplotlib(
            "score_vs_radius", radius_figure(scores, radii_px * scale, summary),
            FIGURE_CAPTIONS["score_vs_radius"] + " (measured on the stamps as the network got them)."))
    if (summary.get("control") or {}).get("radius_histogram"):
        blocks.append(Figure.from_matplotlib("radius_distributions", distributions_figure(summary),
                                             FIGURE_CAPTIONS["radius_distributions"] + "."))
    return Section("What the fraction means", blocks)


def control_summary_rows(summary: dict) -> list[tuple]:
    """Rows (quantity, lensbench, paper) for the run report's application table."""
    rows = [(f"fraction '{summary['positive_class']}', {name}", fraction, None)
            for name, fraction, *_ in _control_rows(summary)]
    zoom = [row for row in zoom_rows(summary) if row[3] is not None]
    rows += [(f"fraction at zoom {row[0]:g}", row[3], None) for row in zoom if row[0] != 1.0]
    rho = (summary.get("size") or {}).get("score_radius_spearman") or {}
    if rho.get("rho") is not None:
        rows.append(("Spearman rho, score vs half-light radius", rho["rho"], None))
    return rows


__all__ = ["FIGURE_CAPTIONS", "control_summary_rows", "controls_section", "domain_blocks", "meaning_text"]
