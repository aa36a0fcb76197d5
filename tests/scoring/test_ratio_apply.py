"""``lensbench apply`` with a likelihood-ratio model (issue 11): lens images of the mining smoke run
in, the combined (f_sub, beta) map, its regions and the per-image table out."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from astropy.io import fits
from typer.testing import CliRunner

from lensbench.cli import app
from lensbench.errors import DataError, UsageError
from lensbench.sbi.calibration import HistogramCalibration
from lensbench.sbi.saved import load_estimator
from lensbench.scoring import apply_model
from lensbench.scoring.ratio import apply_ratio_model
from lensbench.simulate.store import ShardedDataset

N_IMAGES = 3


def _entry_folder(cache: Path, name: str) -> Path:
    """The folder of cache entry ``kind/key``."""
    kind, key = name.split("/")
    return cache / kind / key[:2] / key


@pytest.fixture(scope="module")
def smoke_run(repo_root, tmp_path_factory):
    """The mining spec's smoke run (its own cache), and a folder of N_IMAGES of its simulated test
    lenses as FITS (counts/s per pixel) plus one broken file."""
    base = tmp_path_factory.mktemp("mining")
    cache, out = base / "cache", base / "run"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LENSBENCH_NO_COMPILE", "1")
        result = CliRunner().invoke(app, ["run", str(repo_root / "specs/papers/mining.toml"), "--preset", "smoke",
                                          "--out", str(out), "--cache", str(cache), "--no-progress"])
    assert result.exit_code == 0, result.output
    entries = json.loads((out / "metrics.json").read_text())["provenance"]["cache_entries"]
    images = ShardedDataset(_entry_folder(cache, entries["simulate:test"])).images(range(N_IMAGES))
    lenses = base / "lenses"
    lenses.mkdir()
    for i in range(N_IMAGES):
        fits.PrimaryHDU(images[i, 0]).writeto(lenses / f"lens{i}.fits")
    (lenses / "broken.fits").write_bytes(b"SIMPLE  =                    T / cut short")
    return {"run": out, "cache": cache, "lenses": lenses, "images": images, "entries": entries,
            "train": _entry_folder(cache, entries["train"]), "calibrate": _entry_folder(cache, entries["calibrate"])}


@pytest.fixture(scope="module")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cli_applied(smoke_run, tmp_path_factory):
    out = tmp_path_factory.mktemp("applied")
    result = CliRunner().invoke(app, ["apply", "--model", str(smoke_run["run"]), "--out", str(out), "--no-progress",
                                      str(smoke_run["lenses"])])
    assert result.exit_code == 0, result.output
    return out, result.output


def test_cli_writes_the_combined_map_and_counts_the_broken_file(smoke_run, cli_applied):
    out, output = cli_applied
    for name in ("apply.json", "per_image.csv", "maps.npz", "combined_map.png"):
        assert (out / name).stat().st_size > 0, name
    text = (out / "apply.json").read_text()
    summary = json.loads(text)
    assert summary["images"] == {"used": N_IMAGES, "skipped": 1}
    assert [p["file"] for p in summary["problems"]] == ["broken.fits"]
    assert "skipped: broken.fits" in output and f"{N_IMAGES} lens image(s) used, 1 skipped" in output
    # named by cache entries, never by a folder of this machine
    assert summary["model"]["cache_entry"] == smoke_run["entries"]["train"]
    assert summary["calibration"]["status"] == "calibrated"
    assert summary["calibration"]["how"] == "beside the model"
    assert summary["calibration"]["cache_entry"] == smoke_run["entries"]["calibrate"]
    assert str(smoke_run["run"].parent) not in text
    assert (smoke_run["run"] / "model" / "calibration.npz").is_file()  # linked by the report step


def test_combined_map_is_the_sum_of_the_per_image_maps_and_the_region_holds_the_mle(cli_applied):
    out, _ = cli_applied
    summary = json.loads((out / "apply.json").read_text())
    with np.load(out / "maps.npz") as maps:
        per_image, combined = maps["per_image_ln_r"], maps["combined_ln_r"]
        f_sub, beta = maps["f_sub"], maps["beta"]
    assert per_image.shape == (N_IMAGES, len(beta), len(f_sub)) and len(f_sub) >= 9  # the spec's grid
    np.testing.assert_allclose(combined, per_image.sum(axis=0), rtol=0, atol=1e-12)
    q = np.array(summary["combined_minus_two_delta_ln_r"])
    np.testing.assert_allclose(q, -2.0 * (combined - combined.max()), atol=1e-9)
    row, col = np.unravel_index(np.argmax(combined), combined.shape)
    assert (summary["mle"]["f_sub"], summary["mle"]["beta"]) == (f_sub[col], beta[row])
    for level, cut in (("0.68", 2.279), ("0.95", 5.991)):
        region = summary["regions"][level]
        assert region["threshold"] == pytest.approx(cut, abs=1e-3)
        assert region["points"] == int((q <= region["threshold"]).sum()) >= 1
        assert region["f_sub"][0] <= summary["mle"]["f_sub"] <= region["f_sub"][1]
        assert region["beta"][0] <= summary["mle"]["beta"] <= region["beta"][1]
    assert summary["regions"]["0.95"]["points"] >= summary["regions"]["0.68"]["points"]
    with open(out / "per_image.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [r["file"] for r in rows] == [f"lens{i}.fits" for i in range(N_IMAGES)]
    assert sum(float(r["ln_r_at_mle"]) for r in rows) == pytest.approx(summary["mle"]["ln_r"], abs=1e-9)


def test_maps_match_the_estimator_and_its_calibration_point_by_point(smoke_run, cli_applied):
    """Independent of the batched grid code: the estimator's own forward pass at a few grid
    points, and the calibration tables applied to those raw values."""
    out, _ = cli_applied
    model, _ = load_estimator(smoke_run["train"])
    with np.load(smoke_run["calibrate"] / "calibration.npz") as data:
        table = HistogramCalibration(data["edges"], data["log_ratio"], data["effective_size"])
    with np.load(out / "maps.npz") as maps:
        raw, used, f_sub, beta = maps["per_image_ln_r_hat"], maps["per_image_ln_r"], maps["f_sub"], maps["beta"]
    images = torch.as_tensor(smoke_run["images"])
    last = len(f_sub) - 1
    for row, col in ((0, 0), (3, last), (last, 5)):
        theta = torch.tensor([[f_sub[col], beta[row]]] * N_IMAGES, dtype=torch.float32)
        with torch.no_grad():
            expected = model(images, theta).numpy()
        np.testing.assert_allclose(raw[:, row, col], expected, rtol=1e-4, atol=1e-5)
    flat_raw = raw.reshape(N_IMAGES, -1)
    np.testing.assert_array_equal(used.reshape(N_IMAGES, -1), table.apply(flat_raw))


def test_a_cache_entry_finds_its_calibration_and_a_bare_model_is_uncalibrated(smoke_run, cli_applied, tmp_path):
    out, _ = cli_applied
    from_entry = apply_ratio_model(smoke_run["train"], [smoke_run["lenses"]], tmp_path / "entry", progress=False)
    assert from_entry.calibrated
    assert from_entry.summary["calibration"]["cache_entry"] == smoke_run["entries"]["calibrate"]
    assert from_entry.summary["model"]["cache_entry"] == smoke_run["entries"]["train"]
    with np.load(out / "maps.npz") as maps:
        np.testing.assert_array_equal(from_entry.grid.as_map(from_entry.combined), maps["combined_ln_r"])
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in ("model.json", "model.pt"):
        shutil.copy(smoke_run["train"] / name, bare / name)
    plain = apply_ratio_model(bare, [smoke_run["lenses"]], tmp_path / "bare_out", progress=False)
    assert not plain.calibrated and plain.summary["calibration"]["how"].startswith("uncalibrated")
    assert plain.summary["model"] == {"cache_entry": None,
                                      "weights_sha256": from_entry.summary["model"]["weights_sha256"]}
    with np.load(out / "maps.npz") as maps:  # without a calibration the grid is the default 25 x 25; the
        raw = maps["per_image_ln_r_hat"]       # spec's (smoke: 9 x 9) shares its corners
    bare_maps = plain.grid.as_map(plain.per_image)
    corners = (slice(None), [0, 0, -1, -1], [0, -1, 0, -1])
    np.testing.assert_allclose(bare_maps[corners], raw[corners], atol=1e-6)


def test_mismatches_are_refused_clearly(smoke_run, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    fits.PrimaryHDU(np.random.default_rng(0).random((64, 64), dtype=np.float32)).writeto(wrong / "big.fits")
    with pytest.raises(DataError, match=r"no lens image could be used:\n.*big\.fits.*64 x 64 pixels; the model "
                                         r"takes 48 x 48"):
        apply_ratio_model(smoke_run["run"], [wrong], tmp_path / "o1", progress=False)
    classifier = tmp_path / "classifier"  # refused before its weights load
    classifier.mkdir()
    card = json.loads((smoke_run["train"] / "model.json").read_text())
    (classifier / "model.json").write_text(json.dumps({**card, "task": "classify"}))
    (classifier / "model.pt").write_bytes(b"weights of another network")
    with pytest.raises(UsageError, match="a 'classify' model; a likelihood-ratio map needs"):
        apply_ratio_model(classifier, [smoke_run["lenses"]], tmp_path / "o2", progress=False)
    with pytest.raises(UsageError, match="a 'likelihood_ratio' model; apply needs a classifier"):
        apply_model(smoke_run["run"], [smoke_run["lenses"]], tmp_path / "o3", progress=False)
    result = CliRunner().invoke(app, ["apply", "--model", str(classifier), "--calibration", str(smoke_run["calibrate"]),
                                      "--out", str(tmp_path / "o4"), str(smoke_run["lenses"])])
    assert result.exit_code == 2 and "--calibration is for likelihood-ratio models" in result.output
