"""Shared test fixtures: repository paths and an isolated cache per test."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture
def repo() -> Path:
    """The repository root."""
    return REPO


@pytest.fixture(scope="session")
def cosmos_dir() -> Path:
    """The 100 real COSMOS stamps of GalSim's example catalogue (../shared/cosmos); skips the
    test where they are not available."""
    folder = SHARED / "cosmos"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found: real COSMOS stamps are only available inside the "
                    f"lensbench workplace")
    return folder


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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train and predict ~10x faster on one thread on a shared 2-core machine; use
    with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
