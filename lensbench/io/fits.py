"""Stream galaxy stamps out of FITS files for ``lensbench apply``.

Four readers, chosen by what a file holds rather than by its name (:data:`FITS_READERS`); the
first, by priority, whose ``claims`` test accepts the file reads it (:func:`reader_precedence`):

``realgalaxy_catalog``
    A GalSim RealGalaxyCatalog: a table with ``GAL_FILENAME`` and ``GAL_HDU`` columns (any case)
    whose rows name one stamp each, ``GAL_FILENAME`` relative to the catalogue's folder. The
    COSMOS 23.5 and 25.2 training samples use this layout (Mandelbaum et al. 2012, 2014).
``cube``
    One 3-D image HDU; every plane along the first (slowest) axis is a stamp.
``single``
    One 2-D image HDU.
``multi_hdu``
    Anything else with image HDUs: one stamp per HDU (a 3-D HDU gives its planes).

Stamps are images in the file's own units (COSMOS: counts/s for a 1 s exposure, 0.03 arcsec per
pixel); the readers do not rescale them beyond the file's own ``BSCALE``/``BZERO`` (integer images
are scaled by astropy, ``BLANK`` pixels become NaN). Files are read one HDU at a time, memory-mapped
where the format allows (plain, unscaled data), so memory stays bounded by one stamp (plus one
catalogue table) whatever the size of the input: the 4.4 GB COSMOS 25.2 sample streams. Whole-file
compression (``.fits.gz``, ``.bz2``, ``.xz``) is decompressed on the fly, and tile-compressed images
(fpack ``.fits.fz``, :class:`~astropy.io.fits.CompImageHDU`) are read as images.

Every file of the input is either read or named: anything that cannot be read (a missing or
non-FITS file, a symbolic-link loop, a truncated HDU, NaN pixels, a constant or all-zero image, ...)
is recorded as an :class:`InputProblem` in the caller's ``problems`` list, and iteration goes on
with the rest.

Why one module of ~700 lines: the four readers are small, but they share the file probe
(:func:`summarise_file`), the HDU streaming and the problem bookkeeping, and the registry asks
each reader's ``claims`` about those private summaries; split apart, every reader would import
those internals back.
"""

from __future__ import annotations

import glob
import itertools
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.io.fits import BinTableHDU, CompImageHDU
from astropy.io.fits.file import _File
from astropy.io.fits.hdu.base import _BaseHDU
from astropy.io.fits.hdu.table import _TableLikeHDU

from lensbench.registry import Registry

FITS_SIGNATURE = b"SIMPLE  ="
FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fz")
COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz", ".z", ".zip")
"""Whole-file compressions astropy decompresses while reading (``name.fits.gz`` and the like)."""
PROBE_HDUS = 4
CATALOGUE_IMAGE_COLUMNS = ("GAL_FILENAME", "PSF_FILENAME", "NOISE_FILENAME")


@dataclass(frozen=True)
class Stamp:
    """One galaxy image read from a FITS file.

    Parameters
    ----------
    identifier : str
        Catalogue ``IDENT`` for RealGalaxyCatalog rows, otherwise ``"<file stem>[<hdu>]"`` (and
        ``"[<plane>]"`` for a cube plane).
    file : str
        Path of the FITS file holding the pixels.
    hdu : int
        0-based HDU index of the image in ``file``.
    image : numpy.ndarray
        2-D float32 array in native byte order, pixel values in the file's units (COSMOS:
        counts/s, 0.03 arcsec per pixel); rows are the FITS ``NAXIS2`` axis.
    meta : dict
        Extra facts: ``plane`` for cube planes, the catalogue row's scalar columns (lower-case
        names, e.g. ``mag``, ``pixel_scale`` in arcsec, ``noise_variance``) for catalogue stamps.
    """

    identifier: str
    file: str
    hdu: int
    image: np.ndarray
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class InputProblem:
    """An input that could not be read, and why.

    Parameters
    ----------
    file : str
        The file, folder or pattern concerned.
    hdu : int or None
        0-based HDU index, or None when the problem is the whole file.
    reason : str
        What is wrong, in words a user can act on.
    """

    file: str
    hdu: int | None
    reason: str

    def __str__(self) -> str:
        where = self.file if self.hdu is None else f"{self.file} [HDU {self.hdu}]"
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class HduSummary:
    """What one HDU holds, read from its header alone.

    Parameters
    ----------
    index : int
        0-based HDU index.
    is_table : bool
        True for binary and ASCII tables.
    shape : tuple of int
        Image shape in numpy order (slowest axis first); ``()`` for an empty HDU or a table.
    columns : tuple of str
        Upper-case table column names (empty for images).
    """

    index: int
    is_table: bool
    shape: tuple[int, ...]
    columns: tuple[str, ...]

    @property
    def has_image(self) -> bool:
        """True when the HDU is an image with at least one pixel."""
        return not self.is_table and len(self.shape) > 0 and min(self.shape) > 0


@dataclass(frozen=True)
class FileSummary:
    """The first :data:`PROBE_HDUS` HDUs of a file, and whether that was all of them."""

    path: Path
    hdus: tuple[HduSummary, ...]
    complete: bool

    @property
    def image_hdus(self) -> tuple[HduSummary, ...]:
        """The summarised HDUs that hold image pixels."""
        return tuple(hdu for hdu in self.hdus if hdu.has_image)


@dataclass(frozen=True)
class FitsReader:
    """A way of turning one kind of FITS file into stamps.

    Parameters
    ----------
    name : str
        Registry name.
    claims : callable
        ``claims(summary: FileSummary) -> bool``: whether this reader handles the file.
    read : callable
        ``read(summary: FileSummary, problems: list) -> Iterator[Stamp]``.
    priority : int
        Readers with a higher priority are asked first; a catch-all reader has the lowest.
    """

    name: str
    claims: Callable[[FileSummary], bool]
    read: Callable[[FileSummary, list], Iterator[Stamp]]
    priority: int


FITS_READERS: Registry[FitsReader] = Registry("FITS reader")


class _FileUnreadable(Exception):
    """Raised inside a reader when the rest of a file cannot be read (truncated or corrupt)."""

    def __init__(self, hdu: int | None, reason: str):
        super().__init__(reason)
        self.hdu = hdu
        self.reason = reason


def register_reader(name: str, claims: Callable[[FileSummary], bool], *, priority: int):
    """Decorator registering a ``read`` function in :data:`FITS_READERS` with its ``claims`` test
    and its ``priority`` (higher is asked first; see :func:`reader_precedence`)."""

    def add(read):
        FITS_READERS.register(name)(FitsReader(name, claims, read, priority))
        return read

    return add


def reader_precedence() -> list[str]:
    """Names of the registered readers in the order they are asked: highest priority first, ties
    by name."""
    readers = [FITS_READERS.get(name) for name in FITS_READERS.names()]
    return [reader.name for reader in sorted(readers, key=lambda reader: -reader.priority)]


# ---------------------------------------------------------------------------------------------
# Low-level streaming over the HDUs of one file


def _summarise(index: int, hdu) -> HduSummary:
    """Summarise ``hdu`` from its header, without touching its data."""
    header = hdu.header
    if isinstance(hdu, _TableLikeHDU):
        names = tuple(str(header.get(f"TTYPE{i}", "")).strip().upper()
                      for i in range(1, int(header.get("TFIELDS", 0)) + 1))
        return HduSummary(index, True, (), names)
    naxis = int(header.get("NAXIS", 0))
    shape = tuple(int(header.get(f"NAXIS{axis}", 0)) for axis in range(naxis, 0, -1))
    return HduSummary(index, False, shape, ())


def _stream_hdus(path: Path) -> Iterator[tuple[int, object]]:
    """Yield ``(index, hdu)`` for each HDU of ``path``, one at a time, data memory-mapped.

    Uses astropy's own per-HDU reader (the one ``fits.open`` calls internally) so that no list of
    earlier HDUs is kept: memory stays at one header plus one stamp. As ``fits.open`` does, a
    tile-compressed image (a binary table with ``ZIMAGE = T``) is returned as a
    :class:`~astropy.io.fits.CompImageHDU`, and memory maps are used where possible but scaled
    (``BSCALE``/``BZERO``/``BLANK``) data are read into memory (``memmap=None``; ``memmap=True``
    refuses them). Raises :class:`_FileUnreadable` when a header cannot be parsed.
    """
    handle = _File(str(path), mode="readonly", memmap=None)
    try:
        for index in itertools.count():
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    hdu = _BaseHDU.readfrom(handle)
                    if isinstance(hdu, BinTableHDU) and CompImageHDU.match_header(hdu.header):
                        hdu = CompImageHDU(bintable=hdu)
            except EOFError as error:
                if not str(error):  # astropy's plain end of file
                    return
                # a compressed stream that stops short ("Compressed file ended before ...")
                raise _FileUnreadable(index or None, f"truncated compressed file ({error})") from None
            except (OSError, ValueError, KeyError) as error:
                if index == 0:
                    raise _FileUnreadable(None, f"not a readable FITS file ({error})") from None
                raise _FileUnreadable(index, f"corrupt or truncated header ({error})") from None
            yield index, hdu
            # reading the data of a stream (gzip) moves the position: go to this HDU's end
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "may have been truncated": found by _pixels
                handle.seek(hdu._data_offset + hdu._data_size)
    finally:
        handle.close()


def summarise_file(path: Path) -> FileSummary:
    """Summarise the first :data:`PROBE_HDUS` HDUs of ``path`` from their headers.

    Raises
    ------
    _FileUnreadable
        When the first header cannot be read (not FITS, empty, corrupt).
    """
    summaries = []
    hdus = _stream_hdus(path)
    try:
        for index, hdu in hdus:
            if index == PROBE_HDUS:
                return FileSummary(path, tuple(summaries), complete=False)
            summaries.append(_summarise(index, hdu))
    except _FileUnreadable:
        if not summaries:
            raise
        return FileSummary(path, tuple(summaries), complete=False)
    finally:
        hdus.close()
    if not summaries:
        raise _FileUnreadable(None, "empty file: no FITS header")
    return FileSummary(path, tuple(summaries), complete=True)


def _pixels(path: Path, index: int, hdu) -> np.ndarray:
    """The pixels of image ``hdu`` as a native-endian float32 array (one copy, one HDU), scaled
    by the HDU's ``BSCALE``/``BZERO`` and decompressed as need be.

    Raises :class:`_FileUnreadable` when the data run past the end of the file or cannot be
    decoded (a truncated compressed stream, a corrupt tile).
    """
    available = path.stat().st_size
    if not available:
        raise _FileUnreadable(index, "empty file")
    if not isinstance(hdu, CompImageHDU) and hdu._file.compression is None:
        needed = hdu._data_offset + hdu.size
        if needed > available:
            raise _FileUnreadable(index, f"truncated: the data of this HDU need {needed} bytes, "
                                         f"the file has {available}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.array(hdu.data, dtype=np.float32)
    except (OSError, EOFError, ValueError, TypeError) as error:
        raise _FileUnreadable(index, f"truncated or corrupt data ({error})") from None


def _planes(path: Path, index: int, hdu, summary: HduSummary,
            problems: list) -> Iterator[tuple[int | None, np.ndarray]]:
    """Yield ``(plane, image)`` for the 2-D images in one image HDU; report what is not one."""
    ndim = len(summary.shape)
    if summary.is_table:
        problems.append(InputProblem(str(path), index, "a table, not an image"))
    elif not summary.has_image:
        if index > 0 or ndim > 0:
            problems.append(InputProblem(str(path), index, "empty HDU: no pixels (NAXIS="
                                         f"{ndim}, shape {summary.shape})"))
    elif ndim == 2:
        yield None, _pixels(path, index, hdu)
    elif ndim == 3:
        cube = _pixels(path, index, hdu)
        for plane in range(cube.shape[0]):
            yield plane, cube[plane]
    else:
        problems.append(InputProblem(str(path), index, f"a {ndim}-D array of shape "
                                     f"{summary.shape}; need a 2-D image or a 3-D cube"))


def _usable_or_report(stamp: Stamp, problems: list) -> Stamp | None:
    """Return ``stamp`` when its pixels are finite and not all equal, otherwise report it (an
    all-zero or constant image holds no galaxy to score) and return None."""
    bad = int(np.count_nonzero(~np.isfinite(stamp.image)))
    if bad:
        reason = f"{bad} of {stamp.image.size} pixels are NaN or infinite"
    elif stamp.image.min() == stamp.image.max():
        value = float(stamp.image.flat[0])
        reason = ("all pixels are zero" if value == 0 else f"constant image (every pixel is "
                  f"{value:g})") + ": no signal to score"
    else:
        return stamp
    plane = f" plane {stamp.meta['plane']}" if "plane" in stamp.meta else ""
    problems.append(InputProblem(stamp.file, stamp.hdu, f"{stamp.identifier}{plane}: {reason}"))
    return None


def _stem(path: Path) -> str:
    """The file name without its last suffix, and without a compression one before it
    (``a.fits`` and ``a.fits.gz`` and ``a.fits.fz`` -> ``a``)."""
    if path.suffix.lower() in (*COMPRESSION_SUFFIXES, ".fz"):
        path = path.with_suffix("")
    return path.stem


def _image_stamps(summary: FileSummary, problems: list) -> Iterator[Stamp]:
    """Yield one stamp per 2-D image (HDU or cube plane) of a file, in HDU order."""
    path = summary.path
    stem = _stem(path)
    for index, hdu in _stream_hdus(path):
        for plane, image in _planes(path, index, hdu, _summarise(index, hdu), problems):
            name = f"{stem}[{index}]" if plane is None else f"{stem}[{index}][{plane}]"
            meta = {} if plane is None else {"plane": plane}
            stamp = _usable_or_report(Stamp(name, str(path), index, image, meta), problems)
            if stamp is not None:
                yield stamp


# ---------------------------------------------------------------------------------------------
# Image readers


def _only_image(summary: FileSummary) -> HduSummary | None:
    """The single image HDU of a fully summarised file, or None."""
    images = summary.image_hdus
    return images[0] if summary.complete and len(images) == 1 else None


def _claims_cube(summary: FileSummary) -> bool:
    only = _only_image(summary)
    return only is not None and len(only.shape) == 3


def _claims_single(summary: FileSummary) -> bool:
    only = _only_image(summary)
    return only is not None and len(only.shape) == 2


def _claims_any_image_hdu(summary: FileSummary) -> bool:
    return not summary.complete or bool(summary.image_hdus)


@register_reader("cube", _claims_cube, priority=20)
def read_cube(summary: FileSummary, problems: list) -> Iterator[Stamp]:
    """Stamps from a file whose only image is a 3-D cube: one per plane (first numpy axis)."""
    yield from _image_stamps(summary, problems)


@register_reader("single", _claims_single, priority=20)
def read_single(summary: FileSummary, problems: list) -> Iterator[Stamp]:
    """The one stamp of a file holding a single 2-D image."""
    yield from _image_stamps(summary, problems)


@register_reader("multi_hdu", _claims_any_image_hdu, priority=0)
def read_multi_hdu(summary: FileSummary, problems: list) -> Iterator[Stamp]:
    """Stamps from a file with one image per HDU; empty extensions and 1-D arrays reported."""
    yield from _image_stamps(summary, problems)


# ---------------------------------------------------------------------------------------------
# GalSim RealGalaxyCatalog


def _catalogue_hdu(summary: FileSummary) -> HduSummary | None:
    """The table HDU holding GAL_FILENAME and GAL_HDU columns (any case), if any."""
    for hdu in summary.hdus:
        if hdu.is_table and {"GAL_FILENAME", "GAL_HDU"} <= set(hdu.columns):
            return hdu
    return None


def _claims_catalogue(summary: FileSummary) -> bool:
    return _catalogue_hdu(summary) is not None


def _catalogue_table(summary: FileSummary) -> dict[str, np.ndarray]:
    """The catalogue columns as native-endian arrays, keyed by upper-case column name."""
    table_hdu = _catalogue_hdu(summary)
    with fits.open(summary.path, memmap=True) as hdul:
        data = hdul[table_hdu.index].data
        names = [name.upper() for name in data.columns.names]
        columns = {upper: np.asarray(data.field(name)) for upper, name in
                   zip(names, data.columns.names)}
    return {name: column.astype(column.dtype.newbyteorder("="))
            for name, column in columns.items()}


def _resolve(catalogue: Path, name) -> Path:
    """Path of a file named in the catalogue, relative to the catalogue's folder."""
    text = name.decode() if isinstance(name, bytes) else str(name)
    return (catalogue.parent / text.strip()).resolve()


def referenced_files(summary: FileSummary) -> set[Path]:
    """Image, PSF and noise files a RealGalaxyCatalog names (resolved paths).

    They are read through the catalogue, so :func:`iter_stamps` does not read them again when a
    folder or pattern also lists them.
    """
    columns = _catalogue_table(summary)
    return {_resolve(summary.path, name) for key in CATALOGUE_IMAGE_COLUMNS if key in columns
            for name in np.unique(columns[key])}


def _python_scalar(value):
    """A JSON-friendly Python value for one catalogue cell."""
    if isinstance(value, bytes):
        return value.decode(errors="replace").strip()
    if isinstance(value, str):
        return value.strip()
    return value.item() if hasattr(value, "item") else value


def _row_meta(columns: dict, row: int, catalogue: Path) -> dict:
    """The scalar columns of catalogue row ``row`` under lower-case names, plus where it came from."""
    meta = {"catalogue": str(catalogue), "row": row}
    for name, column in columns.items():
        if column.ndim == 1:
            meta[name.lower()] = _python_scalar(column[row])
    return meta


def _rows_by_file(columns: dict, catalogue: Path) -> dict[Path, list[int]]:
    """Row indices grouped by resolved image file (first-appearance order), sorted by GAL_HDU."""
    groups: dict[Path, list[int]] = {}
    for row, name in enumerate(columns["GAL_FILENAME"]):
        groups.setdefault(_resolve(catalogue, name), []).append(row)
    hdus = columns["GAL_HDU"]
    return {path: sorted(rows, key=lambda row: int(hdus[row])) for path, rows in groups.items()}


def _catalogue_stamps_in_file(image_file: Path, rows: list[int], columns: dict,
                              catalogue: Path, problems: list) -> Iterator[Stamp]:
    """Stream the stamps the catalogue ``rows`` name in ``image_file``, walking it once."""
    wanted: dict[int, list[int]] = {}
    for row in rows:
        wanted.setdefault(int(columns["GAL_HDU"][row]), []).append(row)
    last_index = -1
    for index, hdu in _stream_hdus(image_file):
        last_index = index
        if index not in wanted:
            continue
        planes = list(_planes(image_file, index, hdu, _summarise(index, hdu), problems))
        for row in wanted.pop(index):
            yield from _catalogue_row_stamps(planes, image_file, index, row, columns,
                                             catalogue, problems)
        if not wanted:
            return
    for index, lost_rows in sorted(wanted.items()):
        idents = ", ".join(str(_identifier(columns, row)) for row in lost_rows)
        problems.append(InputProblem(str(catalogue), None, f"GAL_HDU {index} for IDENT "
                                     f"{idents} does not exist: {image_file.name} has "
                                     f"{last_index + 1} HDUs (0-{last_index})"))


def _catalogue_row_stamps(planes, image_file, index, row, columns, catalogue,
                          problems) -> Iterator[Stamp]:
    """Stamps for one catalogue row from the 2-D image(s) found in its HDU."""
    for plane, image in planes:
        meta = _row_meta(columns, row, catalogue)
        if plane is not None:
            meta["plane"] = plane
        stamp = Stamp(_identifier(columns, row), str(image_file), index, image, meta)
        stamp = _usable_or_report(stamp, problems)
        if stamp is not None:
            yield stamp


def _identifier(columns: dict, row: int) -> str:
    """IDENT of a catalogue row, or ``row<k>`` when the catalogue has no IDENT column."""
    return str(_python_scalar(columns["IDENT"][row])) if "IDENT" in columns else f"row{row}"


@register_reader("realgalaxy_catalog", _claims_catalogue, priority=30)
def read_realgalaxy_catalog(summary: FileSummary, problems: list) -> Iterator[Stamp]:
    """Stamps named by a GalSim RealGalaxyCatalog, one per row, identifier = IDENT.

    Rows are grouped by image file and sorted by GAL_HDU so every image file is walked once,
    forwards. A missing image file, a negative GAL_HDU or one past the end of its file is
    reported with the IDENTs concerned.
    """
    columns = _catalogue_table(summary)
    for image_file, rows in _rows_by_file(columns, summary.path).items():
        negative = {row for row in rows if int(columns["GAL_HDU"][row]) < 0}
        for row in sorted(negative):
            problems.append(InputProblem(str(summary.path), None, f"IDENT "
                            f"{_identifier(columns, row)} has negative GAL_HDU "
                            f"{int(columns['GAL_HDU'][row])}"))
        rows = [row for row in rows if row not in negative]
        if not image_file.is_file():
            problems.append(InputProblem(str(image_file), None, f"image file named by catalogue "
                                         f"{summary.path.name} ({len(rows)} rows) not found"))
            continue
        try:
            yield from _catalogue_stamps_in_file(image_file, rows, columns, summary.path,
                                                 problems)
        except _FileUnreadable as error:
            problems.append(InputProblem(str(image_file), error.hdu, error.reason))


# ---------------------------------------------------------------------------------------------
# Inputs: files, folders, glob patterns


def _looks_like_fits(path: Path) -> bool:
    """True for a FITS file name (``.fits``, ``.fits.gz``, ``.fits.fz``, ...) or a file starting
    with the FITS signature."""
    suffixes = [suffix.lower() for suffix in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in COMPRESSION_SUFFIXES:
        suffixes.pop()
    if suffixes and suffixes[-1] in FITS_SUFFIXES:
        return True
    with open(path, "rb") as handle:
        return handle.read(len(FITS_SIGNATURE)) == FITS_SIGNATURE


def _broken_link(path: Path) -> str | None:
    """Why ``path``, a symbolic link, leads nowhere (a loop, or a missing target), or None."""
    if not path.is_symlink():
        return None
    try:
        path.resolve(strict=True)
    except RuntimeError:
        return "symbolic link loop: the link leads back to itself"
    except FileNotFoundError:
        return f"broken symbolic link to {path.readlink()} (no such file)"
    except OSError as error:  # ELOOP on some platforms
        return f"symbolic link cannot be followed ({error.strerror})"
    return None


def _folder_files(folder: Path, problems: list) -> list[Path]:
    """The FITS files of ``folder`` (sorted; sub-folders are not searched); every other file in
    it (broken link, link loop, unreadable or non-FITS file) is named in ``problems``."""
    files = []
    for child in sorted(folder.iterdir()):
        broken = _broken_link(child)
        if broken is not None:
            problems.append(InputProblem(str(child), None, broken))
        elif child.is_file():
            try:
                if _looks_like_fits(child):
                    files.append(child)
                else:
                    problems.append(InputProblem(str(child), None, "not a FITS file (no FITS "
                                                 "name or signature): skipped"))
            except OSError as error:
                problems.append(InputProblem(str(child), None, f"cannot open: {error.strerror}"))
    return files


def _expand_one(item: str | Path, problems: list) -> list[Path]:
    """Files one input stands for: itself, a folder's FITS files, or a glob's matches (sorted)."""
    path = Path(item)
    broken = _broken_link(path)
    if broken is not None:
        problems.append(InputProblem(str(item), None, broken))
        return []
    if path.is_dir():
        return _folder_files(path, problems)
    if path.exists():
        return [path]
    if glob.has_magic(str(item)):
        matches = sorted(Path(match) for match in glob.glob(str(item), recursive=True))
        if not matches:
            problems.append(InputProblem(str(item), None, "no file matches this pattern"))
        return [file for match in matches for file in _expand_one(match, problems)]
    problems.append(InputProblem(str(item), None, "no such file or directory"))
    return []


def expand_inputs(inputs: Iterable[str | Path], problems: list) -> list[Path]:
    """Expand files, folders and glob patterns into a deterministic list of distinct files.

    Folders contribute their files (not sub-folders) with a FITS suffix (compressed or not) or
    the FITS signature; patterns may use ``**``. A missing path, a broken link or link loop, a
    pattern matching nothing, and a folder's non-FITS files are reported.
    """
    seen: set[Path] = set()
    files = []
    for item in inputs:
        for path in _expand_one(item, problems):
            resolved = path.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(path)
    return files


def choose_reader(summary: FileSummary) -> FitsReader | None:
    """The first reader in :func:`reader_precedence` that claims the file, or None."""
    for name in reader_precedence():
        reader = FITS_READERS.get(name)
        if reader.claims(summary):
            return reader
    return None


def _summaries(files: list[Path], problems: list) -> list[FileSummary]:
    """Summaries of the readable files; unreadable ones reported."""
    summaries = []
    for path in files:
        try:
            summaries.append(summarise_file(path))
        except _FileUnreadable as error:
            problems.append(InputProblem(str(path), error.hdu, error.reason))
        except OSError as error:
            problems.append(InputProblem(str(path), None, f"cannot open: {error.strerror}"))
    return summaries


def iter_stamps(inputs: Iterable[str | Path], *, problems: list) -> Iterator[Stamp]:
    """Yield every readable stamp in ``inputs``, streaming, in a deterministic order.

    Parameters
    ----------
    inputs : iterable of str or Path
        FITS files, folders (their FITS files) and glob patterns, in any mix.
    problems : list
        Receives one :class:`InputProblem` per input that could not be read (missing file,
        symbolic-link loop, non-FITS file in a folder, truncated or corrupt FITS, empty HDU, NaN
        or infinite pixels, an all-zero or constant image, 1-D or 4-D arrays, catalogue rows
        naming a missing file or HDU); iteration carries on with the rest. Every file of the
        input thus either yields stamps or is named here.

    Yields
    ------
    Stamp
        Native-endian float32 2-D images in the files' own units (COSMOS: counts/s at 0.03
        arcsec per pixel). Files named by a RealGalaxyCatalog among the inputs (images, PSFs,
        noise) are read through that catalogue only, never as stand-alone images.
    """
    summaries = _summaries(expand_inputs(inputs, problems), problems)
    catalogue_files = set()
    for summary in summaries:
        if _claims_catalogue(summary):
            catalogue_files |= referenced_files(summary)
    for summary in summaries:
        if summary.path.resolve() in catalogue_files:
            continue
        reader = choose_reader(summary)
        if reader is None:
            problems.append(InputProblem(str(summary.path), None, "no image data in any HDU, and "
                                         "not a catalogue with GAL_FILENAME/GAL_HDU columns"))
            continue
        try:
            yield from reader.read(summary, problems)
        except _FileUnreadable as error:
            problems.append(InputProblem(str(summary.path), error.hdu, error.reason))
