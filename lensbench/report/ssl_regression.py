"""Report blocks of the axion-mass regression of the ``ssl`` task (Deshmukh+23 sec. 3, Fig. 2):
the paper's statement, ours per row (RMSE and bias of log10 m_a, mean ± std over seeds, SSL
against the supervised baseline), predicted against simulated mass in the form of Fig. 2 and the
errors per bin of m_a.

Every function reads plain :class:`~lensbench.report.branch.BranchData`: ``results`` (the
``ssl_evaluate`` metrics ``log10_axion_mass_*``) and the ``regress`` / ``regress_supervised``
outputs (``truth.npy``, ``predicted_<seed>.npy``).
"""

from __future__ import annotations

import json
from itertools import pairwise

import numpy as np

from lensbench.report import ssl_figures as S
from lensbench.report.document import Figure, Notice, Paragraph, Table
from lensbench.report.ssl_cells import pm as _pm
from lensbench.report.ssl_cells import row as _row
from lensbench.report.ssl_cells import survey as _survey
from lensbench.ssl.compare import RESOLVING_SIGMAS, verdict
from lensbench.ssl.regression import TARGET, predictions_file

PAPER_STATEMENT = (
    "Paper (Deshmukh+23 sec. 3, Fig. 2, predicted against simulated mass; no numbers given): on Model A "
    "(hst) all self-supervised methods perform about the same and the supervised ResNet-50 baseline is "
    "noticeably worse, particularly for axion masses near 1e-23 eV; on Model B (euclid) the baseline is "
    "significantly worse, and contrastive learning with the Gaussian-noise pretext does noticeably worse than "
    "the other self-supervised methods, though still better than the baseline.")


def _m(b, key: str):
    return b.results["metrics"][f"{TARGET}_{key}"]


def _comparison(b) -> dict:
    resolved = _m(b, "rmse_reduction_resolved")
    return {"difference": _m(b, "rmse_reduction"), "error": _m(b, "rmse_reduction_error"),
            "resolved": None if resolved is None else bool(resolved)}


def _bin_names(edges) -> list[str]:
    return [f"[{lo:.1f}, {hi:.1f}{']' if i == len(edges) - 2 else ')'}" for i, (lo, hi) in enumerate(pairwise(edges))]


def summary_blocks(branches: dict) -> list:
    """The paper's statement, the per-row table and the verdict per survey."""
    rows = []
    for name, b in branches.items():
        rows.append((_row(name), _survey(b), _pm(_m(b, "rmse"), _m(b, "rmse_std")),
                     _pm(_m(b, "rmse_supervised"), _m(b, "rmse_supervised_std")), f'{_m(b, "rmse_mean_prediction"):.3f}',
                     _pm(_m(b, "rmse_reduction"), _m(b, "rmse_reduction_error")), verdict(_comparison(b)),
                     _pm(_m(b, "bias"), _m(b, "bias_std")), _pm(_m(b, "bias_supervised"), _m(b, "bias_supervised_std"))))
    seeds = sorted({len(_m(b, "rmse_seeds")) for b in branches.values()})
    images = sorted({sum(_m(b, "count_by_bin")) for b in branches.values()})
    table = Table(("row", "survey", "RMSE, SSL + fine-tune (dex)", "RMSE, supervised (dex)",
                   "RMSE, training mean (dex)", "supervised − SSL RMSE (dex)", "verdict", "bias, SSL + fine-tune (dex)",
                   "bias, supervised (dex)"), tuple(rows),
                  f"Regression of log10(m_a / eV) on the {'/'.join(map(str, images))} test vortex images: RMSE and mean "
                  f"bias (predicted − simulated), mean ± sample std over {'/'.join(map(str, seeds))} training seed(s), "
                  "of the pre-trained encoder fine-tuned with a one-output head and of the supervised baseline (same "
                  "head, augmentations and schedule, random weights); 'training mean': the RMSE of predicting the "
                  "training targets' mean for every image, a regressor that learnt nothing. 'SSL better' when the "
                  f"supervised RMSE exceeds the SSL RMSE by more than {RESOLVING_SIGMAS:g} standard errors.")
    blocks = [Paragraph(PAPER_STATEMENT), table, Paragraph(_verdicts(branches))]
    blind = [_row(name) for name, b in branches.items()
             if min(_m(b, "rmse"), _m(b, "rmse_supervised")) >= _m(b, "rmse_mean_prediction")]
    if blind:
        blocks.append(Notice(f"In {len(blind)} of {len(branches)} rows ({', '.join(blind)}) neither regressor beats "
                             "predicting the training mean for every image: their training is too short at this "
                             "scale for the SSL − supervised comparison to say anything about the paper's."))
    return blocks


def _verdicts(branches: dict) -> str:
    """Ours, per survey: in how many rows SSL beats the baseline beyond the seed spread."""
    by_survey: dict[str, list] = {}
    for b in branches.values():
        by_survey.setdefault(_survey(b), []).append(_comparison(b))
    parts = []
    for survey, comparisons in by_survey.items():
        better = sum(1 for c in comparisons if c["resolved"] and c["difference"] > 0)
        worse = sum(1 for c in comparisons if c["resolved"] and c["difference"] < 0)
        parts.append(f"{survey}: SSL + fine-tune has the lower RMSE beyond the seed spread in {better} of "
                     f"{len(comparisons)} rows, the supervised baseline in {worse}")
    return "Ours: " + "; ".join(parts) + "."


def figure_blocks(branches: dict) -> list:
    """Fig. 2 form (first seed) and the RMSE per bin of m_a, with its table."""
    panels, rmse, curves = {}, {}, {}
    for name, b in branches.items():
        ssl, supervised = b.outputs["regress"], b.outputs["regress_supervised"]
        seed = _first_seed(ssl)
        panels[name] = {"truth": np.load(ssl / "truth.npy"), "ssl": np.load(ssl / predictions_file(seed)),
                        "supervised": np.load(supervised / predictions_file(seed))}
        rmse[name] = {"ssl": _m(b, "rmse_seeds")[0], "supervised": _m(b, "rmse_supervised_seeds")[0]}
        curves[name] = {"ssl": _m(b, "rmse_by_bin"), "ssl_std": _m(b, "rmse_by_bin_std"),
                        "supervised": _m(b, "rmse_by_bin_supervised"), "supervised_std": _m(b, "rmse_by_bin_supervised_std"),
                        "mean_prediction": _m(b, "rmse_by_bin_mean_prediction")}
    edges = _m(next(iter(branches.values())), "bins")
    names = _bin_names(edges)
    rows = []
    for name, b in branches.items():
        for label, key in (("SSL + fine-tune", ""), ("supervised", "_supervised")):
            rows.append((_row(name), _survey(b), label,
                         *(_pm(m, s) for m, s in zip(_m(b, f"rmse_by_bin{key}"), _m(b, f"rmse_by_bin{key}_std")))))
    counts = _m(next(iter(branches.values())), "count_by_bin")
    return [Figure.from_matplotlib("ssl-axion-mass", S.mass_scatter(panels, rmse, (edges[0], edges[-1])),
                                   "Deshmukh+23 Fig. 2 form: predicted against simulated log10(m_a / eV) of the test "
                                   "vortex images, SSL + fine-tune (filled) and the supervised baseline (hollow), "
                                   "first training seed; dotted: y = x; the legend gives each one's RMSE (dex)."),
            Figure.from_matplotlib("ssl-axion-mass-bins", S.binned_rmse(curves, edges),
                                   "RMSE of log10 m_a per bin of simulated m_a: SSL + fine-tune (solid) and supervised "
                                   "(dashed), error bars one seed std; grey steps: predicting the training mean for "
                                   "every image (first row)."),
            Table(("row", "survey", "model", *[f"RMSE, log10 m_a in {n} (dex)" for n in names]), tuple(rows),
                  "RMSE of log10 m_a per bin of simulated log10(m_a / eV) over the prior's range, mean ± std over "
                  f"seeds; test vortex images per bin: {', '.join(map(str, counts))} (first row).")]


def _first_seed(folder) -> int:
    """The first training seed of a ``regress`` output."""
    return json.loads((folder / "regress.json").read_text())["runs"][0]["seed"]


def regression_blocks(branches: dict) -> list:
    """Every block of the axion-mass regression, for the branches that ran it (none otherwise)."""
    ran = {name: b for name, b in branches.items() if f"{TARGET}_rmse" in b.results["metrics"]}
    if not ran:
        return []
    return [*summary_blocks(ran), *figure_blocks(ran)]
