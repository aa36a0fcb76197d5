"""Simulation-based inference of population parameters (Brehmer et al. 2019, arXiv:1909.02005).

- :mod:`~lensbench.sbi.population`: ln p(z|theta) of the subhalo population (eq. 18), the joint
  likelihood ratio against the proposal marginal and the joint score;
- :mod:`~lensbench.sbi.losses`: ALICES (eq. 22), CARL, ROLR, RASCAL;
- :mod:`~lensbench.sbi.estimator`: the parameterised ratio estimator (an image trunk, theta
  joined after pooling); :mod:`~lensbench.sbi.objective` trains it with
  :func:`lensbench.training.fit`; :mod:`~lensbench.sbi.saved` stores it;
- :mod:`~lensbench.sbi.calibration`: histogram calibration (sec. 3.3), with reweighting;
- :mod:`~lensbench.sbi.inference`: grid limits, posterior, coverage;
- :mod:`~lensbench.sbi.simulation`: lenses simulated at given (f_sub, beta).

The PyPI package ``sbi`` is a different package: inside lensbench import this one absolutely.
"""
