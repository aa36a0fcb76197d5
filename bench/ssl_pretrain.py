"""Self-supervised pre-training speed: on-the-fly augmentation against ready views.

One SimCLR training step of a ResNet-18 on 1 x 64 x 64 images, batch 64, in two ways, interleaved
over several rounds (best time of each, so both see the same machine load):

- *on the fly*: :class:`lensbench.ssl.simclr.SimCLR.loss` draws both views of the batch with
  the rotation and Gaussian-noise augmentations (:mod:`lensbench.ssl.augment`), then runs the model;
- *ready*: the same model fed two view tensors prepared before the clock starts.

ratio = on-the-fly img/s / ready img/s (>= 0.9: augmentation is never the bottleneck).
agreement = the largest |loss - hand-computed value| over the hand cases of NT-Xent, BYOL,
SimSiam and DINO (the same cases as tests/ssl/test_losses.py).

Run ``python bench/ssl_pretrain.py``; it ends with one ``RESULT ssl_pretrain ...`` line.
"""

from __future__ import annotations

import math
import time

import torch

from lensbench.models import build_model
from lensbench.ssl.augment import augment
from lensbench.ssl.byol import byol_loss
from lensbench.ssl.dino import dino_loss
from lensbench.ssl.simclr import SimCLR, nt_xent
from lensbench.ssl.simsiam import simsiam_loss

BATCH, SIZE, ROUNDS, STEPS = 64, 64, 5, 3
AUGMENTATIONS = ("rotate", "noise")


def hand_case_errors() -> dict[str, float]:
    """|loss - value computed by hand| of each loss on its small case."""
    eye = torch.eye(2)
    swapped = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    tau_s = 0.1
    student = [torch.zeros(1, 2), torch.tensor([[tau_s * math.log(3.0), 0.0]])]
    teacher = [torch.zeros(1, 2), torch.tensor([[1.0, 0.0]])]
    cases = {
        "nt_xent": (nt_xent(eye, eye.clone(), 1.0), math.log((math.e + 2) / math.e)),
        "nt_xent_t0.5": (nt_xent(eye, swapped, 0.5), math.log(2 + math.e**2)),
        "byol": (byol_loss(torch.tensor([[1.0, 1.0]]), torch.tensor([[3.0, 0.0]])), 2 - math.sqrt(2)),
        "simsiam": (simsiam_loss(torch.tensor([[1.0, 0.0]]), torch.tensor([[0.0, 1.0]]),
                                 torch.tensor([[1.0, 0.0]]), torch.tensor([[2.0, 0.0]])), -0.5),
        "dino": (dino_loss(student, teacher, torch.zeros(2), tau_s, 1.0),
                 (-(math.log(0.75) + math.log(0.25)) / 2 + math.log(2.0)) / 2),
    }
    return {name: abs(float(value) - expected) for name, (value, expected) in cases.items()}


def main() -> None:
    torch.manual_seed(0)
    model = build_model("resnet18", in_channels=1, num_outputs=3, input_size=(SIZE, SIZE), seed=0).train()
    objective = SimCLR(embedding_dim=model.embedding_dim, hidden_dim=512, projection_dim=128, temperature=0.5,
                       augmentations=AUGMENTATIONS, noise_sigma=0.1, seed=0)
    parameters = [*model.parameters(), *objective.projector.parameters()]
    optimizer = torch.optim.AdamW(parameters, lr=1e-3)
    images = torch.rand(BATCH, 1, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    generator = torch.Generator().manual_seed(2)
    ready = [augment(images, AUGMENTATIONS, generator), augment(images, AUGMENTATIONS, generator)]

    def step_on_the_fly():
        loss, _ = objective.loss(model, [images])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def step_ready():
        z1 = objective.projector(model.forward_features(ready[0]))
        z2 = objective.projector(model.forward_features(ready[1]))
        loss = nt_xent(z1, z2, 0.5)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step_on_the_fly(), step_ready()  # warm-up
    best = {"on the fly": math.inf, "ready": math.inf}
    augment_only = math.inf
    for _ in range(ROUNDS):
        for name, step in (("on the fly", step_on_the_fly), ("ready", step_ready)):
            started = time.perf_counter()
            for _ in range(STEPS):
                step()
            best[name] = min(best[name], (time.perf_counter() - started) / STEPS)
        started = time.perf_counter()
        augment(images, AUGMENTATIONS, generator), augment(images, AUGMENTATIONS, generator)
        augment_only = min(augment_only, time.perf_counter() - started)
    rates = {name: BATCH / seconds for name, seconds in best.items()}
    ratio = rates["on the fly"] / rates["ready"]
    errors = hand_case_errors()
    print(f"threads {torch.get_num_threads()}, batch {BATCH} x 1 x {SIZE} x {SIZE}, ResNet-18 + SimCLR, "
          f"best of {ROUNDS} rounds of {STEPS} steps")
    for name, rate in rates.items():
        print(f"  {name:>10}: {rate:7.1f} img/s ({best[name] * 1e3:.0f} ms/step)")
    print(f"  two views' augmentation alone: {augment_only * 1e3:.1f} ms per batch "
          f"({100 * augment_only / best['on the fly']:.1f} % of a step)")
    for name, error in errors.items():
        print(f"  {name:>12}: |loss - hand| = {error:.2e}")
    print(f"RESULT ssl_pretrain ratio={ratio:.3f} agreement={max(errors.values()):.2e} "
          f"img_s_on_the_fly={rates['on the fly']:.1f} img_s_ready={rates['ready']:.1f} "
          f"augment_ms={augment_only * 1e3:.1f}")


if __name__ == "__main__":
    main()
