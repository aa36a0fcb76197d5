"""Does the input look like what the model was trained on? Pixel scale, simulation kind, size.

A classifier trained on simulated images only means something on real images of the same
kind, at the same pixel scale (arcsec per pixel) and a comparable size. The model card records
what it was trained on (``simulation_kind``, ``pixel_scale``, ``input_size``; see
:mod:`lensbench.steps.train`); the inputs' pixel scale comes from the catalogue
(``PIXEL_SCALE`` of a GalSim RealGalaxyCatalog) or is stated by the user, and their kind is
stated (``"galaxy"`` for COSMOS stamps). :func:`domain_check` compares them and words every
mismatch as a warning, for the terminal and the report.
"""

from __future__ import annotations

import numpy as np

from lensbench.io.preprocess import Preprocessing

PIXEL_SCALE_TOLERANCE = 0.02  # relative pixel-scale difference that is still a match
SIZE_TOLERANCE = 0.25         # relative side difference before native cropping/padding warns


def _span(low: float, high: float, spec: str) -> str:
    """"low-high" in format ``spec``, or one value when both read the same."""
    low_text, high_text = format(low, spec), format(high, spec)
    return low_text if low_text == high_text else f"{low_text}-{high_text}"


def _scale_range(scales: np.ndarray, sides: np.ndarray, prep: Preprocessing) -> tuple | None:
    """(min, max) pixel scale the network gets, arcsec per pixel: the stamps' own scale at
    native preparation, times side / input side when resampled; None when none is known."""
    known = np.isfinite(scales)
    if not known.any():
        return None
    effective = scales[known] / prep.zoom
    if prep.preparation == "resample":
        effective = effective * sides[known] / prep.output_shape[0]
    return float(effective.min()), float(effective.max())


def domain_check(card: dict, prep: Preprocessing, input_kind: str | None,
                 pixel_scales: np.ndarray, sides: np.ndarray) -> dict:
    """Compare the model's training domain with the scored stamps.

    Parameters
    ----------
    card : dict
        The model card (``simulation_kind``, ``pixel_scale`` in arcsec, ``input_size`` [H, W]).
    prep : Preprocessing
        How stamps were brought to the input size (``preparation``, ``zoom``).
    input_kind : str or None
        What the stamps show, as a simulation kind (``"galaxy"`` for single real galaxies);
        None: not checked.
    pixel_scales : numpy.ndarray, shape (N,)
        Each scored stamp's pixel scale (arcsec per pixel; NaN where unknown).
    sides : numpy.ndarray, shape (N,)
        Each scored stamp's longer side (pixels).

    Returns
    -------
    dict
        ``model`` (kind, pixel scale, input size), ``inputs`` (kind, pixel-scale range as
        stamped and as the network gets it, side range in pixels) and ``warnings`` (sentences).
    """
    pixel_scales, sides = np.asarray(pixel_scales, float), np.asarray(sides, float)
    model_kind, model_scale = card.get("simulation_kind"), card.get("pixel_scale")
    height = card["input_size"][0]
    known = pixel_scales[np.isfinite(pixel_scales)]
    network_scale = _scale_range(pixel_scales, sides, prep)
    warnings = []
    if input_kind is not None and model_kind is not None and model_kind != input_kind:
        warnings.append(f"the model was trained on simulation kind '{model_kind}', the inputs "
                        f"are '{input_kind}' images")
    if model_scale is None:
        warnings.append("the model card records no pixel scale: the pixel scale was not checked")
    elif network_scale is None:
        warnings.append(f"the inputs' pixel scale is unknown (no PIXEL_SCALE in a catalogue, "
                        f"none stated): not checked against the model's {model_scale} arcsec/px")
    elif max(abs(value / model_scale - 1) for value in network_scale) > PIXEL_SCALE_TOLERANCE:
        low, high = network_scale
        warnings.append(f"the network gets {_span(low, high, '.4g')} arcsec/px "
                        f"({prep.preparation} preparation) but was trained at {model_scale} "
                        f"arcsec/px: galaxies look {_span(model_scale / high, model_scale / low, '.0%')} "
                        f"of their trained angular size")
    if sides.size and prep.preparation == "native":
        far = np.abs(sides / height - 1) > SIZE_TOLERANCE
        if far.any():
            warnings.append(f"{int(far.sum())} stamp(s) have sides more than "
                            f"{SIZE_TOLERANCE:.0%} away from the model's {height} px: they were "
                            f"cropped or padded with noise by that much")
    return {"model": {"kind": model_kind, "pixel_scale": model_scale,
                      "input_size": list(card["input_size"])},
            "inputs": {"kind": input_kind,
                       "pixel_scale": [float(known.min()), float(known.max())] if known.size else None,
                       "network_pixel_scale": list(network_scale) if network_scale else None,
                       "sides": [int(sides.min()), int(sides.max())] if sides.size else None},
            "warnings": warnings}
