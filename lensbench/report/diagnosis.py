"""A training diagnosis from loss histories: overfitting, underfitting, still improving, or none.

Deterministic rules over the per-epoch mean training and validation losses (thresholds are the
module constants, quoted in the report text by :func:`rules_text`). In order, the first that holds:

1. **too short**: fewer than :data:`MIN_EPOCHS` epochs, and not at chance (rule 2), so no trend
   can be seen.
2. **underfitting**: the lowest training loss stays within :data:`CHANCE_FRACTION` of chance,
   ln K for K balanced classes (cross-entropy in nats of a constant 1/K guess); or, from
   :data:`MIN_EPOCHS` epochs, the training loss of the last epoch is above
   :data:`FLAT_FRACTION` of that of the first (it fell by less than 10 %).
3. **overfitting**: the validation loss of the last epoch is more than :data:`RISE_FRACTION` above
   its minimum, reached before the last epoch, while the training loss kept falling after that
   minimum (train and validation losses diverge).
4. **still improving**: the validation loss of the last epoch is its minimum and more than
   :data:`IMPROVING_FRACTION` below that of the epoch before: training stopped too soon.
5. **fine**: none of the above.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

MIN_EPOCHS = 3
CHANCE_FRACTION = 0.05
FLAT_FRACTION = 0.9
RISE_FRACTION = 0.10
IMPROVING_FRACTION = 0.02

VERDICTS = ("underfitting", "overfitting", "still improving", "too short", "fine")


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one training run.

    Attributes
    ----------
    verdict : str
        One of :data:`VERDICTS`.
    reason : str
        The numbers that triggered it (epochs counted from 1).
    """

    verdict: str
    reason: str


def diagnose(history: Mapping[str, Sequence[float]], n_classes: int | None = None) -> Diagnosis:
    """Diagnose one training run from its losses.

    Parameters
    ----------
    history : mapping
        ``train_loss`` and ``val_loss``, one mean loss per epoch (cross-entropy in nats for
        classification, MSE for regression), as :class:`lensbench.training.History` records them.
    n_classes : int or None
        Number of balanced classes for a classification (chance loss ln K); None for regression.
    """
    train = [float(v) for v in history.get("train_loss", ())]
    val = [float(v) for v in history.get("val_loss", ())]
    if len(train) != len(val):
        raise ValueError(f"train_loss has {len(train)} epochs, val_loss {len(val)}: expected as many")
    if not train:
        return Diagnosis("too short", "no epoch recorded")
    n = len(train)
    chance = math.log(n_classes) if n_classes and n_classes > 1 else None
    if chance is not None and min(train) >= (1.0 - CHANCE_FRACTION) * chance:
        return Diagnosis("underfitting", f"lowest training loss {min(train):.3g} is within "
                         f"{CHANCE_FRACTION:.0%} of chance, ln {n_classes} = {chance:.3g}")
    if n < MIN_EPOCHS:
        return Diagnosis("too short", f"{n} epoch(s): too few to see a trend")
    if train[-1] > FLAT_FRACTION * train[0]:
        return Diagnosis("underfitting", f"training loss {train[0]:.3g} at epoch 1 and {train[-1]:.3g} at epoch {n}: "
                         f"it fell by less than {1 - FLAT_FRACTION:.0%}")
    best = min(range(n), key=val.__getitem__)
    if (best < n - 1 and val[-1] > val[best] + RISE_FRACTION * abs(val[best])
            and train[-1] < train[best]):
        return Diagnosis("overfitting", f"validation loss lowest at epoch {best + 1} ({val[best]:.3g}), "
                         f"{val[-1]:.3g} at epoch {n}, while the training loss fell from "
                         f"{train[best]:.3g} to {train[-1]:.3g}")
    if best == n - 1 and val[-1] < (1.0 - IMPROVING_FRACTION) * val[-2]:
        return Diagnosis("still improving", f"validation loss still fell in the last epoch "
                         f"({val[-2]:.3g} to {val[-1]:.3g})")
    return Diagnosis("fine", "")


def rules_text() -> str:
    """The rules and thresholds of :func:`diagnose`, as one paragraph for a report."""
    return (f"Diagnosis rules (epochs counted from 1): underfitting when the lowest training loss stays within "
            f"{CHANCE_FRACTION:.0%} of chance (ln K for K balanced classes) or, from {MIN_EPOCHS} epochs, the last "
            f"epoch's training loss is above {FLAT_FRACTION:.0%} of the first's; overfitting when the last "
            f"validation loss is more than {RISE_FRACTION:.0%} above its minimum, reached earlier, while the "
            f"training loss kept falling; still improving when the last epoch lowered the validation loss by more "
            f"than {IMPROVING_FRACTION:.0%}; too short below {MIN_EPOCHS} epochs.")


def advice(verdict: str, lr: float | None = None) -> str:
    """What the user could change for a verdict (empty for ``fine``)."""
    rate = f", now {lr:g}" if lr is not None else ""
    return {
        "overfitting": "more training images (a preset with less reduction, or the paper's scale without a "
                       "preset), earlier stopping (training.early_stopping_patience), stronger augmentation or a "
                       "smaller network; the model kept is the one of the lowest validation loss.",
        "underfitting": f"more epochs (training.epochs), another learning rate (training.lr{rate}), or more "
                        "images; at chance, check that the classes differ at all at this noise level.",
        "still improving": "more epochs (training.epochs) or a preset without reduction.",
        "too short": "more epochs (training.epochs): a preset with less reduction, or none.",
    }.get(verdict, "")
