"""Fine-tuning (Deshmukh+23 sec. 2.2): an encoder with a fully connected head, trained on labels
with the same augmentations as its pre-training; the supervised baseline is the same network
from random initialisation (sec. 3)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from lensbench.ssl.augment import augment
from lensbench.ssl.base import Branch, encoder_of
from lensbench.training.objectives import Supervised


def with_head(encoder: nn.Module, num_outputs: int, seed: int) -> Branch:
    """``encoder`` followed by a new ``Linear(embedding_dim, num_outputs)`` drawn from ``seed``
    (3 outputs to classify, 1 to regress log10 m_a)."""
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left alone
        torch.manual_seed(seed)
        head = nn.Linear(encoder.embedding_dim, num_outputs)
    return Branch(encoder, head)


class AugmentedSupervised(Supervised):
    """:class:`~lensbench.training.Supervised` on augmented training batches (validation batches
    are left as they are).

    Parameters
    ----------
    task : {"classify", "regress"}
        As :class:`~lensbench.training.Supervised`.
    augmentations : sequence of str
        :func:`lensbench.ssl.augment.augment` names.
    noise_sigma : float
        Standard deviation of ``noise``, normalised pixel units.
    seed : int
        Seeds the augmentation generator.
    """

    def __init__(self, task: str, augmentations, noise_sigma: float, seed: int):
        super().__init__(task)
        self.augmentations, self.noise_sigma = tuple(augmentations), float(noise_sigma)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.name = f"supervised:{task}:{'+'.join(self.augmentations)}"

    def loss(self, model: nn.Module, batch):
        images, targets = batch
        if encoder_of(model).training and self.augmentations:
            images = augment(images, self.augmentations, self.generator, noise_sigma=self.noise_sigma)
        return super().loss(model, [images, targets])

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


def label_subset(labels: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of the examples of each class (at least one per class),
    drawn without replacement from ``seed``; every index for fraction 1."""
    labels = np.asarray(labels).reshape(-1)
    if fraction >= 1.0:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        chosen.append(rng.choice(members, size=max(1, int(round(fraction * len(members)))), replace=False))
    return np.sort(np.concatenate(chosen))
