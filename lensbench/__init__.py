"""lensbench: reproducible benchmarks for dark-matter substructure searches with lensing and ML.

The public entry point is :func:`lensbench.run`, which the ``lensbench run`` command calls.
"""

__version__ = "0.1.0"


def run(path, preset=None, overrides=(), **options):
    """Resolve the spec at ``path`` and run every step of its plan; see :mod:`lensbench.runner`."""
    from lensbench.runner import run_spec

    return run_spec(path, preset=preset, overrides=overrides, **options)
