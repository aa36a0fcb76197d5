"""The scene contract: a batch of strong-lens systems and the observation that images them.

A :class:`Scene` holds ``n`` lens systems as float64 numpy arrays with a leading dimension ``n``
and lenstronomy's keyword names, so the same object feeds both renderers
(``lensbench.simulate.backends``): the torch renderer batches it, the lenstronomy renderer builds
one ``ImageModel`` per system from :meth:`Scene.lenstronomy_kwargs`.

Units: every angle and position in arcsec; ``alpha_Rs``, ``theta_E`` are deflection angles
(arcsec); ``amp`` of a Sersic profile is lenstronomy's amplitude (surface brightness at
``R_sersic`` in counts/s per arcsec^2); a pixelated source is surface brightness in counts/s
per arcsec^2 (lenstronomy's ``INTERPOL`` convention). Rendered images are counts/s per pixel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lensbench.registry import Registry


@dataclass(frozen=True)
class LensProfile:
    """A main-lens mass profile the renderers can draw.

    Attributes
    ----------
    keys : tuple of str
        Keys of ``Scene.lens`` the profile needs, as lenstronomy names them (extra keys, e.g.
        e1/e2 of an SIS, are ignored); empty for no main lens.
    lenstronomy : str or None
        lenstronomy's name of the profile; None for no main lens.
    """

    keys: tuple[str, ...]
    lenstronomy: str | None

    @property
    def deflects(self) -> bool:
        """Whether there is a main lens (every profile but ``"none"``)."""
        return self.lenstronomy is not None


LENS_PROFILES: Registry[LensProfile] = Registry("lens profile")
"""Main-lens profiles by name; each backend implements every one (see its tests)."""
LENS_PROFILES.register("none")(LensProfile((), None))
LENS_PROFILES.register("sis")(LensProfile(("theta_E", "center_x", "center_y"), "SIS"))
LENS_PROFILES.register("sie")(LensProfile(("theta_E", "e1", "e2", "center_x", "center_y"), "SIE"))
LENS_PROFILES.register("epl")(LensProfile(("theta_E", "gamma", "e1", "e2", "center_x", "center_y"), "EPL"))

SUBHALO_KEYS: dict[str, tuple[str, ...]] = {
    "nfw": ("Rs", "alpha_Rs", "center_x", "center_y"),
    "tnfw": ("Rs", "alpha_Rs", "r_trunc", "center_x", "center_y"),
    "point_mass": ("theta_E", "center_x", "center_y"),
}
"""Keys of each subhalo profile, as lenstronomy names them."""

LENSTRONOMY_SUBHALO_NAME = {"nfw": "NFW", "tnfw": "TNFW", "point_mass": "POINT_MASS"}

SERSIC_KEYS = ("amp", "R_sersic", "n_sersic", "e1", "e2", "center_x", "center_y")
"""Keys of an elliptical Sersic light profile (lenstronomy ``SERSIC_ELLIPSE``)."""

SHEAR_KEYS = ("gamma1", "gamma2")


def _as_float_array(value, name: str) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{name} holds non-finite values")
    return array


def _checked_table(table: dict, keys: tuple[str, ...], shape: tuple[int, ...], name: str) -> dict[str, np.ndarray]:
    """``table`` with every value as a float64 array of ``shape``; raises if a key is missing."""
    missing = [key for key in keys if key not in table]
    if missing:
        raise ValueError(f"{name} lacks {', '.join(missing)} (needs {', '.join(keys)})")
    out = {}
    for key, value in table.items():
        array = _as_float_array(value, f"{name}.{key}")
        if array.shape != shape:
            raise ValueError(f"{name}.{key} has shape {array.shape}, expected {shape}")
        out[key] = array
    return out


def _pick(table: dict[str, np.ndarray], idx) -> dict[str, np.ndarray]:
    return {key: value[idx] for key, value in table.items()}


@dataclass(frozen=True)
class Observation:
    """Pixel grid and PSF of an image; angles in arcsec.

    Parameters
    ----------
    npix : int
        Image side in pixels (the image is ``npix x npix``), centred on (0, 0).
    pixel_scale : float
        Pixel side (arcsec).
    supersampling : int
        Sub-pixels per pixel side used to integrate surface brightness over a pixel.
    psf_fwhm : float or None
        Full width at half maximum of a Gaussian PSF (arcsec); ``None`` for no PSF.
    psf_kernel : numpy.ndarray or None
        Pixel PSF at the image's pixel scale (odd square, sums to 1); overrides ``psf_fwhm``.
    """

    npix: int = 64
    pixel_scale: float = 0.08
    supersampling: int = 1
    psf_fwhm: float | None = 0.1
    psf_kernel: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self):
        if int(self.npix) != self.npix or self.npix < 1:
            raise ValueError(f"npix must be a positive integer, got {self.npix}")
        if not self.pixel_scale > 0:
            raise ValueError(f"pixel_scale must be > 0 arcsec, got {self.pixel_scale}")
        if int(self.supersampling) != self.supersampling or self.supersampling < 1:
            raise ValueError(f"supersampling must be a positive integer, got {self.supersampling}")
        if self.psf_fwhm is not None and not self.psf_fwhm > 0:
            raise ValueError(f"psf_fwhm must be > 0 arcsec or None, got {self.psf_fwhm}")
        if self.psf_kernel is not None:
            kernel = _as_float_array(self.psf_kernel, "psf_kernel")
            if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
                raise ValueError(f"psf_kernel must be an odd square array, got shape {kernel.shape}")
            if abs(kernel.sum() - 1.0) > 1e-6:
                raise ValueError(f"psf_kernel must sum to 1, sums to {kernel.sum():.8g}")
            object.__setattr__(self, "psf_kernel", kernel)

    @property
    def field_of_view(self) -> float:
        """Side of the image (arcsec)."""
        return self.npix * self.pixel_scale


@dataclass(frozen=True)
class Subhalos:
    """A plane of many subhalos, padded to ``K`` per system: arrays of shape ``(n, K)``.

    Parameters
    ----------
    profile : str
        ``"nfw"`` (Rs, alpha_Rs, center_x, center_y), ``"tnfw"`` (+ r_trunc) or
        ``"point_mass"`` (theta_E, center_x, center_y); all in arcsec.
    params : dict of str to numpy.ndarray
        lenstronomy keyword names mapped to ``(n, K)`` float64 arrays.
    mask : numpy.ndarray
        ``(n, K)`` bool, True where a subhalo exists; padded entries contribute nothing.
    """

    profile: str
    params: dict[str, np.ndarray]
    mask: np.ndarray

    def __post_init__(self):
        if self.profile not in SUBHALO_KEYS:
            raise ValueError(f"unknown subhalo profile '{self.profile}'; one of: {', '.join(SUBHALO_KEYS)}")
        mask = np.asarray(self.mask)
        if mask.ndim != 2:
            raise ValueError(f"subhalo mask must have shape (n, K), got {mask.shape}")
        object.__setattr__(self, "mask", mask.astype(bool))
        object.__setattr__(
            self, "params", _checked_table(self.params, SUBHALO_KEYS[self.profile], mask.shape, "subhalos")
        )

    @property
    def n(self) -> int:
        """Number of lens systems."""
        return self.mask.shape[0]

    @property
    def max_count(self) -> int:
        """Padded number of subhalos per system (``K``)."""
        return self.mask.shape[1]

    def subset(self, idx) -> "Subhalos":
        """The systems selected by ``idx`` (an index array, slice or boolean mask)."""
        return Subhalos(self.profile, _pick(self.params, idx), self.mask[idx])

    def lenstronomy_kwargs(self, i: int) -> tuple[list[str], list[dict[str, float]]]:
        """lenstronomy lens model names and kwargs of the subhalos that exist in system ``i``."""
        keys = SUBHALO_KEYS[self.profile]
        present = np.flatnonzero(self.mask[i])
        kwargs = [{key: float(self.params[key][i, k]) for key in keys} for k in present]
        return [LENSTRONOMY_SUBHALO_NAME[self.profile]] * len(kwargs), kwargs


@dataclass(frozen=True)
class Scene:
    """A batch of ``n`` strong-lens systems; arrays float64 with leading dimension ``n``.

    Parameters
    ----------
    n : int
        Number of systems.
    lens_profile : str
        Main deflector, a name in :data:`LENS_PROFILES` (``"sis"``, ``"sie"``, ``"epl"``, ``"none"``).
    lens : dict of str to numpy.ndarray
        theta_E (arcsec), e1, e2, center_x, center_y (arcsec), + gamma (slope) for ``"epl"``;
        ``{}`` for ``"none"``. Each ``(n,)``.
    shear : dict of str to numpy.ndarray or None
        External shear gamma1, gamma2 (lenstronomy ``SHEAR`` about the origin), each ``(n,)``.
    convergence : numpy.ndarray or None
        Convergence of a mass sheet (lenstronomy ``CONVERGENCE``), ``(n,)``.
    subhalos : tuple of Subhalos
        Zero or more subhalo planes.
    source : dict of str to numpy.ndarray
        ``SERSIC_ELLIPSE`` keys amp (counts/s/arcsec^2), R_sersic (arcsec), n_sersic, e1, e2,
        center_x, center_y (arcsec), each ``(n,)``. With ``source_image`` only center_x,
        center_y are needed (the image's centre) and an optional amp scales it.
    lens_light : dict of str to numpy.ndarray or None
        Unlensed deflector light, same keys as a Sersic ``source``.
    source_image : numpy.ndarray or None
        Pixelated source ``(n, h, w)`` replacing the Sersic source, surface brightness in
        counts/s/arcsec^2 (lenstronomy ``INTERPOL``; row 0 is the lowest y).
    source_image_scale : float or None
        Pixel side of ``source_image`` (arcsec).
    """

    n: int
    lens_profile: str
    lens: dict[str, np.ndarray]
    shear: dict[str, np.ndarray] | None
    convergence: np.ndarray | None
    subhalos: tuple[Subhalos, ...]
    source: dict[str, np.ndarray]
    lens_light: dict[str, np.ndarray] | None
    source_image: np.ndarray | None = None
    source_image_scale: float | None = None

    def __post_init__(self):
        if int(self.n) != self.n or self.n < 0:
            raise ValueError(f"n must be a non-negative integer, got {self.n}")
        if self.lens_profile not in LENS_PROFILES:
            raise ValueError(LENS_PROFILES.unknown_message(self.lens_profile))
        shape = (self.n,)
        set_ = object.__setattr__
        set_(self, "lens", _checked_table(self.lens, LENS_PROFILES.get(self.lens_profile).keys, shape, "lens"))
        if self.shear is not None:
            set_(self, "shear", _checked_table(self.shear, SHEAR_KEYS, shape, "shear"))
        if self.convergence is not None:
            kappa = _as_float_array(self.convergence, "convergence")
            if kappa.shape != shape:
                raise ValueError(f"convergence has shape {kappa.shape}, expected {shape}")
            set_(self, "convergence", kappa)
        set_(self, "subhalos", tuple(self.subhalos))
        for plane in self.subhalos:
            if plane.n != self.n:
                raise ValueError(f"a subhalo plane holds {plane.n} systems, the scene {self.n}")
        self._check_source(shape)
        if self.lens_light is not None:
            set_(self, "lens_light", _checked_table(self.lens_light, SERSIC_KEYS, shape, "lens_light"))

    def _check_source(self, shape: tuple[int]) -> None:
        if self.source_image is None:
            object.__setattr__(self, "source", _checked_table(self.source, SERSIC_KEYS, shape, "source"))
            return
        image = _as_float_array(self.source_image, "source_image")
        if image.ndim != 3 or image.shape[0] != self.n:
            raise ValueError(f"source_image must have shape (n, h, w) with n={self.n}, got {image.shape}")
        if self.source_image_scale is None or not self.source_image_scale > 0:
            raise ValueError("source_image needs source_image_scale > 0 (arcsec per source pixel)")
        object.__setattr__(self, "source_image", image)
        object.__setattr__(self, "source", _checked_table(self.source, ("center_x", "center_y"), shape, "source"))

    def subset(self, idx) -> "Scene":
        """The systems selected by ``idx`` (an index array, slice or boolean mask), as a new Scene."""
        kept = np.arange(self.n)[idx]
        return Scene(
            n=len(kept),
            lens_profile=self.lens_profile,
            lens=_pick(self.lens, kept),
            shear=None if self.shear is None else _pick(self.shear, kept),
            convergence=None if self.convergence is None else self.convergence[kept],
            subhalos=tuple(plane.subset(kept) for plane in self.subhalos),
            source=_pick(self.source, kept),
            lens_light=None if self.lens_light is None else _pick(self.lens_light, kept),
            source_image=None if self.source_image is None else self.source_image[kept],
            source_image_scale=self.source_image_scale,
        )

    def lenstronomy_kwargs(self, i: int) -> dict:
        """lenstronomy model lists and kwargs of system ``i``.

        Returns
        -------
        dict
            ``lens_model_list``, ``kwargs_lens``, ``source_light_model_list``, ``kwargs_source``,
            ``lens_light_model_list``, ``kwargs_lens_light`` (the last two empty without lens light).
        """
        lens_models, kwargs_lens = [], []
        profile = LENS_PROFILES.get(self.lens_profile)
        if profile.deflects:
            lens_models.append(profile.lenstronomy)
            kwargs_lens.append({key: float(self.lens[key][i]) for key in profile.keys})
        if self.shear is not None:
            lens_models.append("SHEAR")
            kwargs_lens.append({key: float(self.shear[key][i]) for key in SHEAR_KEYS} | {"ra_0": 0.0, "dec_0": 0.0})
        if self.convergence is not None:
            lens_models.append("CONVERGENCE")
            kwargs_lens.append({"kappa": float(self.convergence[i]), "ra_0": 0.0, "dec_0": 0.0})
        for plane in self.subhalos:
            names, kwargs = plane.lenstronomy_kwargs(i)
            lens_models += names
            kwargs_lens += kwargs
        return {
            "lens_model_list": lens_models,
            "kwargs_lens": kwargs_lens,
            **self._source_kwargs(i),
            "lens_light_model_list": [] if self.lens_light is None else ["SERSIC_ELLIPSE"],
            "kwargs_lens_light": []
            if self.lens_light is None
            else [{key: float(self.lens_light[key][i]) for key in SERSIC_KEYS}],
        }

    def _source_kwargs(self, i: int) -> dict:
        if self.source_image is None:
            kwargs = {key: float(self.source[key][i]) for key in SERSIC_KEYS}
            return {"source_light_model_list": ["SERSIC_ELLIPSE"], "kwargs_source": [kwargs]}
        kwargs = {
            "image": self.source_image[i],
            "amp": float(self.source["amp"][i]) if "amp" in self.source else 1.0,
            "center_x": float(self.source["center_x"][i]),
            "center_y": float(self.source["center_y"][i]),
            "phi_G": 0.0,
            "scale": float(self.source_image_scale),
        }
        return {"source_light_model_list": ["INTERPOL"], "kwargs_source": [kwargs]}
