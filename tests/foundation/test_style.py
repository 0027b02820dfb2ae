"""ruff with the project's configuration (pyproject.toml) is clean on the package,
the tests and the benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _ruff() -> list[str]:
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or \
        shutil.which("ruff")
    if exe is None:
        pytest.skip("ruff is not installed (pip install 'brainscore-speech[dev]')")
    return [exe]


def test_ruff_is_clean():
    res = subprocess.run([*_ruff(), "check", "--no-cache", "brainscore_speech", "tests",
                          "benchmarks"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr


def test_ruff_catches_a_planted_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import os\n\n\ndef f(x=[]):\n    return x\n")
    res = subprocess.run([*_ruff(), "check", "--no-cache", "--config",
                          str(ROOT / "pyproject.toml"), str(bad)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1
    assert "F401" in res.stdout and "B006" in res.stdout
