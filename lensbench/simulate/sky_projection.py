"""How a HEALPix data map becomes the network's input: three representations, and what each keeps.

Every representation is a linear map P from the npix values of a map (RING order) to the H x W
pixels of an image, applied to each channel (u_l, u_b) alike (:func:`projection_matrix`):

* ``"nearest"``: a full-sky Cartesian (equal-angle) image whose pixels take the value of the
  HEALPix pixel containing their centre (healpy's ``CartesianProj``). Columns run from l = 180 deg
  (left) through 0 to -180 deg (right); row 0 is the southernmost. At 64 x 128 from nside 32 it
  samples 6,777 of the 12,288 data pixels: the rest never reach the network.
* ``"area_weighted"``: a full-sky cylindrical *equal-area* image (columns equal steps in l as
  above, rows equal steps in sin b from -1 to 1, so every image pixel covers 4 pi / (H W) sr),
  each image pixel the area-weighted mean of the data pixels it overlaps. The overlap areas are
  counted on sub-pixels: every data pixel is split into 4^:data:`SUBPIXEL_LEVELS` equal-area
  HEALPix sub-pixels, each assigned to the image pixel containing its centre. Every data pixel
  reaches the image; at 80 x 160 from nside 32 the map P is injective (no signal is lost).
* ``"healpix_faces"``: no projection. The NESTED map cut into its 12 base faces of nside x nside
  pixels, stacked along the rows: an image of 12 nside x nside pixels, face f in rows
  f nside .. (f + 1) nside - 1, pixel (x, y) of a face (healpy's ``pix2xyf``) at column x, row
  f nside + y. A permutation of the map: lossless.

:func:`kept_power_fraction` measures what an input keeps: for white noise of variance sigma^2 per
data pixel, the best detector of a known signal s working on the image P d reaches a squared
signal-to-noise of s^T P^T (P P^T)^+ P s / sigma^2 = |Pi s|^2 / sigma^2, Pi the orthogonal
projector onto the row space of P; on the sphere it is |s|^2 / sigma^2. Their ratio is the
fraction of the signal power the image keeps (1 for an injective P).
"""

from __future__ import annotations

import functools

import healpy as hp
import numpy as np
import scipy.sparse as sparse
from scipy.sparse.linalg import splu

PROJECTIONS = ("nearest", "area_weighted", "healpix_faces")

#: Each data pixel is split into 4**SUBPIXEL_LEVELS sub-pixels to count overlap areas ("area_weighted").
SUBPIXEL_LEVELS = 3

#: Relative Tikhonov shift of P^T P in :func:`kept_power_fraction`: directions of the map whose
#: eigenvalue of P^T P is below this fraction of the mean diagonal count as lost.
_RIDGE = 1e-9


def input_shape(projection: str, nside: int, height: int, width: int) -> tuple[int, int]:
    """(H, W) of the network input: (height, width), or (12 nside, nside) for ``"healpix_faces"``."""
    _check(projection)
    return (12 * nside, nside) if projection == "healpix_faces" else (height, width)


def _check(projection: str) -> None:
    if projection not in PROJECTIONS:
        raise ValueError(f"unknown projection '{projection}'; one of: {', '.join(PROJECTIONS)}")


def _image_index(longitude: np.ndarray, sin_latitude_or_latitude: np.ndarray, height: int, width: int,
                 equal_area: bool) -> np.ndarray:
    """Flat image index of sky points given by l [rad] and sin b (equal area) or b [rad] (equal angle)."""
    wrapped = np.mod(longitude + np.pi, 2 * np.pi) - np.pi  # (-pi, pi]
    column = np.clip(np.floor((np.pi - wrapped) / (2 * np.pi) * width), 0, width - 1).astype(np.int64)
    if equal_area:
        y = (sin_latitude_or_latitude + 1.0) / 2.0
    else:
        y = (sin_latitude_or_latitude + np.pi / 2) / np.pi
    row = np.clip(np.floor(y * height), 0, height - 1).astype(np.int64)
    return row * width + column


@functools.lru_cache(maxsize=8)
def _faces_ring_index(nside: int) -> np.ndarray:
    """(12 nside, nside) RING pixel at each position of the face layout (cached; read-only)."""
    face, y, x = np.meshgrid(np.arange(12), np.arange(nside), np.arange(nside), indexing="ij")
    nested = hp.xyf2pix(nside, x.ravel(), y.ravel(), face.ravel(), nest=True)
    index = hp.nest2ring(nside, nested).reshape(12 * nside, nside)
    index.flags.writeable = False
    return index


@functools.lru_cache(maxsize=8)
def projection_matrix(projection: str, nside: int, height: int, width: int) -> sparse.csr_matrix:
    """The linear map P from a RING map (npix,) to the flattened image (H W,) of ``projection``.

    Rows sum to 1 (each image pixel is a weighted mean of data pixels). For ``"healpix_faces"``
    ``height`` and ``width`` are ignored (see :func:`input_shape`). Cached; read-only.

    Returns
    -------
    scipy.sparse.csr_matrix
        (H W, 12 nside^2) float64.
    """
    _check(projection)
    npix = hp.nside2npix(nside)
    if projection == "healpix_faces":
        rows = np.arange(npix)
        columns = _faces_ring_index(nside).ravel()
        shape = (npix, npix)
    elif projection == "nearest":
        projector = hp.projector.CartesianProj(xsize=width, ysize=height)
        index = projector.projmap(np.arange(npix, dtype=np.float64), lambda x, y, z: hp.vec2pix(nside, x, y, z))
        rows, columns, shape = np.arange(height * width), index.astype(np.int64).ravel(), (height * width, npix)
    else:
        fine = nside * 2**SUBPIXEL_LEVELS
        theta, phi = hp.pix2ang(fine, np.arange(hp.nside2npix(fine)), nest=True)
        rows = _image_index(phi, np.cos(theta), height, width, equal_area=True)
        columns = hp.nest2ring(nside, np.arange(hp.nside2npix(fine)) // 4**SUBPIXEL_LEVELS)
        # an image pixel too small to hold a sub-pixel centre (only for images far finer than the
        # sub-pixels) takes the data pixel at its centre
        empty = np.setdiff1d(np.arange(height * width), rows)
        if len(empty):
            centres = pixel_directions("area_weighted", nside, height, width).reshape(-1, 3)[empty]
            rows = np.concatenate([rows, empty])
            columns = np.concatenate([columns, hp.vec2pix(nside, *centres.T)])
        shape = (height * width, npix)
    counts = sparse.csr_matrix((np.ones(len(rows)), (rows, columns)), shape=shape)
    matrix = sparse.diags(1.0 / np.asarray(counts.sum(axis=1)).ravel()) @ counts
    return matrix.tocsr()


def project(maps: np.ndarray, projection: str, height: int, width: int) -> np.ndarray:
    """HEALPix maps (..., npix), RING order, as network images (..., H, W) of ``projection``.

    Units are those of ``maps``; the dtype is kept.
    """
    nside = hp.npix2nside(maps.shape[-1])
    shape = input_shape(projection, nside, height, width)
    if projection == "healpix_faces":
        return maps[..., _faces_ring_index(nside)]
    if projection == "nearest":  # a pure gather: exact values, no float64 round trip
        index = projection_matrix(projection, nside, height, width).indices
        return maps[..., index.reshape(shape)]
    flat = maps.reshape(-1, maps.shape[-1]).astype(np.float64)
    images = (projection_matrix(projection, nside, height, width) @ flat.T).T
    return images.reshape(maps.shape[:-1] + shape).astype(maps.dtype)


def pixel_directions(projection: str, nside: int, height: int, width: int) -> np.ndarray:
    """Unit vectors (Galactic frame) of the centre of every input pixel, (H, W, 3).

    ``"nearest"``: healpy's CartesianProj sampling points; ``"area_weighted"``: the centres of
    the equal-area cells (b = arcsin of the middle of each sin b step); ``"healpix_faces"``: the
    centres of the data pixels in the face layout.
    """
    _check(projection)
    if projection == "healpix_faces":
        index = _faces_ring_index(nside)
        return np.moveaxis(np.asarray(hp.pix2vec(nside, index.ravel())), 0, -1).reshape(index.shape + (3,))
    if projection == "nearest":
        projector = hp.projector.CartesianProj(xsize=width, ysize=height)
        x, y = projector.ij2xy()
        return np.moveaxis(np.asarray(projector.xy2vec(x, y)), 0, -1)
    sin_b = -1.0 + (2.0 * np.arange(height) + 1.0) / height
    longitude = np.pi - (np.arange(width) + 0.5) * 2 * np.pi / width
    latitude = np.arcsin(sin_b)[:, None]
    return np.stack(np.broadcast_arrays(np.cos(latitude) * np.cos(longitude), np.cos(latitude) * np.sin(longitude),
                                        np.sin(latitude)), axis=-1)


def coverage(projection: str, nside: int, height: int, width: int) -> np.ndarray:
    """(npix,) bool, RING: which data pixels reach the network input (have a non-zero weight)."""
    return projection_matrix(projection, nside, height, width).getnnz(axis=0) > 0


@functools.lru_cache(maxsize=4)
def _normal_factor(projection: str, nside: int, height: int, width: int):
    """P^T P and a sparse LU factorisation of P^T P + ridge I (:func:`kept_power_fraction`)."""
    matrix = projection_matrix(projection, nside, height, width)
    gram = (matrix.T @ matrix).tocsc()
    ridge = _RIDGE * float(gram.diagonal().mean())
    return gram, splu(gram + ridge * sparse.identity(gram.shape[0], format="csc"))


def kept_power_fraction(maps: np.ndarray, projection: str, height: int, width: int) -> np.ndarray:
    """Fraction of each map's signal power that its network input keeps (module docstring).

    |Pi s|^2 / |s|^2 summed over the channels, Pi the projector onto the row space of P, computed
    as s . (P^T P + ridge)^-1 P^T P s with a sparse LU factorisation.

    Parameters
    ----------
    maps : np.ndarray
        (n, C, npix) noise-free signal maps, RING order (any unit).

    Returns
    -------
    np.ndarray
        (n,) fractions in [0, 1] (NaN for an all-zero map).
    """
    nside = hp.npix2nside(maps.shape[-1])
    gram, factor = _normal_factor(projection, nside, height, width)
    flat = np.asarray(maps, dtype=np.float64).reshape(-1, maps.shape[-1])
    kept = np.einsum("ij,ij->i", flat, factor.solve(np.ascontiguousarray((gram @ flat.T))).T)
    total = np.einsum("ij,ij->i", flat, flat)
    kept, total = kept.reshape(maps.shape[:-1]).sum(axis=-1), total.reshape(maps.shape[:-1]).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.clip(kept / total, 0.0, 1.0)
