"""``lensbench cache info``, ``verify`` and ``prune``."""

from __future__ import annotations

import json
import os
import re
import time

import pytest
from typer.testing import CliRunner

from lensbench.cache import Cache
from lensbench.cache.admin import parse_age, prune, report_entries, scan, summary, verify
from lensbench.cli import app
from lensbench.errors import DataError, UsageError

A, B, C = "aa" * 32, "bb" * 32, "cc" * 32


def entry(cache: Cache, kind: str, key: str, size: int, experiment: str = "exp", age_s: float = 0.0) -> None:
    claim = cache.claim(kind, key)
    (claim.begin() / "data.npy").write_bytes(b"\1" * size)
    claim.commit({"step": kind, "kind": kind, "key": key, "experiment": experiment, "spec_hash": "f" * 64})
    cache.release()
    then = time.time() - age_s
    os.utime(cache.path(kind, key) / "meta.json", (then, then))


@pytest.fixture
def cache(tmp_path):
    """Three entries: simulate A (1 kB, 40 days unused), simulate B (2 kB, new), train C (3 kB, other experiment)."""
    store = Cache(tmp_path / "cache")
    entry(store, "simulate", A, 1000, age_s=40 * 86400)
    entry(store, "simulate", B, 2000)
    entry(store, "train", C, 3000, experiment="other")
    return store


def cli(*args):
    return CliRunner().invoke(app, ["cache", *args])


def test_info_counts_entries_by_kind_and_experiment(cache):
    (cache.partial("train", A)).mkdir(parents=True)
    lines = summary(cache)
    total = sum(f.stat().st_size for f in cache.root.rglob("*") if f.is_file() and ".lock" not in f.name)
    assert 6000 < total < 9000 and lines[0] == f"cache {cache.root}: 3 entries, {total / 1000:.1f} kB"
    assert "1 work folder(s)" in lines[1]
    text = "\n".join(lines)
    assert "simulate      2" in text and "train         1" in text
    assert re.search(r"exp \(f{12}\) +2 ", text) and re.search(r"other \(f{12}\) +1 ", text)
    assert cli("info", "--cache", str(cache.root)).output.splitlines() == lines


def test_verify_finds_same_size_damage_and_fix_moves_it_aside(cache):
    (cache.path("simulate", B) / "data.npy").write_bytes(b"\0" * 2000)
    checked, bad = verify(cache, progress=False, echo=lambda m: None)
    assert checked == 3 and [(e.key, p) for e, p in bad] == [(B, "data.npy has other content than when written "
                                                                 "(sha256 differs, same size)")]
    result = cli("verify", "--cache", str(cache.root), "--no-progress")
    assert result.exit_code == 3 and f"bad: simulate/{B}" in result.output and "3 entries checked, 1 bad" in result.output
    fixed = cli("verify", "--cache", str(cache.root), "--no-progress", "--fix")
    assert fixed.exit_code == 0 and "1 moved aside" in fixed.output
    assert not cache.path("simulate", B).exists()
    assert [e.state for e in scan(cache.root) if e.key == B] == ["corrupt"]
    assert cli("verify", "--cache", str(cache.root), "--no-progress").exit_code == 0


def test_prune_older_than_removes_only_unused_entries(cache):
    result = prune(cache, older_than=parse_age("30d"))
    assert [e.key for e in result.removed] == [A] and result.freed > 1000
    assert not cache.path("simulate", A).exists() and not cache.lock_path("simulate", A).exists()
    assert cache.has("simulate", B) and cache.has("train", C)


def test_prune_dry_run_removes_nothing(cache):
    out = cli("prune", "--cache", str(cache.root), "--older-than", "30d", "--dry-run").output
    assert f"would remove: simulate/{A}" in out and cache.has("simulate", A)


def test_prune_keeps_what_a_report_used(cache, tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "metrics.json").write_text(json.dumps({"provenance": {"cache_entries": {
        "simulate:test": f"simulate/{A}", "train": f"train/{C}"}}}))
    assert report_entries(report) == {("simulate", A), ("train", C)}
    out = cli("prune", "--cache", str(cache.root), "--keep-report", str(report))
    assert out.exit_code == 0 and f"removed: simulate/{B}" in out.output
    assert [e.key for e in scan(cache.root)] == [A, C]
    both = prune(cache, older_than=parse_age("30d"), keep_reports=[report])
    assert not both.removed  # A is old but used by the report


def test_prune_also_clears_moved_aside_entries(cache):
    cache.move_aside("simulate", B, "test")
    removed = prune(cache, older_than=0).removed
    assert sorted((e.state, e.key) for e in removed) == [("corrupt", B), ("finished", A), ("finished", C)]
    assert not list((cache.root / "corrupt" / "simulate").iterdir())


@pytest.mark.parametrize("args, code, message", [
    (["--older-than", "soon"], 2, "expected a number and a unit"),
    ([], 2, "needs --older-than"),
    (["--keep-report", "/nonexistent/report"], 3, "metrics.json: not found"),
])
def test_prune_errors(cache, args, code, message):
    result = cli("prune", "--cache", str(cache.root), *args)
    assert result.exit_code == code and message in result.output


def test_report_without_cache_entries_is_a_data_error(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"provenance": {}}))
    with pytest.raises(DataError, match="older lensbench"):
        report_entries(tmp_path)
    with pytest.raises(UsageError):
        parse_age("30 days")
