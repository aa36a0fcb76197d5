"""What an application writes: ``predictions.csv``, ``predictions.fits`` (one row per stamp read:
score, half-light radius in network pixels, flux in file units, cuts) and ``apply.json``
(model, preprocessing, inputs, problems, counts, fractions, the paper's counts, the training
domain check and the controls of :mod:`lensbench.scoring.controls`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from astropy.table import Table as AstropyTable

from lensbench.errors import UsageError
from lensbench.io.atomic import write_atomic
from lensbench.io.preprocess import CUT_NAMES, Preprocessing
from lensbench.metrics import binomial_interval
from lensbench.scoring.controls import CONFIDENCE
from lensbench.scoring.stream import Rows

APPLY_FORMAT = "lensbench.apply/1"
INTERVAL_METHOD = "wilson"
PAPER_KEYS = ("source", "stamps_read", "passed", "positive")


def _predictions_table(rows: Rows, classes: list[str]) -> AstropyTable:
    """One row per stamp read; score NaN and predicted_class "" where nothing was scored."""
    cuts = rows.cut_matrix()
    predicted = [classes[index] if index >= 0 else "" for index in rows.predicted]
    columns = {
        "identifier": np.array(rows.identifiers, dtype=str),
        "file": np.array(rows.files, dtype=str),
        "hdu": np.array(rows.hdus, dtype=np.int64),
        "score": np.array(rows.scores, dtype=np.float64),
        "half_light_radius_px": np.array(rows.radii, dtype=np.float64),
        "flux": np.array(rows.fluxes, dtype=np.float64),
        "predicted_class": np.array(predicted, dtype=str),
        "passed": ~cuts.any(axis=1),
    }
    columns.update({f"cut_{name}": cuts[:, index] for index, name in enumerate(CUT_NAMES)})
    return AstropyTable(columns)


def _table_bytes(table: AstropyTable, file_format: str) -> bytes:
    """The table written in ``file_format`` ("ascii.csv" or "fits"), in memory."""
    buffer = io.BytesIO() if file_format == "fits" else io.StringIO()
    table.write(buffer, format=file_format)
    value = buffer.getvalue()
    return value if isinstance(value, bytes) else value.encode("utf-8")


def fraction_entry(positive: int, total: int) -> dict:
    """k, n, fraction and its 95 % Wilson interval (fraction and interval None when n = 0)."""
    if total == 0:
        return {"positive": 0, "total": 0, "fraction": None, "interval": None}
    low, high = binomial_interval(positive, total, CONFIDENCE, INTERVAL_METHOD)
    return {"positive": positive, "total": total, "fraction": positive / total,
            "interval": [low, high]}


def check_paper(paper: dict | None) -> None:
    """Refuse (UsageError) paper counts with unknown keys or counts that are not whole numbers."""
    if paper is None:
        return
    unknown = sorted(set(paper) - set(PAPER_KEYS))
    if unknown:
        raise UsageError(f"unknown paper key(s) {', '.join(unknown)}; one of: "
                         f"{', '.join(PAPER_KEYS)}")
    for key in PAPER_KEYS[1:]:
        value = paper.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise UsageError(f"paper '{key}' must be a count (a non-negative integer) or "
                             f"None, got {value!r}")


def paper_entry(paper: dict) -> dict:
    """The paper's counts as ``apply.json`` holds them, in the layout of ours: stamps read,
    passed, and its predicted positives out of the stamps that passed (with their fraction and
    Wilson interval when both counts are known)."""
    positive, passed = paper.get("positive"), paper.get("passed")
    predicted = (fraction_entry(positive, passed) if positive is not None and passed is not None
                 else {"positive": positive, "total": passed, "fraction": None, "interval": None})
    return {"source": paper.get("source", ""), "stamps_read": paper.get("stamps_read"),
            "passed": passed, "predicted_positive": predicted}


def summarise(rows: Rows, card: dict, prep: Preprocessing, model_dir: Path, inputs: list,
              problems: list, paper: dict | None, diagnostics: dict) -> dict:
    """Everything ``apply.json`` holds: model, preprocessing, inputs, counts, fractions, the
    paper's counts under ``"paper"`` when ``paper`` is given, and ``diagnostics`` (``domain``,
    ``size``, ``zoom``, ``control``: :func:`lensbench.scoring.apply_model`)."""
    cuts = rows.cut_matrix()
    predicted = np.array(rows.predicted, dtype=np.int64)
    positive_index = len(card["classes"]) - 1
    scored = int(np.count_nonzero(predicted >= 0))
    positive = int(np.count_nonzero(predicted == positive_index))
    summary = {
        "format": APPLY_FORMAT,
        "model": {"folder": str(model_dir), "architecture": card["architecture"],
                  "classes": list(card["classes"]), "input_size": list(card["input_size"]),
                  "normalize": card["normalize"],
                  "simulation_kind": card.get("simulation_kind"),
                  "pixel_scale": card.get("pixel_scale")},
        "preprocessing": prep.to_dict(),
        "inputs": [str(item) for item in inputs],
        "files_read": len(set(rows.files)),
        "stamps_read": len(rows),
        "problems": [{"file": p.file, "hdu": p.hdu, "reason": p.reason} for p in problems],
        "cuts": {name: int(count) for name, count in zip(CUT_NAMES, cuts.sum(axis=0))},
        "failed_any_cut": int(cuts.any(axis=1).sum()),
        "passed": int((~cuts.any(axis=1)).sum()),
        "scored": scored,
        "positive_class": card["classes"][positive_index],
        "predicted_positive": {**fraction_entry(positive, scored), "confidence": CONFIDENCE,
                               "method": INTERVAL_METHOD},
        **diagnostics,
    }
    if paper is not None:
        summary["paper"] = paper_entry(paper)
    return summary


def write_outputs(out_dir: Path, rows: Rows, classes: list[str], summary: dict) -> None:
    """Write ``predictions.csv``, ``predictions.fits`` and ``apply.json`` into ``out_dir``
    (created), each atomically."""
    table = _predictions_table(rows, classes)
    write_atomic(out_dir / "predictions.csv", _table_bytes(table, "ascii.csv"))
    write_atomic(out_dir / "predictions.fits", _table_bytes(table, "fits"))
    write_atomic(out_dir / "apply.json", json.dumps(summary, indent=2, allow_nan=False) + "\n")
