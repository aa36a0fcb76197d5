"""Self-supervised pre-training of image encoders (Deshmukh+23, sec. 2.1) and its evaluation.

Every method is an :class:`~lensbench.training.objectives.Objective`, so
:func:`lensbench.training.fit` trains it like any other model: the projector, predictor or EMA
teacher are the objective's :meth:`modules`, the EMA update its :meth:`after_step`.

Modules: :mod:`~lensbench.ssl.augment` (batched views from one seeded generator and what each
does to the lensing physics), :mod:`~lensbench.ssl.heads` (projection and DINO heads),
:mod:`~lensbench.ssl.base` (what the methods share: views, EMA, the collapse record),
:mod:`~lensbench.ssl.simclr` (NT-Xent), :mod:`~lensbench.ssl.byol`, :mod:`~lensbench.ssl.simsiam`,
:mod:`~lensbench.ssl.dino`, :mod:`~lensbench.ssl.methods` (the registry by name),
:mod:`~lensbench.ssl.finetune` (an encoder with a fully connected head, trained with the row's
augmentations), :mod:`~lensbench.ssl.regression` (the one-output head on log10 m_a of the vortex
images and its errors per bin of m_a), :mod:`~lensbench.ssl.probes` (linear and kNN probes on frozen embeddings) and
:mod:`~lensbench.ssl.collapse` (the per-dimension spread of normalised embeddings).
"""
