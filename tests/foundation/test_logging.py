import contextlib
import io
import logging
import sys

import pytest

from brainscore_speech import _logging
from brainscore_speech._logging import (
    logger,
    progress,
    set_log_level,
    use_log_level,
    verbose,
)


def test_use_log_level_restores():
    old = logger.level
    with use_log_level("DEBUG"):
        assert logger.level == logging.DEBUG
    assert logger.level == old
    with use_log_level(False):
        assert logger.level == logging.WARNING
    with use_log_level(None):
        assert logger.level == old


def test_bad_verbose_value():
    with pytest.raises(ValueError, match="'verbose' must be a bool, an int or one of"):
        set_log_level("LOUD")


def test_verbose_decorator_applies_level():
    @verbose
    def f(*, verbose=None):
        return logger.level

    assert f(verbose="ERROR") == logging.ERROR
    with pytest.raises(TypeError, match="has no 'verbose' parameter"):
        verbose(lambda x: x)


def test_progress_disabled_by_env_and_level(monkeypatch):
    items = [1, 2, 3]
    monkeypatch.setenv("BRAINSCORE_SPEECH_PROGRESS", "off")
    assert progress(items) is items
    monkeypatch.setenv("BRAINSCORE_SPEECH_PROGRESS", "on")
    with use_log_level("WARNING"):
        assert progress(items) is items
    with use_log_level("INFO"):
        bar = progress(items, desc="x")
        assert bar is not items
        assert list(bar) == items
    assert _logging.progress_enabled() in (True, False)


class _FakeTTY(io.StringIO):
    def isatty(self):
        return True


def test_progress_auto_follows_the_terminal(monkeypatch):
    items = [1, 2]
    monkeypatch.delenv("BRAINSCORE_SPEECH_PROGRESS", raising=False)
    monkeypatch.delitem(sys.modules, "ipykernel", raising=False)
    with use_log_level("INFO"):
        with contextlib.redirect_stderr(io.StringIO()):  # a log file: no bars
            assert not _logging.progress_enabled()
            assert progress(items) is items
        with contextlib.redirect_stderr(_FakeTTY()):
            assert _logging.progress_enabled()
            assert progress(items) is not items
    monkeypatch.setenv("BRAINSCORE_SPEECH_PROGRESS", "on")  # forced on
    with use_log_level("INFO"), contextlib.redirect_stderr(io.StringIO()):
        assert _logging.progress_enabled()


def _record(msg, level=logging.INFO):
    return logging.LogRecord("brainscore_speech", level, __file__, 1, msg, None, None)


def test_cli_handler_writes_plain_unwrapped_lines_when_not_a_terminal():
    handler = _logging.make_cli_handler()
    msg = "Demo finished; report in /" + "/".join(["a-rather-long-folder"] * 15)
    assert len(msg) > 300
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):  # looked up per record
        handler.handle(_record(msg))
        handler.handle(_record("careful", logging.WARNING))
    lines = buf.getvalue().splitlines()
    assert lines == [f"INFO     {msg}", "WARNING  careful"]
    assert "\x1b" not in buf.getvalue()


def test_cli_handler_on_a_terminal_keeps_lines_off_the_bars():
    from tqdm.auto import tqdm

    tty = _FakeTTY()
    handler = _logging.make_cli_handler()
    with contextlib.redirect_stderr(tty):
        bar = tqdm(range(3), file=tty, desc="layers", leave=False)
        it = iter(bar)
        next(it)
        before = len(tty.getvalue())
        handler.handle(_record("Scored all layers"))
        after = tty.getvalue()[before:]
        bar.close()
    # the bar is cleared (carriage return) before the line, which then starts a
    # fresh line; the bar is redrawn below it
    head, _, tail = after.partition("Scored all layers")
    assert "\r" in head and "layers:" not in head.split("\r")[-1]
    assert "\n" in tail and "layers:" in tail


def test_third_party_bars_follow_our_switch(monkeypatch):
    from huggingface_hub import utils as hub_utils
    from transformers.utils import logging as tf_logging

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.setenv("BRAINSCORE_SPEECH_PROGRESS", "on")
    # at INFO (whatever level an earlier test in this process left), -q inside
    level = _logging.logger.level
    _logging.logger.setLevel(logging.INFO)
    _logging.sync_third_party_progress()
    try:
        with use_log_level("WARNING"):  # -q
            assert hub_utils.are_progress_bars_disabled()
            assert not tf_logging.is_progress_bar_enabled()
        assert not hub_utils.are_progress_bars_disabled()
        assert tf_logging.is_progress_bar_enabled()
        monkeypatch.setenv("BRAINSCORE_SPEECH_PROGRESS", "off")
        assert _logging.sync_third_party_progress() is False
        assert hub_utils.are_progress_bars_disabled()
        # a user's explicit setting wins and is left alone
        monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "0")
        assert _logging.sync_third_party_progress() is True
    finally:
        monkeypatch.setenv("BRAINSCORE_SPEECH_PROGRESS", "on")
        monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
        _logging.logger.setLevel(level)
        _logging.sync_third_party_progress()


def test_cli_quiet_silences_third_party_bars(monkeypatch):
    from huggingface_hub import utils as hub_utils

    from tests.conftest import run_cli

    monkeypatch.delenv("HF_HUB_DISABLE_PROGRESS_BARS", raising=False)
    monkeypatch.setenv("BRAINSCORE_SPEECH_PROGRESS", "on")
    old = logger.level
    try:
        code, _, _ = run_cli(["-q", "--version"])
        assert code == 0
        run_cli(["-q", "demo", "--help"])
        assert hub_utils.are_progress_bars_disabled()
    finally:
        set_log_level(old)
        _logging.sync_third_party_progress()
    assert not hub_utils.are_progress_bars_disabled()
