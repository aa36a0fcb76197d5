"""Shared test fixtures: repository paths and an isolated cache per test."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets its own empty lensbench cache (never the user's ~/.cache), and renders
    eagerly: torch.compile pays off on large datasets, not on the tiny smoke presets."""
    root = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("LENSBENCH_CACHE", str(root))
    monkeypatch.setenv("LENSBENCH_NO_COMPILE", "1")
    return root


@pytest.fixture
def in_repo(monkeypatch):
    """Run the test from the repository root (paths in messages are relative to it)."""
    monkeypatch.chdir(REPO)
    return REPO


def pytest_configure(config):
    os.environ.setdefault("MPLBACKEND", "Agg")
