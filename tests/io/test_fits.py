"""FITS input for ``lensbench apply``: the 100 real COSMOS stamps, every reader, bad inputs,
streaming memory, and the cuts and preparation applied to the stamps."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lensbench.io.fits import FITS_READERS, choose_reader, iter_stamps, summarise_file
from lensbench.io.preprocess import Preprocessing, apply_cuts, prepare, prepare_batch

SHARED_COSMOS = Path(__file__).resolve().parents[2].parent / "shared" / "cosmos"
CATALOGUE = "real_galaxy_catalog_26_extension_example.fits"
IMAGES = "real_galaxy_images_extension.fits"


@pytest.fixture(scope="module")
def cosmos() -> Path:
    if not SHARED_COSMOS.is_dir():
        pytest.skip("../shared/cosmos not found: real COSMOS stamps are only available inside "
                    "the lensbench workplace")
    return SHARED_COSMOS


@pytest.fixture(scope="module")
def cosmos_stamps(cosmos):
    problems = []
    stamps = list(iter_stamps([cosmos / CATALOGUE], problems=problems))
    assert problems == []
    return stamps


def write(path: Path, hdus) -> Path:
    fits.HDUList(hdus).writeto(path)
    return path


def image(rng, shape, dtype=">f4"):
    return rng.normal(0.1, 0.02, size=shape).astype(dtype)


# --- real COSMOS stamps ----------------------------------------------------------------------

def test_catalogue_gives_100_native_float32_stamps_identified_by_ident(cosmos, cosmos_stamps):
    assert len(cosmos_stamps) == 100
    with fits.open(cosmos / CATALOGUE) as hdul:
        idents = [str(value) for value in hdul[1].data["IDENT"]]
    assert [stamp.identifier for stamp in cosmos_stamps] == idents
    for stamp in cosmos_stamps:
        assert stamp.image.dtype == np.float32 and stamp.image.dtype.isnative
        assert stamp.image.ndim == 2 and stamp.image.shape[0] == stamp.image.shape[1]
        assert stamp.meta["pixel_scale"] == pytest.approx(0.03)
        assert stamp.hdu == stamp.meta["gal_hdu"]


def test_big_endian_pixels_match_astropy_for_every_row(cosmos, cosmos_stamps):
    with fits.open(cosmos / IMAGES) as hdul:
        assert hdul[7].data.dtype.byteorder == ">"
        for stamp in cosmos_stamps:
            np.testing.assert_array_equal(stamp.image, hdul[stamp.hdu].data.astype(np.float32))


def test_row_to_hdu_mapping_tracks_catalogue_flux(cosmos_stamps):
    # stamp_flux is the galaxy flux; the stamps also hold sky noise, so sums agree to ~10 %
    # per stamp but a wrong row -> HDU mapping would destroy the correlation
    sums = np.array([stamp.image.astype(np.float64).sum() for stamp in cosmos_stamps])
    fluxes = np.array([stamp.meta["stamp_flux"] for stamp in cosmos_stamps])
    assert np.corrcoef(sums, fluxes)[0, 1] > 0.99
    assert np.median(sums / fluxes) == pytest.approx(1.0, abs=0.15)


def test_ko_cuts_on_real_stamps(cosmos_stamps):
    prep = Preprocessing()
    failed = [apply_cuts(stamp, prep) for stamp in cosmos_stamps]
    assert sum(not cuts for cuts in failed) == 30
    assert not any("too_bright" in cuts for cuts in failed)
    assert max(float(stamp.image.max()) for stamp in cosmos_stamps) <= 2.0
    sizes = [stamp.image.shape[0] for stamp, cuts in zip(cosmos_stamps, failed) if not cuts]
    assert min(sizes) >= 50 and max(sizes) <= 80


def test_folder_input_reads_through_catalogue_once(cosmos):
    problems = []
    stamps = list(iter_stamps([cosmos], problems=problems))
    assert len(stamps) == 100
    assert all(stamp.meta["catalogue"].endswith(CATALOGUE) for stamp in stamps)
    # the companion table (Sersic fits, photo-z) holds no image and is reported, not read; the
    # folder's README is named as a file that is not FITS
    assert [Path(problem.file).name for problem in problems] == [
        "README.md", "real_galaxy_catalog_26_extension_example_fits.fits"]
    assert "not a FITS file" in problems[0].reason


def test_images_file_alone_is_multi_hdu(cosmos):
    assert choose_reader(summarise_file(cosmos / IMAGES)).name == "multi_hdu"
    assert choose_reader(summarise_file(cosmos / CATALOGUE)).name == "realgalaxy_catalog"
    problems = []
    stamps = list(iter_stamps([cosmos / IMAGES], problems=problems))
    assert len(stamps) == 100 and problems == []
    assert [stamp.hdu for stamp in stamps] == list(range(100))


def test_prepared_real_stamps_are_normalised_network_inputs(cosmos_stamps):
    prep = Preprocessing()
    kept = [stamp for stamp in cosmos_stamps if not apply_cuts(stamp, prep)]
    prepared = np.stack([prepare(stamp.image, prep) for stamp in kept])
    assert prepared.shape == (30, 1, 64, 64) and prepared.dtype == np.float32
    np.testing.assert_allclose(prepared.min(axis=(1, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(prepared.max(axis=(1, 2, 3)), 1.0, atol=1e-6)


# --- readers on synthetic files --------------------------------------------------------------

def test_readers_chosen_by_content_not_name(tmp_path):
    rng = np.random.default_rng(1)
    cube = write(tmp_path / "a.dat", [fits.PrimaryHDU(image(rng, (3, 20, 24)))])
    single = write(tmp_path / "b.cube.fits", [fits.PrimaryHDU(image(rng, (20, 24)))])
    multi = write(tmp_path / "c.single.fits",
                  [fits.PrimaryHDU()] + [fits.ImageHDU(image(rng, (16, 16))) for _ in range(5)])
    names = [choose_reader(summarise_file(path)).name for path in (cube, single, multi)]
    assert names == ["cube", "single", "multi_hdu"]
    assert set(FITS_READERS.names()) == {"realgalaxy_catalog", "multi_hdu", "cube", "single"}
    problems = []
    stamps = list(iter_stamps([cube, single, multi], problems=problems))
    assert problems == []
    assert [stamp.identifier for stamp in stamps[:3]] == ["a[0][0]", "a[0][1]", "a[0][2]"]
    assert [stamp.meta.get("plane") for stamp in stamps[:4]] == [0, 1, 2, None]
    assert [stamp.image.shape for stamp in stamps] == [(20, 24)] * 4 + [(16, 16)] * 5
    with fits.open(cube) as hdul:
        np.testing.assert_array_equal(stamps[1].image, hdul[0].data[1].astype(np.float32))


def test_folder_and_glob_inputs_are_sorted_and_deduplicated(tmp_path):
    rng = np.random.default_rng(2)
    for name in ("b.fits", "a.fits", "c.fit"):
        write(tmp_path / name, [fits.PrimaryHDU(image(rng, (8, 8)))])
    (tmp_path / "notes.txt").write_text("not an image")
    problems = []
    from_folder = [s.identifier for s in iter_stamps([tmp_path], problems=problems)]
    from_glob = [s.identifier for s in iter_stamps([str(tmp_path / "*.fit*"), tmp_path / "a.fits"],
                                                   problems=problems)]
    assert from_folder == from_glob == ["a[0]", "b[0]", "c[0]"]
    assert [(Path(problem.file).name, problem.reason) for problem in problems] == [
        ("notes.txt", "not a FITS file (no FITS name or signature): skipped")]
    problems.clear()
    list(iter_stamps([str(tmp_path / "*.nothing")], problems=problems))
    assert "no file matches" in problems[0].reason


def make_bad_inputs(folder: Path, rng) -> dict[str, Path]:
    """One good file and one file per kind of bad input; returns name -> path."""
    good = write(folder / "good.fits", [fits.PrimaryHDU(image(rng, (10, 10)))])
    multi = write(folder / "multi.fits", [fits.PrimaryHDU()] +
                  [fits.ImageHDU(image(rng, (12, 12))) for _ in range(4)])
    raw = multi.read_bytes()
    truncated = folder / "truncated.fits"
    truncated.write_bytes(raw[: len(raw) - 2880 - 100])
    corrupt = folder / "corrupt.fits"
    corrupt.write_bytes(rng.integers(0, 256, 5000, dtype=np.uint8).tobytes())
    nan_image = image(rng, (10, 10), "<f8")
    nan_image[3, 4] = np.nan
    return {
        "good": good,
        "missing": folder / "missing.fits",
        "truncated": truncated,
        "corrupt": corrupt,
        "empty_hdu": write(folder / "empty_hdu.fits", [fits.PrimaryHDU(image(rng, (10, 10))),
                                                       fits.ImageHDU(),
                                                       fits.ImageHDU(image(rng, (10, 10)))]),
        "nan": write(folder / "nan.fits", [fits.PrimaryHDU(nan_image)]),
        "one_d": write(folder / "one_d.fits", [fits.PrimaryHDU(image(rng, (50,)))]),
    }


def test_each_bad_input_is_reported_and_the_rest_read(tmp_path):
    files = make_bad_inputs(tmp_path, np.random.default_rng(3))
    problems = []
    stamps = list(iter_stamps(list(files.values()), problems=problems))
    reasons = {Path(problem.file).stem: (problem.hdu, problem.reason) for problem in problems}
    assert len(problems) == 6, [str(problem) for problem in problems]
    assert "no such file" in reasons["missing"][1]
    assert reasons["truncated"][0] == 4 and "truncated" in reasons["truncated"][1]
    assert "not a readable FITS file" in reasons["corrupt"][1]
    assert reasons["empty_hdu"] == (1, reasons["empty_hdu"][1])
    assert "empty HDU" in reasons["empty_hdu"][1]
    assert "1 of 100 pixels are NaN" in reasons["nan"][1]
    assert "1-D array" in reasons["one_d"][1]
    read = sorted({(Path(stamp.file).stem, stamp.hdu) for stamp in stamps})
    assert read == [("empty_hdu", 0), ("empty_hdu", 2), ("good", 0),
                    ("truncated", 1), ("truncated", 2), ("truncated", 3)]


def write_catalogue(folder: Path, names, hdus, idents) -> Path:
    columns = [fits.Column(name="ident", format="J", array=np.asarray(idents)),
               fits.Column(name="Gal_Filename", format="20A", array=np.asarray(names)),
               fits.Column(name="gal_hdu", format="J", array=np.asarray(hdus))]
    table = fits.BinTableHDU.from_columns(columns)
    return write(folder / "catalogue.fits", [fits.PrimaryHDU(), table])


def test_catalogue_columns_any_case_relative_paths_and_bad_rows(tmp_path):
    rng = np.random.default_rng(4)
    (tmp_path / "cat").mkdir()
    stamps_file = write(tmp_path / "cat" / "stamps.fits",
                        [fits.PrimaryHDU(image(rng, (9, 9)))] +
                        [fits.ImageHDU(image(rng, (9, 9))) for _ in range(2)])
    catalogue = write_catalogue(tmp_path / "cat", ["stamps.fits", "stamps.fits", "gone.fits",
                                                   "stamps.fits"], [2, 0, 0, 7], [11, 12, 13, 14])
    problems = []
    stamps = list(iter_stamps([tmp_path / "cat"], problems=problems))
    assert [(stamp.identifier, stamp.hdu) for stamp in stamps] == [("12", 0), ("11", 2)]
    assert stamps[0].file == str(stamps_file.resolve())
    with fits.open(stamps_file) as hdul:
        np.testing.assert_array_equal(stamps[1].image, hdul[2].data.astype(np.float32))
    messages = sorted(str(problem) for problem in problems)
    assert len(messages) == 2
    assert any("GAL_HDU 7 for IDENT 14 does not exist" in m and "has 3 HDUs" in m
               for m in messages)
    assert any("gone.fits" in m and "not found" in m for m in messages)
    assert choose_reader(summarise_file(catalogue)).name == "realgalaxy_catalog"


def test_memory_stays_bounded_while_streaming_many_hdus(tmp_path):
    rng = np.random.default_rng(5)
    stamp_shape = (48, 48)
    many = write(tmp_path / "many.fits", [fits.PrimaryHDU()] +
                 [fits.ImageHDU(image(rng, stamp_shape, ">f8")) for _ in range(300)])
    file_bytes = many.stat().st_size
    problems = []
    tracemalloc.start()
    count = 0
    for stamp in iter_stamps([many], problems=problems):
        count += 1
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 300 and problems == []
    # one float64 stamp is 18 kB; the whole file is 5.5 MB. Keeping every header (as an
    # astropy HDUList does) would already cost ~1.5 MB here.
    assert peak < 500_000, f"peak {peak} bytes for a {file_bytes}-byte file"


# --- every FITS flavour, every file named ------------------------------------------------------

def scaled_int16(path: Path, rng, blank: bool = False) -> Path:
    """A 16x16 int16 image with BSCALE/BZERO (and one BLANK pixel if ``blank``)."""
    hdu = fits.PrimaryHDU(rng.integers(-3000, 3000, size=(16, 16)).astype(np.int16))
    hdu.header["BSCALE"], hdu.header["BZERO"] = 0.01, 100.0
    if blank:
        hdu.header["BLANK"] = -32768
        hdu.data[2, 3] = -32768
    return write(path, [hdu])


def gzipped(path: Path, data: bytes) -> Path:
    import gzip

    path.write_bytes(gzip.compress(data, mtime=0))
    return path


def test_scaled_gzipped_and_tile_compressed_images_read_as_astropy_reads_them(tmp_path):
    rng = np.random.default_rng(7)
    scaled = scaled_int16(tmp_path / "scaled.fits", rng)
    blank = scaled_int16(tmp_path / "blank.fits", rng, blank=True)
    plain = write(tmp_path / "plain.fits", [fits.PrimaryHDU(image(rng, (12, 14)))])
    zipped = gzipped(tmp_path / "zipped.fits.gz", plain.read_bytes())
    tiles = write(tmp_path / "tiles.fits.fz", [fits.PrimaryHDU(), fits.CompImageHDU(
        image(rng, (20, 18), "f4"), compression_type="RICE_1")])
    problems = []
    stamps = {stamp.identifier: stamp for stamp in
              iter_stamps([scaled, blank, zipped, tiles], problems=problems)}
    assert sorted(stamps) == ["scaled[0]", "tiles[1]", "zipped[0]"]
    raw = fits.getdata(scaled, do_not_scale_image_data=True)
    assert raw.dtype == ">i2"  # stored as int16; the reader returns BSCALE * raw + BZERO
    np.testing.assert_allclose(stamps["scaled[0]"].image, 0.01 * raw.astype(np.float64) + 100.0,
                               rtol=1e-6)
    np.testing.assert_array_equal(stamps["zipped[0]"].image, fits.getdata(plain).astype(np.float32))
    with fits.open(tiles) as hdul:
        assert isinstance(hdul[1], fits.CompImageHDU)
        np.testing.assert_array_equal(stamps["tiles[1]"].image, hdul[1].data)
    assert [(Path(problem.file).name, problem.reason) for problem in problems] == [
        ("blank.fits", "blank[0]: 1 of 256 pixels are NaN or infinite")]


def test_truncated_compressed_files_are_named(tmp_path):
    rng = np.random.default_rng(8)
    plain = write(tmp_path / "plain.fits", [fits.PrimaryHDU(image(rng, (40, 40), "f8"))])
    whole = gzipped(tmp_path / "whole.fits.gz", plain.read_bytes()).read_bytes()
    (tmp_path / "cut_header.fits.gz").write_bytes(whole[:200])
    (tmp_path / "cut_data.fits.gz").write_bytes(whole[:len(whole) // 2])
    tiles = write(tmp_path / "tiles.fits.fz", [fits.PrimaryHDU(),
                                               fits.CompImageHDU(image(rng, (64, 64), "f4"))])
    tiles.write_bytes(tiles.read_bytes()[:-3000])
    problems = []
    assert list(iter_stamps([tmp_path / "cut_header.fits.gz", tmp_path / "cut_data.fits.gz",
                             tiles], problems=problems)) == []
    reasons = {Path(problem.file).name: (problem.hdu, problem.reason) for problem in problems}
    assert reasons["cut_header.fits.gz"][1].startswith("truncated compressed file")
    assert reasons["cut_data.fits.gz"][1].startswith("truncated compressed file")
    assert reasons["tiles.fits.fz"][0] == 1 and "truncated" in reasons["tiles.fits.fz"][1]


def test_constant_and_all_zero_images_are_named_not_scored(tmp_path):
    rng = np.random.default_rng(9)
    cube = np.stack([image(rng, (10, 10), "f4"), np.zeros((10, 10), "f4"),
                     np.full((10, 10), 2.5, "f4")])
    path = write(tmp_path / "cube.fits", [fits.PrimaryHDU(cube)])
    problems = []
    stamps = list(iter_stamps([path], problems=problems))
    assert [stamp.meta["plane"] for stamp in stamps] == [0]
    assert [str(problem) for problem in problems] == [
        f"{path} [HDU 0]: cube[0][1] plane 1: all pixels are zero: no signal to score",
        f"{path} [HDU 0]: cube[0][2] plane 2: constant image (every pixel is 2.5): no signal to "
        "score"]


def test_every_file_of_a_mixed_folder_is_scored_or_named_and_counted(tmp_path):
    import os

    rng = np.random.default_rng(10)
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = write(folder / "good.fits", [fits.PrimaryHDU(image(rng, (10, 10)))])
    scaled_int16(folder / "scaled.fits", rng)
    gzipped(folder / "zipped.fits.gz", good.read_bytes())
    write(folder / "tiles.fits.fz", [fits.PrimaryHDU(), fits.CompImageHDU(image(rng, (16, 16), "f4"))])
    write(folder / "zeros.fits", [fits.PrimaryHDU(np.zeros((10, 10), "f4"))])
    write(folder / "constant.fits", [fits.PrimaryHDU(np.full((10, 10), 7, np.int16))])
    (folder / "corrupt.fits").write_bytes(rng.integers(0, 256, 3000, dtype=np.uint8).tobytes())
    (folder / "notes.txt").write_text("observing log")
    os.symlink("loop_b.fits", folder / "loop_a.fits")
    os.symlink("loop_a.fits", folder / "loop_b.fits")
    os.symlink("gone.fits", folder / "dangling.fits")
    (folder / "sub").mkdir()  # a folder is not a file: not searched, not counted
    problems = []
    stamps = list(iter_stamps([folder], problems=problems))
    read = sorted(Path(stamp.file).name for stamp in stamps)
    named = sorted(Path(problem.file).name for problem in problems)
    assert read == ["good.fits", "scaled.fits", "tiles.fits.fz", "zipped.fits.gz"]
    assert named == ["constant.fits", "corrupt.fits", "dangling.fits", "loop_a.fits",
                     "loop_b.fits", "notes.txt", "zeros.fits"]
    entries = [entry.name for entry in folder.iterdir() if not entry.is_dir()]
    assert len(read) + len(named) == len(entries) == 11
    reasons = {Path(problem.file).name: problem.reason for problem in problems}
    assert reasons["loop_a.fits"] == "symbolic link loop: the link leads back to itself"
    assert reasons["dangling.fits"].startswith("broken symbolic link to gone.fits")
    assert "constant image (every pixel is 7)" in reasons["constant.fits"]
    # a loop given directly is named the same way, not as a missing file
    problems.clear()
    assert list(iter_stamps([folder / "loop_a.fits"], problems=problems)) == []
    assert [problem.reason for problem in problems] == [reasons["loop_a.fits"]]


# --- preprocessing ---------------------------------------------------------------------------

def test_preprocessing_round_trips_and_rejects_bad_options():
    prep = Preprocessing(min_size=None, normalisation="max", output_shape=(32, 48),
                         resampling="bicubic")
    assert Preprocessing.from_dict(prep.to_dict()) == prep
    with pytest.raises(ValueError, match="unknown preprocessing option"):
        Preprocessing.from_dict({"max_sise": 80})
    with pytest.raises(ValueError, match="min_size 90 exceeds max_size 80; normalisation 'l2'"):
        Preprocessing(min_size=90, normalisation="l2")


def test_cuts_name_every_failure_and_can_be_disabled():
    small_bright = np.full((40, 60), 0.1, dtype=np.float32)
    small_bright[5, 5] = 3.0
    small_bright[6, 6] = np.nan
    assert apply_cuts(small_bright, Preprocessing()) == ["non_finite", "too_small", "too_bright"]
    assert apply_cuts(np.zeros((50, 81)), Preprocessing()) == ["too_large"]
    assert apply_cuts(np.zeros((50, 80)), Preprocessing()) == []
    off = Preprocessing(min_size=None, max_size=None, max_pixel=None, reject_non_finite=False)
    assert apply_cuts(small_bright, off) == []


@pytest.mark.parametrize("method, check", [
    ("minmax", lambda x: (x.min(), x.max()) == pytest.approx((0.0, 1.0), abs=1e-6)),
    ("max", lambda x: x.max() == pytest.approx(1.0)),
    ("sum", lambda x: x.sum() == pytest.approx(1.0, rel=1e-5)),
    ("standardize", lambda x: (x.mean(), x.std(ddof=1)) == pytest.approx((0.0, 1.0), abs=1e-5)),
])
def test_each_normalisation_holds_at_the_output_size(method, check):
    rng = np.random.default_rng(6)
    images = rng.gamma(2.0, 0.05, size=(5, 70, 70))
    prep = Preprocessing(normalisation=method, resampling="bicubic")
    batch = prepare_batch(images, prep)
    assert batch.shape == (5, 1, 64, 64)
    assert all(check(item.astype(np.float64)) for item in batch)


def test_prepare_matches_batch_and_scipy_zoom_on_smooth_images():
    from scipy import ndimage

    y, x = np.mgrid[0:60, 0:60]
    smooth = np.exp(-((x - 29.5) ** 2 + (y - 29.5) ** 2) / (2 * 10.0**2))
    prep = Preprocessing(normalisation="max", output_shape=(30, 30), resampling="area", preparation="resample")
    single = prepare(smooth.astype(">f8"), prep)
    batch = prepare_batch(np.stack([smooth, 2 * smooth]), prep)
    np.testing.assert_array_equal(single, batch[0])
    np.testing.assert_allclose(batch[1], batch[0], rtol=1e-6)
    # 2x2 block average (area) of a smooth Gaussian against scipy's spline zoom, independently
    reference = ndimage.zoom(smooth, 0.5, order=3, grid_mode=True, mode="nearest")
    reference /= reference.max()
    np.testing.assert_allclose(single[0], reference, atol=2e-3)


def test_constant_image_cannot_be_normalised():
    with pytest.raises(ValueError, match=r"image\(s\) \[1\]"):
        prepare_batch(np.stack([np.eye(8), np.ones((8, 8))]), Preprocessing())
