"""DINO (Caron+21): self-distillation of an EMA teacher into a student across global and local
views, with the teacher's outputs centred and sharpened (sec. 3.1, eqs. 2-4, Algorithm 1)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from lensbench.ssl.augment import local_crops
from lensbench.ssl.base import Branch, SSLObjective, ema_update, frozen_copy
from lensbench.ssl.heads import DINOHead


def dino_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], center: torch.Tensor,
              student_temperature: float, teacher_temperature: float) -> torch.Tensor:
    """Cross-entropy H(P_t, P_s) averaged over every (teacher view, other student view) pair.

    P_t = softmax((g_t - C) / tau_t) (centred and sharpened, no gradient), P_s = softmax(g_s / tau_s)
    (Caron+21 eqs. 2-3, Algorithm 1); the student sees every view, the teacher the global ones,
    which come first in ``student`` in the same order as ``teacher``; pairs of a view with itself
    are skipped.

    Parameters
    ----------
    student : list of torch.Tensor
        (N, K) outputs of every view (global first).
    teacher : list of torch.Tensor
        (N, K) outputs of the global views.
    center : torch.Tensor
        (K,) running centre C of the teacher outputs.
    """
    total, pairs = 0.0, 0
    for t_index, t_out in enumerate(teacher):
        target = F.softmax((t_out.detach() - center) / teacher_temperature, dim=1)
        for s_index, s_out in enumerate(student):
            if s_index == t_index:
                continue
            total = total + torch.sum(-target * F.log_softmax(s_out / student_temperature, dim=1), dim=1).mean()
            pairs += 1
    return total / pairs


class DINO(SSLObjective):
    """Student (encoder + :class:`~lensbench.ssl.heads.DINOHead`) and EMA teacher; two global
    views (the augmentations on the whole image) and ``local_views`` un-resized crops.

    Parameters
    ----------
    encoder : nn.Module
        The model being pre-trained (the student's encoder), copied into the teacher. Local crops
        need an encoder that pools globally (a ResNet), not a ViT with fixed positions.
    embedding_dim, hidden_dim : int
        Encoder embedding size and head width (bottleneck: 64).
    prototypes : int
        K, the head's outputs.
    ema_momentum, center_momentum : float
        Teacher and centre momenta: C <- m C + (1 - m) mean of the teacher outputs (eq. 4).
    student_temperature, teacher_temperature : float
        tau_s and tau_t (tau_t < tau_s sharpens).
    local_views, local_crop_size : int
        Number and side (pixels) of the local crops.
    augmentations, noise_sigma, seed
        See :class:`~lensbench.ssl.base.SSLObjective`.
    """

    def __init__(self, *, encoder: nn.Module, embedding_dim: int, hidden_dim: int, prototypes: int,
                 ema_momentum: float, center_momentum: float, student_temperature: float,
                 teacher_temperature: float, local_views: int, local_crop_size: int, augmentations,
                 noise_sigma: float, seed: int):
        super().__init__(augmentations, noise_sigma, seed)
        if local_views and not hasattr(encoder, "avgpool"):
            raise ValueError("DINO's local views are crops of another size: they need an encoder with global "
                             f"pooling (a ResNet), not {type(encoder).__name__}; set local_views = 0")
        self.momentum, self.center_momentum = float(ema_momentum), float(center_momentum)
        self.student_temperature, self.teacher_temperature = float(student_temperature), float(teacher_temperature)
        self.local_views, self.local_crop_size = int(local_views), int(local_crop_size)
        self.head = DINOHead(embedding_dim, hidden_dim, 64, prototypes)
        self.teacher = frozen_copy(Branch(copy.deepcopy(encoder), self.head))
        self.teacher.register_buffer("center", torch.zeros(prototypes))
        self.name = (f"ssl:dino:m={self.momentum}:K={prototypes}:local={self.local_views}x{self.local_crop_size}:"
                     f"{'+'.join(self.augmentations)}")

    def modules(self) -> list[nn.Module]:
        return [self.head, self.teacher]

    def views_loss(self, encoder, images):
        global_views = [self.view(images), self.view(images)]
        local = [local_crops(self.view(images), self.generator, self.local_crop_size) for _ in range(self.local_views)]
        features = [encoder.forward_features(v) for v in global_views + local]
        student = [self.head(h) for h in features]
        with torch.no_grad():
            teacher = [self.teacher(v) for v in global_views]
        loss = dino_loss(student, teacher, self.teacher.center, self.student_temperature, self.teacher_temperature)
        if encoder.training:
            with torch.no_grad():
                batch_center = torch.cat(teacher).mean(dim=0)
                self.teacher.center.mul_(self.center_momentum).add_(batch_center, alpha=1.0 - self.center_momentum)
        return loss, student[0]

    def after_step(self, model: nn.Module) -> None:
        ema_update(self.teacher.encoder, model, self.momentum)
        ema_update(self.teacher.head, self.head, self.momentum)
