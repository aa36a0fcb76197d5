"""Table cells of the ``ssl`` task's report: a row's name, its survey and mean ± std."""

from __future__ import annotations


def pm(mean, std) -> str | None:
    """``0.912 ± 0.010`` (the mean alone without a spread; None without a mean)."""
    if mean is None:
        return None
    return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"


def survey(branch) -> str:
    """The branch's survey scenario (``custom`` without one)."""
    return branch.survey_scenario or "custom"


def row(name: str) -> str:
    """The table row of a branch: its ``variant=`` value (the branch name without a variant)."""
    parts = dict(part.split("=", 1) for part in name.split(",") if "=" in part)
    return parts.get("variant", name)
