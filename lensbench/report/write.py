"""Write a report folder: ``report.md``, ``figures/*.png``, ``report.html``, ``metrics.json``.

Every file is written atomically: to a temporary file in the same folder, flushed to disk, then
moved over the old one with :func:`os.replace`, so a reader never sees half a file. Figures of an
earlier report that the new one no longer has are removed, so a rewritten report is whole.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath
from typing import Mapping

import numpy as np

from lensbench.io.atomic import write_atomic
from lensbench.report.document import Document
from lensbench.report.html import render_html
from lensbench.report.markdown import render_markdown
from lensbench.report.schema import validate_metrics

FIGURES_DIR_NAME = "figures"
PAGE_FILES = ("report.md", "report.html")
METRICS_FILE = "metrics.json"
INLINE_FIGURES_LIMIT = 140_000
"""Bytes of PNG up to which ``report.html`` embeds its figures (a page that stands alone); a
report with more links the files in ``figures/`` beside it, so the page stays light (a reference
report in the repository keeps every file under 200 KB)."""


def write_report(
    doc: Document,
    out_dir: str | os.PathLike,
    metrics: dict,
    extra_files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """Write a full report folder.

    Parameters
    ----------
    doc : Document
        The report, rendered to ``report.md`` (figures in ``figures/``) and ``report.html``.
    out_dir : path
        Folder to write into; created when missing.
    metrics : dict
        Every number of the report, following :mod:`lensbench.report.schema`; numpy scalars and
        arrays are converted to plain JSON. Written to ``metrics.json``.
    extra_files : mapping of str to str or bytes, optional
        More files by relative path, e.g. ``{"spec.resolved.toml": text}``; text is UTF-8.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ValueError
        When ``metrics`` breaks the schema (nothing is written then) or an extra file's path
        leaves ``out_dir`` or collides with a report file.
    """
    plain_metrics = to_json_compatible(metrics)
    validate_metrics(plain_metrics)
    metrics_text = json.dumps(plain_metrics, indent=2, allow_nan=False) + "\n"
    if METRICS_FILE in (extra_files or {}):
        raise ValueError(f"extra file {METRICS_FILE!r} would overwrite the metrics of the report")
    return write_document(doc, out_dir, {METRICS_FILE: metrics_text, **(extra_files or {})})


def write_document(
    doc: Document, out_dir: str | os.PathLike, extra_files: Mapping[str, str | bytes] | None = None,
) -> Path:
    """Write ``report.md``, ``figures/*.png`` and ``report.html`` of a document, plus extra files.

    ``report.html`` embeds the figures when they total at most :data:`INLINE_FIGURES_LIMIT`
    bytes, else links them. Figures are written first and the two pages last, so a page never
    links a missing figure;
    PNGs in ``figures/`` that the document does not have are removed at the end.

    Parameters
    ----------
    doc : Document
        The document.
    out_dir : path
        Folder to write into; created when missing.
    extra_files : mapping of str to str or bytes, optional
        More files by path relative to ``out_dir``; text is UTF-8.

    Returns
    -------
    Path
        ``out_dir``.

    Raises
    ------
    ValueError
        When an extra file's path leaves ``out_dir`` or collides with a page or a figure.
    """
    for relative_path in extra_files or {}:
        _check_extra_path(relative_path)
    out = Path(out_dir)
    markdown_text, figures = render_markdown(doc, FIGURES_DIR_NAME)
    linked = sum(map(len, figures.values())) > INLINE_FIGURES_LIMIT
    html_text = render_html(doc, figures_dir=FIGURES_DIR_NAME if linked else None)
    (out / FIGURES_DIR_NAME).mkdir(parents=True, exist_ok=True)
    for relative_path, content in {**figures, **(extra_files or {})}.items():
        write_atomic(out / relative_path, content)
    write_atomic(out / "report.md", markdown_text)
    write_atomic(out / "report.html", html_text)
    _remove_stale_figures(out / FIGURES_DIR_NAME, keep={Path(path).name for path in figures})
    return out


def _remove_stale_figures(figures_dir: Path, keep: set[str]) -> None:
    for stale in figures_dir.glob("*.png"):
        if stale.name not in keep:
            stale.unlink()


def _check_extra_path(relative_path: str) -> None:
    parts = PurePosixPath(relative_path).parts
    if not parts or PurePosixPath(relative_path).is_absolute() or ".." in parts or "\\" in relative_path:
        raise ValueError(f"extra file {relative_path!r} must be a relative path inside the report")
    if relative_path in PAGE_FILES or parts[0] == FIGURES_DIR_NAME:
        raise ValueError(f"extra file {relative_path!r} would overwrite a file of the report itself")


def to_json_compatible(value):
    """A copy of ``value`` made of plain JSON types: numpy scalars and arrays become numbers
    and lists, tuples become lists, non-finite floats stay (the schema check rejects them)."""
    if isinstance(value, Mapping):
        return {str(key): to_json_compatible(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_compatible(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_json_compatible(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value
