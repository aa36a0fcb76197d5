"""The trained classifier that :func:`lensbench.scoring.apply_model` runs: finding its folder,
loading it, and the preprocessing that fits its input size."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

from lensbench.errors import DataError, UsageError
from lensbench.io.preprocess import Preprocessing
from lensbench.models.saved import MODEL_CARD, MODEL_FILES, load_model, read_model_card


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
        The model in eval mode on the CPU, and its model card
        (:func:`lensbench.models.saved.read_model_card`).

    Raises
    ------
    DataError
        When the files cannot be read, do not match each other, or the card names no classes.
    UsageError
        When the model is not a classifier of one-channel images.
    """
    task = read_model_card(model_dir).get("task")  # before the weights: another task's network
    if task != "classify":                          # would fail to load with a state-dict dump
        raise UsageError(f"{model_dir}: a '{task}' model; apply needs a classifier (task 'classify') "
                         f"(likelihood-ratio models: lensbench.scoring.ratio.apply_ratio_model)")
    try:
        model, card = load_model(model_dir)
    except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError,
            pickle.UnpicklingError) as error:
        raise DataError(model_dir, f"cannot load the model: {type(error).__name__}: "
                                   f"{error}") from None
    if card["in_channels"] != 1:
        raise UsageError(f"{model_dir}: the model takes {card['in_channels']} channels; FITS "
                         f"stamps have one band")
    classes = card.get("classes")
    if not (isinstance(classes, list) and len(classes) == card["num_outputs"]
            and all(isinstance(name, str) for name in classes)):
        raise DataError(model_dir / MODEL_CARD, f"a classifier's model card needs 'classes', "
                        f"{card['num_outputs']} class names, got {classes!r}")
    return model, card


def preprocessing_for(card: dict, **options) -> Preprocessing:
    """Cuts and preparation for the model of ``card``: brought to its ``input_size`` (pixels;
    cropped or padded at the native pixel scale unless ``preparation="resample"``).

    Parameters
    ----------
    card : dict
        The model card (:func:`lensbench.models.saved.read_model_card`).
    **options
        Any other :class:`~lensbench.io.preprocess.Preprocessing` field. Unset cuts are Ko's
        (sides of 50-80 pixels, brightest pixel at most 2 in the files' units, counts/s for
        COSMOS, non-finite stamps rejected); ``normalisation`` defaults to ``"none"`` because the
        model's training normalisation (``normalize``) follows anyway.
    """
    return Preprocessing(**{"normalisation": "none", **options},
                         output_shape=tuple(card["input_size"]))


def check_preprocessing(prep: Preprocessing, card: dict, model_dir: Path) -> None:
    """Refuse (UsageError) a preprocessing whose output size is not the model's input size."""
    if prep.output_shape != tuple(card["input_size"]):
        raise UsageError(f"preprocessing output_shape {list(prep.output_shape)} differs from the "
                         f"input size {card['input_size']} of the model in {model_dir}")
