"""exceptions.py: the hierarchy callers catch, and how the CLI maps each class to an
exit code (``python -m brainscore_speech`` too)."""

import subprocess
import sys
import warnings

import pytest

from brainscore_speech import exceptions as exc
from tests.conftest import run_cli


def test_hierarchy():
    for cls in (exc.DataError, exc.UsageError, exc.ManifestError, exc.CollapseError,
                exc.NotFittedError):
        assert issubclass(cls, exc.BrainscoreError)
    for cls in (exc.DataError, exc.UsageError, exc.ManifestError, exc.NotFittedError):
        assert issubclass(cls, ValueError)  # library callers may catch ValueError
    assert issubclass(exc.CollapseError, RuntimeError)
    assert issubclass(exc.NotFittedError, AttributeError)
    assert issubclass(exc.BrainscoreWarning, UserWarning)
    assert set(exc.__all__) == {n for n in dir(exc) if not n.startswith("_")
                                and isinstance(getattr(exc, n), type)}


def test_warnings_are_errors_in_the_tests():
    with pytest.raises(exc.BrainscoreWarning, match="planted"):
        warnings.warn("planted", exc.BrainscoreWarning, stacklevel=1)


@pytest.mark.parametrize("args, code, message", [
    (["group", "D", "--out", "O", "--alpha", "2"], 2,
     "Error: 'alpha' must be > 0 and < 1, got 2.0."),  # UsageError: exit 2
    (["verify", "nope"], 1, "Error: Folder to verify not found: nope"),  # OSError: 1
])
def test_cli_exit_codes(args, code, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "D").mkdir()
    got, _, err = run_cli(args)
    assert got == code and err.strip().splitlines()[-1] == message, err


def test_python_dash_m_runs_the_cli():
    res = subprocess.run([sys.executable, "-m", "brainscore_speech", "--version"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and res.stdout.strip().endswith("0.1.0"), res.stderr
