"""Paths built from spec text stay inside the folder they are meant for.

A spec's strings (grid values, variant names, preset names, titles) become folder names in a
report (``models/<branch>/``, ``apply-<branch>/``). :func:`safe_component` maps any text to one
readable path component that cannot climb out of its folder, and :func:`inside` joins components
below a root and refuses a result that lies outside it (a last line of defence).

>>> safe_component("architecture=cnn,lr=0.001")
'architecture=cnn,lr=0.001'
>>> safe_component("title=../../tmp/evil")[:20]
'title=.._.._tmp_evil'
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

MAX_COMPONENT_BYTES = 120
"""Longest component :func:`safe_component` returns, in UTF-8 bytes (file systems allow 255)."""

_ALLOWED = re.compile(r"[^A-Za-z0-9._=,+\-]+")
_HASH_CHARS = 10


def safe_component(text: str, max_bytes: int = MAX_COMPONENT_BYTES) -> str:
    """One path component standing for ``text``: the same text always gives the same name.

    Letters, digits and ``. _ = , + -`` are kept; every other run of characters (``/``, ``\\``,
    NUL, spaces, non-ASCII) becomes ``_``; leading dots are dropped, so the result is never
    ``.``, ``..`` or hidden. Text that had to change, or is longer than ``max_bytes``, gets
    ``-`` and the first 10 hex digits of its sha256 appended (after truncation), so two
    different texts never share a name.

    Parameters
    ----------
    text : str
        Any text (a branch name such as ``architecture=cnn,lr=0.001``).
    max_bytes : int
        Longest result in bytes (ASCII, so also in characters); at least 16.

    Returns
    -------
    str
        A non-empty ASCII name, safe as one component on POSIX and Windows.
    """
    text = str(text)
    cleaned = _ALLOWED.sub("_", text).lstrip(".")
    if cleaned == text and 0 < len(cleaned) <= max_bytes:
        return cleaned
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    stem = cleaned[: max(0, max_bytes - _HASH_CHARS - 1)].rstrip(".")
    return f"{stem}-{digest}" if stem else digest


def inside(root: Path, *parts: str) -> Path:
    """``root / part / ...`` after checking that the result lies inside ``root``.

    Each part must already be a single component (use :func:`safe_component` for spec text).

    Raises
    ------
    ValueError
        When a part is not one plain component, or the joined path resolves (symbolic links
        followed) outside ``root``.
    """
    for part in parts:
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part or os.sep in part:
            raise ValueError(f"{part!r} is not a single path component")
    path = Path(root).joinpath(*parts)
    base = Path(root).resolve()
    if not path.resolve().is_relative_to(base):
        raise ValueError(f"{path} lies outside {root}")
    return path


def input_root(inputs) -> Path:
    """The deepest folder holding every input: a folder input itself, a file's or a glob
    pattern's parent (the part before its first wildcard)."""
    folders = []
    for item in map(str, inputs):
        literal = Path(re.split(r"[*?\[]", item, maxsplit=1)[0]) if re.search(r"[*?\[]", item) else Path(item)
        folders.append(str((literal if literal.is_dir() else literal.parent).resolve()))
    return Path(os.path.commonpath(folders)) if folders else Path.cwd()


def relative_to(path: str, root: Path) -> str:
    """``path`` relative to ``root`` when it lies inside it, else unchanged."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(path)
