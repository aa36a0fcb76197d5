"""The schema of ``metrics.json``, version ``lensbench.metrics/1``.

``metrics.json`` holds every number a report shows, so reports can be compared
(``lensbench compare``) and checked by machines. It is plain JSON (no NaN or infinity: a value
that is not defined, such as the AUC of a test set with one class, is ``null``)::

    {
      "schema": "lensbench.metrics/1",
      "experiment": str,                  # [experiment] name
      "preset": str | null,               # preset the run used
      "spec_hash": str,                   # sha256 of the resolved spec, 64 lower-case hex digits
      "seed": int,                        # [experiment] seed, >= 0
      "created": str,                     # ISO-8601 time the report was written
      "branches": {                       # at least one; "main" when the spec has no grid
        "<branch>": {                     # e.g. "scenario=C,architecture=resnet18"
          "task": "classify" | "regress" | another registered task,
          "class_names": [str, ...],      # classify only; two or more
          "parameter_names": [str, ...],  # regress only, optional; units in the names
          "metrics": {                    # e.g. auc, accuracy_at_0.5, f1_youden, ece, brier;
            "<metric>": number | null       # a value each
                      | [number | null, ...]          # one per class (e.g. one-vs-rest AUC)
                      | {"<name>": number | null}     # one per parameter (e.g. rmse of regress)
                      | [[number, ...], ...]          # confusion matrix, rows true class,
          },                                          #   columns predicted class
          "curves": {                     # may be empty; every curve optional
            "roc": {"fpr": [...], "tpr": [...],          # values in [0, 1], equal lengths;
                    "thresholds": [...]}                 # thresholds optional
                 | {"<class name>": {"fpr": [...], "tpr": [...]}, ...},   # or one-vs-rest
            "reliability": {"bin_centres": [...], "observed": [...],     # equal lengths;
                            "predicted": [...], "counts": [int, ...]},   # null for empty bins
            "loss": {"train_loss": [...], "val_loss": [...],             # one value per epoch
                     "train_acc": [...], "val_acc": [...],               # optional: accuracy,
                     "lr": [...], "epoch_seconds": [...]},               # learning rate, s
            "<other>": {"<name>": [number, ...], ...}
          },
          "n_test": int                   # size of the test set, >= 0
        }
      },
      "paper": {"<branch or 'main'>": {"<metric>": number}},   # published numbers; may be {}
      "provenance": {
        "git_commit": str | null,         # lensbench's commit, null outside a git checkout
        "packages": {"<name>": "<version>"},
        "device": str,                    # e.g. "cpu", "cuda:0 (NVIDIA H100)"
        "python": str,                    # e.g. "3.11.2"
        "wall_time_s": {"<step id>": float},   # seconds per step in this run, >= 0
        "total_wall_time_s": float,            # seconds, >= 0
        "compute_time_s": {"<step id>": float}, # optional: seconds each step took when it was
                                                # computed (also for steps this run took from the cache)
        "cache_entries": {"<step id>": "<kind>/<key>"} # optional: the cache entry of each cached step
                                                       # (lensbench cache prune --keep-report)
      }
    }

:func:`lensbench.metrics.reliability` names its per-bin lists ``observed_frequency`` and
``mean_predicted``; here they are ``observed`` and ``predicted``.

Keys other than these are errors, except the names inside ``branches``, ``metrics``,
``curves``, ``paper``, ``packages``, ``wall_time_s`` and ``compute_time_s``. :func:`validate_metrics` checks an object
against this schema and reports every problem at once.
"""

from __future__ import annotations

import math
import numbers
import re
from datetime import datetime

SCHEMA_VERSION = "lensbench.metrics/1"
SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")

TOP_LEVEL_KEYS = ("schema", "experiment", "preset", "spec_hash", "seed", "created", "branches",
                  "paper", "provenance")
BRANCH_KEYS = ("task", "metrics", "curves", "n_test")
BRANCH_OPTIONAL_KEYS = ("class_names", "parameter_names")
PROVENANCE_KEYS = ("git_commit", "packages", "device", "python", "wall_time_s",
                   "total_wall_time_s")
ROC_KEYS = ("fpr", "tpr")
ROC_OPTIONAL_KEYS = ("thresholds",)
RELIABILITY_KEYS = ("bin_centres", "observed", "predicted", "counts")
LOSS_KEYS = ("train_loss", "val_loss")
LOSS_OPTIONAL_KEYS = ("train_acc", "val_acc", "lr", "epoch_seconds")


def validate_metrics(obj) -> None:
    """Check a decoded ``metrics.json`` against the ``lensbench.metrics/1`` schema.

    Parameters
    ----------
    obj : object
        The decoded JSON.

    Raises
    ------
    ValueError
        Listing every problem, one per line, each starting with the key path
        (e.g. ``branches['main'].metrics.auc: expected a number or null, got str``).
    """
    problems: list[str] = []
    _check_document(obj, problems)
    if problems:
        raise ValueError("metrics.json does not follow " + SCHEMA_VERSION + ":\n  "
                         + "\n  ".join(problems))


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _type_name(value) -> str:
    return "null" if value is None else type(value).__name__


def _check_keys(obj, path: str, required, optional, problems) -> bool:
    if not isinstance(obj, dict):
        problems.append(f"{path}: expected an object, got {_type_name(obj)}")
        return False
    problems += [f"{path}: missing key '{key}'" for key in required if key not in obj]
    allowed = set(required) | set(optional)
    problems += [f"{path}: unknown key '{key}'" for key in obj if key not in allowed]
    return True


def _check_number(value, path: str, problems, allow_null=False, minimum=None) -> None:
    if value is None and allow_null:
        return
    if not _is_number(value):
        expected = "a number or null" if allow_null else "a number"
        problems.append(f"{path}: expected {expected}, got {_type_name(value)}")
    elif not math.isfinite(value):
        problems.append(f"{path}: {value} is not allowed in JSON; use null for undefined values")
    elif minimum is not None and value < minimum:
        problems.append(f"{path}: {value} is below {minimum}")


def _check_int(value, path: str, problems, minimum=0) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        problems.append(f"{path}: expected an integer, got {_type_name(value)}")
    elif value < minimum:
        problems.append(f"{path}: {value} is below {minimum}")


def _check_string(value, path: str, problems, allow_null=False) -> None:
    if value is None and allow_null:
        return
    if not isinstance(value, str):
        expected = "a string or null" if allow_null else "a string"
        problems.append(f"{path}: expected {expected}, got {_type_name(value)}")


def _check_names(value, path: str, problems, minimum_count: int) -> None:
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        problems.append(f"{path}: expected a list of strings")
    elif len(value) < minimum_count:
        problems.append(f"{path}: expected at least {minimum_count} names, got {len(value)}")


def _check_number_list(value, path: str, problems, allow_null=False, bounds=None) -> int | None:
    if not isinstance(value, list):
        problems.append(f"{path}: expected a list of numbers, got {_type_name(value)}")
        return None
    for index, item in enumerate(value):
        _check_number(item, f"{path}[{index}]", problems, allow_null=allow_null)
        if bounds and _is_number(item) and not bounds[0] <= item <= bounds[1]:
            problems.append(f"{path}[{index}]: {item} is outside [{bounds[0]}, {bounds[1]}]")
    return len(value)


def _check_document(obj, problems) -> None:
    if not _check_keys(obj, "metrics", TOP_LEVEL_KEYS, (), problems):
        return
    if "schema" in obj and obj["schema"] != SCHEMA_VERSION:
        problems.append(f"schema: expected '{SCHEMA_VERSION}', got {obj['schema']!r}")
    if "experiment" in obj:
        _check_string(obj["experiment"], "experiment", problems)
    if "preset" in obj:
        _check_string(obj["preset"], "preset", problems, allow_null=True)
    if "spec_hash" in obj and not (isinstance(obj["spec_hash"], str)
                                   and SHA256_HEX.match(obj["spec_hash"])):
        problems.append("spec_hash: expected 64 lower-case hexadecimal digits (sha256)")
    if "seed" in obj:
        _check_int(obj["seed"], "seed", problems)
    if "created" in obj:
        _check_timestamp(obj["created"], problems)
    if "branches" in obj:
        _check_branches(obj["branches"], problems)
    if "paper" in obj:
        _check_paper(obj["paper"], problems)
    if "provenance" in obj:
        _check_provenance(obj["provenance"], problems)


def _check_timestamp(value, problems) -> None:
    try:
        datetime.fromisoformat(value)
    except (TypeError, ValueError):
        problems.append(f"created: expected an ISO-8601 time, got {value!r}")


def _check_branches(branches, problems) -> None:
    if not isinstance(branches, dict) or not branches:
        problems.append("branches: expected an object with at least one branch")
        return
    for name, branch in branches.items():
        _check_branch(branch, f"branches[{name!r}]", problems)


def _check_branch(branch, path: str, problems) -> None:
    if not _check_keys(branch, path, BRANCH_KEYS, BRANCH_OPTIONAL_KEYS, problems):
        return
    task = branch.get("task")
    if "task" in branch and not (isinstance(task, str) and task):
        problems.append(f"{path}.task: expected the name of a task (classify, regress, ...), got {task!r}")
    if task == "classify":
        if "class_names" not in branch:
            problems.append(f"{path}: missing key 'class_names' (required when task is classify)")
        else:
            _check_names(branch["class_names"], f"{path}.class_names", problems, minimum_count=2)
    if "parameter_names" in branch:
        _check_names(branch["parameter_names"], f"{path}.parameter_names", problems, 1)
    if "metrics" in branch:
        _check_metric_values(branch["metrics"], f"{path}.metrics", problems)
    if "curves" in branch:
        _check_curves(branch["curves"], f"{path}.curves", problems)
    if "n_test" in branch:
        _check_int(branch["n_test"], f"{path}.n_test", problems)


def _check_metric_values(metrics, path: str, problems) -> None:
    if not isinstance(metrics, dict):
        problems.append(f"{path}: expected an object, got {_type_name(metrics)}")
        return
    for name, value in metrics.items():
        if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
            _check_matrix(value, f"{path}.{name}", problems)
        elif isinstance(value, list):
            _check_number_list(value, f"{path}.{name}", problems, allow_null=True)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_number(item, f"{path}.{name}.{key}", problems, allow_null=True)
        else:
            _check_number(value, f"{path}.{name}", problems, allow_null=True)


def _check_matrix(rows, path: str, problems) -> None:
    if len({len(row) for row in rows}) != 1:
        problems.append(f"{path}: matrix rows differ in length")
    for index, row in enumerate(rows):
        _check_number_list(row, f"{path}[{index}]", problems)


def _check_curves(curves, path: str, problems) -> None:
    if not isinstance(curves, dict):
        problems.append(f"{path}: expected an object, got {_type_name(curves)}")
        return
    for name, curve in curves.items():
        if name == "roc":
            _check_roc(curve, f"{path}.roc", problems)
        elif name == "reliability":
            _check_same_length_lists(curve, f"{path}.reliability", RELIABILITY_KEYS, (), problems,
                                     counts=("counts",))
        elif name == "loss":
            _check_loss(curve, f"{path}.loss", problems)
        elif isinstance(curve, dict):
            for key, values in curve.items():
                _check_number_list(values, f"{path}.{name}.{key}", problems, allow_null=True)
        else:
            problems.append(f"{path}.{name}: expected an object of lists, got {_type_name(curve)}")


def _check_roc(curve, path: str, problems) -> None:
    if isinstance(curve, dict) and curve and all(isinstance(value, dict) for value in curve.values()):
        for class_name, one_vs_rest in curve.items():
            _check_same_length_lists(one_vs_rest, f"{path}[{class_name!r}]", ROC_KEYS,
                                     ROC_OPTIONAL_KEYS, problems, rates=ROC_KEYS)
    else:
        _check_same_length_lists(curve, path, ROC_KEYS, ROC_OPTIONAL_KEYS, problems, rates=ROC_KEYS)


def _check_loss(curve, path: str, problems) -> None:
    if not _check_keys(curve, path, LOSS_KEYS, LOSS_OPTIONAL_KEYS, problems):
        return
    for key, values in curve.items():
        _check_number_list(values, f"{path}.{key}", problems, allow_null=True)


def _check_same_length_lists(curve, path: str, required, optional, problems, rates=(),
                             counts=()) -> None:
    """Lists of equal length; ``rates`` hold fractions in [0, 1], ``counts`` whole numbers >= 0,
    other keys numbers or null."""
    if not _check_keys(curve, path, required, optional, problems):
        return
    lengths = {}
    for key, values in curve.items():
        is_rate, is_count = key in rates, key in counts
        length = _check_number_list(values, f"{path}.{key}", problems,
                                    allow_null=not (is_rate or is_count),
                                    bounds=(0.0, 1.0) if is_rate else None)
        if is_count and length is not None:
            for index, count in enumerate(values):
                if _is_number(count) and (count < 0 or count != int(count)):
                    problems.append(f"{path}.counts[{index}]: expected a count, got {count}")
        if length is not None:
            lengths[key] = length
    if len(set(lengths.values())) > 1:
        detail = ", ".join(f"{key} {length}" for key, length in lengths.items())
        problems.append(f"{path}: lists differ in length ({detail})")


def _check_paper(paper, problems) -> None:
    if not isinstance(paper, dict):
        problems.append(f"paper: expected an object, got {_type_name(paper)}")
        return
    for branch, metrics in paper.items():
        path = f"paper[{branch!r}]"
        if not isinstance(metrics, dict):
            problems.append(f"{path}: expected an object of numbers, got {_type_name(metrics)}")
            continue
        for name, value in metrics.items():
            _check_number(value, f"{path}.{name}", problems)


def _check_provenance(provenance, problems) -> None:
    if not _check_keys(provenance, "provenance", PROVENANCE_KEYS, ("compute_time_s", "cache_entries"), problems):
        return
    if "git_commit" in provenance:
        _check_string(provenance["git_commit"], "provenance.git_commit", problems, allow_null=True)
    for key in ("device", "python"):
        if key in provenance:
            _check_string(provenance[key], f"provenance.{key}", problems)
    packages = provenance.get("packages", {})
    if not isinstance(packages, dict) or not all(
        isinstance(name, str) and isinstance(version, str) for name, version in packages.items()
    ):
        problems.append("provenance.packages: expected an object of name -> version strings")
    for key in ("wall_time_s", "compute_time_s"):
        times = provenance.get(key, {})
        if not isinstance(times, dict):
            problems.append(f"provenance.{key}: expected an object, got {_type_name(times)}")
            continue
        for step, seconds in times.items():
            _check_number(seconds, f"provenance.{key}[{step!r}]", problems, minimum=0)
    entries = provenance.get("cache_entries", {})
    if not isinstance(entries, dict) or not all(isinstance(v, str) and v.count("/") == 1 for v in entries.values()):
        problems.append("provenance.cache_entries: expected an object of step id -> '<kind>/<key>'")
    if "total_wall_time_s" in provenance:
        _check_number(provenance["total_wall_time_s"], "provenance.total_wall_time_s", problems,
                      minimum=0)
