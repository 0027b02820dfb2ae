import logging

import pytest

from brainscore_speech import _logging
from brainscore_speech._logging import logger, progress, set_log_level, use_log_level, verbose


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
