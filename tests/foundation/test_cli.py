import subprocess
import sys

import pytest

from brainscore_speech import __version__
from tests.conftest import run_cli


def test_version_and_help():
    code, out, _ = run_cli(["--version"])
    assert code == 0 and out.strip() == f"brainscore-speech {__version__}"
    code, out, _ = run_cli(["--help"])
    assert code == 0
    for command in ("demo", "simulate", "train", "extract", "score", "group",
                    "figures", "data", "corpus"):
        assert command in out, command


def test_usage_error_exit_2():
    code, _, err = run_cli(["no-such-command"])
    assert code == 2 and "No such command 'no-such-command'" in err


@pytest.mark.slow
def test_console_script_runtime_error_is_one_line(tmp_path):
    """A runtime error prints one line and exits 1; --verbose adds the traceback."""
    cmd = [sys.executable, "-m", "brainscore_speech", "score", str(tmp_path / "none"),
           "--subject", "01", "--activations", str(tmp_path), "--out",
           str(tmp_path / "o")]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    proc = subprocess.run(cmd[:3] + ["--verbose"] + cmd[3:], capture_output=True,
                          text=True)
    assert proc.returncode == 1 and "Traceback" in proc.stderr
