"""What a finished run prints in the terminal: each branch's headline metrics beside the paper's.

Read from the run's ``metrics.json`` (schema :mod:`lensbench.report.schema`), with the metric
names of the reports (:func:`lensbench.report.compare.readable_metric`).
"""

from __future__ import annotations

import json
from pathlib import Path

from lensbench.metrics import headline_metrics
from lensbench.report.compare import readable_metric, scalar_metrics


def headline_lines(metrics_path: Path) -> list[str]:
    """One line per branch of a run's metrics.json: its main metric (the first of
    :func:`lensbench.metrics.headline_metrics` it has; R^2 per parameter for a regression), then
    every metric the paper gives for it, ours beside the paper's. Empty when there is no
    metrics.json (or no branch in it)."""
    if not metrics_path.is_file():
        return []
    metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    lines = ["results (ours; the paper's in parentheses):"]
    for branch, entry in metrics.get("branches", {}).items():
        ours, paper = scalar_metrics(entry), metrics.get("paper", {}).get(branch, {})
        main = next((name for name in headline_metrics() if name in ours), None)
        shown = ([main] if main and main not in paper else []) + list(paper)
        if not shown:  # a regression: R^2 of each parameter (1 is perfect, 0 no better than the mean)
            shown = [name for name in ours if name.partition("[")[0] == "r2"] or list(ours)[:3]
        parts = [f"{readable_metric(name, entry)} {_number(ours.get(name))}"
                 + (f" (paper {_number(paper[name])})" if name in paper else "") for name in shown]
        lines.append(f"  {branch}: " + "; ".join(parts))
    return lines if len(lines) > 1 else []


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)
