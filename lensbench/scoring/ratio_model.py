"""The trained likelihood-ratio estimator that :func:`lensbench.scoring.ratio.apply_ratio_model`
runs: loading it, finding its histogram calibration, and naming both without a machine path.

A model is named by its cache entry (``ratio_train/<key>``) and the sha256 of its weights; a
calibration by its cache entry (``ratio_calibrate/<key>``) and the sha256 of ``calibration.npz``.
The calibration of a model is, in this order of precedence:

1. the one passed explicitly (a ``ratio_calibrate`` cache entry or a ``calibration.npz`` file);
2. ``calibration.npz`` beside the model (a run's ``model/`` or ``models/<branch>/`` folder, where
   the report step links the branch's calibrate output);
3. for a model that is a ``ratio_train`` cache entry, the ``ratio_calibrate`` entry of the same
   cache written by the same spec (same ``spec_hash``) for the same branch;
4. for a run's single ``model/``, the ``ratio_calibrate`` entry its ``metrics.json`` lists,
   looked up in the cache (``cache_root``).

Without any, the maps are the network's raw ln r_hat ("uncalibrated").
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lensbench.cache.integrity import file_sha256
from lensbench.cache.store import default_root
from lensbench.errors import DataError, UsageError
from lensbench.models.saved import read_model_card
from lensbench.sbi.calibration import HistogramCalibration, load_calibration
from lensbench.sbi.normalized_calibration import NormalizedCalibration
from lensbench.sbi.estimator import RatioEstimator
from lensbench.sbi.inference import ParameterGrid
from lensbench.sbi.saved import load_estimator

RATIO_TASK = "likelihood_ratio"
CALIBRATION_FILE = "calibration.npz"
TRAIN_KIND, CALIBRATE_KIND = "ratio_train", "ratio_calibrate"
HASH_CHARS = 16


def _read_meta(folder: Path) -> dict | None:
    """A cache entry's ``meta.json`` (kind, key, spec_hash, branches), or None."""
    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return meta if isinstance(meta, dict) and {"kind", "key"} <= set(meta) else None


def _run_entries(model_dir: Path, kind: str) -> list[str]:
    """``kind/key`` names of the cache entries of ``kind`` listed by the ``metrics.json`` of the run
    whose report folder holds ``model_dir`` (``model/`` or ``models/<branch>/``)."""
    run = model_dir.parent if model_dir.name == "model" else model_dir.parent.parent
    try:
        metrics = json.loads((run / "metrics.json").read_text(encoding="utf-8"))
        entries = metrics["provenance"]["cache_entries"].values()
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return []
    return sorted({str(name) for name in entries if str(name).startswith(f"{kind}/")})


def entry_name(folder: Path, kind: str, run_model_dir: Path | None = None) -> str | None:
    """The cache entry ``kind/key`` that ``folder`` is, or that the run holding ``run_model_dir``
    used (when it lists exactly one entry of ``kind``); None when neither says."""
    meta = _read_meta(folder)
    if meta is not None and meta["kind"] == kind:
        return f"{kind}/{meta['key']}"
    if run_model_dir is not None:
        names = _run_entries(run_model_dir, kind)
        return names[0] if len(names) == 1 else None
    return None


def load_ratio_model(model_dir: Path, device: str = "cpu") -> tuple[RatioEstimator, dict]:
    """The estimator in ``model_dir`` in eval mode, and its card.

    Raises
    ------
    UsageError
        (exit 2) When the model is not a likelihood-ratio estimator (checked before its weights
        load: another task's state dict would not fit).
    DataError
        (exit 3) When the files cannot be read or do not match each other.
    """
    task = read_model_card(model_dir).get("task")
    if task != RATIO_TASK:
        raise UsageError(f"{model_dir}: a '{task}' model; a likelihood-ratio map needs an estimator of the "
                         f"'{RATIO_TASK}' task (a classifier is applied by lensbench.scoring.apply_model)")
    try:
        return load_estimator(model_dir, device)
    except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError, pickle.UnpicklingError) as error:
        raise DataError(model_dir, f"cannot load the likelihood-ratio estimator: {type(error).__name__}: "
                                   f"{error}") from None


@dataclass(frozen=True)
class CalibrationSource:
    """Where a model's calibration was found.

    Attributes
    ----------
    path : Path or None
        The ``calibration.npz`` file; None: uncalibrated.
    how : str
        In words: which rule of the module found it, or why there is none.
    """

    path: Path | None
    how: str


def _npz_in(path: Path) -> Path:
    """``path`` itself (a file) or ``path/calibration.npz`` (a folder); DataError when absent."""
    path = Path(path)
    found = path / CALIBRATION_FILE if path.is_dir() else path
    if not found.is_file():
        raise DataError(path, f"no histogram calibration here: expected {CALIBRATION_FILE} (a "
                              f"'{CALIBRATE_KIND}' cache entry, or the file itself)")
    return found


def _sibling_entry(model_dir: Path) -> tuple[Path | None, str]:
    """Rule 3: the calibrate entry of the same cache, spec and branch as a train entry."""
    meta = _read_meta(model_dir)
    root = model_dir.parents[2] / CALIBRATE_KIND if len(model_dir.parents) > 2 else None
    if meta is None or meta["kind"] != TRAIN_KIND or root is None or not root.is_dir():
        return None, ""
    branches = set(meta.get("branches") or [])
    found = []
    for folder in sorted(root.glob("*/*")):
        other = _read_meta(folder)
        if (other is not None and other.get("spec_hash") == meta.get("spec_hash")
                and branches & set(other.get("branches") or []) and (folder / CALIBRATION_FILE).is_file()):
            found.append(folder)
    if len(found) == 1:
        return found[0] / CALIBRATION_FILE, "the calibrate cache entry of the same spec and branch"
    if len(found) > 1:
        return None, (f"uncalibrated: {len(found)} calibrate cache entries of the same spec and branch; "
                      f"pass one as the calibration")
    return None, ""


def find_calibration(model_dir: Path, explicit: Path | None = None,
                     cache_root: Path | None = None) -> CalibrationSource:
    """The calibration of the model in ``model_dir`` by the module's rules 1-4.

    Parameters
    ----------
    model_dir : Path
        The model folder (``model.json`` + ``model.pt``).
    explicit : Path, optional
        A ``ratio_calibrate`` cache entry or a ``calibration.npz`` (rule 1); DataError when it
        holds none.
    cache_root : Path, optional
        The cache of rule 4; default :func:`lensbench.cache.store.default_root`.
    """
    if explicit is not None:
        return CalibrationSource(_npz_in(explicit), "given")
    if (model_dir / CALIBRATION_FILE).is_file():
        return CalibrationSource(model_dir / CALIBRATION_FILE, "beside the model")
    path, how = _sibling_entry(model_dir)
    if path is not None or how:
        return CalibrationSource(path, how)
    name = entry_name(model_dir, CALIBRATE_KIND, model_dir) if model_dir.name == "model" else None
    if name is not None:
        kind, key = name.split("/", 1)
        folder = Path(cache_root or default_root()) / kind / key[:2] / key
        if (folder / CALIBRATION_FILE).is_file():
            return CalibrationSource(folder / CALIBRATION_FILE, "the run's calibrate cache entry")
        return CalibrationSource(None, f"uncalibrated: the run's calibration {name} is not in the cache")
    return CalibrationSource(None, "uncalibrated: no calibration beside the model and none given")


def read_calibration(path: Path) -> tuple[HistogramCalibration | NormalizedCalibration, ParameterGrid]:
    """The calibration of a ``calibration.npz`` and the (f_sub, beta) grid it is on."""
    try:
        table = load_calibration(path)
        with np.load(path) as data:
            grid = ParameterGrid(np.asarray(data["f_sub"], dtype=np.float64), np.asarray(data["beta"], dtype=np.float64))
    except (OSError, ValueError, KeyError, EOFError) as error:
        raise DataError(path, f"cannot read the calibration: {type(error).__name__}: {error}") from None
    if table.point_count != len(grid.f_sub) * len(grid.beta):
        raise DataError(path, f"calibration for {table.point_count} points on a "
                              f"{len(grid.beta)} x {len(grid.f_sub)} grid")
    return table, grid


def identity(model_dir: Path, calibration: CalibrationSource) -> dict:
    """How ``apply.json`` names the model and its calibration: cache entries and content hashes
    (never a path of this machine)."""
    model = {"cache_entry": entry_name(model_dir, TRAIN_KIND, model_dir),
             "weights_sha256": file_sha256(model_dir / "model.pt")[:HASH_CHARS]}
    if calibration.path is None:
        return {"model": model, "calibration": {"status": "uncalibrated", "how": calibration.how}}
    folder = calibration.path.parent
    run_model = model_dir if calibration.how == "beside the model" else None
    return {"model": model, "calibration": {
        "status": "calibrated", "how": calibration.how,
        "cache_entry": entry_name(folder, CALIBRATE_KIND, run_model),
        "sha256": file_sha256(calibration.path)[:HASH_CHARS]}}


def card_summary(card: dict) -> dict:
    """The facts of a ratio model card that ``apply.json`` repeats (no path)."""
    return {key: card.get(key) for key in ("architecture", "input_size", "in_channels", "box", "loss", "n_train")}
