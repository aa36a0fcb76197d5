"""Steps: thin adapters between a validated spec and the core library.

A step kind is a class with

- ``VERSION`` (int): bump it when the step's output changes for the same configuration, so old
  cache entries are not reused;
- ``CACHED`` (bool): whether its output goes to the cache (the report step writes to the
  run's output folder instead);
- ``THREADS_IN_KEY`` (bool, optional): whether torch's CPU thread count is part of its cache key
  (kinds that train or run a network: their float reductions depend on it);
- ``COMPILE_IN_KEY`` (bool, optional): whether ``[execution] compile`` (as this machine applies
  it) is part of its cache key (the simulators: compiled and eager kernels differ in the last bits);
- ``params(spec, ...) -> dict``: the step's own configuration, hashed into its cache key;
- ``run(ctx: StepContext) -> dict``: does the work in ``ctx.work`` and returns a small summary
  stored in ``meta.json``.
"""

from lensbench.steps.base import STEP_KINDS, StepContext
from lensbench.steps import apply, evaluate, report, signal, simulate, train  # noqa: E402,F401  (registration)
from lensbench.steps import fit, fit_source  # noqa: E402,F401  (registration)
from lensbench.steps import fit_data  # noqa: E402,F401  (task fit, [fit_data])
from lensbench.steps import finetune, pretrain, probe, ssl_evaluate, ssl_regress  # noqa: E402,F401  (task ssl)
from lensbench.steps import calibrate, infer, ratio_baseline, ratio_train  # noqa: E402,F401  (task likelihood_ratio)

__all__ = ["STEP_KINDS", "StepContext"]
