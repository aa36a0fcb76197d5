"""``lensbench fetch cosmos``: download through a local file:// URL, checksum, resume, safe
unpacking, and the message an offline machine gets."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lensbench.errors import DataError
from lensbench.io.fetch import COSMOS_SAMPLES, download, fetch_cosmos, parse_checksum
from lensbench.io.fits import iter_stamps


def build_sample_tarball(folder: Path, sample: str = "25.2") -> Path:
    """A tiny tarball in the COSMOS layout: catalogue + one images file with two stamps."""
    rng = np.random.default_rng(0)
    name = COSMOS_SAMPLES[sample].folder
    source = folder / "source" / name
    source.mkdir(parents=True)
    images = f"real_galaxy_images_{sample}_n1.fits"
    fits.HDUList([fits.PrimaryHDU(rng.normal(size=(55, 55)).astype(">f4")),
                  fits.ImageHDU(rng.normal(size=(60, 60)).astype(">f4"))]).writeto(source / images)
    table = fits.BinTableHDU.from_columns([
        fits.Column(name="IDENT", format="J", array=np.array([101, 102])),
        fits.Column(name="GAL_FILENAME", format="40A", array=np.array([images, images])),
        fits.Column(name="GAL_HDU", format="J", array=np.array([0, 1]))])
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(source / f"real_galaxy_catalog_{sample}.fits")
    archive = folder / COSMOS_SAMPLES[sample].archive
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=name)
    return archive


def test_fetch_from_file_url_unpacks_a_readable_sample(tmp_path):
    archive = build_sample_tarball(tmp_path)
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    dest = tmp_path / "data"
    folder = fetch_cosmos("25.2", dest, url=archive.as_uri(), progress=False,
                          checksum=f"md5:{md5}")
    assert folder == dest / "COSMOS_25.2_training_sample"
    assert not (dest / (archive.name + ".part")).exists()
    problems = []
    stamps = list(iter_stamps([folder], problems=problems))
    assert [stamp.identifier for stamp in stamps] == ["101", "102"] and problems == []
    # a second call finds the unpacked folder and does not download again
    assert fetch_cosmos("25.2", dest, url="file:///nonexistent", progress=False) == folder


def test_without_checksum_the_sha256_is_recorded(tmp_path):
    archive = build_sample_tarball(tmp_path, "23.5")
    dest = tmp_path / "data"
    fetch_cosmos("23.5", dest, url=archive.as_uri(), progress=False)
    recorded = (dest / (archive.name + ".sha256")).read_text().split()[0]
    assert recorded == hashlib.sha256(archive.read_bytes()).hexdigest()


def test_checksum_mismatch_is_reported_and_the_file_set_aside(tmp_path):
    archive = build_sample_tarball(tmp_path)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="sha256 checksum .* does not match"):
        fetch_cosmos("25.2", dest, url=archive.as_uri(), progress=False,
                     checksum="sha256:" + "0" * 64)
    assert (dest / (archive.name + ".bad")).exists() and not (dest / archive.name).exists()
    assert not (dest / "COSMOS_25.2_training_sample").exists()


def test_offline_gives_a_clear_data_error(tmp_path):
    with pytest.raises(DataError, match="cannot download .*is this machine online"):
        fetch_cosmos("25.2", tmp_path, url="http://nonexistent.invalid/x.tar.gz",
                     progress=False)
    with pytest.raises(DataError, match="unknown COSMOS sample"):
        fetch_cosmos("24.0", tmp_path)


def test_interrupted_download_leaves_only_a_part_file_which_is_replaced(tmp_path):
    archive = build_sample_tarball(tmp_path)
    target = tmp_path / "out" / archive.name
    target.parent.mkdir()
    part = target.with_name(target.name + ".part")
    part.write_bytes(b"stale partial bytes")
    # file:// ignores Range requests, so the partial file is restarted, never appended to
    download(archive.as_uri(), target, progress=False)
    assert target.read_bytes() == archive.read_bytes() and not part.exists()


def test_unsafe_archive_members_are_refused(tmp_path):
    archive = tmp_path / COSMOS_SAMPLES["25.2"].archive
    with tarfile.open(archive, "w:gz") as tar:
        payload = b"escape"
        member = tarfile.TarInfo("../outside.txt")
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload))
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="unsafe path in archive"):
        fetch_cosmos("25.2", dest, url=archive.as_uri(), progress=False)
    assert not (tmp_path / "outside.txt").exists()


def test_checksum_text_is_parsed_strictly():
    assert parse_checksum("MD5:ABC") == ("md5", "abc")
    with pytest.raises(ValueError, match="md5:<hex>"):
        parse_checksum("crc32:1234")
