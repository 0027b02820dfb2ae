"""The import layers of docs/ARCHITECTURE.md, enforced by import-linter.

The contracts live in pyproject.toml (``[tool.importlinter]``): stages import only
the layers below them, torch only in training/ and features/, matplotlib only in
plotting/ (documented exceptions are ``ignore_imports`` lines). The first test runs
the linter on the tree; the others plant a forbidden import in a copy of the
package and check that the linter fails, naming it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("importlinter", reason="import-linter is in the dev extra")

ROOT = Path(__file__).resolve().parents[2]


def _lint(root: Path, package_parent: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    code = ("import sys; from importlinter.cli import lint_imports_command; "
            "sys.argv = ['lint-imports', '--no-cache']; lint_imports_command()")
    return subprocess.run([sys.executable, "-c", code], cwd=root, env=env,
                          capture_output=True, text=True, timeout=300)


def test_import_contracts_hold_on_the_tree():
    res = _lint(ROOT, ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Contracts: 3 kept, 0 broken." in res.stdout


@pytest.mark.parametrize("module, planted, message", [
    ("data/audio.py", "from ..workflows import score as _planted  # noqa",
     "brainscore_speech.data is not allowed to import brainscore_speech.workflows:\n\n"
     "- brainscore_speech.data.audio -> brainscore_speech.workflows.score"),
    ("_io.py", "from . import containers as _planted  # noqa",
     "brainscore_speech._io is not allowed to import brainscore_speech.containers"),
    ("encoding/cv.py", "import matplotlib as _planted  # noqa",
     "brainscore_speech.encoding is not allowed to import matplotlib"),
    ("analysis/stats.py", "import torch as _planted  # noqa",
     "brainscore_speech.analysis is not allowed to import torch"),
])
def test_planted_forbidden_import_fails(tmp_path, module, planted, message):
    shutil.copytree(ROOT / "brainscore_speech", tmp_path / "brainscore_speech",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with open(tmp_path / "brainscore_speech" / module, "a") as f:
        f.write(f"\n{planted}\n")
    res = _lint(tmp_path, tmp_path)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "BROKEN" in res.stdout and message in res.stdout, res.stdout
