"""What a cache entry must hold, and whether it still does.

When an entry is committed, its ``meta.json`` gets ``files``: the size (bytes) and sha256 of
every other file of the entry, and ``checksum``: the sha256 of the rest of ``meta.json`` itself
(canonical JSON), so that an edited or truncated ``meta.json`` is caught like any other file.

:func:`entry_problem` checks an entry: ``meta.json`` readable and unchanged, every listed file
present with its size (cheap: one ``stat`` per file) and, with ``full``, its content hash. An
entry written before lensbench stored hashes has no ``files``: it cannot be told apart from a
damaged one, so it counts as bad and is recomputed (see :mod:`lensbench.cache`).
"""

from __future__ import annotations

import json
from pathlib import Path

from lensbench.io.canonical import canonical_json, sha256_of
from lensbench.io.fetch import file_digest

META = "meta.json"


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read in chunks."""
    return file_digest(path, "sha256")


def file_manifest(folder: Path) -> dict[str, dict]:
    """``{relative path: {"size": bytes, "sha256": hex}}`` of every file under ``folder`` but
    ``meta.json``, in sorted order."""
    folder = Path(folder)
    return {path.relative_to(folder).as_posix(): {"size": path.stat().st_size, "sha256": file_sha256(path)}
            for path in sorted(folder.rglob("*")) if path.is_file() and path.relative_to(folder).as_posix() != META}


def sealed_meta(meta: dict, folder: Path) -> dict:
    """``meta`` (as plain JSON) with the ``files`` manifest of ``folder`` and its own ``checksum``."""
    sealed = json.loads(canonical_json({**meta, "files": file_manifest(folder)}))
    sealed["checksum"] = sha256_of(sealed)
    return sealed


def read_meta(folder: Path) -> tuple[dict | None, str | None]:
    """``(meta, None)`` for an intact ``meta.json``; ``(None, problem)`` otherwise."""
    path = Path(folder) / META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None, f"{META} is missing"
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return None, f"{META} is not valid JSON ({err.__class__.__name__}: {err}; truncated?)"
    if not isinstance(meta, dict):
        return None, f"{META} is not a JSON object"
    if "files" not in meta or "checksum" not in meta:
        return None, f"{META} lists no file hashes (written by an older lensbench)"
    body = {k: v for k, v in meta.items() if k != "checksum"}
    if sha256_of(body) != meta["checksum"]:
        return None, f"{META} was changed after the entry was written (its checksum does not match)"
    return meta, None


def entry_problem(folder: Path, *, full: bool) -> str | None:
    """What is wrong with the finished entry in ``folder``, or None when it is intact.

    Parameters
    ----------
    folder : Path
        The entry.
    full : bool
        Also compare every file's sha256 (reads every byte); otherwise sizes only.
    """
    folder = Path(folder)
    meta, problem = read_meta(folder)
    if problem:
        return problem
    for name, expected in meta["files"].items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != expected["size"]:
            return f"{name} is {size} bytes, {expected['size']} when written (truncated or overwritten)"
    if full:
        for name, expected in meta["files"].items():
            if file_sha256(folder / name) != expected["sha256"]:
                return f"{name} has other content than when written (sha256 differs, same size)"
    return None
