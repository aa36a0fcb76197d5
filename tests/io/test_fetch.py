"""``lensbench fetch cosmos``: download through a local file:// URL, checksum, resume, safe
unpacking, completion only after the last file, and the message an offline machine gets."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from lensbench.errors import DataError, UsageError
from lensbench.io.fetch import COSMOS_SAMPLES, completion_marker, download, fetch_cosmos, parse_checksum
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


def test_an_unverified_download_records_its_sha256(tmp_path):
    archive = build_sample_tarball(tmp_path, "23.5")
    dest = tmp_path / "data"
    fetch_cosmos("23.5", dest, url=archive.as_uri(), progress=False, checksum="none")
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
                     progress=False, checksum="none")
    with pytest.raises(UsageError, match="unknown COSMOS sample"):
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
        fetch_cosmos("25.2", dest, url=archive.as_uri(), progress=False, checksum="none")
    assert not (tmp_path / "outside.txt").exists()


def test_checksum_text_is_parsed_strictly():
    assert parse_checksum("MD5:" + "AB" * 16) == ("md5", "ab" * 16)
    assert parse_checksum("none") is None
    for bad in ("crc32:1234", "md5:abc", "sha256:" + "g" * 64, "md5:", "nothing"):
        with pytest.raises(UsageError, match="md5:<32 hex digits>"):
            parse_checksum(bad)


def test_a_bad_checksum_is_refused_before_downloading(tmp_path):
    archive = build_sample_tarball(tmp_path)
    dest = tmp_path / "data"
    with pytest.raises(UsageError, match="--checksum"):
        fetch_cosmos("25.2", dest, url=archive.as_uri(), progress=False, checksum="md5:1234")
    assert not dest.exists()


def write_record(folder: Path, files) -> str:
    """A Zenodo record's metadata (JSON) listing ``files``, as a file:// URL."""
    path = folder / "record.json"
    path.write_text(json.dumps({"id": 3242143, "files": files}))
    return path.as_uri()


def test_without_checksum_the_record_s_published_md5_verifies_the_download(tmp_path):
    archive = build_sample_tarball(tmp_path)
    name = COSMOS_SAMPLES["25.2"].archive
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    for files in ([{"key": name, "checksum": f"md5:{md5}"}], {"entries": [{"key": name, "checksum": f"md5:{md5}"}]}):
        dest = tmp_path / f"data_{type(files).__name__}"
        record = write_record(tmp_path, files)
        assert fetch_cosmos("25.2", dest, url=archive.as_uri(), progress=False, record_url=record).is_dir()
    wrong = write_record(tmp_path, [{"key": name, "checksum": "md5:" + "0" * 32}])
    with pytest.raises(DataError, match="does not match"):
        fetch_cosmos("25.2", tmp_path / "data_wrong", url=archive.as_uri(), progress=False, record_url=wrong)


def test_a_record_that_cannot_be_read_or_lacks_the_file_stops_before_downloading(tmp_path):
    archive = build_sample_tarball(tmp_path)
    dest = tmp_path / "data"
    for record, message in ((write_record(tmp_path, [{"key": "other.tar.gz", "checksum": "md5:" + "0" * 32}]),
                             "lists no checksum"),
                            ((tmp_path / "missing.json").as_uri(), "cannot read the record")):
        with pytest.raises(DataError, match=message) as raised:
            fetch_cosmos("25.2", dest, url=archive.as_uri(), progress=False, record_url=record)
        assert "--checksum" in str(raised.value)
    assert not dest.exists()


def test_the_command_line_exits_2_on_a_bad_checksum(tmp_path):
    from typer.testing import CliRunner

    from lensbench.cli import app

    result = CliRunner().invoke(app, ["fetch", "cosmos", "--dest", str(tmp_path / "data"),
                                      "--checksum", "md5:xyz", "--url", "http://nonexistent.invalid/x"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "md5:<32 hex digits>" in result.output
    assert not (tmp_path / "data").exists()


def test_an_interrupted_unpack_is_not_taken_as_complete(tmp_path):
    archive = build_sample_tarball(tmp_path)
    dest = tmp_path / "data"
    folder = dest / COSMOS_SAMPLES["25.2"].folder
    folder.mkdir(parents=True)  # what a kill during unpacking leaves: a folder with some files
    (folder / "real_galaxy_images_25.2_n1.fits").write_bytes(b"half")
    md5 = hashlib.md5(archive.read_bytes()).hexdigest()
    assert fetch_cosmos("25.2", dest, url=archive.as_uri(), progress=False, checksum=f"md5:{md5}") == folder
    assert completion_marker(dest, folder.name).is_file()
    problems = []
    assert len(list(iter_stamps([folder], problems=problems))) == 2 and problems == []


def test_a_corrupt_archive_leaves_no_completion_marker(tmp_path):
    archive = build_sample_tarball(tmp_path)
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / archive.name).write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(DataError, match="cannot unpack"):
        fetch_cosmos("25.2", dest, progress=False, checksum="none")
    folder = COSMOS_SAMPLES["25.2"].folder
    assert not completion_marker(dest, folder).exists() and not (dest / folder).exists()
