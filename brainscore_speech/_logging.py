"""One library logger, a ``verbose`` switch and progress bars that know when to hide.

The library never configures the root logger and never prints; only the CLI
installs a handler. The default level is read from ``BRAINSCORE_SPEECH_LOG_LEVEL``
(INFO when unset); progress bars are shown at INFO or below unless
``BRAINSCORE_SPEECH_PROGRESS=off``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["logger", "set_log_level", "use_log_level", "verbose", "progress"]

logger = logging.getLogger("brainscore_speech")
logger.setLevel(os.environ.get("BRAINSCORE_SPEECH_LOG_LEVEL", "INFO").upper())

_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
T = TypeVar("T")


def _to_level(verbose: bool | int | str | None) -> int | None:
    if verbose is None:
        return None
    if isinstance(verbose, bool):
        return logging.INFO if verbose else logging.WARNING
    if isinstance(verbose, str):
        key = verbose.upper()
        if key not in _LEVELS:
            raise ValueError(
                f"'verbose' must be a bool, an int or one of {sorted(_LEVELS)}, "
                f"got {verbose!r}."
            )
        return _LEVELS[key]
    return int(verbose)


def set_log_level(verbose: bool | int | str | None) -> None:
    """Set the library's log level (True = INFO, False = WARNING, or a name)."""
    level = _to_level(verbose)
    if level is not None:
        logger.setLevel(level)


@contextlib.contextmanager
def use_log_level(verbose: bool | int | str | None) -> Iterator[None]:
    """Temporarily set the log level; ``None`` leaves it unchanged."""
    level = _to_level(verbose)
    old = logger.level
    if level is not None:
        logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)


def verbose(func):
    """Decorate a function taking a keyword-only ``verbose`` argument."""
    sig = inspect.signature(func)
    if "verbose" not in sig.parameters:
        raise TypeError(f"{func.__name__} has no 'verbose' parameter")

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with use_log_level(kwargs.get("verbose")):
            return func(*args, **kwargs)

    return wrapper


def progress_enabled() -> bool:
    """Whether progress bars are shown now (level <= INFO and not switched off)."""
    if os.environ.get("BRAINSCORE_SPEECH_PROGRESS", "on").lower() in ("off", "0", "false"):
        return False
    return logger.getEffectiveLevel() <= logging.INFO


def progress(iterable: Iterable[T], *, desc: str = "", total: int | None = None,
             unit: str = "it", **kwargs: Any) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar (runs, layers, steps) when enabled."""
    if not progress_enabled():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False,
                dynamic_ncols=True, **kwargs)
