"""One library logger, a ``verbose`` switch and progress bars that know when to hide.

The library never configures the root logger and never prints; only the CLI
installs a handler (:func:`make_cli_handler`). The default level is read from
``BRAINSCORE_SPEECH_LOG_LEVEL`` (INFO when unset). Progress bars are shown at INFO or
below when stderr is a terminal (or in a Jupyter kernel);
``BRAINSCORE_SPEECH_PROGRESS=on`` forces them, ``off`` hides them. In a log file
(CI, Snakemake, SLURM) there are no bars, no escape codes and no wrapped lines, and
the Hugging Face bars (``huggingface_hub`` downloads, transformers' "Writing model
shards") follow the same switch (:func:`sync_third_party_progress`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["logger", "set_log_level", "use_log_level", "verbose", "progress",
           "progress_enabled", "sync_third_party_progress", "make_cli_handler"]

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
        sync_third_party_progress()


@contextlib.contextmanager
def use_log_level(verbose: bool | int | str | None) -> Iterator[None]:
    """Temporarily set the log level; ``None`` leaves it unchanged."""
    level = _to_level(verbose)
    old = logger.level
    if level is not None:
        logger.setLevel(level)
        sync_third_party_progress()
    try:
        yield
    finally:
        if level is not None:
            logger.setLevel(old)
            sync_third_party_progress()


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


def _interactive() -> bool:
    """stderr is a terminal, or we run in a Jupyter kernel (tqdm.auto widgets)."""
    if "ipykernel" in sys.modules:
        return True
    try:
        return bool(sys.stderr.isatty())
    except (AttributeError, ValueError):  # closed or replaced stream
        return False


def progress_enabled() -> bool:
    """Whether progress bars are shown now.

    ``BRAINSCORE_SPEECH_PROGRESS=off`` (or 0 / false) hides them, ``on`` (1 / true)
    shows them at INFO or below; unset (or ``auto``), they are shown at INFO or
    below only when stderr is a terminal or in a Jupyter kernel, so log files
    never get bars and their escape codes.
    """
    mode = os.environ.get("BRAINSCORE_SPEECH_PROGRESS", "auto").lower()
    if mode in ("off", "0", "false", "no"):
        return False
    if logger.getEffectiveLevel() > logging.INFO:
        return False
    return mode in ("on", "1", "true", "yes") or _interactive()


# whether sync_third_party_progress switched the Hugging Face bars off (so that it
# switches back on only what it switched off, never a user's own setting)
_HF_BARS_OFF_BY_US = False


def sync_third_party_progress() -> bool:
    """Make the Hugging Face progress bars follow :func:`progress_enabled`.

    ``huggingface_hub`` (downloads) and transformers (``logging.tqdm``, e.g.
    "Writing model shards" in ``save_pretrained``) have their own switches; this
    turns them off when our bars are off (``-q``, a log file, or
    ``BRAINSCORE_SPEECH_PROGRESS=off``) and back on afterwards. transformers is
    only touched when already imported (importing it takes seconds); imported
    later, it reads the ``huggingface_hub`` switch at import. A user's explicit
    ``HF_HUB_DISABLE_PROGRESS_BARS`` wins.

    Returns
    -------
    enabled : bool
        Whether the third-party bars are now on.
    """
    global _HF_BARS_OFF_BY_US
    enabled = progress_enabled()
    if os.environ.get("HF_HUB_DISABLE_PROGRESS_BARS") is not None:
        return os.environ["HF_HUB_DISABLE_PROGRESS_BARS"].lower() not in (
            "1", "true", "yes", "on")
    if enabled and not _HF_BARS_OFF_BY_US:
        return True
    try:
        from huggingface_hub import utils as hub_utils
    except ImportError:  # pragma: no cover - a dependency of transformers
        return enabled
    tf_logging = sys.modules.get("transformers.utils.logging")
    if enabled:
        hub_utils.enable_progress_bars()
        if tf_logging is not None:
            tf_logging.enable_progress_bar()
        _HF_BARS_OFF_BY_US = False
    else:
        hub_utils.disable_progress_bars()
        if tf_logging is not None:
            tf_logging.disable_progress_bar()
        _HF_BARS_OFF_BY_US = True
    return enabled


def progress(iterable: Iterable[T], *, desc: str = "", total: int | None = None,
             unit: str = "it", **kwargs: Any) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar (runs, layers, steps) when enabled."""
    if not progress_enabled():
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, unit=unit, leave=False,
                dynamic_ncols=True, **kwargs)


class _CliHandler(logging.Handler):
    """stderr handler of the CLI: rich on a terminal, plain lines otherwise.

    The stream is looked up at each record (``sys.stderr`` may be replaced, as
    by ``contextlib.redirect_stderr``). On a terminal, records go through rich's
    ``RichHandler`` inside tqdm's ``external_write_mode`` so that a line never
    lands on a progress bar's line; elsewhere (a pipe or a file: CI, Snakemake,
    SLURM) each record is one plain, unwrapped line ``LEVEL    message``
    without escape codes.
    """

    def __init__(self, level: int = logging.NOTSET):
        super().__init__(level)
        self._plain = logging.Formatter("%(levelname)-8s %(message)s")
        self._rich: logging.Handler | None = None

    def _rich_handler(self) -> logging.Handler | None:
        if self._rich is None:
            try:
                from rich.console import Console
                from rich.logging import RichHandler
            except ImportError:  # pragma: no cover - rich is a dependency
                return None
            self._rich = RichHandler(console=Console(stderr=True), show_path=False,
                                     show_time=False, markup=False,
                                     rich_tracebacks=False)
        return self._rich

    def emit(self, record: logging.LogRecord) -> None:
        stream = sys.stderr
        try:
            tty = bool(stream.isatty())
        except (AttributeError, ValueError):
            tty = False
        rich = self._rich_handler() if tty else None
        if rich is None:
            try:
                stream.write(self._plain.format(record) + "\n")
                stream.flush()
            except Exception:  # noqa: BLE001 - logging must never raise
                self.handleError(record)
            return
        # the bars live on tqdm.auto's class (ours and transformers'); clear them
        # while the line is written, then redraw them below it
        tqdm_mod = sys.modules.get("tqdm.auto") or sys.modules.get("tqdm.std")
        if tqdm_mod is None:
            rich.handle(record)
            return
        with tqdm_mod.tqdm.external_write_mode(file=stream):
            rich.handle(record)


def make_cli_handler() -> logging.Handler:
    """The handler the CLI installs on the library logger (see :class:`_CliHandler`).

    Returns
    -------
    logging.Handler
        Writes to the current ``sys.stderr``: rich and progress-bar safe on a
        terminal, one plain unwrapped line per record otherwise.
    """
    return _CliHandler()
