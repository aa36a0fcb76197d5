"""Atomic file writes: a file is either absent, the old version or the whole new version.

Every file lensbench writes (dataset shards, checkpoints, models, reports) goes through
:func:`write_atomic`, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import io
import json
import os
import secrets
from pathlib import Path
from typing import Any

import numpy as np

from lensbench.io.canonical import to_jsonable


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file in the same folder and ``os.replace``.

    Text is encoded as UTF-8; the data are flushed to disk before the rename. The file gets the
    usual permissions (0o666 less the umask); the temporary file is removed if anything fails.
    """
    path = Path(path)
    data = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def npy_bytes(array: np.ndarray) -> bytes:
    """``array`` in ``.npy`` format (no pickled objects), ready for :func:`write_atomic`."""
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def npz_bytes(arrays: dict[str, Any]) -> bytes:
    """A dict of arrays in ``.npz`` format (no pickled objects)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{name: np.asarray(value) for name, value in arrays.items()})
    return buffer.getvalue()


def write_json(path: Path, obj: Any) -> None:
    """Atomically write ``obj`` (dataclasses, numpy values and paths allowed) as indented JSON."""
    write_atomic(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=True) + "\n")
