"""What the self-supervised objectives share: seeded views, the encoder's embedding, the EMA
update and the per-epoch collapse record.

An objective receives the encoder (a model of :mod:`lensbench.models`, whose
``forward_features`` gives the embedding; its own final layer is unused while pre-training) in
:meth:`SSLObjective.loss`; heads, predictors and teachers are its :meth:`modules`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from lensbench.ssl.augment import augment
from lensbench.ssl.collapse import SpreadRecord
from lensbench.training.objectives import Objective


def encoder_of(model: nn.Module) -> nn.Module:
    """The model itself, or the one inside a DistributedDataParallel wrapper."""
    return getattr(model, "module", model)


class Branch(nn.Module):
    """An encoder followed by a head: ``head(encoder.forward_features(x))``."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder.forward_features(images))


def frozen_copy(module: nn.Module) -> nn.Module:
    """A deep copy of ``module`` whose parameters take no gradient (an EMA teacher)."""
    teacher = copy.deepcopy(module)
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    return teacher


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """teacher <- momentum * teacher + (1 - momentum) * student, parameter by parameter (BYOL eq. 1,
    DINO sec. 3.1); buffers (BatchNorm statistics) are copied from the student."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.mul_(momentum).add_(s.detach(), alpha=1.0 - momentum)
    for t, s in zip(teacher.buffers(), student.buffers()):
        t.copy_(s)


class SSLObjective(Objective):
    """Base of the self-supervised objectives.

    Parameters
    ----------
    augmentations : sequence of str
        The view augmentations (:func:`lensbench.ssl.augment.augment`).
    noise_sigma : float
        Standard deviation of the ``noise`` augmentation, normalised pixel units.
    seed : int
        Seeds the generator every view is drawn from.

    Notes
    -----
    Subclasses implement :meth:`views_loss` ``(encoder, images) -> (loss, projections)``. During
    the validation pass (the encoder in eval mode) the head outputs of the first view (the
    projector's z, as SimSiam's Fig. 2 monitors; DINO's head outputs) feed the collapse record
    :attr:`spread`, one value per epoch: the epoch closes when training resumes
    or the objective's state is saved (after every epoch), or with :meth:`finish`.
    """

    monitor = "loss"
    # The last epoch's weights are kept: BYOL's and DINO's validation loss is measured against a
    # teacher that moves every step, so its minimum (often the first epoch) does not rank encoders.
    keep_best = False

    def __init__(self, augmentations, noise_sigma: float, seed: int):
        self.augmentations = tuple(augmentations)
        self.noise_sigma = float(noise_sigma)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.spread = SpreadRecord()

    def view(self, images: torch.Tensor) -> torch.Tensor:
        """One augmented view of the batch."""
        return augment(images, self.augmentations, self.generator, noise_sigma=self.noise_sigma)

    def views_loss(self, encoder: nn.Module, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def loss(self, model: nn.Module, batch) -> tuple[torch.Tensor, dict]:
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        encoder = encoder_of(model)
        if encoder.training:
            self.spread.close_epoch()
        loss, embeddings = self.views_loss(encoder, images)
        if not encoder.training:
            self.spread.add(embeddings)
        return loss, {}

    def finish(self) -> list[float]:
        """Close the last epoch of the collapse record and return it (one value per epoch)."""
        self.spread.close_epoch()
        return list(self.spread.per_epoch)

    def state_dict(self) -> dict:
        self.spread.close_epoch()  # called after each epoch's validation pass
        return {"generator": self.generator.get_state(), "spread": list(self.spread.per_epoch)}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.spread.per_epoch = list(state["spread"])
