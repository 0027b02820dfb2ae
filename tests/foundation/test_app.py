"""cli/_app.py: the typer app every CLI module registers on, and its root options."""

import logging

from brainscore_speech import __version__
from brainscore_speech.cli import app
from tests.conftest import run_cli

COMMANDS = {"score", "extract", "train", "targets", "group", "figures", "report",
            "simulate", "demo", "abx", "abx-humans", "verify", "models", "convert"}


def test_every_stage_registers_its_commands():
    import typer.main

    cmd = typer.main.get_command(app)
    assert COMMANDS <= set(cmd.commands), sorted(cmd.commands)
    assert {"data", "corpus"} <= set(cmd.commands)  # command groups


def test_root_options(monkeypatch):
    code, out, _ = run_cli(["--version"])
    assert code == 0 and out.strip() == f"brainscore-speech {__version__}"
    code, out, _ = run_cli(["-h"])
    assert code == 0 and "--threads" in out and "--quiet" in out
    code, _, err = run_cli([])
    assert code in (0, 2) and "Usage" in err + _  # no args: the help
    logger = logging.getLogger("brainscore_speech")
    level = logger.level
    try:
        code, _, _ = run_cli(["-q", "models", "--json"])
        assert code == 0 and logger.getEffectiveLevel() == logging.WARNING
    finally:
        logger.setLevel(level)
