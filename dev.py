#!/usr/bin/env python3
"""Set up and run brainscore_speech from a fresh clone with nothing but Python.

    python3 dev.py demo [OUT]        # install (once) and run the whole pipeline demo
    python3 dev.py test [PYTEST ARGS] # install (once) and run the test suite

The first call creates ``.venv/`` next to this file and installs the package
with every extra into it (torch 2.13.0 CPU is installed first when this machine
offers it; elsewhere pip picks a normal torch). Later calls reuse it, and
re-install only when ``pyproject.toml`` changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
STAMP = VENV / ".brainscore-speech-installed"


def _run(cmd: list[str], **kw) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], **kw)


def ensure_env() -> None:
    """Create the virtual environment and install the package when needed."""
    want = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.is_file() and STAMP.read_text().strip() == want:
        return
    if not PY.exists():
        if _run([sys.executable, "-m", "venv", VENV]) != 0:
            sys.exit("Could not create the virtual environment in .venv/")
    pip = [PY, "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    _run(pip + ["--upgrade", "pip"])
    # A local CPU build of torch, when this machine has one (keeps pip from pulling
    # a multi-GB CUDA build); anywhere else the failure is harmless.
    if _run(pip + ["torch==2.13.0"]) != 0:
        print("torch==2.13.0 not available here; pip will choose a torch release.")
    if _run(pip + ["-e", f"{ROOT}[all]"]) != 0:
        sys.exit("Installing brainscore-speech into .venv/ failed (see above).")
    STAMP.write_text(want + "\n")


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _parallel(rest: list[str], env: dict[str, str]) -> list[str]:
    """``-n N --dist loadfile`` (one pytest-xdist worker per usable CPU, at most 4,
    each test file in one worker so that module fixtures are built once), with one
    BLAS / torch thread per worker; nothing when the caller chose ``-n`` or
    ``-p no:xdist``, when one CPU is usable, or when pytest-xdist is missing."""
    n = min(_usable_cpus(), 4)
    chosen = any(a == "-n" or a.startswith(("-n=", "--numprocesses")) or
                 a == "no:xdist" for a in rest)
    has_xdist = subprocess.call([str(PY), "-c", "import xdist"],
                                stderr=subprocess.DEVNULL) == 0
    if chosen or n < 2 or not has_xdist:
        return []
    env.setdefault("OMP_NUM_THREADS", "1")
    return ["-n", str(n), "--dist", "loadfile"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "install"):
        print(__doc__)
        return 2
    ensure_env()
    cmd, rest = argv[0], argv[1:]
    if cmd == "install":
        return 0
    if cmd == "demo":
        out = rest or ["demo_out"]
        return _run([BIN / "brainscore-speech", "demo", *out])
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               BRAINSCORE_SPEECH_PROGRESS="off", MPLBACKEND="Agg")
    code = _run([PY, "-m", "pytest", *_parallel(rest, env), *rest], cwd=ROOT, env=env)
    if code == 5:
        print("pytest collected no tests: treating this as a failure.")
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
