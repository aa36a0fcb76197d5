"""Run a trained classifier on real FITS stamps: the core of ``lensbench apply`` (issue 5).

Ko (2023), section "Application to COSMOS Survey Data" (text, no equation number), applies the
CNN trained on simulated single galaxies to the COSMOS F814W stamps (0.03 arcsec per pixel,
counts/s): stamps over 80 or under 50 pixels per side, or with a pixel above 2 counts/s, are
rejected (3707 of 29062 pass), the rest normalised "just as the single galaxy simulation images";
3689 of the 3707 (99.5 %) are predicted to have a halo, and Fig 5 shows the 18 others.

Every stamp goes through the same steps, in this order:

1. Reading (:func:`lensbench.io.fits.iter_stamps`): stamps with NaN or infinite pixels, and
   unreadable inputs, are reported as problems and never reach the table.
2. Ko's cuts (:func:`lensbench.io.preprocess.apply_cuts`) on the stamp in its own units: side
   in pixels, brightest pixel in the file's units (COSMOS: counts/s). A stamp may fail several.
3. Resampling to the network's input size (H, W) in pixels with
   :func:`lensbench.io.preprocess.prepare_batch`, then that function's normalisation
   (``Preprocessing.normalisation``; ``"none"`` by default, so step 4 is the only one).
4. The per-image normalisation the network was trained with, ``model.json``'s ``normalize``,
   through :func:`lensbench.models.saved.normaliser`: one definition for training and apply.
5. Softmax probabilities (:func:`lensbench.train.predict`); the score is the probability of the
   last class (``"halo"`` for Ko's ``["no_halo", "halo"]``), the predicted class the most
   probable one.

Stamps stream through in batches: memory holds one batch of stamps, one row of numbers per stamp
and the few gallery candidates, never all the images, so the 4.4 GB COSMOS 25.2 sample runs in
bounded memory.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from astropy.table import Table as AstropyTable
from tqdm.auto import tqdm

from lensbench.errors import DataError, UsageError
from lensbench.io.fits import InputProblem, Stamp, iter_stamps
from lensbench.io.preprocess import CUT_NAMES, Preprocessing, apply_cuts, prepare_batch
from lensbench.metrics import binomial_interval
from lensbench.report import figures
from lensbench.report.document import Document, Figure, KeyValues, Paragraph, Section, Table
from lensbench.report.write import write_document
from lensbench.models.saved import load_model, normaliser
from lensbench.train import predict

MODEL_FILES = ("model.json", "model.pt")
KO_CLASSES = ("no_halo", "halo")
KO_STAMPS_READ = 29062  # Ko (2023), COSMOS section: images in the 4.4 GB file
KO_PASSED = 3707  # ... that pass the size and brightness cuts
KO_POSITIVE = 3689  # ... predicted "with halo" (99.5 %)
CONFIDENCE = 0.95
INTERVAL_METHOD = "wilson"
SCORE_BIN_EDGES = np.linspace(0.0, 1.0, 21)
MAX_PROBLEMS_IN_REPORT = 100
GALLERY_COLUMNS = 6
APPLY_FORMAT = "lensbench.apply/1"


@dataclass(frozen=True)
class ApplyResult:
    """What :func:`apply_model` did.

    Parameters
    ----------
    out_dir : Path
        Folder holding ``predictions.csv``, ``predictions.fits``, ``apply.json``,
        ``report.md``, ``report.html`` and ``figures/``.
    model_dir : Path
        The model folder actually used (``model.json`` + ``model.pt``).
    preprocessing : Preprocessing
        Cuts and preparation applied (sizes in pixels, brightness in the files' units).
    stamps_read : int
        Stamps read from the inputs (rows of the table).
    cut_counts : dict of str to int
        Stamps each cut removed, by cut name; a stamp failing several counts in each.
    passed : int
        Stamps passing every cut.
    scored : int
        Stamps given a score (those passing, less any that could not be normalised).
    positive : int
        Scored stamps whose most probable class is ``positive_class``.
    positive_class : str
        The model's last class (``"halo"`` for Ko's classifier).
    fraction : float or None
        ``positive / scored``; None when nothing was scored.
    interval : tuple of float or None
        95 % Wilson interval of ``fraction``; None when nothing was scored.
    problems : tuple of InputProblem
        Every input that could not be read or prepared, with the reason.
    """

    out_dir: Path
    model_dir: Path
    preprocessing: Preprocessing
    stamps_read: int
    cut_counts: dict[str, int]
    passed: int
    scored: int
    positive: int
    positive_class: str
    fraction: float | None
    interval: tuple[float, float] | None
    problems: tuple[InputProblem, ...]


# ---------------------------------------------------------------------------------------------
# The model


def _is_model_dir(path: Path) -> bool:
    return all((path / name).is_file() for name in MODEL_FILES)


def find_model_dir(path: str | Path) -> Path:
    """The model folder that ``path`` stands for.

    Parameters
    ----------
    path : str or Path
        A model folder (``model.json`` + ``model.pt``), or a run's report folder holding exactly
        one model, as ``model/`` (single-branch run) or ``models/<branch>/`` (grids).

    Raises
    ------
    DataError
        When ``path`` does not exist, holds no model, or holds several (all listed).
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, "no such model or run folder")
    if _is_model_dir(path):
        return path
    branches = sorted((path / "models").iterdir()) if (path / "models").is_dir() else []
    found = [folder for folder in [path / "model", *branches] if _is_model_dir(folder)]
    if not found:
        raise DataError(path, "no trained model here: expected model.json and model.pt, a "
                              "model/ subfolder, or models/<branch>/ subfolders holding them")
    if len(found) > 1:
        listing = ", ".join(str(folder) for folder in found)
        raise DataError(path, f"holds {len(found)} models ({listing}); pass one of these "
                              f"folders instead")
    return found[0]


def load_classifier(model_dir: Path) -> tuple[torch.nn.Module, dict]:
    """Load the single-band classifier in ``model_dir`` (see :func:`find_model_dir`).

    Returns
    -------
    (torch.nn.Module, dict)
        The model in eval mode on the CPU, and its ``model.json``.

    Raises
    ------
    DataError
        When the files cannot be read or do not match each other.
    UsageError
        When the model is not a classifier of one-channel images.
    """
    try:
        model, info = load_model(model_dir)
    except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError,
            pickle.UnpicklingError) as error:
        raise DataError(model_dir, f"cannot load the model: {type(error).__name__}: "
                                   f"{error}") from None
    if info.get("task") != "classify":
        raise UsageError(f"{model_dir}: a '{info.get('task')}' model; apply needs a "
                         f"classifier (task 'classify')")
    if info["in_channels"] != 1:
        raise UsageError(f"{model_dir}: the model takes {info['in_channels']} channels; FITS "
                         f"stamps have one band")
    return model, info


def default_preprocessing(info: dict) -> Preprocessing:
    """The preprocessing stored with the model, else Ko's cuts at the model's input size.

    Ko's cuts: sides of 50-80 pixels, brightest pixel at most 2 (counts/s for COSMOS), non-finite
    stamps rejected; resampled bilinearly to ``input_size`` (pixels) without a normalisation of
    its own, because the model's training normalisation (``normalize``) follows.
    """
    if "preprocessing" in info:
        return Preprocessing.from_dict(info["preprocessing"])
    return Preprocessing(output_shape=tuple(info["input_size"]), normalisation="none")


def _check_preprocessing(prep: Preprocessing, info: dict, model_dir: Path) -> None:
    if prep.output_shape != tuple(info["input_size"]):
        raise UsageError(f"preprocessing output_shape {list(prep.output_shape)} differs from the "
                         f"input size {info['input_size']} of the model in {model_dir}")


# ---------------------------------------------------------------------------------------------
# Per-stamp bookkeeping, bounded memory


class _Rows:
    """One row of the output table per stamp read: no pixels kept."""

    def __init__(self):
        self.identifiers: list[str] = []
        self.files: list[str] = []
        self.hdus: list[int] = []
        self.failed_cuts: list[tuple[bool, ...]] = []
        self.scores: list[float] = []
        self.predicted: list[int] = []

    def __len__(self) -> int:
        return len(self.identifiers)

    def add(self, stamp: Stamp, failed: list[str]) -> int:
        """Record a stamp and the cuts it failed; returns its row index."""
        self.identifiers.append(stamp.identifier)
        self.files.append(stamp.file)
        self.hdus.append(stamp.hdu)
        self.failed_cuts.append(tuple(name in failed for name in CUT_NAMES))
        self.scores.append(float("nan"))
        self.predicted.append(-1)
        return len(self) - 1

    def set_predictions(self, rows: np.ndarray, probabilities: np.ndarray) -> None:
        """Store the last-class probability and the most probable class of scored rows."""
        for row, score, best in zip(rows.tolist(), probabilities[:, -1].tolist(),
                                    probabilities.argmax(axis=1).tolist()):
            self.scores[row] = score
            self.predicted[row] = best

    def cut_matrix(self) -> np.ndarray:
        """(rows, cuts) bool array: True where a stamp fails the cut."""
        return np.array(self.failed_cuts, dtype=bool).reshape(len(self), len(CUT_NAMES))


class _Extremes:
    """The ``size`` scored stamps with the highest (or lowest) scores so far, with images.

    Ties go to the stamp read first, so the selection does not depend on the batch size.
    """

    def __init__(self, size: int, highest: bool):
        self.size = size
        self.sign = -1.0 if highest else 1.0
        self.keys = np.empty(0)
        self.rows = np.empty(0, dtype=np.int64)
        self.images: np.ndarray | None = None

    def offer(self, scores: np.ndarray, rows: np.ndarray, images: np.ndarray) -> None:
        """Merge a batch of scores, row indices and (N, H, W) images, keep the extremes."""
        keys = np.concatenate([self.keys, self.sign * scores])
        all_rows = np.concatenate([self.rows, rows])
        all_images = images if self.images is None else np.concatenate([self.images, images])
        keep = np.lexsort((all_rows, keys))[: self.size]
        self.keys, self.rows, self.images = keys[keep], all_rows[keep], all_images[keep]


# ---------------------------------------------------------------------------------------------
# Scoring a batch


def _prepare_stamps(stamps: list[Stamp], prep: Preprocessing,
                    problems: list) -> tuple[np.ndarray, np.ndarray]:
    """Resample (and normalise, per ``prep``) stamps of mixed sizes, batched by size.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        (M, 1, H, W) float32 images and the positions in ``stamps`` they come from; stamps that
        cannot be normalised (constant images) are reported in ``problems`` and left out.
    """
    height, width = prep.output_shape
    prepared = np.empty((len(stamps), 1, height, width), dtype=np.float32)
    usable = np.ones(len(stamps), dtype=bool)
    by_shape: dict[tuple[int, ...], list[int]] = {}
    for position, stamp in enumerate(stamps):
        by_shape.setdefault(stamp.image.shape, []).append(position)
    for positions in by_shape.values():
        try:
            prepared[positions] = prepare_batch(np.stack([stamps[p].image for p in positions]),
                                                prep)
        except ValueError:
            _prepare_one_by_one(stamps, positions, prep, prepared, usable, problems)
    kept = np.flatnonzero(usable)
    return prepared[kept], kept


def _prepare_one_by_one(stamps, positions, prep, prepared, usable, problems) -> None:
    """Fallback when a same-size group holds an image that cannot be normalised."""
    for position in positions:
        stamp = stamps[position]
        try:
            prepared[position] = prepare_batch(stamp.image[np.newaxis], prep)[0]
        except ValueError:
            usable[position] = False
            problems.append(InputProblem(stamp.file, stamp.hdu, f"{stamp.identifier}: cannot "
                                         f"normalise by '{prep.normalisation}' (constant or "
                                         f"non-positive image)"))


def _network_inputs(prepared: np.ndarray, normalize: str) -> torch.Tensor:
    """Apply the training normalisation ``normalize`` to each (1, H, W) image (step 4)."""
    batch = torch.from_numpy(prepared)
    transform = normaliser(normalize)
    if transform is None:
        return batch
    return torch.stack([transform(image) for image in batch])


@dataclass
class _Scorer:
    """Scores batches of stamps that passed the cuts and feeds the galleries."""

    model: torch.nn.Module
    info: dict
    prep: Preprocessing
    batch_size: int
    device: str
    rows: _Rows
    highest: _Extremes
    lowest: _Extremes
    problems: list

    def score(self, stamps: list[Stamp], rows: list[int]) -> None:
        """Steps 3-5 of the module docstring for one batch; results go into ``self.rows``."""
        if not stamps:
            return
        prepared, kept = _prepare_stamps(stamps, self.prep, self.problems)
        if kept.size == 0:
            return
        inputs = _network_inputs(prepared, self.info["normalize"])
        probabilities = predict(self.model, inputs, batch_size=self.batch_size,
                                device=self.device, task="classify")
        kept_rows = np.asarray(rows, dtype=np.int64)[kept]
        self.rows.set_predictions(kept_rows, probabilities)
        for extremes in (self.highest, self.lowest):
            extremes.offer(probabilities[:, -1], kept_rows, prepared[:, 0])


def _check_arguments(batch_size: int, gallery_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise UsageError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(gallery_size, bool) or not isinstance(gallery_size, int) or gallery_size < 0:
        raise UsageError(f"gallery_size must be a non-negative integer, got {gallery_size!r}")


def _stream(inputs, prep: Preprocessing, scorer: _Scorer, problems: list,
            progress: bool) -> None:
    """Read, cut and score every stamp, holding at most one batch of images."""
    pending: list[Stamp] = []
    pending_rows: list[int] = []
    for stamp in tqdm(iter_stamps(inputs, problems=problems), desc="apply", unit="stamp",
                      disable=not progress):
        failed = apply_cuts(stamp, prep)
        row = scorer.rows.add(stamp, failed)
        if not failed:
            pending.append(stamp)
            pending_rows.append(row)
        if len(pending) == scorer.batch_size:
            scorer.score(pending, pending_rows)
            pending, pending_rows = [], []
    scorer.score(pending, pending_rows)


# ---------------------------------------------------------------------------------------------
# The public entry point


def apply_model(model_dir: str | Path, inputs: list[str | Path], out_dir: str | Path, *,
                preprocessing: Preprocessing | None = None, batch_size: int = 256,
                device: str = "cpu", progress: bool = True,
                gallery_size: int = 18) -> ApplyResult:
    """Classify every stamp of ``inputs`` with a trained model and write a table and a report.

    Parameters
    ----------
    model_dir : str or Path
        A model folder (``model.json`` + ``model.pt``) or a run folder holding exactly one
        model (``model/`` or ``models/<branch>/``).
    inputs : list of str or Path
        FITS files, folders and glob patterns (see :func:`lensbench.io.fits.iter_stamps`);
        GalSim RealGalaxyCatalogs (COSMOS, 0.03 arcsec per pixel, counts/s) included.
    out_dir : str or Path
        Folder to write into (created): ``predictions.csv`` and ``predictions.fits`` (one row per
        stamp read: identifier, file, hdu, score, predicted_class, passed, ``cut_<name>``),
        ``apply.json`` (counts, problems, preprocessing), ``report.md``, ``report.html`` and
        ``figures/``. Use a folder of its own: existing report pages there are replaced.
    preprocessing : Preprocessing, optional
        Cuts (pixels; counts/s for COSMOS) and preparation; its ``output_shape`` must be the
        model's input size. Default: :func:`default_preprocessing`.
    batch_size : int
        Stamps prepared and scored together; memory grows with it (one batch of images).
    device : str
        Torch device of the forward passes.
    progress : bool
        Show a progress bar (stamps read).
    gallery_size : int
        Stamps shown in each of the most and least confident galleries (Ko's Fig 5: 18).

    Returns
    -------
    ApplyResult

    Raises
    ------
    DataError
        (exit 3) When the model cannot be loaded, or when no stamp at all could be read; the
        message lists every problem. Any other bad input is reported and skipped.
    UsageError
        (exit 2) For a model that is not a one-band classifier, a preprocessing whose output
        shape differs from the model's input size, or bad batch or gallery sizes.
    """
    _check_arguments(batch_size, gallery_size)
    model_dir = find_model_dir(model_dir)
    model, info = load_classifier(model_dir)
    prep = preprocessing if preprocessing is not None else default_preprocessing(info)
    _check_preprocessing(prep, info, model_dir)
    problems: list[InputProblem] = []
    scorer = _Scorer(model, info, prep, batch_size, device, _Rows(),
                     _Extremes(gallery_size, highest=True), _Extremes(gallery_size, highest=False),
                     problems)
    _stream(list(inputs), prep, scorer, problems, progress)
    rows = scorer.rows
    if len(rows) == 0:
        listing = "\n".join(f"  {problem}" for problem in problems) or "  (no input given)"
        raise DataError(", ".join(str(item) for item in inputs),
                        f"no stamp could be read:\n{listing}")
    summary = _summary(rows, info, prep, model_dir, list(inputs), problems)
    table = _predictions_table(rows, info["classes"])
    extra_files = {"predictions.csv": _table_bytes(table, "ascii.csv"),
                   "predictions.fits": _table_bytes(table, "fits"),
                   "apply.json": json.dumps(summary, indent=2, allow_nan=False) + "\n"}
    document = _document(summary, prep, rows, scorer.highest, scorer.lowest)
    out_dir = write_document(document, out_dir, extra_files)
    return _result(summary, out_dir, model_dir, prep, problems)


# ---------------------------------------------------------------------------------------------
# Outputs


def _predictions_table(rows: _Rows, classes: list[str]) -> AstropyTable:
    """One row per stamp read; score NaN and predicted_class "" where nothing was scored."""
    cuts = rows.cut_matrix()
    predicted = [classes[index] if index >= 0 else "" for index in rows.predicted]
    columns = {
        "identifier": np.array(rows.identifiers, dtype=str),
        "file": np.array(rows.files, dtype=str),
        "hdu": np.array(rows.hdus, dtype=np.int64),
        "score": np.array(rows.scores, dtype=np.float64),
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


def _fraction_entry(positive: int, total: int) -> dict:
    """k, n, fraction and its 95 % Wilson interval (fraction and interval None when n = 0)."""
    if total == 0:
        return {"positive": 0, "total": 0, "fraction": None, "interval": None}
    low, high = binomial_interval(positive, total, CONFIDENCE, INTERVAL_METHOD)
    return {"positive": positive, "total": total, "fraction": positive / total,
            "interval": [low, high]}


def _summary(rows: _Rows, info: dict, prep: Preprocessing, model_dir: Path, inputs: list,
             problems: list) -> dict:
    """Everything ``apply.json`` holds: model, preprocessing, inputs, counts, fractions."""
    cuts = rows.cut_matrix()
    predicted = np.array(rows.predicted, dtype=np.int64)
    positive_index = len(info["classes"]) - 1
    scored = int(np.count_nonzero(predicted >= 0))
    positive = int(np.count_nonzero(predicted == positive_index))
    summary = {
        "format": APPLY_FORMAT,
        "model": {"folder": str(model_dir), "architecture": info["architecture"],
                  "classes": list(info["classes"]), "input_size": list(info["input_size"]),
                  "normalize": info["normalize"],
                  "simulation_kind": info.get("simulation_kind")},
        "preprocessing": prep.to_dict(),
        "inputs": [str(item) for item in inputs],
        "files_read": len(set(rows.files)),
        "stamps_read": len(rows),
        "problems": [{"file": p.file, "hdu": p.hdu, "reason": p.reason} for p in problems],
        "cuts": {name: int(count) for name, count in zip(CUT_NAMES, cuts.sum(axis=0))},
        "failed_any_cut": int(cuts.any(axis=1).sum()),
        "passed": int((~cuts.any(axis=1)).sum()),
        "scored": scored,
        "positive_class": info["classes"][positive_index],
        "predicted_positive": {**_fraction_entry(positive, scored), "confidence": CONFIDENCE,
                               "method": INTERVAL_METHOD},
    }
    if tuple(info["classes"]) == KO_CLASSES:
        summary["paper"] = {"source": "Ko (2023), Application to COSMOS Survey Data",
                            "stamps_read": KO_STAMPS_READ, "passed": KO_PASSED,
                            "predicted_positive": _fraction_entry(KO_POSITIVE, KO_PASSED)}
    return summary


def _result(summary: dict, out_dir: Path, model_dir: Path, prep: Preprocessing,
            problems: list) -> ApplyResult:
    entry = summary["predicted_positive"]
    return ApplyResult(
        out_dir=Path(out_dir), model_dir=model_dir, preprocessing=prep,
        stamps_read=summary["stamps_read"], cut_counts=dict(summary["cuts"]),
        passed=summary["passed"], scored=summary["scored"], positive=entry["positive"],
        positive_class=summary["positive_class"], fraction=entry["fraction"],
        interval=None if entry["interval"] is None else tuple(entry["interval"]),
        problems=tuple(problems))


# ---------------------------------------------------------------------------------------------
# The report


def _cut_thresholds(prep: Preprocessing) -> dict[str, str]:
    """Each cut's rule in words, with units."""
    def rule(value, text):
        return "off" if value is None else text.format(value)

    return {"non_finite": "NaN or infinite pixel" if prep.reject_non_finite else "off",
            "too_small": rule(prep.min_size, "a side under {} px"),
            "too_large": rule(prep.max_size, "a side over {} px"),
            "too_bright": rule(prep.max_pixel, "a pixel above {} (file units; COSMOS counts/s)")}


def _input_section(summary: dict) -> Section:
    problems = summary["problems"]
    blocks = [KeyValues({
        "model folder": summary["model"]["folder"],
        "architecture": summary["model"]["architecture"],
        "classes": ", ".join(summary["model"]["classes"]),
        "inputs": ", ".join(summary["inputs"]),
        "files read": summary["files_read"],
        "stamps read": summary["stamps_read"],
        "problems (skipped inputs)": len(problems),
    })]
    if problems:
        shown = problems[:MAX_PROBLEMS_IN_REPORT]
        more = len(problems) - len(shown)
        caption = "Inputs that could not be read or prepared; each was skipped" + (
            f" ({more} more in apply.json)." if more else ".")
        blocks.append(Table(("file", "HDU", "reason"),
                            [(p["file"], p["hdu"], p["reason"]) for p in shown], caption))
    return Section("Inputs", blocks)


def _preprocessing_section(summary: dict) -> Section:
    prep = summary["preprocessing"]
    order = ("Order: Ko's cuts on each stamp in its own units; resampling to the network input "
             f"{prep['output_shape'][0]} x {prep['output_shape'][1]} px ({prep['resampling']}) "
             f"with normalisation '{prep['normalisation']}'; then the per-image normalisation "
             f"the network was trained with ('{summary['model']['normalize']}'); softmax.")
    entries = {key: str(value) if isinstance(value, list) else value
               for key, value in prep.items()}
    entries["training normalisation (model.json normalize)"] = summary["model"]["normalize"]
    return Section("Preprocessing", [Paragraph(order), KeyValues(entries)])


def _cut_section(summary: dict, prep: Preprocessing) -> Section:
    read = summary["stamps_read"]
    rules = _cut_thresholds(prep)
    rows = [(name, rules[name], count, count / read) for name, count in summary["cuts"].items()]
    rows.append(("any cut", "fails at least one", summary["failed_any_cut"],
                 summary["failed_any_cut"] / read))
    rows.append(("passed", "fails none", summary["passed"], summary["passed"] / read))
    text = (f"{summary['passed']} of {read} stamps pass every cut; a stamp failing several "
            f"cuts counts in each.")
    if "paper" in summary:
        text += (f" Ko (2023): {KO_PASSED} of {KO_STAMPS_READ} COSMOS stamps pass "
                 f"({KO_PASSED / KO_STAMPS_READ:.1%}).")
    table = Table(("cut", "rejects", "stamps removed", "fraction of stamps read"), rows,
                  "Stamps removed by each cut.")
    return Section("Cuts", [Paragraph(text), table])


def _fraction_row(name: str, entry: dict) -> tuple:
    low, high = entry["interval"] if entry["interval"] is not None else (None, None)
    return (name, entry["positive"], entry["total"], entry["fraction"], low, high)


def _prediction_section(summary: dict, rows: _Rows) -> Section:
    positive = summary["positive_class"]
    entry = summary["predicted_positive"]
    table_rows = [_fraction_row("these inputs", entry)]
    if "paper" in summary:
        paper = summary["paper"]["predicted_positive"]
        table_rows.append(_fraction_row("Ko (2023), COSMOS", paper))
    blocks = [Table(("sample", f"predicted '{positive}'", "scored", "fraction",
                     "95 % Wilson low", "95 % Wilson high"), table_rows,
                    f"Fraction of scored stamps whose most probable class is '{positive}'.")]
    scores = np.array(rows.scores)
    scores = scores[np.isfinite(scores)]
    if scores.size:
        figure = figures.histogram(scores, SCORE_BIN_EDGES, f"score: probability of '{positive}'")
        blocks.append(Figure.from_matplotlib("score_histogram", figure, f"Scores of the "
                      f"{scores.size} scored stamps (probability of '{positive}', no unit)."))
    else:
        blocks.append(Paragraph("No stamp passed the cuts: nothing was scored."))
    return Section("Predictions", blocks)


def _gallery_figure(name: str, extremes: _Extremes, rows: _Rows, caption: str) -> Figure:
    captions = [f"{rows.identifiers[row]}\n{rows.scores[row]:.3f}" for row in extremes.rows]
    figure = figures.image_gallery(extremes.images, captions, ncols=GALLERY_COLUMNS)
    return Figure.from_matplotlib(name, figure, caption)


def _gallery_section(summary: dict, rows: _Rows, highest: _Extremes,
                     lowest: _Extremes) -> Section | None:
    if lowest.images is None or len(lowest.rows) == 0:
        return None
    positive = summary["positive_class"]
    size = summary["preprocessing"]["output_shape"]
    units = (f"resampled to {size[0]} x {size[1]} px, before the training normalisation; "
             f"caption: identifier and score (probability of '{positive}')")
    return Section("Galleries", [
        _gallery_figure("most_confident", highest, rows,
                        f"The {len(highest.rows)} highest-scoring stamps ({units})."),
        _gallery_figure("least_confident", lowest, rows,
                        f"The {len(lowest.rows)} lowest-scoring stamps, as in Ko's Fig 5 "
                        f"({units})."),
    ])


def _document(summary: dict, prep: Preprocessing, rows: _Rows, highest: _Extremes,
              lowest: _Extremes) -> Document:
    sections = [_input_section(summary), _preprocessing_section(summary),
                _cut_section(summary, prep), _prediction_section(summary, rows)]
    galleries = _gallery_section(summary, rows, highest, lowest)
    if galleries is not None:
        sections.append(galleries)
    return Document("lensbench apply", sections)
