"""Astrometric lensing maps of Milky-Way subhalos on HEALPix grids, and the quasar surveys that see them.

Two stages, because the signal does not depend on the survey (Vattis+21 sections II.C, III.A):

1. :func:`simulate_signal` draws a new subhalo population per map
   (:mod:`lensbench.simulate.milky_way`), computes the lensing field of every subhalo at one
   source per pixel centre of a HEALPix grid (``nside`` 128, sources at infinity with v_i = 0,
   each subhalo's effect cut at ``truncation_deg`` = 20 deg) and averages it onto the
   ``data_nside`` = 32 grid of the data: the 16 sub-pixel values of each data pixel are averaged
   as 3-D tangent vectors and projected onto the (l, b) basis at the data pixel's centre, i.e.
   the mean lensing of quasars spread uniformly over the pixel.
2. :func:`observe` turns a signal (or zero, for the negative class) into noisy data for one
   survey: quasar counts per pixel n_q ~ Poisson(N_q / 12 nside^2), each velocity component
   ~ Normal(signal, sigma_u / sqrt(n_q)) (the mean of n_q quasars). A pixel without quasars has
   no measurement; its value is 0 (what a velocity of unknown sign averages to). At Table I
   scenarios the mean count is >= 8138, so this never happens there. The maps become the CNNs'
   input (channels v_l, v_b) by the ``projection`` of :mod:`lensbench.simulate.sky_projection`.

The map engine tiles the fine grid into NESTED blocks (``[execution] block_nside``), keeps the
(subhalo, block) pairs whose block can reach within the truncation angle (searched band by band of
colatitude, each block's pairs consecutive), and evaluates all their pixels at once in float64
chunks, optionally (``[execution] compile``) as one compiled torch loop that also adds the values
into the map; these speed switches come from :class:`lensbench.execution.ExecutionConfig`. Pairs are
sorted by the smallest x = b / r_s their pixels can have: the velocity at x >= 5 (97 % of the
pairs) uses an arctangent-free series of the NFW cylinder mass; other pairs at x >= 1.05 the
x > 1 branch alone; the few others the full expression. No loop over pixels or subhalos runs in
Python. Units: deflection muas, velocity muas/yr, acceleration muas/yr^2, the
vector components along increasing Galactic longitude l and latitude b.

Why one module of ~770 lines: the engine's candidate search, its three kernels (series,
far-field, exact), the compiled loop and the projection share private grid and lens tables whose
layout (block order, padding rows, float64 pair chunks) is the engine's speed; splitting them
would make that layout a public contract between modules. The physics itself is in
:mod:`lensbench.physics.astrometry`.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from lensbench.execution import ExecutionConfig
from lensbench.lazy import lazy_module
from lensbench.physics import units
from lensbench.physics.astrometry import (
    Vector,
    deflection,
    induced_acceleration,
    induced_velocity,
    ProjectedMass,
    SERIES_MIN_X,
    nfw_cylinder_series,
    nfw_projected_mass,
    nfw_projected_mass_far,
    tangent_geometry,
)
from lensbench.simulate.astrometric_config import (FIELD_UNITS, MAX_IMAGE_SIDE, MAX_NSIDE, SCENARIOS,  # noqa: F401
                                                  AstrometricConfig, AstrometricSurvey, FieldName, Projection)
from lensbench.simulate.milky_way import sample_population

# healpy imports matplotlib and astropy: imported at first use, not when a spec is validated.
hp = lazy_module("healpy")


@dataclass(frozen=True)
class _Band:
    """Blocks of a signal grid whose centres lie in one band of colatitude (for the candidate search)."""

    blocks: np.ndarray  # (n,) NESTED block indices, increasing
    centres: np.ndarray  # (n, 3) float32 unit vectors of their centres
    radius: np.ndarray  # (n,) their block radii [rad]
    colatitude_min: float  # of the centres [rad]
    colatitude_max: float


@dataclass(frozen=True)
class _Grid:
    """Fixed geometry of a signal grid tiled into NESTED blocks."""

    pixel_vectors: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # x, y, z: (n_blocks, P) float64 each
    block_radius: np.ndarray  # (n_blocks,) largest angle from a block centre to its pixels [rad]
    cos_radius: np.ndarray  # (n_blocks,) cos(block_radius)
    sin_radius: np.ndarray  # (n_blocks,) sin(block_radius)
    bands: tuple[_Band, ...]  # the blocks in bands of equal count, north to south


#: Colatitude bands of the candidate search: each compares its blocks with the subhalos that can reach them.
_SEARCH_BANDS = 16


@functools.lru_cache(maxsize=8)
def _grid(nside: int, block_nside: int) -> _Grid:
    """Pixel centres of the nside grid grouped by the block_nside pixel that contains them."""
    vectors = np.stack(hp.pix2vec(nside, np.arange(hp.nside2npix(nside)), nest=True), axis=-1)
    per_block = (nside // block_nside) ** 2
    blocks = vectors.reshape(-1, per_block, 3)
    centres = np.stack(hp.pix2vec(block_nside, np.arange(len(blocks)), nest=True), axis=-1)
    radius = np.arccos(np.clip(np.einsum("bpk,bk->bp", blocks, centres), -1.0, 1.0)).max(axis=1)
    colatitude = np.arccos(np.clip(centres[:, 2], -1.0, 1.0))
    bands = []
    for members in np.array_split(np.argsort(colatitude, kind="stable"), min(_SEARCH_BANDS, len(centres))):
        members = np.sort(members)
        bands.append(_Band(
            members, centres[members].astype(np.float32), radius[members],
            float(colatitude[members].min()), float(colatitude[members].max()),
        ))
    return _Grid(
        tuple(torch.from_numpy(np.ascontiguousarray(blocks[..., axis])) for axis in range(3)),
        radius,
        np.cos(radius),
        np.sin(radius),
        tuple(bands),
    )


def sky_basis(nside: int, nest: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit vectors of each pixel centre and the local (l, b) directions there.

    Parameters
    ----------
    nside : int
        HEALPix nside.
    nest : bool
        Pixel ordering (RING if False).

    Returns
    -------
    direction, e_l, e_b : np.ndarray
        (npix, 3) each: the centre, the unit vector of increasing longitude l and of increasing
        latitude b.
    """
    theta, phi = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), nest=nest)
    direction = hp.ang2vec(theta, phi)
    e_l = np.stack([-np.sin(phi), np.cos(phi), np.zeros_like(phi)], axis=-1)
    e_b = np.stack([-np.cos(theta) * np.cos(phi), -np.cos(theta) * np.sin(phi), np.sin(theta)], axis=-1)
    return direction, e_l, e_b


def pair_field(
    field_name: str,
    source_direction: Vector,
    lens_position: Vector,
    lens_velocity: Vector,
    rho_s: torch.Tensor,
    r_s: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """Lensing field of NFW subhalos at sources at infinity, as 3-D tangent vectors at the sources.

    Sources have v_i = 0 and D_l / D_i = 0, so the effective velocity is v_l - v_sun (eq 4); the
    geometry is :func:`lensbench.physics.astrometry.tangent_geometry`. Vectors are tuples of
    (x, y, z) component tensors that broadcast together.

    Parameters
    ----------
    field_name : str
        "deflection", "velocity" or "acceleration".
    source_direction : Vector
        Unit vectors to the sources.
    lens_position : Vector
        Lens positions relative to the observer [kpc].
    lens_velocity : Vector
        Lens velocities relative to the observer [km/s].
    rho_s, r_s : torch.Tensor
        NFW parameters [Msun/kpc^3], [kpc].

    Returns
    -------
    tuple of torch.Tensor
        (x, y, z) components of the field in muas, muas/yr or muas/yr^2.
    """
    b_vec, v_perp = tangent_geometry(lens_position, lens_velocity, source_direction)
    projected = nfw_projected_mass(torch.sqrt(sum(c * c for c in b_vec)), rho_s, r_s)
    return _field_from_geometry(field_name, b_vec, v_perp, projected)


#: Smallest x = b / r_s evaluated by the far-field kernel; rows reaching closer use :func:`pair_field`.
FAR_MIN_X = 1.05

#: The exact pass (few pairs) runs in chunks this many times smaller than the others.
_EXACT_ROWS_DIVISOR = 16

#: Chunks are padded with the padding lens to a multiple of this many rows, so that torch.compile
#: (dynamic shapes) never meets a one-row chunk, which it would compile separately.
_ROW_MULTIPLE = 8

# Columns of :func:`_lens_table`.
_POSITION = slice(0, 3)  # [kpc]
_VELOCITY = slice(3, 6)  # relative to the Sun [km/s]
_RHO_S, _R_S = 6, 7  # [Msun/kpc^3], [kpc]
_MIN_ALONG = 8  # cos(truncation) |r| [kpc]: a pixel n is inside if r . n >= this
_DISTANCE_SQUARED, _POSITION_DOT_VELOCITY = 9, 10  # |r|^2 [kpc^2], r . v [kpc km/s]
_INVERSE_R_S_SQUARED = 11  # [1/kpc^2]
_VELOCITY_SCALE = 12  # -(4G/c^2) M0 / r_s^2 in muas/yr per (km/s), M0 = 4 pi rho_s r_s^3


def _field_from_geometry(field_name: str, b_vec: Vector, v_perp: Vector, projected: ProjectedMass) -> tuple[torch.Tensor, ...]:
    """Deflection (eq 1), velocity (eq 3) or acceleration (eq 6) in muas, muas/yr, muas/yr^2."""
    if field_name == "deflection":
        raw = deflection(b_vec, projected)
    elif field_name == "velocity":
        raw = induced_velocity(b_vec, v_perp, projected)
    else:
        raw = induced_acceleration(b_vec, v_perp, projected)
    return tuple(component * FIELD_UNITS[field_name] for component in raw)


def _truncate(values: tuple[torch.Tensor, ...], inside: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Values zeroed outside the truncation disc, and each row's summed |value|^2."""
    zero = torch.zeros((), dtype=values[0].dtype)
    values = tuple(torch.where(inside, component, zero) for component in values)
    return values, sum(component * component for component in values).sum(-1)


def _lens_columns(lens: torch.Tensor, columns: slice) -> tuple[torch.Tensor, ...]:
    """Columns of gathered lens-table rows as (rows, 1) tensors that broadcast over a block's pixels."""
    return tuple(lens[:, column, None] for column in range(columns.start, columns.stop))


def _block_pixels(grid_pixels: Vector, block_rows: torch.Tensor, lens: torch.Tensor) -> tuple[Vector, torch.Tensor, torch.Tensor]:
    """The pixels of each row's block, r . n for each, and which lie inside the row's truncation disc."""
    pixels = tuple(component[block_rows] for component in grid_pixels)
    along = sum(n * r for n, r in zip(pixels, _lens_columns(lens, _POSITION)))
    return pixels, along, along >= lens[:, _MIN_ALONG, None]


def _exact_kernel(
    field_name: str, grid_pixels: Vector, block_rows: torch.Tensor, lens: torch.Tensor
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Truncated field of one subhalo per row on a block of pixels, and each row's summed |field|^2.

    ``grid_pixels`` components are (n_blocks, P) and row r uses block ``block_rows[r]`` and the
    lens-table row ``lens[r]`` (:func:`_lens_table`; the padding row sees no pixel). Valid at any
    x = b / r_s.
    """
    pixels, _, inside = _block_pixels(grid_pixels, block_rows, lens)
    field = pair_field(
        field_name, pixels, _lens_columns(lens, _POSITION), _lens_columns(lens, _VELOCITY),
        lens[:, _RHO_S, None], lens[:, _R_S, None],
    )
    return _truncate(field, inside)


def _far_kernel(
    field_name: str, grid_pixels: Vector, block_rows: torch.Tensor, lens: torch.Tensor
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """As :func:`_exact_kernel` with :func:`lensbench.physics.astrometry.nfw_projected_mass_far`: only for rows whose pixels
    inside the truncation all have x = b / r_s >= FAR_MIN_X (see :func:`_rows_beyond`)."""
    pixels, _, inside = _block_pixels(grid_pixels, block_rows, lens)
    b_vec, v_perp = tangent_geometry(_lens_columns(lens, _POSITION), _lens_columns(lens, _VELOCITY), pixels)
    projected = nfw_projected_mass_far(torch.sqrt(sum(c * c for c in b_vec)), lens[:, _RHO_S, None], lens[:, _R_S, None])
    return _truncate(_field_from_geometry(field_name, b_vec, v_perp, projected), inside)


def _velocity_series_kernel(
    field_name: str, grid_pixels: Vector, block_rows: torch.Tensor, lens: torch.Tensor
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Induced velocity (eq 3 with eq 5) for rows whose pixels all have x >= SERIES_MIN_X, in muas/yr.

    Eq 3 written with the impact vector b = r - (r.n) n and v_il's tangential part
    v_perp = v - (v.n) n of a source in the unit direction n:
    u = -(4G/c^2) [ M/b^2 v_perp + (b M' - 2M)/b^4 (b . v_perp) b ], where
    b^2 = |r|^2 - (r.n)^2 and b . v_perp = r.v - (r.n)(v.n) use per-subhalo |r|^2 and r.v, and
    M, b M' come from :func:`lensbench.physics.astrometry.nfw_cylinder_series` (no arctangent).
    The subtraction costs ~1e-16 (|r| / b)^2 <= 1e-16 (D / 5 r_s)^2 relative accuracy (~1e-11
    for the Vattis+21 population). ``field_name`` is always "velocity". The clamp only keeps the
    padding rows finite.
    """
    pixels, along, inside = _block_pixels(grid_pixels, block_rows, lens)
    velocity = _lens_columns(lens, _VELOCITY)
    v_along = sum(n * v for n, v in zip(pixels, velocity))
    inverse_r_s_squared = lens[:, _INVERSE_R_S_SQUARED, None]
    b_squared = lens[:, _DISTANCE_SQUARED, None] - along * along
    b_dot_v = lens[:, _POSITION_DOT_VELOCITY, None] - along * v_along
    terms = nfw_cylinder_series(torch.clamp(b_squared * inverse_r_s_squared, min=SERIES_MIN_X**2))
    scale = lens[:, _VELOCITY_SCALE, None] * terms.inverse_x_squared
    along_v = torch.where(inside, scale * terms.mass, 0.0)
    along_b = torch.where(
        inside, scale * inverse_r_s_squared * terms.inverse_x_squared * (terms.slope - 2 * terms.mass) * b_dot_v, 0.0
    )
    along_n = along_v * v_along + along_b * along
    values = tuple(
        along_v * v + along_b * r - along_n * n for v, r, n in zip(velocity, _lens_columns(lens, _POSITION), pixels)
    )
    return values, sum(component * component for component in values).sum(-1)


def _add_chunk(
    kernel,
    totals: list[torch.Tensor],
    power: torch.Tensor,
    field_name: str,
    grid_pixels: Vector,
    lens_table: torch.Tensor,
    lens_rows: torch.Tensor,
    block_rows: torch.Tensor,
) -> None:
    """Evaluate ``kernel`` on the pairs (lens_rows[i], block_rows[i]) and add, in place, its values
    into the block totals and its row powers into the subhalo powers (rows of :func:`_lens_table`)."""
    values, row_power = kernel(field_name, grid_pixels, block_rows, lens_table[lens_rows])
    for total, component in zip(totals, values):
        total.index_add_(0, block_rows, component)
    power.index_add_(0, lens_rows, row_power)


@functools.lru_cache(maxsize=4)
def _compiled_add_chunk(kernel):
    """:func:`_add_chunk` for ``kernel`` as one compiled loop, kernel and scatter fused, per process.

    Compiled for dynamic shapes (any chunk length, grid or population size). The loop runs on one
    thread so that the additions into the map happen in a fixed order: same inputs, same bytes.
    """
    return torch.compile(functools.partial(_add_chunk, kernel), dynamic=True, options={"cpp.threads": 1})


#: Upper bound on the rounding error of a float32 cosine of two unit vectors (a few ulp of 1).
_FLOAT32_COSINE_MARGIN = 1e-6


def _candidate_pairs(grid: _Grid, direction: np.ndarray, truncation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(subhalo, block) pairs whose block centre lies within truncation + block radius of the subhalo.

    Band by band (:class:`_Band`), the blocks are compared with the subhalos whose colatitude can
    reach the band (a slice of the subhalos sorted by z): a third of the all-pairs work. The
    cosines are float32 with a margin, so the pairs are a superset of the exact test's; the
    kernels apply the exact float64 truncation to every pixel. Each block's pairs are
    consecutive, so consecutive rows of a chunk add into the same memory of the map.

    Returns
    -------
    lens_index, block_index : np.ndarray
        (pairs,) int64.
    cosine : np.ndarray
        (pairs,) float32 cosine of the angle between block centre and subhalo (+- the margin).
    """
    order = np.argsort(direction[:, 2], kind="stable")
    z_sorted = direction[order, 2]
    direction_sorted = direction[order].astype(np.float32)
    lens_parts, block_parts, cosine_parts = [], [], []
    for band in grid.bands:
        reach_angle = truncation + float(band.radius.max())
        z_low = math.cos(min(band.colatitude_max + reach_angle, math.pi)) - _FLOAT32_COSINE_MARGIN
        z_high = math.cos(max(band.colatitude_min - reach_angle, 0.0)) + _FLOAT32_COSINE_MARGIN
        first, last = np.searchsorted(z_sorted, [z_low, z_high])
        cosines = band.centres @ direction_sorted[first:last].T
        reach = (np.cos(np.minimum(truncation + band.radius, math.pi)) - _FLOAT32_COSINE_MARGIN).astype(np.float32)
        flat = np.flatnonzero(cosines >= reach[:, None])
        row, column = np.divmod(flat, last - first)
        lens_parts.append(np.take(order, first + column))
        block_parts.append(np.take(band.blocks, row))
        cosine_parts.append(np.take(cosines, flat))
    return np.concatenate(lens_parts), np.concatenate(block_parts), np.concatenate(cosine_parts)


def _lens_table(population: dict[str, np.ndarray], truncation: float) -> torch.Tensor:
    """Kernel inputs of every subhalo, one row each, and a last padding row that sees no pixel.

    Columns: see ``_POSITION`` ... ``_VELOCITY_SCALE`` above. The padding row sits at unit
    distance with rho_s = 0, r_s = 1 and a pixel threshold of 2 (never reached): it adds exactly zero.
    """
    position = np.asarray(population["position"], dtype=np.float64)
    velocity = np.asarray(population["velocity"], dtype=np.float64)
    rho_s = np.asarray(population["rho_s"], dtype=np.float64)
    r_s = np.asarray(population["r_s"], dtype=np.float64)
    position = np.concatenate([position, [[1.0, 0.0, 0.0]]])
    velocity = np.concatenate([velocity, [[0.0, 0.0, 0.0]]])
    rho_s, r_s = np.append(rho_s, 0.0), np.append(r_s, 1.0)
    distance_squared = np.sum(position * position, axis=1)
    min_along = math.cos(truncation) * np.sqrt(distance_squared)
    min_along[-1] = 2.0
    m0 = 4 * math.pi * rho_s * r_s**3
    velocity_scale = -units.FOUR_G_OVER_C2_KPC_PER_MSUN * FIELD_UNITS["velocity"] * m0 / r_s**2
    columns = [
        position, velocity, rho_s, r_s, min_along,
        distance_squared, np.sum(position * velocity, axis=1), 1 / r_s**2, velocity_scale,
    ]
    return torch.from_numpy(np.column_stack(columns))


def _rows_beyond(
    grid: _Grid, lens_table: np.ndarray, lens_index: np.ndarray, block_index: np.ndarray,
    cosine: np.ndarray, min_x: float,
) -> np.ndarray:
    """Whether every pixel of each (subhalo, block) pair has x = b / r_s >= min_x or lies beyond 90 deg.

    A pixel at angle theta <= 90 deg from a lens at distance D has b = D sin(theta), and theta >=
    (angle to the block centre) - (block radius rho); so an angle to the centre of at least
    alpha + rho, alpha = arcsin(min_x r_s / D), guarantees b >= min_x r_s. As cosines:
    cos(centre angle) <= cos(alpha) cos(rho) - sin(alpha) sin(rho), tested with the float32
    cosine of :func:`_candidate_pairs` less its error margin. The truncation (< 90 deg) removes
    the other pixels.
    """
    sin_alpha = min_x * lens_table[:, _R_S] / np.sqrt(lens_table[:, _DISTANCE_SQUARED])
    reachable = sin_alpha < 1
    cos_alpha = np.sqrt(np.clip(1 - sin_alpha * sin_alpha, 0.0, None))
    threshold = np.take(cos_alpha, lens_index) * np.take(grid.cos_radius, block_index)
    threshold -= np.take(sin_alpha, lens_index) * np.take(grid.sin_radius, block_index)
    return np.take(reachable, lens_index) & (cosine <= threshold - _FLOAT32_COSINE_MARGIN)


def _padded(rows: torch.Tensor, fill: int) -> torch.Tensor:
    """``rows`` followed by ``fill`` up to the next multiple of :data:`_ROW_MULTIPLE` entries."""
    length = -(-len(rows) // _ROW_MULTIPLE) * _ROW_MULTIPLE
    return torch.cat([rows, rows.new_full((length - len(rows),), fill)])


def _passes(config: AstrometricConfig, execution: ExecutionConfig, grid: _Grid, lens_table: torch.Tensor, truncation: float):
    """(kernel, lens rows, block rows, rows per call) of each kernel pass; each block's rows are consecutive.

    Velocity rows whose pixels all have x >= SERIES_MIN_X (about 97 %) use the series kernel;
    other rows at x >= FAR_MIN_X the far-field kernel; the rest the exact one. (The bookkeeping
    is numpy: boolean selection of ~1e5 pairs is several times faster there than in torch.)
    """
    table = lens_table.numpy()[:-1]
    direction = table[:, _POSITION] / np.sqrt(table[:, _DISTANCE_SQUARED])[:, None]
    lens_index, block_index, cosine = _candidate_pairs(grid, direction, truncation)
    if config.field == "velocity":
        series = _rows_beyond(grid, table, lens_index, block_index, cosine, SERIES_MIN_X)
    else:
        series = np.zeros(len(lens_index), dtype=bool)
    far = series.copy()  # x >= SERIES_MIN_X implies x >= FAR_MIN_X: test only the others
    rest = ~series
    far[rest] = _rows_beyond(grid, table, lens_index[rest], block_index[rest], cosine[rest], FAR_MIN_X)
    rows = max(1, execution.chunk_pairs // grid.pixel_vectors[0].shape[1])
    kernels = (
        (_velocity_series_kernel, series, rows),
        (_far_kernel, far & ~series, rows),
        (_exact_kernel, ~far, max(1, rows // _EXACT_ROWS_DIVISOR)),
    )
    return tuple(
        (
            kernel, torch.from_numpy(lens_index[chosen]), torch.from_numpy(block_index[chosen]),
            max(1, int(chosen.sum())) if execution.use_compile else eager_rows,  # compiled: one call per pass
        )
        for kernel, chosen, eager_rows in kernels
    )


def _field_components(
    config: AstrometricConfig, population: dict[str, np.ndarray], execution: ExecutionConfig
) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The engine of :func:`signal_field_nested`: the x, y, z components (npix,) each, NESTED, and the powers."""
    if config.nside % execution.block_nside:
        raise ValueError(f"[execution] block_nside = {execution.block_nside} must divide [simulation] nside = {config.nside}")
    grid = _grid(config.nside, execution.block_nside)
    truncation = math.radians(config.truncation_deg)
    lens_table = _lens_table(population, truncation)
    n_lenses = len(lens_table) - 1
    n_blocks, per_block = grid.pixel_vectors[0].shape
    totals = [torch.zeros(n_blocks, per_block, dtype=torch.float64) for _ in range(3)]
    power = torch.zeros(n_lenses + 1, dtype=torch.float64)
    for kernel, lens_pass, block_pass, pass_rows in _passes(config, execution, grid, lens_table, truncation):
        add_chunk = _compiled_add_chunk(kernel) if execution.use_compile else functools.partial(_add_chunk, kernel)
        for start in range(0, len(lens_pass), pass_rows):
            lens_rows = _padded(lens_pass[start : start + pass_rows], n_lenses)
            block_rows = _padded(block_pass[start : start + pass_rows], 0)
            add_chunk(totals, power, config.field, grid.pixel_vectors, lens_table, lens_rows, block_rows)
    return tuple(total.reshape(-1).numpy() for total in totals), power[:n_lenses].numpy()


def signal_field_nested(
    config: AstrometricConfig, population: dict[str, np.ndarray], execution: ExecutionConfig = ExecutionConfig()
) -> tuple[np.ndarray, np.ndarray]:
    """Field of one population at every pixel centre of the nside grid, as 3-D vectors, NESTED order.

    Candidate (subhalo, block) pairs are split by the smallest x = b / r_s their pixels can have
    (:func:`_passes`): the velocity at x >= :data:`SERIES_MIN_X` (about 97 % of the pairs) comes
    from :func:`_velocity_series_kernel`, other pairs at x >= :data:`FAR_MIN_X` from the far-field
    mass (one log and one atan per pixel), the few others from :func:`pair_field`, exact at any x.

    Parameters
    ----------
    config : AstrometricConfig
        Grid, truncation and field.
    population : dict
        From :func:`lensbench.simulate.milky_way.sample_population` (``position`` [kpc],
        ``velocity`` relative to the Sun [km/s], ``rho_s`` [Msun/kpc^3], ``r_s`` [kpc]).
    execution : ExecutionConfig
        The engine's speed switches: ``compile``, ``block_nside``, ``chunk_pairs``.

    Returns
    -------
    field : np.ndarray
        (npix, 3) float64 tangent vectors in the field's unit, NESTED order.
    power : np.ndarray
        (n_subhalos,) sum over pixels of |field|^2 of each subhalo alone (its signal strength).
    """
    components, power = _field_components(config, population, execution)
    return np.stack(components, axis=-1), power


def _project(x: np.ndarray, y: np.ndarray, z: np.ndarray, nside: int, nest: bool) -> np.ndarray:
    """Components (l, b), (..., 2, npix), of tangent vectors at every pixel centre given as their
    x, y, z components (..., npix): along increasing l and increasing b."""
    e_lx, e_ly, e_bx, e_by, e_bz = _tangent_basis(nside, nest)
    along_l = x * e_lx
    along_l += y * e_ly
    along_b = x * e_bx
    along_b += y * e_by
    along_b += z * e_bz
    return np.stack([along_l, along_b], axis=-2)


def _ring_components(x: np.ndarray, y: np.ndarray, z: np.ndarray, nside: int) -> np.ndarray:
    """(l, b) components, RING order, of tangent vectors whose x, y, z components are given in NESTED order.

    Projects first and reorders the two components after (3x faster than reordering the vectors;
    np.take 3x faster than fancy indexing).
    """
    return np.take(_project(x, y, z, nside, nest=True), _ring_to_nest(nside), axis=-1)


@functools.lru_cache(maxsize=8)
def _tangent_basis(nside: int, nest: bool) -> tuple[np.ndarray, ...]:
    """Components x, y of e_l and x, y, z of e_b (:func:`sky_basis`; e_l has no z component), once per grid."""
    _, e_l, e_b = sky_basis(nside, nest=nest)
    components = (e_l[:, 0], e_l[:, 1], e_b[:, 0], e_b[:, 1], e_b[:, 2])
    components = tuple(np.ascontiguousarray(component) for component in components)
    for component in components:
        component.flags.writeable = False
    return components


@functools.lru_cache(maxsize=8)
def _ring_to_nest(nside: int) -> np.ndarray:
    """NESTED index of every RING pixel, computed once per grid (read-only)."""
    index = hp.ring2nest(nside, np.arange(hp.nside2npix(nside)))
    index.flags.writeable = False
    return index


def signal_map(
    config: AstrometricConfig, population: dict[str, np.ndarray], execution: ExecutionConfig = ExecutionConfig()
) -> np.ndarray:
    """The field of one population at the nside grid, (2, npix) components (l, b), RING order.

    Units: muas, muas/yr or muas/yr^2 for ``config.field`` deflection, velocity, acceleration;
    ``execution`` holds the engine's speed switches (:func:`signal_field_nested`).
    """
    components, _ = _field_components(config, population, execution)
    return _ring_components(*components, config.nside)


def ring_map(nested_field: np.ndarray, nside: int) -> np.ndarray:
    """(2, npix) components (l, b), RING order, of the (npix, 3) NESTED field of
    :func:`signal_field_nested` (what :func:`signal_map` returns for the same population)."""
    return _ring_components(*np.moveaxis(nested_field, -1, 0), nside)


def degrade_nested(config: AstrometricConfig, nested_field: np.ndarray) -> np.ndarray:
    """Average 3-D field vectors of the nside grid onto data_nside pixels, components (l, b), RING.

    Returns
    -------
    np.ndarray
        (2, 12 data_nside^2) float64.
    """
    per_pixel = (config.nside // config.data_nside) ** 2
    mean_nested = nested_field.reshape(-1, per_pixel, 3).mean(axis=1)
    return _ring_components(mean_nested[:, 0], mean_nested[:, 1], mean_nested[:, 2], config.data_nside)


def _top_subhalos(config: AstrometricConfig, population: dict[str, np.ndarray], power: np.ndarray) -> dict[str, np.ndarray]:
    """Positions and properties of the n_top subhalos with the largest summed |field|^2 (NaN-padded)."""
    order = np.argsort(-power, kind="stable")[: config.n_top]
    columns = {
        "top_l_deg": population["l_deg"],
        "top_b_deg": population["b_deg"],
        "top_m200": population["m200"],
        "top_distance_kpc": population["distance"],
        "top_signal_power": power,
    }
    result = {}
    for name, values in columns.items():
        padded = np.full(config.n_top, np.nan)
        padded[: len(order)] = values[order]
        result[name] = padded
    return result


def simulate_signal(
    config: AstrometricConfig, n: int, rng: np.random.Generator, *, execution: ExecutionConfig = ExecutionConfig()
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Simulate n signal maps, each from a new subhalo population, on the data grid.

    Parameters
    ----------
    config : AstrometricConfig
        Simulation options.
    n : int
        Number of maps.
    rng : np.random.Generator
        Source of every random number (populations only; the maps are deterministic).
    execution : ExecutionConfig
        The map engine's speed switches (they do not change the maps beyond rounding).

    Returns
    -------
    signal : np.ndarray
        (n, 2, 12 data_nside^2) float32, field components (l, b) averaged over each data pixel,
        RING order, in the unit of ``config.field``.
    params : dict of np.ndarray
        ``n_subhalos`` (n,) int64 and, for the ``n_top`` subhalos with the largest summed
        |field|^2 at the signal grid, ``top_l_deg``, ``top_b_deg`` [deg], ``top_m200`` [Msun],
        ``top_distance_kpc`` [kpc], ``top_signal_power`` (field unit squared), each (n, n_top).
    """
    npix = hp.nside2npix(config.data_nside)
    signal = np.empty((n, 2, npix), dtype=np.float32)
    rows = []
    for index in range(n):
        population = sample_population(config.population, rng)
        nested, power = signal_field_nested(config, population, execution)
        signal[index] = degrade_nested(config, nested)
        rows.append({"n_subhalos": len(power), **_top_subhalos(config, population, power)})
    params = {key: np.stack([np.asarray(row[key]) for row in rows]) for key in rows[0]} if rows else {}
    return signal, params


def data_maps(
    config: AstrometricConfig,
    survey: AstrometricSurvey,
    signal: np.ndarray,
    with_signal: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """Noisy HEALPix velocity maps of a survey (Vattis+21 section III.A), before projection.

    Quasar counts n_q ~ Poisson(N_q / npix) per pixel; each component ~ Normal(mean, sigma_u /
    sqrt(n_q)) with mean the signal (``with_signal``) or 0 (negative class); pixels with n_q = 0
    hold 0. The random draws are the same in number and order for both classes.

    Parameters
    ----------
    signal : np.ndarray
        (n, 2, npix) velocity signal from :func:`simulate_signal` [muas/yr].

    Returns
    -------
    np.ndarray
        (n, 2, npix) float32 [muas/yr], RING order.
    """
    if config.field != "velocity":
        raise ValueError(f"surveys measure velocities; the simulation field is {config.field!r}")
    n, _, npix = signal.shape
    counts = rng.poisson(survey.n_quasars / npix, size=(n, 1, npix))
    noise = rng.standard_normal(size=(n, 2, npix))
    sigma = survey.sigma_u / np.sqrt(np.maximum(counts, 1))
    mean = signal.astype(np.float64) if with_signal else 0.0
    return np.where(counts > 0, mean + sigma * noise, 0.0).astype(np.float32)


def observe(
    config: AstrometricConfig,
    survey: AstrometricSurvey,
    signal: np.ndarray,
    with_signal: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """CNN inputs of a survey: :func:`data_maps` through ``config.projection``
    (:func:`lensbench.simulate.sky_projection.project`).

    Returns
    -------
    np.ndarray
        (n, 2, H, W) float32, channels v_l, v_b [muas/yr]; (H, W) is (image_height, image_width),
        or (12 data_nside, data_nside) for "healpix_faces".
    """
    from lensbench.simulate.sky_projection import project  # healpy: imported lazily, as ``hp`` above

    maps = data_maps(config, survey, signal, with_signal, rng)
    return project(maps, config.projection, config.image_height, config.image_width)


def signal_part(config: AstrometricConfig) -> AstrometricConfig:
    """``config`` with the options that shape only the network input (projection, image size)
    at their defaults: what the survey-independent signal maps depend on (the signal step's key)."""
    defaults = AstrometricConfig()
    return dataclasses.replace(config, projection=defaults.projection, image_height=defaults.image_height,
                               image_width=defaults.image_width)


def mollweide(healpix_map: np.ndarray, width: int = 800) -> np.ndarray:
    """Mollweide projection of a HEALPix map (RING) as a 2-D array for matplotlib (NaN off the sky).

    Parameters
    ----------
    healpix_map : np.ndarray
        (npix,) values, e.g. one component or the magnitude of a field.
    width : int
        Image width [pixels]; the height is width / 2.
    """
    nside = hp.npix2nside(healpix_map.shape[-1])
    projector = hp.projector.MollweideProj(xsize=width)
    image = projector.projmap(np.asarray(healpix_map, dtype=np.float64), lambda x, y, z: hp.vec2pix(nside, x, y, z))
    return np.where(np.isfinite(image) & (image > hp.UNSEEN), image, np.nan)
