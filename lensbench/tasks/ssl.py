"""The ``ssl`` task: self-supervised pre-training, probes, fine-tuning against a supervised
baseline (Deshmukh+23 sec. 2-3), for every grid branch::

    simulate:train  simulate:val                 simulate:test
          |   \\        /    \\                        |
          |    pretrain ----- probe (pretrained and random encoder) ---+
          |        \\                                                   |
          +---- finetune (encoder + head, per seed and label fraction) -+
          +---- supervised (random init, same augmentations and schedule)+
                                                                        evaluate

``[pretrain]`` (:class:`lensbench.ssl.config.PretrainConfig`) is the method and its views,
``[finetune]`` (:class:`lensbench.ssl.config.FinetuneConfig`) the seeds, label fractions and
probes; fine-tuning and the baseline train under ``[training]``. The supervised baseline does
not depend on the pre-training, so rows with the same augmentations share it through the cache.
"""

from __future__ import annotations

import dataclasses

from lensbench.ssl.config import FinetuneConfig, PretrainConfig
from lensbench.tasks.base import TASKS, Task, TaskStep


def _encoder(spec) -> dict:
    return {"model": spec.model, "normalize": spec.training.normalize}


def pretrain_params(spec) -> dict:
    """The ``pretrain`` step: encoder, normalisation, method and views, seeded by the experiment."""
    return {**_encoder(spec), "pretrain": spec.task_sections["pretrain"], "seed": spec.experiment.seed}


def probe_params(spec) -> dict:
    """The ``probe`` step: encoder, seeds of the random encoders, kNN and logistic-regression settings."""
    return {**_encoder(spec), "finetune": spec.task_sections["finetune"]}


def finetune_params(spec, init: str) -> dict:
    """A ``finetune`` step (``init`` "pretrained") or the supervised baseline ("random"): encoder,
    ``[training]``, the row's augmentations, seeds and label fractions; the label subsets are drawn
    from the experiment seed."""
    pretrain = spec.task_sections["pretrain"]
    return {**_encoder(spec), "init": init, "training": dataclasses.replace(spec.training, device="auto", seed=None),
            "augmentations": pretrain.augmentations, "noise_sigma": pretrain.noise_sigma,
            "finetune": spec.task_sections["finetune"], "data_seed": spec.experiment.seed}


def ssl_steps(spec) -> list[TaskStep]:
    """pretrain -> probe, finetune, supervised -> evaluate for one branch."""
    data = {"train": "simulate:train", "val": "simulate:val"}
    return [
        TaskStep("pretrain", "ssl_pretrain", pretrain_params(spec), data),
        TaskStep("probe", "ssl_probe", probe_params(spec),
                 {"encoder": "pretrain", "train": "simulate:train", "test": "simulate:test"}),
        TaskStep("finetune", "ssl_finetune", finetune_params(spec, "pretrained"),
                 {**data, "test": "simulate:test", "encoder": "pretrain"}),
        TaskStep("supervised", "ssl_finetune", finetune_params(spec, "random"), {**data, "test": "simulate:test"}),
        TaskStep("evaluate", "ssl_evaluate", {"calibration_bins": spec.evaluation.calibration_bins},
                 {"pretrain": "pretrain", "probe": "probe", "finetune": "finetune", "supervised": "supervised",
                  "test": "simulate:test"}),
    ]


def ssl_sections(branches, context) -> dict:
    """:func:`lensbench.report.ssl.ssl_sections`, imported when a report is written."""
    from lensbench.report.ssl import ssl_sections as sections

    return sections(branches, context)


TASKS.register("ssl")(Task(
    name="ssl",
    steps=ssl_steps,
    report=ssl_sections,
    labels="classes",
    sections={"pretrain": PretrainConfig, "finetune": FinetuneConfig},
    report_roles=("pretrain", "probe", "finetune", "supervised", "evaluate"),
    description="self-supervised pre-training (SimCLR, BYOL, SimSiam, DINO), probes and fine-tuning vs a supervised baseline",
))
