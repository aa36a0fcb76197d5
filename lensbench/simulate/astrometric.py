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
   scenarios the mean count is >= 8138, so this never happens there. The maps are projected to
   Cartesian images (channels v_l, v_b) for the CNNs.

The map engine tiles the fine grid into NESTED blocks (``block_nside``), keeps the (subhalo,
block) pairs whose block can reach within the truncation angle (sorted by block), and evaluates
all their pixels at once in float64 chunks, optionally as one compiled torch loop that also adds
the values into the map; pairs whose pixels all lie at b >= 1.05 r_s use the x > 1 branch of the
NFW cylinder mass alone, the few others the full expression. No loop over pixels or subhalos
runs in Python. Units: deflection muas, velocity muas/yr, acceleration muas/yr^2, the
vector components along increasing Galactic longitude l and latitude b.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Literal

import healpy as hp
import numpy as np
import torch

from lensbench.physics import units
from lensbench.physics.astrometry import (
    Vector,
    deflection,
    induced_acceleration,
    induced_velocity,
    ProjectedMass,
    nfw_projected_mass,
    nfw_projected_mass_far,
    tangent_geometry,
)
from lensbench.simulate.milky_way import MilkyWayPopulation, sample_population

FieldName = Literal["deflection", "velocity", "acceleration"]

#: Factor from the raw result of each field (rad, (km/s)/kpc, ((km/s)/kpc)^2) to muas, muas/yr, muas/yr^2.
FIELD_UNITS = {
    "deflection": units.MUAS_PER_RAD,
    "velocity": units.MUAS_PER_YR_PER_KMS_PER_KPC,
    "acceleration": units.MUAS_PER_YR2_PER_KMS_PER_KPC_SQUARED,
}


@dataclass(frozen=True)
class AstrometricConfig:
    """Options of the astrometric-lensing simulation (``[simulation]`` with kind "astrometric")."""

    population: MilkyWayPopulation = field(default_factory=MilkyWayPopulation)
    """The subhalo population drawn anew for every map."""
    nside: int = 128
    """HEALPix nside of the signal grid, one source per pixel centre (paper: 128)."""
    truncation_deg: float = 20.0
    """Each subhalo lenses only sources within this angle of its centre (paper: 20) [deg]."""
    field: FieldName = "velocity"
    """The lensing field simulated: deflection [muas], velocity [muas/yr] or acceleration [muas/yr^2]."""
    data_nside: int = 32
    """HEALPix nside of the data maps (paper: 32, 12288 pixels); must divide nside."""
    image_height: int = 64
    """Rows of the Cartesian projection fed to the CNNs [pixels]."""
    image_width: int = 128
    """Columns of the Cartesian projection fed to the CNNs [pixels]."""
    block_nside: int = 16
    """Tiling of the signal grid used by the map engine (speed only; must divide nside)."""
    chunk_pairs: int = 1 << 19
    """Subhalo-pixel pairs evaluated per chunk (speed and memory only)."""
    compile: bool = True
    """Run the per-chunk kernels (and their scatter into the map) through torch.compile: ~10x faster
    maps after 8-40 s of compilation once per process (worth it beyond ~10 maps; needs a C++
    compiler). False runs them eagerly."""
    n_top: int = 10
    """Number of most-signalling subhalos whose positions are recorded per map."""

    def __post_init__(self):
        for name in ("nside", "data_nside", "block_nside"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1):
                raise ValueError(f"{name} must be a power of 2, got {value}")
        if self.nside % self.data_nside or self.nside % self.block_nside:
            raise ValueError("data_nside and block_nside must divide nside")
        if not 0 < self.truncation_deg < 90:
            raise ValueError(f"truncation_deg must be in (0, 90), got {self.truncation_deg}")
        if self.field not in FIELD_UNITS:
            raise ValueError(f"field must be one of {', '.join(FIELD_UNITS)}, got {self.field!r}")
        if self.image_height < 1 or self.image_width < 1:
            raise ValueError("image_height and image_width must be >= 1")
        if self.chunk_pairs < 1 or self.n_top < 1:
            raise ValueError("chunk_pairs and n_top must be >= 1")


@dataclass(frozen=True)
class AstrometricSurvey:
    """A quasar astrometry survey (``[survey]``; Vattis+21 Table I)."""

    n_quasars: float = 1e8
    """Total number of quasars N_q on the sky."""
    sigma_u: float = 1.0
    """Velocity uncertainty of one quasar, per component [muas/yr]."""

    def __post_init__(self):
        if not self.n_quasars > 0:
            raise ValueError(f"n_quasars must be > 0, got {self.n_quasars}")
        if not self.sigma_u > 0:
            raise ValueError(f"sigma_u must be > 0, got {self.sigma_u}")


#: The five scenarios of Vattis+21 Table I.
SCENARIOS = {
    "A": AstrometricSurvey(1e8, 1.0),
    "B": AstrometricSurvey(1e8, 0.1),
    "C": AstrometricSurvey(1e9, 1.0),
    "D": AstrometricSurvey(1e9, 0.1),
    "E": AstrometricSurvey(3e9, 1.0),
}


@dataclass(frozen=True)
class _Grid:
    """Fixed geometry of a signal grid tiled into NESTED blocks (float64 torch tensors)."""

    pixel_vectors: tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # x, y, z: (n_blocks, P) each
    block_centres: torch.Tensor  # (n_blocks, 3) unit vectors
    block_radius: torch.Tensor  # (n_blocks,) largest angle from a block centre to its pixels [rad]


@functools.lru_cache(maxsize=8)
def _grid(nside: int, block_nside: int) -> _Grid:
    """Pixel centres of the nside grid grouped by the block_nside pixel that contains them."""
    vectors = np.stack(hp.pix2vec(nside, np.arange(hp.nside2npix(nside)), nest=True), axis=-1)
    per_block = (nside // block_nside) ** 2
    blocks = vectors.reshape(-1, per_block, 3)
    centres = np.stack(hp.pix2vec(block_nside, np.arange(len(blocks)), nest=True), axis=-1)
    cosines = np.clip(np.einsum("bpk,bk->bp", blocks, centres), -1.0, 1.0)
    return _Grid(
        tuple(torch.from_numpy(np.ascontiguousarray(blocks[..., axis])) for axis in range(3)),
        torch.from_numpy(centres),
        torch.from_numpy(np.arccos(cosines).max(axis=1)),
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

#: The exact pass (few pairs) runs in chunks this many times smaller than the far-field pass.
_EXACT_ROWS_DIVISOR = 16


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


def _block_pixels(grid_pixels: Vector, block_rows: torch.Tensor, lens_position: Vector,
                  min_cosine: torch.Tensor) -> tuple[Vector, torch.Tensor]:
    """The pixels of each row's block, and which of them lie inside the row's truncation disc."""
    pixels = tuple(component[block_rows] for component in grid_pixels)
    distance = torch.sqrt(sum(c * c for c in lens_position))
    return pixels, sum(n * r for n, r in zip(pixels, lens_position)) >= min_cosine * distance


def _exact_kernel(
    field_name: str,
    grid_pixels: Vector,
    block_rows: torch.Tensor,
    lens_position: Vector,
    lens_velocity: Vector,
    rho_s: torch.Tensor,
    r_s: torch.Tensor,
    min_cosine: torch.Tensor,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Truncated field of one subhalo per row on a block of pixels, and each row's summed |field|^2.

    ``grid_pixels`` components are (n_blocks, P) and row r uses block ``block_rows[r]``; the lens
    components and NFW parameters are (rows, 1); ``min_cosine`` (rows, 1) is cos(truncation)
    for real rows and 2 (never reached) for padding rows. Valid at any x = b / r_s.
    """
    pixels, inside = _block_pixels(grid_pixels, block_rows, lens_position, min_cosine)
    return _truncate(pair_field(field_name, pixels, lens_position, lens_velocity, rho_s, r_s), inside)


def _far_kernel(
    field_name: str,
    grid_pixels: Vector,
    block_rows: torch.Tensor,
    lens_position: Vector,
    lens_velocity: Vector,
    rho_s: torch.Tensor,
    r_s: torch.Tensor,
    min_cosine: torch.Tensor,
) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """As :func:`_exact_kernel` with :func:`lensbench.physics.astrometry.nfw_projected_mass_far`: only for rows whose pixels
    inside the truncation all have x = b / r_s >= FAR_MIN_X (see :func:`_far_rows`)."""
    pixels, inside = _block_pixels(grid_pixels, block_rows, lens_position, min_cosine)
    b_vec, v_perp = tangent_geometry(lens_position, lens_velocity, pixels)
    projected = nfw_projected_mass_far(torch.sqrt(sum(c * c for c in b_vec)), rho_s, r_s)
    return _truncate(_field_from_geometry(field_name, b_vec, v_perp, projected), inside)


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
    lens = lens_table[lens_rows]
    values, row_power = kernel(
        field_name,
        grid_pixels,
        block_rows,
        tuple(lens[:, axis, None] for axis in range(3)),
        tuple(lens[:, axis, None] for axis in range(3, 6)),
        *(lens[:, column, None] for column in range(6, 9)),
    )
    for total, component in zip(totals, values):
        total.index_add_(0, block_rows, component)
    power.index_add_(0, lens_rows, row_power)


@functools.lru_cache(maxsize=2)
def _compiled_add_chunk(kernel):
    """:func:`_add_chunk` for ``kernel`` as one compiled loop, kernel and scatter fused, per process.

    Shapes are kept fixed by padding. The loop runs on one thread so that the additions into the
    map happen in a fixed order: same inputs, same bytes.
    """
    return torch.compile(functools.partial(_add_chunk, kernel), dynamic=False, options={"cpp.threads": 1})


#: Upper bound on the rounding error of a float32 cosine of two unit vectors (a few ulp of 1).
_FLOAT32_COSINE_MARGIN = 1e-6

#: Angle added to the far-field test of :func:`_far_rows` for the rounding of arccos [rad].
_ANGLE_MARGIN = 1e-9


def _candidate_pairs(grid: _Grid, direction: torch.Tensor, truncation: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(subhalo, block) pairs whose block centre lies within truncation + block radius of the subhalo.

    The cosines are float32 with a margin, so the pairs are a superset of the exact test's; the
    kernels apply the exact float64 truncation to every pixel. Pairs come sorted by block, so
    consecutive rows of a chunk add into neighbouring memory of the map.
    """
    cosines = grid.block_centres.float() @ direction.float().T
    reach = torch.cos(torch.clamp(truncation + grid.block_radius, max=math.pi)).float() - _FLOAT32_COSINE_MARGIN
    block_index, lens_index = torch.nonzero(cosines >= reach[:, None], as_tuple=True)
    return lens_index, block_index


def _lens_table(population: dict[str, np.ndarray], truncation: float) -> torch.Tensor:
    """Kernel inputs of every subhalo, one row each, and a last padding row that sees no pixel.

    Columns: position x, y, z [kpc], velocity x, y, z [km/s], rho_s [Msun/kpc^3], r_s [kpc],
    cos(truncation) (2 in the padding row, never reached).
    """
    columns = [
        np.asarray(population["position"], dtype=np.float64),
        np.asarray(population["velocity"], dtype=np.float64),
        np.asarray(population["rho_s"], dtype=np.float64)[:, None],
        np.asarray(population["r_s"], dtype=np.float64)[:, None],
        np.full((len(population["r_s"]), 1), math.cos(truncation)),
    ]
    padding = np.array([[1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0]])
    return torch.from_numpy(np.concatenate([np.concatenate(columns, axis=1), padding]))


def _far_rows(grid: _Grid, lens_table: torch.Tensor, lens_index: torch.Tensor, block_index: torch.Tensor) -> torch.Tensor:
    """Whether every pixel of each (subhalo, block) pair has x = b / r_s >= FAR_MIN_X or lies beyond 90 deg.

    A pixel at angle theta <= 90 deg from a lens at distance D has b = D sin(theta), and theta >=
    (angle to the block centre) - (block radius); so theta >= arcsin(FAR_MIN_X r_s / D) for that
    lower bound guarantees b >= FAR_MIN_X r_s. The truncation (< 90 deg) removes the other pixels.
    """
    position = lens_table[:, :3]
    distance = position.norm(dim=1)
    direction = position / distance[:, None]
    cosine = (direction[lens_index] * grid.block_centres[block_index]).sum(-1).clamp(-1.0, 1.0)
    nearest = torch.arccos(cosine) - grid.block_radius[block_index] - _ANGLE_MARGIN
    ratio = FAR_MIN_X * lens_table[lens_index, 7] / distance[lens_index]
    return (ratio < 1) & (nearest >= torch.asin(ratio.clamp(max=1.0)))


def _padded(rows: torch.Tensor, length: int, fill: int) -> torch.Tensor:
    """``rows`` followed by ``fill`` up to ``length`` entries."""
    return torch.cat([rows, rows.new_full((length - len(rows),), fill)])


def signal_field_nested(config: AstrometricConfig, population: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Field of one population at every pixel centre of the nside grid, as 3-D vectors, NESTED order.

    Candidate (subhalo, block) pairs whose pixels all lie at x = b / r_s >= :data:`FAR_MIN_X`
    (about 98 % of them) are evaluated with the far-field mass (one log and one atan per pixel),
    the others with :func:`pair_field`, exact at any x.

    Parameters
    ----------
    config : AstrometricConfig
        Grid, truncation, field and engine options.
    population : dict
        From :func:`lensbench.simulate.milky_way.sample_population` (``position`` [kpc],
        ``velocity`` relative to the Sun [km/s], ``rho_s`` [Msun/kpc^3], ``r_s`` [kpc]).

    Returns
    -------
    field : np.ndarray
        (npix, 3) float64 tangent vectors in the field's unit, NESTED order.
    power : np.ndarray
        (n_subhalos,) sum over pixels of |field|^2 of each subhalo alone (its signal strength).
    """
    grid = _grid(config.nside, config.block_nside)
    truncation = math.radians(config.truncation_deg)
    lens_table = _lens_table(population, truncation)
    n_lenses = len(lens_table) - 1
    position = lens_table[:n_lenses, :3]
    lens_index, block_index = _candidate_pairs(grid, position / position.norm(dim=1, keepdim=True), truncation)
    far = _far_rows(grid, lens_table, lens_index, block_index)
    n_blocks, per_block = grid.pixel_vectors[0].shape
    totals = [torch.zeros(n_blocks, per_block, dtype=torch.float64) for _ in range(3)]
    power = torch.zeros(n_lenses + 1, dtype=torch.float64)
    rows = max(1, config.chunk_pairs // per_block)
    passes = (
        (_far_kernel, lens_index[far], block_index[far], rows),
        (_exact_kernel, lens_index[~far], block_index[~far], max(1, rows // _EXACT_ROWS_DIVISOR)),
    )
    for kernel, lens_pass, block_pass, pass_rows in passes:
        add_chunk = _compiled_add_chunk(kernel) if config.compile else functools.partial(_add_chunk, kernel)
        for start in range(0, len(lens_pass), pass_rows):
            lens, block = lens_pass[start : start + pass_rows], block_pass[start : start + pass_rows]
            chunk_rows = pass_rows if config.compile else len(lens)
            lens_rows, block_rows = _padded(lens, chunk_rows, n_lenses), _padded(block, chunk_rows, 0)
            add_chunk(totals, power, config.field, grid.pixel_vectors, lens_table, lens_rows, block_rows)
    return torch.stack(totals, dim=-1).reshape(-1, 3).numpy(), power[:n_lenses].numpy()


def project_to_basis(vectors: np.ndarray, nside: int, nest: bool) -> np.ndarray:
    """Components (l, b) of 3-D tangent vectors given at every pixel centre.

    Parameters
    ----------
    vectors : np.ndarray
        (..., npix, 3).

    Returns
    -------
    np.ndarray
        (..., 2, npix): the components along increasing l and increasing b.
    """
    e_l, e_b = _tangent_basis(nside, nest)
    return np.stack([(vectors * e_l).sum(-1), (vectors * e_b).sum(-1)], axis=-2)


@functools.lru_cache(maxsize=8)
def _tangent_basis(nside: int, nest: bool) -> tuple[np.ndarray, np.ndarray]:
    """e_l and e_b of :func:`sky_basis`, computed once per grid (read-only)."""
    _, e_l, e_b = sky_basis(nside, nest=nest)
    e_l.flags.writeable = e_b.flags.writeable = False
    return e_l, e_b


@functools.lru_cache(maxsize=8)
def _ring_to_nest(nside: int) -> np.ndarray:
    """NESTED index of every RING pixel, computed once per grid (read-only)."""
    index = hp.ring2nest(nside, np.arange(hp.nside2npix(nside)))
    index.flags.writeable = False
    return index


def signal_map(config: AstrometricConfig, population: dict[str, np.ndarray]) -> np.ndarray:
    """The field of one population at the nside grid, (2, npix) components (l, b), RING order.

    Units: muas, muas/yr or muas/yr^2 for ``config.field`` deflection, velocity, acceleration.
    """
    nested, _ = signal_field_nested(config, population)
    ring = nested[_ring_to_nest(config.nside)]
    return project_to_basis(ring, config.nside, nest=False)


def degrade_nested(config: AstrometricConfig, nested_field: np.ndarray) -> np.ndarray:
    """Average 3-D field vectors of the nside grid onto data_nside pixels, components (l, b), RING.

    Returns
    -------
    np.ndarray
        (2, 12 data_nside^2) float64.
    """
    per_pixel = (config.nside // config.data_nside) ** 2
    mean_nested = nested_field.reshape(-1, per_pixel, 3).mean(axis=1)
    mean_ring = mean_nested[_ring_to_nest(config.data_nside)]
    return project_to_basis(mean_ring, config.data_nside, nest=False)


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
    config: AstrometricConfig, n: int, rng: np.random.Generator
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
        nested, power = signal_field_nested(config, population)
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


@functools.lru_cache(maxsize=8)
def _projection_index(nside: int, height: int, width: int) -> np.ndarray:
    """HEALPix (RING) pixel seen at each pixel of a full-sky Cartesian image, from healpy's projector."""
    projector = hp.projector.CartesianProj(xsize=width, ysize=height)
    return projector.projmap(np.arange(hp.nside2npix(nside), dtype=np.float64), lambda x, y, z: hp.vec2pix(nside, x, y, z)).astype(np.int64)


def project_maps(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """Project HEALPix maps (RING) to full-sky Cartesian images with healpy's CartesianProj.

    Columns run from l = 180 deg on the left through l = 0 to l = -180 deg on the right (healpy's
    astronomical convention); row 0 is the southernmost (b near -90 deg), so show images with
    ``origin="lower"``. Each image pixel takes the value of the HEALPix pixel containing its
    centre.

    Parameters
    ----------
    maps : np.ndarray
        (..., npix).

    Returns
    -------
    np.ndarray
        (..., height, width), dtype of ``maps``.
    """
    index = _projection_index(hp.npix2nside(maps.shape[-1]), height, width)
    return maps[..., index]


def observe(
    config: AstrometricConfig,
    survey: AstrometricSurvey,
    signal: np.ndarray,
    with_signal: bool,
    rng: np.random.Generator,
) -> np.ndarray:
    """CNN input images of a survey: :func:`data_maps` projected by :func:`project_maps`.

    Returns
    -------
    np.ndarray
        (n, 2, image_height, image_width) float32, channels v_l, v_b [muas/yr].
    """
    maps = data_maps(config, survey, signal, with_signal, rng)
    return project_maps(maps, config.image_height, config.image_width)


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
