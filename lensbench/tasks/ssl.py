"""The ``ssl`` task: self-supervised pre-training, probes, fine-tuning against a supervised
baseline (Deshmukh+23 sec. 2-3), for every grid branch::

    simulate:train  simulate:val                 simulate:test
          |   \\        /    \\                        |
          |    pretrain ----- probe (pretrained and random encoder) ---+
          |        \\                                                   |
          +---- finetune (encoder + head, per seed and label fraction) -+
          +---- supervised (random init, same augmentations and schedule)+
                                                                        evaluate

With ``[axion_regression] enabled`` two more steps feed ``evaluate``: ``regress`` (the
pre-trained encoder with a one-output head on log10 m_a of the vortex images) and
``regress_supervised`` (its baseline from random weights), Deshmukh+23 sec. 2.2 and Fig. 2.

``[pretrain]`` (:class:`lensbench.ssl.config.PretrainConfig`) is the method and its views,
``[finetune]`` (:class:`lensbench.ssl.config.FinetuneConfig`) the seeds, label fractions and
probes, ``[axion_regression]`` (:class:`lensbench.ssl.config.AxionRegressionConfig`) the
regression; fine-tuning and the baselines train under ``[training]``. The supervised baselines do
not depend on the pre-training, so rows with the same augmentations share them through the cache.
"""

from __future__ import annotations

import dataclasses

from lensbench.ssl.config import AxionRegressionConfig, FinetuneConfig, PretrainConfig, mass_bins
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


def vortex_class(spec) -> str | None:
    """The first of ``[data] classes`` whose simulated population is a vortex, else None."""
    populations = getattr(spec.simulation, "classes", None) or {}
    return next((name for name in spec.data.classes
                 if name in populations and populations[name].kind == "vortex"), None)


def regression_problems(spec) -> list[tuple[str, str]]:
    """``[axion_regression] enabled`` needs a vortex class whose axion-mass prior is bounded and
    not fixed (the per-bin errors cover its range)."""
    if not spec.task_sections["axion_regression"].enabled:
        return []
    name = vortex_class(spec)
    if name is None:
        return [("axion_regression.enabled", ("the axion-mass regression needs a class of kind \"vortex\" among "
                                              f"[data] classes ({', '.join(spec.data.classes)})"))]
    prior = spec.simulation.classes[name].axion_mass
    low, high = prior.support()
    if prior.dist == "fixed" or not 0 < low < high < float("inf"):
        return [("axion_regression.enabled", (f"the axion-mass regression needs class '{name}' to draw axion_mass "
                                              f"from a bounded range of positive masses (eV); its prior is "
                                              f"{prior.dist} with support [{low}, {high}]"))]
    return []


def regress_params(spec, init: str) -> dict:
    """A ``regress`` step (``init`` "pretrained") or its baseline ("random"): encoder,
    ``[training]``, the row's augmentations, the ``[finetune]`` seeds and the vortex class."""
    pretrain = spec.task_sections["pretrain"]
    return {**_encoder(spec), "init": init, "training": dataclasses.replace(spec.training, device="auto", seed=None),
            "augmentations": pretrain.augmentations, "noise_sigma": pretrain.noise_sigma,
            "seeds": spec.task_sections["finetune"].seeds, "vortex_class": vortex_class(spec)}


def regression_steps(spec) -> list[TaskStep]:
    """``regress`` and ``regress_supervised`` when ``[axion_regression] enabled``, else none."""
    if not spec.task_sections["axion_regression"].enabled:
        return []
    data = {"train": "simulate:train", "val": "simulate:val", "test": "simulate:test"}
    return [TaskStep("regress", "ssl_regress", regress_params(spec, "pretrained"), {**data, "encoder": "pretrain"}),
            TaskStep("regress_supervised", "ssl_regress", regress_params(spec, "random"), data)]


def evaluate_params(spec) -> dict:
    """The ``evaluate`` step: calibration bins and, with the regression, the m_a bin edges in
    log10(m_a / eV) over the vortex class's prior."""
    params = {"calibration_bins": spec.evaluation.calibration_bins}
    regression = spec.task_sections["axion_regression"]
    if regression.enabled:
        low, high = spec.simulation.classes[vortex_class(spec)].axion_mass.support()
        params["axion_mass_bins"] = mass_bins(low, high, regression.bins_per_decade)
    return params


def ssl_steps(spec) -> list[TaskStep]:
    """pretrain -> probe, finetune, supervised (, regress, regress_supervised) -> evaluate for one branch."""
    data = {"train": "simulate:train", "val": "simulate:val"}
    regression = regression_steps(spec)
    return [
        TaskStep("pretrain", "ssl_pretrain", pretrain_params(spec), data),
        TaskStep("probe", "ssl_probe", probe_params(spec),
                 {"encoder": "pretrain", "train": "simulate:train", "test": "simulate:test"}),
        TaskStep("finetune", "ssl_finetune", finetune_params(spec, "pretrained"),
                 {**data, "test": "simulate:test", "encoder": "pretrain"}),
        TaskStep("supervised", "ssl_finetune", finetune_params(spec, "random"), {**data, "test": "simulate:test"}),
        *regression,
        TaskStep("evaluate", "ssl_evaluate", evaluate_params(spec),
                 {"pretrain": "pretrain", "probe": "probe", "finetune": "finetune", "supervised": "supervised",
                  "test": "simulate:test", **{step.role: step.role for step in regression}}),
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
    sections={"pretrain": PretrainConfig, "finetune": FinetuneConfig, "axion_regression": AxionRegressionConfig},
    report_roles=("pretrain", "probe", "finetune", "supervised", "regress", "regress_supervised", "evaluate"),
    checks=regression_problems,
    description="self-supervised pre-training (SimCLR, BYOL, SimSiam, DINO), probes and fine-tuning vs a supervised baseline",
))
