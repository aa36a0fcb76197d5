"""The options of the astrometric simulation (``[simulation]`` and ``[survey]`` of kind
"astrometric") and Vattis+21's survey scenarios, apart from the simulator so that validating a
spec imports no torch. :mod:`lensbench.simulate.astrometric` re-exports every name here.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal

from lensbench.physics import units
from lensbench.simulate.milky_way import MilkyWayPopulation

FieldName = Literal["deflection", "velocity", "acceleration"]
Projection = Literal["nearest", "area_weighted", "healpix_faces"]

#: Factor from the raw result of each field (rad, (km/s)/kpc, ((km/s)/kpc)^2) to muas, muas/yr, muas/yr^2.
FIELD_UNITS = {
    "deflection": units.MUAS_PER_RAD,
    "velocity": units.MUAS_PER_YR_PER_KMS_PER_KPC,
    "acceleration": units.MUAS_PER_YR2_PER_KMS_PER_KPC_SQUARED,
}


MAX_NSIDE = 1024
"""Largest HEALPix nside of the signal and data grids: 12.6 million pixels, whose unit vectors
alone take 300 MB in float64 (the paper uses 128 and 32)."""
MAX_IMAGE_SIDE = 4096
"""Largest side of the Cartesian projection (pixels)."""


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
    """Rows of the projected image fed to the CNNs [pixels] (not used by "healpix_faces")."""
    image_width: int = 128
    """Columns of the projected image fed to the CNNs [pixels] (not used by "healpix_faces")."""
    projection: Projection = "nearest"
    """How a data map becomes the network input (:mod:`lensbench.simulate.sky_projection`):
    "nearest" samples a Cartesian image at pixel centres (drops data pixels), "area_weighted"
    averages every data pixel onto an equal-area cylindrical image, "healpix_faces" stacks the
    12 base faces of the NESTED map (12 data_nside x data_nside pixels, no projection)."""
    n_top: int = 10
    """Number of most-signalling subhalos whose positions are recorded per map."""

    def __post_init__(self):
        for name in ("nside", "data_nside"):
            value = getattr(self, name)
            if value < 1 or value & (value - 1) or value > MAX_NSIDE:
                raise ValueError(f"{name} must be a power of 2 up to {MAX_NSIDE}, got {value}")
        if self.nside % self.data_nside:
            raise ValueError("data_nside must divide nside")
        if not 0 < self.truncation_deg < 90:
            raise ValueError(f"truncation_deg must be in (0, 90), got {self.truncation_deg}")
        if self.field not in FIELD_UNITS:
            raise ValueError(f"field must be one of {', '.join(FIELD_UNITS)}, got {self.field!r}")
        if not (1 <= self.image_height <= MAX_IMAGE_SIDE and 1 <= self.image_width <= MAX_IMAGE_SIDE):
            raise ValueError(f"image_height and image_width must be in [1, {MAX_IMAGE_SIDE}] pixels")
        if self.n_top < 1:
            raise ValueError("n_top must be >= 1")
        if self.projection not in typing.get_args(Projection):
            raise ValueError(f"projection must be one of {', '.join(typing.get_args(Projection))}, got {self.projection!r}")


@dataclass(frozen=True)
class AstrometricSurvey:
    """A quasar astrometry survey (``[survey]``; Vattis+21 Table I)."""

    n_quasars: float = 1e8
    """Total number of quasars N_q on the sky; a pixel holds Poisson(N_q / npix) of them."""
    sigma_u: float = 1.0
    """Velocity noise of one quasar, per component [muas/yr]; a pixel's noise is sigma_u / sqrt(its quasars)."""

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
