"""Content-addressed cache of step outputs, safe to share between concurrent runs.

A step's output lives in ``<root>/<kind>/<key[:2]>/<key>/`` with a ``meta.json`` that lists the
size and sha256 of every file (:mod:`~lensbench.cache.integrity`). While it runs, the step
works in ``<key>.partial/``; that folder survives an interruption so the step can resume
(finished simulation shards, training checkpoints), and it is renamed into place, in one atomic
``os.rename``, only when the step has finished. Runs take per-entry file locks
(:mod:`~lensbench.cache.lock`), so two runs sharing a cache compute an entry once; an entry
found damaged is reported, moved aside and recomputed (:mod:`~lensbench.cache.store`).
``lensbench cache`` shows, verifies and prunes the cache (:mod:`~lensbench.cache.admin`).

Entries written before file hashes were stored (no ``files`` in ``meta.json``) cannot be told
from damaged ones: they are moved aside and recomputed once.
"""

from lensbench.cache.store import Cache, Claim, default_root, step_key

__all__ = ["Cache", "Claim", "default_root", "step_key"]
