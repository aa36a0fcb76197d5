"""A trained model on disk: ``model.pt`` (state dict) and ``model.json``, its model card (how to
rebuild and feed it).

Shared by evaluation, the report and ``lensbench apply``, so a model card is always read and
checked the same way, and a model is always rebuilt and fed its inputs (through
:func:`normaliser`, re-exported from :mod:`lensbench.io.preprocess`) the same way it was trained.
The train step writes both files.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from lensbench.errors import DataError
from lensbench.io.preprocess import NORMALISATIONS, normaliser
from lensbench.models import build_model

__all__ = ["MODEL_CARD", "MODEL_FILES", "REQUIRED_KEYS", "load_model", "normaliser", "read_model_card"]

MODEL_CARD = "model.json"
#: The files of a trained model on disk: its card and its state dict.
MODEL_FILES = (MODEL_CARD, "model.pt")
#: Keys every model card holds, with the JSON type each must have.
REQUIRED_KEYS = {"architecture": str, "options": dict, "in_channels": int, "input_size": list,
                 "num_outputs": int, "task": str, "normalize": str}


def _card_problems(card) -> list[str]:
    """Everything wrong with a parsed model card, as messages (empty when it is usable)."""
    if not isinstance(card, dict):
        return [f"expected a JSON object, got {type(card).__name__}"]
    missing = [key for key in REQUIRED_KEYS if key not in card]
    problems = [f"missing key(s) {', '.join(missing)}"] if missing else []
    for key, kind in REQUIRED_KEYS.items():
        value = card.get(key)
        if key in card and (not isinstance(value, kind) or isinstance(value, bool)):
            problems.append(f"'{key}' must be a JSON {kind.__name__}, got {value!r}")
    size = card.get("input_size")
    if isinstance(size, list) and not (len(size) == 2 and all(
            isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in size)):
        problems.append(f"'input_size' must be two positive pixel counts [H, W], got {size}")
    if isinstance(card.get("normalize"), str) and card["normalize"] not in NORMALISATIONS:
        problems.append(f"'normalize' must be one of {', '.join(NORMALISATIONS)}, got "
                        f"'{card['normalize']}'")
    return problems


def read_model_card(folder) -> dict:
    """Read and check ``model.json`` in ``folder``.

    Parameters
    ----------
    folder : str or Path
        A model folder (``model.json`` + ``model.pt``, as the train step writes them).

    Returns
    -------
    dict
        The card: at least :data:`REQUIRED_KEYS` (``input_size`` is [H, W] in pixels), plus
        ``classes``, ``labels``, ``label_scale``, ``training`` and ``simulation_kind`` as the
        train step writes them.

    Raises
    ------
    DataError
        (exit 3) When the file is missing or unreadable, is not JSON, or lacks a required key
        or has one of the wrong type; the message names the file and every problem.
    """
    path = Path(folder) / MODEL_CARD
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(path, "no model card: a model folder holds model.json and model.pt, "
                              "as the train step writes them") from None
    except (OSError, UnicodeDecodeError) as error:
        raise DataError(path, f"cannot read the model card: {error}") from None
    except json.JSONDecodeError as error:
        raise DataError(path, f"malformed model card (not JSON): {error}") from None
    problems = _card_problems(card)
    if problems:
        raise DataError(path, "malformed model card: " + "; ".join(problems))
    return card


def load_model(folder):
    """Rebuild the trained model in ``folder`` (``model.json`` + ``model.pt``) on the CPU.

    Returns
    -------
    (torch.nn.Module, dict)
        The model in eval mode, and its model card (:func:`read_model_card`).

    Raises
    ------
    DataError
        When ``model.json`` is missing or malformed (see :func:`read_model_card`).
    """
    folder = Path(folder)
    info = read_model_card(folder)
    model = build_model(info["architecture"], in_channels=info["in_channels"], num_outputs=info["num_outputs"],
                        input_size=tuple(info["input_size"]), **info["options"])
    model.load_state_dict(torch.load(folder / "model.pt", map_location="cpu", weights_only=True))
    return model.eval(), info
