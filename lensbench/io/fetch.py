"""Download and unpack the public COSMOS real-galaxy training samples (``lensbench fetch cosmos``).

The samples are GalSim RealGalaxyCatalog tarballs on Zenodo record 3242143 (Mandelbaum et al.
2012, 2014), the same files GalSim's ``galsim_download_cosmos`` fetches: F814W < 23.5 (about
2.3 GB) and F814W < 25.2 (about 4.4 GB, the "4.4 GB FITS" Ko applies a CNN to).

The download is atomic and resumable: bytes go to ``<archive>.part``, an interrupted download
continues from there with an HTTP Range request, and the file is renamed into place only once
complete. It is verified before it is unpacked, against the md5 the Zenodo record publishes,
read from the record's API (:data:`RECORD_API`) before the download starts: lensbench copies no
digests of its own (the machine it was written on could not read the record, and a digest never
checked against the files would be worse than none). ``checksum`` overrides that:
``md5:<hex>`` or ``sha256:<hex>`` when the record cannot be reached, or ``none`` to accept the
archive unverified (its sha256 is then written next to it).
Unpacking refuses members that would land outside the destination folder (absolute paths,
``..``, links), happens in a staging folder renamed into place at the end, and is marked
complete by a file written last (``.<folder>.complete``): an interrupted unpack is never taken
for a finished one, and the next call unpacks again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from lensbench.errors import DataError, UsageError
from lensbench.io.atomic import write_atomic

ZENODO_RECORD = 3242143
RECORD_API = f"https://zenodo.org/api/records/{ZENODO_RECORD}"
"""The record's metadata (JSON): each file's ``key`` (name) and ``checksum`` (``md5:<hex>``)."""
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class CosmosSample:
    """One public COSMOS training sample.

    Parameters
    ----------
    name : str
        ``"23.5"`` or ``"25.2"``: the F814W (AB) magnitude limit.
    archive : str
        File name of the tarball.
    approximate_gb : float
        Download size in GB, to tell the user what to expect.
    """

    name: str
    archive: str
    approximate_gb: float

    @property
    def url(self) -> str:
        """Zenodo download URL of the tarball."""
        return f"https://zenodo.org/record/{ZENODO_RECORD}/files/{self.archive}"

    @property
    def folder(self) -> str:
        """Name of the folder the tarball unpacks into."""
        return self.archive.removesuffix(".tar.gz")


COSMOS_SAMPLES = {
    "23.5": CosmosSample("23.5", "COSMOS_23.5_training_sample.tar.gz", 2.3),
    "25.2": CosmosSample("25.2", "COSMOS_25.2_training_sample.tar.gz", 4.4),
}


UNVERIFIED = "none"
"""The ``checksum`` value that accepts a download without verifying it."""


def parse_checksum(text: str) -> tuple[str, str] | None:
    """Split ``"md5:<hex>"`` or ``"sha256:<hex>"`` into (algorithm, lower-case hex digest);
    None for ``"none"`` (no verification).

    Raises
    ------
    UsageError
        (exit 2) For anything else, a digest of the wrong length or with non-hex characters.
    """
    if text.strip().lower() == UNVERIFIED:
        return None
    algorithm, _, digest = text.partition(":")
    algorithm, digest = algorithm.strip().lower(), digest.strip().lower()
    length = {"md5": 32, "sha256": 64}.get(algorithm)
    if length is None or len(digest) != length or any(c not in "0123456789abcdef" for c in digest):
        raise UsageError(f"--checksum {text!r} must be 'md5:<32 hex digits>', 'sha256:<64 hex digits>' "
                         f"or '{UNVERIFIED}' (download unverified)")
    return algorithm, digest


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of ``path`` with ``algorithm`` (``"md5"`` or ``"sha256"``), read in chunks."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _open_from(url: str, offset: int):
    """Open ``url`` asking for bytes from ``offset`` on; returns (response, resumed: bool)."""
    request = urllib.request.Request(url)
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    response = urllib.request.urlopen(request, timeout=60)
    resumed = offset > 0 and getattr(response, "status", None) == 206
    return response, resumed


def download(url: str, target: Path, progress: bool = True) -> Path:
    """Download ``url`` to ``target`` through ``target.part``, resuming a partial download.

    Raises
    ------
    DataError
        When the URL cannot be reached (offline machine, DNS failure, HTTP error).
    """
    part = target.with_name(target.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    try:
        response, resumed = _open_from(url, offset)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DataError(url, f"cannot download ({reason}); is this machine online? Download "
                             f"it by hand and unpack it (see data/cosmos/README.md)") from None
    if not resumed:
        offset = 0
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length else None
    with response, open(part, "ab" if resumed else "wb") as out, \
            tqdm(total=total, initial=offset, unit="B", unit_scale=True,
                 desc=target.name, disable=not progress) as bar:
        for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
            out.write(chunk)
            bar.update(len(chunk))
    part.replace(target)
    return target


def _safe_members(archive: tarfile.TarFile, dest: Path) -> list[tarfile.TarInfo]:
    """Members of ``archive``, refusing any that would escape ``dest`` or are links/devices."""
    root = dest.resolve()
    members = archive.getmembers()
    for member in members:
        where = (root / member.name).resolve()
        if not where.is_relative_to(root):
            raise DataError(archive.name, f"unsafe path in archive: {member.name!r}")
        if not (member.isfile() or member.isdir()):
            raise DataError(archive.name, f"archive member {member.name!r} is not a plain "
                                          f"file or folder")
    return members


def unpack(archive_path: Path, dest: Path) -> None:
    """Unpack a .tar.gz into ``dest`` after checking every member path stays inside it."""
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            archive.extractall(dest, members=_safe_members(archive, dest), filter="data")
    except (tarfile.TarError, EOFError, OSError) as error:
        raise DataError(archive_path, f"cannot unpack: {error}") from None


def completion_marker(dest: Path, folder: str) -> Path:
    """The file whose presence says ``dest/folder`` was unpacked completely (written last)."""
    return Path(dest) / f".{folder}.complete"


def _unpack_into_place(archive: Path, dest: Path, folder: str) -> Path:
    """Unpack ``archive`` into a staging folder, move its ``folder`` to ``dest/folder`` (replacing
    an incomplete one), then write the completion marker."""
    staging = dest / f".{folder}.unpacking"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        unpack(archive, staging)
        if not (staging / folder).is_dir():
            raise DataError(archive, f"unpacked, but the expected folder {folder} is missing")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    target = dest / folder
    if target.exists():  # left by an interrupted unpack: it has no completion marker
        shutil.rmtree(target)
    os.replace(staging / folder, target)
    shutil.rmtree(staging, ignore_errors=True)
    files = sum(1 for item in target.rglob("*") if item.is_file())
    write_atomic(completion_marker(dest, folder), f"{archive.name}: {files} files unpacked\n")
    return target


def published_checksum(archive: str, record_url: str = RECORD_API) -> str:
    """The checksum the Zenodo record publishes for file ``archive`` (``"md5:<hex>"``).

    Reads the record's JSON (``files``: a list, or ``{"entries": [...]}`` in newer Zenodo
    releases, of ``{"key": name, "checksum": "md5:<hex>"}``).

    Raises
    ------
    DataError
        When the record cannot be read (offline) or does not list ``archive``; the message says
        how to give the checksum by hand.
    """
    hint = f"give --checksum md5:<hex> from https://zenodo.org/record/{ZENODO_RECORD}, or --checksum {UNVERIFIED}"
    try:
        with urllib.request.urlopen(record_url, timeout=30) as response:
            record = json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise DataError(record_url, f"cannot read the record's published checksums ({error}); {hint}") from None
    files = record.get("files", []) if isinstance(record, dict) else []
    entries = files.get("entries", []) if isinstance(files, dict) else files
    for entry in entries:
        if isinstance(entry, dict) and entry.get("key") == archive and isinstance(entry.get("checksum"), str):
            return entry["checksum"]
    raise DataError(record_url, f"the record lists no checksum for {archive}; {hint}")


def fetch_cosmos(sample: str, dest: Path, url: str | None = None, progress: bool = True,
                 checksum: str | None = None, record_url: str = RECORD_API) -> Path:
    """Download, verify and unpack one COSMOS real-galaxy training sample.

    Parameters
    ----------
    sample : str
        ``"23.5"`` or ``"25.2"`` (F814W magnitude limit).
    dest : Path
        Folder to put the tarball and the unpacked sample in (created if needed).
    url : str, optional
        Where to download from; default the Zenodo record 3242143 file. Any urllib URL works,
        ``file://`` included.
    progress : bool
        Show a tqdm progress bar (bytes).
    checksum : str, optional
        ``"md5:<hex>"``, ``"sha256:<hex>"``, or ``"none"`` to accept the archive unverified (its
        sha256 is written next to it, ``<archive>.sha256``, for the record). None: the checksum
        the record publishes (:func:`published_checksum`), read before downloading.
    record_url : str
        Where the record's metadata is read from (:data:`RECORD_API`; ``file://`` works).

    Returns
    -------
    Path
        The unpacked sample folder, e.g. ``dest/COSMOS_25.2_training_sample``.

    Raises
    ------
    UsageError
        (exit 2, before any download) An unknown sample, or a malformed checksum.
    DataError
        Offline or unreachable record or URL (before any download when it is the record),
        checksum mismatch, or an unsafe or corrupt archive.
    """
    if sample not in COSMOS_SAMPLES:
        raise UsageError(f"unknown COSMOS sample {sample!r}; one of: {', '.join(COSMOS_SAMPLES)}")
    info = COSMOS_SAMPLES[sample]
    dest = Path(dest)
    folder = dest / info.folder
    if folder.is_dir() and completion_marker(dest, info.folder).is_file():
        return folder
    expected = parse_checksum(checksum if checksum is not None else published_checksum(info.archive, record_url))
    dest.mkdir(parents=True, exist_ok=True)
    archive = dest / info.archive
    if not archive.exists():
        download(url or info.url, archive, progress=progress)
    _check(archive, expected)
    return _unpack_into_place(archive, dest, info.folder)


def _check(archive: Path, expected: tuple[str, str] | None) -> None:
    """Verify ``archive`` against (algorithm, digest), or record its sha256 when unverified."""
    if expected is None:
        write_atomic(archive.with_name(archive.name + ".sha256"),
                     f"{file_digest(archive, 'sha256')}  {archive.name}\n")
        return
    algorithm, digest = expected
    actual = file_digest(archive, algorithm)
    if actual != digest:
        bad = archive.with_name(archive.name + ".bad")
        shutil.move(archive, bad)
        raise DataError(archive, f"{algorithm} checksum {actual} does not match the expected "
                                 f"{digest}; the download was moved to {bad.name}")
