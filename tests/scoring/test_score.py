"""The scorer behind ``lensbench apply`` (:mod:`lensbench.scoring`): a small real CNN applied to
the 100 real COSMOS stamps, the training normalisation, the paper's counts, bad inputs,
model-folder resolution, and bounded memory while streaming."""

from __future__ import annotations

import dataclasses
import json
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from astropy.io import fits
from astropy.table import Table

from lensbench.errors import DataError, UsageError
from lensbench.io.canonical import to_jsonable
from lensbench.io.preprocess import Preprocessing, normaliser, prepare_batch
from lensbench.models import build_model
from lensbench.scoring import ZOOMS, apply_model, control_from_card, find_model_dir, stream
from lensbench.simulate.galaxy import SURVEY_PRESETS, GalaxyConfig

CATALOGUE = "real_galaxy_catalog_26_extension_example.fits"
IMAGES = "real_galaxy_images_extension.fits"
INPUT_SIZE = (64, 64)
CNN_OPTIONS = {"kernel_size": 5, "channels": [4, 8, 8], "hidden": 16}
KO_COSMOS = {"source": "Ko (2024), Sec. III.C", "stamps_read": 29062, "passed": 3707,
             "positive": 3689}


def save_model(folder: Path, *, task: str = "classify", normalize: str = "max",
               seed: int = 0) -> Path:
    """An untrained Ko CNN saved as the train step saves one (model.pt + model.json)."""
    folder.mkdir(parents=True, exist_ok=True)
    model = build_model("cnn", in_channels=1, num_outputs=2, input_size=INPUT_SIZE, seed=seed,
                        **CNN_OPTIONS)
    torch.save(model.state_dict(), folder / "model.pt")
    info = {"format": "lensbench.model/1", "architecture": "cnn", "options": CNN_OPTIONS,
            "in_channels": 1, "input_size": list(INPUT_SIZE), "num_outputs": 2, "task": task,
            "classes": ["no_halo", "halo"], "labels": [], "label_scale": None,
            "normalize": normalize, "training": {}, "simulation_kind": "galaxy",
            "pixel_scale": 0.03, "simulation": to_jsonable(GalaxyConfig()),
            "survey": to_jsonable(SURVEY_PRESETS["cosmos"])}
    (folder / "model.json").write_text(json.dumps(info))
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def cosmos_run(cosmos_dir, model_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("apply")
    result = apply_model(model_dir, [cosmos_dir / CATALOGUE], out, batch_size=16, progress=False,
                         paper=KO_COSMOS)
    return result, out


def reference_score(model_dir: Path, image: np.ndarray, preparation: str = "native") -> float:
    """Score of one stamp computed step by step, without lensbench's batching: the central
    64 x 64 pixels (native, for stamps of at least 64 px) or bilinear anti-aliased resampling to
    64 x 64, division by the maximum |pixel| (normalize "max"), softmax, probability of the
    last class."""
    model = build_model("cnn", in_channels=1, num_outputs=2, input_size=INPUT_SIZE,
                        **CNN_OPTIONS)
    model.load_state_dict(torch.load(model_dir / "model.pt", weights_only=True))
    x = torch.from_numpy(image.astype(np.float32))[None, None]
    if preparation == "native":
        top, left = (x.shape[-2] - 64) // 2, (x.shape[-1] - 64) // 2
        x = x[..., top:top + 64, left:left + 64]
    else:
        x = F.interpolate(x, size=INPUT_SIZE, mode="bilinear", align_corners=False, antialias=True)
    x = x / x.abs().max()
    with torch.no_grad():
        return float(torch.softmax(model.eval()(x).double(), dim=1)[0, -1])


def test_cosmos_counts_cuts_and_fraction(cosmos_run):
    result, out = cosmos_run
    assert result.stamps_read == 100 and result.problems == ()
    assert result.cut_counts == {"non_finite": 0, "too_small": 62, "too_large": 8,
                                 "too_bright": 0}
    assert result.passed == result.scored == 30
    assert result.positive_class == "halo"
    assert result.fraction == pytest.approx(result.positive / 30)
    low, high = result.interval
    assert 0.0 <= low <= result.fraction <= high <= 1.0 and high - low > 0.05
    summary = json.loads((out / "apply.json").read_text())
    assert summary["stamps_read"] == 100 and summary["passed"] == 30
    assert summary["failed_any_cut"] == 70
    assert summary["preprocessing"]["output_shape"] == [64, 64]
    assert summary["preprocessing"]["normalisation"] == "none"
    assert summary["model"]["normalize"] == "max"
    assert summary["paper"]["source"] == "Ko (2024), Sec. III.C"
    assert (summary["paper"]["stamps_read"], summary["paper"]["passed"]) == (29062, 3707)
    assert summary["paper"]["predicted_positive"]["positive"] == 3689
    assert summary["paper"]["predicted_positive"]["total"] == 3707
    assert summary["paper"]["predicted_positive"]["fraction"] == pytest.approx(0.99514, abs=1e-5)


def test_cosmos_table_flags_match_the_stamp_sizes(cosmos_dir, cosmos_run):
    result, out = cosmos_run
    table = Table.read(out / "predictions.fits", mask_invalid=False)
    csv = Table.read(out / "predictions.csv", format="ascii.csv")
    assert len(table) == len(csv) == 100
    assert list(table["identifier"]) == [str(value) for value in csv["identifier"]]
    with fits.open(cosmos_dir / IMAGES) as hdul:
        shapes = {index: hdu.shape for index, hdu in enumerate(hdul)}
    for row in table:
        shape = shapes[int(row["hdu"])]
        assert row["cut_too_small"] == (min(shape) < 50)
        assert row["cut_too_large"] == (max(shape) > 80)
        assert row["passed"] == (50 <= min(shape) and max(shape) <= 80)
        assert not row["cut_too_bright"] and not row["cut_non_finite"]
        assert np.isfinite(row["score"]) == row["passed"]
    passed = table[table["passed"]]
    expected = np.where(passed["score"] > 0.5, "halo", "no_halo")
    assert list(passed["predicted_class"]) == list(expected)
    assert set(table[~table["passed"]]["predicted_class"]) == {""}
    assert np.allclose(np.asarray(csv["score"], dtype=float)[np.asarray(table["passed"])],
                       passed["score"], rtol=0, atol=1e-12)


def test_cosmos_scores_match_a_step_by_step_computation(cosmos_dir, model_dir, cosmos_run, tmp_path):
    _, out = cosmos_run
    passed = Table.read(out / "predictions.fits", mask_invalid=False)
    passed = passed[passed["passed"]]
    with fits.open(cosmos_dir / IMAGES) as hdul:
        large = [row for row in passed if min(hdul[int(row["hdu"])].data.shape) >= 64][:5]
        expected = [reference_score(model_dir, hdul[int(row["hdu"])].data) for row in large]
        assert len(large) == 5
        assert np.allclose([row["score"] for row in large], expected, rtol=0, atol=1e-5)
        resampled = apply_model(model_dir, [cosmos_dir / CATALOGUE], tmp_path, progress=False,
                                preprocessing=Preprocessing(normalisation="none",
                                                            preparation="resample"))
        table = Table.read(tmp_path / "predictions.fits", mask_invalid=False)
        table = table[table["passed"]][:5]
        expected = [reference_score(model_dir, hdul[int(hdu)].data, "resample") for hdu in table["hdu"]]
    assert np.allclose(table["score"], expected, rtol=0, atol=1e-5)
    assert resampled.summary["domain"]["warnings"]  # 50-80 px onto 64 px: not 0.03"/px any more


def test_same_inputs_give_the_same_bytes_and_batching_does_not_matter(cosmos_dir, model_dir,
                                                                     cosmos_run, tmp_path):
    _, first = cosmos_run
    again = apply_model(model_dir, [cosmos_dir / CATALOGUE], tmp_path / "a", batch_size=16,
                        progress=False, gallery_size=4)
    assert (tmp_path / "a" / "predictions.csv").read_bytes() == \
        (first / "predictions.csv").read_bytes()
    other = apply_model(model_dir, [cosmos_dir / CATALOGUE], tmp_path / "b", batch_size=7,
                        progress=False, gallery_size=4)
    one = Table.read(first / "predictions.fits", mask_invalid=False)
    two = Table.read(tmp_path / "b" / "predictions.fits", mask_invalid=False)
    assert list(one["identifier"]) == list(two["identifier"])
    assert np.allclose(one["score"], two["score"], rtol=0, atol=1e-6, equal_nan=True)
    assert other.positive == again.positive


def test_controls_domain_and_disjoint_galleries_on_the_cosmos_stamps(cosmos_dir, model_dir, tmp_path):
    """The zoom curve, the size-matched control (a small pool), the score-size correlation and
    the domain check run on the 30 scored stamps; the two galleries split them, never sharing one."""
    control, note = control_from_card(json.loads((model_dir / "model.json").read_text()))
    assert note == ""
    control = dataclasses.replace(control, pool_size=60, neighbours=3)
    result = apply_model(model_dir, [cosmos_dir / CATALOGUE], tmp_path, progress=False,
                         zooms=ZOOMS, control=control, input_kind="galaxy")
    summary = result.summary
    assert summary["domain"]["warnings"] == []
    assert summary["domain"]["inputs"]["pixel_scale"] == [0.03, 0.03]
    assert summary["zoom"]["scored"] == [30] * 5
    assert summary["zoom"]["fraction"][ZOOMS.index(1.0)] == result.fraction
    assert summary["control"]["matched_stamps"] == 30 and 0 <= summary["control"]["fraction"] <= 1
    assert summary["control"]["pool"]["size"] == 60
    assert summary["size"]["score_radius_spearman"]["n"] == 30
    table = Table.read(tmp_path / "predictions.fits", mask_invalid=False)
    radii = table["half_light_radius_px"][table["passed"]] * 0.03
    assert np.all((radii > 0.03) & (radii < 1.0))  # arcsec: COSMOS galaxies of 0.1-0.5"
    high, low = result.highest_scores, result.lowest_scores
    assert len(high.identifiers) == len(low.identifiers) == 15
    assert not set(high.identifiers) & set(low.identifiers)
    assert high.scores.min() >= low.scores.max()


def test_galleries_never_share_a_stamp_even_with_tied_scores():
    rows = stream.Rows()
    for index in range(5):
        rows.add(stream.Stamp(f"s{index}", "f.fits", index, np.zeros((60, 60), "f4")), [])
    rows.set_predictions(np.arange(5), np.full((5, 2), 0.5))
    highest, lowest = stream.Extremes(4, highest=True), stream.Extremes(4, highest=False)
    for extremes in (highest, lowest):
        extremes.offer(np.full(5, 0.5), np.arange(5), np.zeros((5, 4, 4), "f4"))
    counts = stream.gallery_counts(5, 4)
    assert counts == (3, 2)
    top, bottom = highest.gallery(rows, (4, 4), counts[0]), lowest.gallery(rows, (4, 4), counts[1])
    assert top.identifiers == ("s0", "s1", "s2") and bottom.identifiers == ("s4", "s3")


def write_fits(path: Path, hdus) -> Path:
    fits.HDUList(hdus).writeto(path)
    return path


def noise_image(rng, shape) -> np.ndarray:
    return rng.uniform(0.0, 0.5, shape).astype(np.float32)


def test_bad_inputs_are_listed_and_the_rest_is_scored(cosmos_dir, model_dir, tmp_path):
    rng = np.random.default_rng(5)
    multi = write_fits(tmp_path / "multi.fits", [fits.PrimaryHDU()] +
                       [fits.ImageHDU(noise_image(rng, (60, 60))) for _ in range(3)])
    raw = multi.read_bytes()
    truncated = tmp_path / "truncated.fits"
    truncated.write_bytes(raw[: len(raw) - 2880 - 100])
    multi.unlink()
    nan_image = noise_image(rng, (60, 60))
    nan_image[10, 20] = np.nan
    nan_file = write_fits(tmp_path / "nan.fits", [fits.PrimaryHDU(nan_image)])
    missing = tmp_path / "missing.fits"
    out = tmp_path / "out"
    result = apply_model(model_dir, [cosmos_dir, missing, truncated, nan_file], out,
                         batch_size=32, progress=False)
    assert result.stamps_read == 102  # 100 COSMOS + the 2 complete HDUs of the truncated file
    assert result.passed == 32
    reasons = {Path(problem.file).name: problem.reason for problem in result.problems}
    assert "no such file" in reasons["missing.fits"]
    assert "truncated" in reasons["truncated.fits"]
    assert "NaN" in reasons["nan.fits"]
    summary = json.loads((out / "apply.json").read_text())
    assert {Path(p["file"]).name for p in summary["problems"]} == set(reasons)
    # + COSMOS's companion table and the folder's README.md (not a FITS file)
    assert len(summary["problems"]) == len(result.problems) == 5


def test_labels_keep_the_machine_s_folders_out_of_the_outputs(cosmos_dir, model_dir, tmp_path):
    """A run records its inputs as the spec wrote them, its model as a cache entry, and files
    relative to the inputs' folder: a committed report names no folder of the machine that ran it."""
    (tmp_path / "inputs").mkdir()
    bad = write_fits(tmp_path / "inputs" / "nan.fits", [fits.PrimaryHDU(np.full((60, 60), np.nan))])
    out = tmp_path / "out"
    apply_model(model_dir, [cosmos_dir / CATALOGUE, bad], out, progress=False,
                model_label="train/abc", input_labels=["${LENSBENCH_COSMOS}/catalogue.fits", "inputs/nan.fits"])
    written = (out / "apply.json").read_text() + (out / "predictions.csv").read_text()
    for folder in {str(cosmos_dir.resolve()), str(tmp_path.resolve()), str(model_dir)}:
        assert folder not in written
    summary = json.loads((out / "apply.json").read_text())
    assert summary["model"]["folder"] == "train/abc"
    assert summary["inputs"] == ["${LENSBENCH_COSMOS}/catalogue.fits", "inputs/nan.fits"]
    root = Path(os.path.commonpath([str(cosmos_dir.resolve()), str(bad.parent.resolve())]))
    assert (root / summary["problems"][0]["file"]).exists()


def test_nothing_readable_is_a_data_error(model_dir, tmp_path):
    corrupt = tmp_path / "corrupt.fits"
    corrupt.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError) as raised:
        apply_model(model_dir, [tmp_path / "missing.fits", corrupt], tmp_path / "out",
                    progress=False)
    assert raised.value.exit_code == 3
    assert "no stamp could be read" in str(raised.value)
    assert "missing.fits" in str(raised.value) and "corrupt.fits" in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_unnormalisable_stamp_is_a_problem_and_the_batch_goes_on(model_dir, tmp_path):
    rng = np.random.default_rng(2)
    negative = noise_image(rng, (60, 60)) - 10.0  # its sum is negative: no "sum" normalisation
    stamps = write_fits(tmp_path / "stamps.fits", [fits.PrimaryHDU()] +
                        [fits.ImageHDU(image) for image in
                         (noise_image(rng, (60, 60)), negative, noise_image(rng, (60, 60)),
                          noise_image(rng, (70, 55)), noise_image(rng, (20, 20)))])
    prep = Preprocessing(normalisation="sum", output_shape=INPUT_SIZE)
    result = apply_model(model_dir, [stamps], tmp_path / "out", preprocessing=prep,
                         progress=False, gallery_size=2)
    assert (result.stamps_read, result.passed, result.scored) == (5, 4, 3)
    assert result.cut_counts["too_small"] == 1
    assert [(problem.hdu, "cannot normalise by 'sum'" in problem.reason)
            for problem in result.problems] == [(2, True)]
    table = Table.read(tmp_path / "out" / "predictions.fits", mask_invalid=False)
    assert list(np.isfinite(table["score"])) == [True, False, True, True, False]
    summary = json.loads((tmp_path / "out" / "apply.json").read_text())
    assert summary["preprocessing"]["normalisation"] == "sum"


def test_model_folder_resolution(tmp_path):
    single = tmp_path / "run_single"
    save_model(single / "model")
    assert find_model_dir(single) == single / "model"
    assert find_model_dir(single / "model") == single / "model"
    grid = tmp_path / "run_grid"
    for branch in ("A", "B"):
        save_model(grid / "models" / branch)
    with pytest.raises(DataError, match=r"holds 2 models .*models/A.*models/B"):
        find_model_dir(grid)
    assert find_model_dir(grid / "models" / "B") == grid / "models" / "B"
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no trained model here"):
        find_model_dir(tmp_path / "empty")
    with pytest.raises(DataError, match="no such model or run folder"):
        find_model_dir(tmp_path / "absent")


def test_unusable_models_and_options_are_refused(tmp_path):
    stamps = write_fits(tmp_path / "s.fits", [fits.PrimaryHDU(noise_image(
        np.random.default_rng(0), (60, 60)))])
    regression = save_model(tmp_path / "regression", task="regress")
    with pytest.raises(UsageError, match="apply needs a classifier"):
        apply_model(regression, [stamps], tmp_path / "o1", progress=False)
    broken = save_model(tmp_path / "broken")
    (broken / "model.pt").write_bytes(b"not a state dict")
    with pytest.raises(DataError, match="cannot load the model"):
        apply_model(broken, [stamps], tmp_path / "o2", progress=False)
    model = save_model(tmp_path / "good")
    with pytest.raises(UsageError, match=r"output_shape \[32, 32\] differs"):
        apply_model(model, [stamps], tmp_path / "o3", progress=False,
                    preprocessing=Preprocessing(output_shape=(32, 32)))


def traced_peak_bytes(model_dir: Path, inputs: list, out: Path) -> int:
    """Peak Python-traced memory (bytes) of one apply without galleries, batches of 16."""
    tracemalloc.start()
    try:
        apply_model(model_dir, inputs, out, batch_size=16, progress=False, gallery_size=0)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_pixels_read(model_dir, tmp_path):
    rng = np.random.default_rng(4)
    side, few, many = 80, 40, 120
    files = {n: write_fits(tmp_path / f"{n}.fits", [fits.PrimaryHDU()] +
                           [fits.ImageHDU(noise_image(rng, (side, side))) for _ in range(n)])
             for n in (2, few, many)}
    apply_model(model_dir, [files[2]], tmp_path / "warm", progress=False, gallery_size=0)
    peak_few = traced_peak_bytes(model_dir, [files[few]], tmp_path / "few")
    peak_many = traced_peak_bytes(model_dir, [files[many]], tmp_path / "many")
    extra_pixel_bytes = (many - few) * side * side * 4
    assert peak_many - peak_few < extra_pixel_bytes / 2, (peak_few, peak_many,
                                                          extra_pixel_bytes)


def test_paper_counts_are_recorded_only_when_given(model_dir, tmp_path):
    stamps = write_fits(tmp_path / "s.fits", [fits.PrimaryHDU(noise_image(
        np.random.default_rng(3), (60, 60)))])
    apply_model(model_dir, [stamps], tmp_path / "none", progress=False, gallery_size=1)
    assert "paper" not in json.loads((tmp_path / "none" / "apply.json").read_text())
    apply_model(model_dir, [stamps], tmp_path / "some", progress=False, gallery_size=1,
                paper={"source": "a paper", "stamps_read": 10})
    paper = json.loads((tmp_path / "some" / "apply.json").read_text())["paper"]
    assert paper == {"source": "a paper", "stamps_read": 10, "passed": None,
                     "predicted_positive": {"positive": None, "total": None, "fraction": None,
                                            "interval": None}}
    with pytest.raises(UsageError, match="unknown paper key.*passd"):
        apply_model(model_dir, [stamps], tmp_path / "bad", progress=False, paper={"passd": 3})
    with pytest.raises(UsageError, match="paper 'positive' must be a count"):
        apply_model(model_dir, [stamps], tmp_path / "bad", progress=False, paper={"positive": 1.5})


@pytest.mark.parametrize("normalize", ["max", "standardize"])
def test_network_gets_exactly_the_training_normalisation(normalize, tmp_path, monkeypatch):
    """The tensor the network sees is the training normaliser applied to the prepared stamp,
    bit for bit: apply normalises exactly as training did."""
    model = save_model(tmp_path / "model", normalize=normalize)
    rng = np.random.default_rng(8)
    images = [rng.normal(0.1, 0.2, (60, 60)).astype(np.float32),
              rng.normal(0.1, 0.2, (70, 66)).astype(np.float32)]
    stamps = write_fits(tmp_path / "s.fits", [fits.PrimaryHDU()] +
                        [fits.ImageHDU(image) for image in images])
    seen = []
    real_score = stream.score_images

    def recording_score(network, inputs, *options):
        seen.append(inputs.clone())
        return real_score(network, inputs, *options)

    monkeypatch.setattr(stream, "score_images", recording_score)
    apply_model(model, [stamps], tmp_path / "out", progress=False, gallery_size=0)
    prep = Preprocessing(normalisation="none", output_shape=INPUT_SIZE)
    training = normaliser(normalize)
    expected = torch.stack([training(torch.from_numpy(prepare_batch(image[np.newaxis], prep)[0]))
                            for image in images])
    assert torch.equal(torch.cat(seen), expected)


def test_malformed_model_card_is_a_data_error(tmp_path):
    stamps = write_fits(tmp_path / "s.fits", [fits.PrimaryHDU(noise_image(
        np.random.default_rng(0), (60, 60)))])
    model = save_model(tmp_path / "model")
    card = json.loads((model / "model.json").read_text())
    del card["input_size"]
    (model / "model.json").write_text(json.dumps(card))
    with pytest.raises(DataError, match="model.json: malformed model card: missing key.*input_size"):
        apply_model(model, [stamps], tmp_path / "out", progress=False)
    (model / "model.json").write_text("{not json")
    with pytest.raises(DataError, match="not JSON") as raised:
        apply_model(model, [stamps], tmp_path / "out", progress=False)
    assert raised.value.exit_code == 3
