"""Builder options read from source (no torch) agree with the imported builders' signatures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lensbench.models import ARCHITECTURES
from lensbench.models.signatures import _from_object, _from_source


@pytest.mark.parametrize("name", ARCHITECTURES.names())
def test_options_read_from_source_equal_those_of_the_imported_builder(name):
    location = ARCHITECTURES.location(name)
    assert location is not None, f"built-in {name} is registered lazily"
    from_source = _from_source(*location)
    assert from_source == _from_object(ARCHITECTURES.get(name))


PAPER_SPECS = sorted(str(p.relative_to(Path(__file__).resolve().parents[2]))
                     for p in (Path(__file__).resolve().parents[2] / "specs" / "papers").glob("*.toml"))


@pytest.mark.parametrize("command", [["list"], ["validate", *PAPER_SPECS]])
def test_list_and_validate_import_no_torch(command, repo):
    """``lensbench list`` and ``validate`` start in about a second: torch (~2 s to import) stays out."""
    probe = ("import sys\nfrom lensbench.cli import main\nsys.argv = ['lensbench', *sys.argv[1:]]\n"
             "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
             "heavy = [m for m in ('torch', 'lenstronomy', 'matplotlib', 'sklearn') if m in sys.modules]\n"
             "print('HEAVY', heavy)\n")
    result = subprocess.run([sys.executable, "-c", probe, *command], cwd=repo, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout, result.stdout
