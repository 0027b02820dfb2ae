"""Command-line interface: one thin command per stage (see ``brainscore-speech -h``).

Exit codes: 0 success, 1 runtime error (one line on stderr; a traceback only with
``--verbose``), 2 usage error.
"""

from __future__ import annotations

import logging
import sys
import traceback

import typer

from ..exceptions import BrainscoreError, BrainscoreWarning, UsageError
from . import (  # noqa: F401
    _abx,  # noqa: F401
    _data,
    _demo,
    _extract,
    _group,
    _models,  # noqa: F401  (models, convert)
    _score,
    _simulate,
    _train,
    _verify,  # noqa: F401
)
from ._app import app
from ._choices import choice_error

__all__ = ["app", "main"]

# typer vendors click; its UsageError is the base class of BadParameter & co.
_UsageError = typer.BadParameter.__mro__[1]

_RUNTIME_ERRORS = (BrainscoreError, ValueError, TypeError, OSError, KeyError,
                   RuntimeError, LookupError)


def _install_log_handler() -> None:
    """One handler on the library logger: rich on a terminal, else plain lines.

    The handler (:func:`brainscore_speech._logging.make_cli_handler`) writes
    unwrapped lines without escape codes when stderr is not a terminal (CI,
    Snakemake, SLURM logs); the Hugging Face progress bars follow our switch.
    """
    from .._logging import make_cli_handler, sync_third_party_progress

    logger = logging.getLogger("brainscore_speech")
    if not any(getattr(h, "_bss_cli", False) for h in logger.handlers):
        handler = make_cli_handler()
        handler._bss_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False
    sync_third_party_progress()


def _install_warning_hook() -> None:
    """Our warnings as one log line (console script only).

    Not installed when ``main`` is called with ``argv`` (from Python or a test):
    there the caller's warning machinery (``warnings.catch_warnings``,
    ``pytest.warns``) must keep seeing them.
    """
    import warnings

    logger = logging.getLogger("brainscore_speech")
    if not getattr(warnings.showwarning, "_bss_cli", False):
        def _show(message, category, filename, lineno, file=None, line=None):
            # our warnings as one log line (no source line); others as Python does
            if issubclass(category, BrainscoreWarning):
                logger.warning("%s: %s", category.__name__, message)
            else:
                _default(message, category, filename, lineno, file, line)

        _default = warnings.showwarning
        _show._bss_cli = True  # type: ignore[attr-defined]
        warnings.showwarning = _show


def _headless_matplotlib() -> None:
    """Console script only: figures are written, never shown, so use Agg.

    Selected once, before pyplot is imported, and only when the user chose no
    backend (``MPLBACKEND``); the plotting functions never switch backends, so a
    notebook user's backend is left alone.
    """
    import os

    if not os.environ.get("MPLBACKEND") and "matplotlib.pyplot" not in sys.modules:
        os.environ["MPLBACKEND"] = "Agg"  # read when matplotlib is first imported


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else repr(err)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``brainscore-speech`` console script."""
    args = sys.argv[1:] if argv is None else list(argv)
    show_traceback = "--verbose" in args or "-v" in args
    _install_log_handler()
    if argv is None:
        _install_warning_hook()
        _headless_matplotlib()
    try:
        code = app(args=args, prog_name="brainscore-speech", standalone_mode=False)
    except _UsageError as err:
        choice_error(err).show()  # an invalid choice in the library's words
        sys.exit(2)
    except typer.Abort:
        typer.echo("Aborted.", err=True)
        sys.exit(1)
    except typer.Exit as err:
        sys.exit(err.exit_code)
    except UsageError as err:  # a bad option value found by the library: exit 2
        if show_traceback:
            traceback.print_exc()
        typer.echo(f"Error: {_first_line(err)}", err=True)
        sys.exit(2)
    except _RUNTIME_ERRORS as err:
        if show_traceback:
            traceback.print_exc()
        msg = str(err).strip().splitlines()[0] if str(err).strip() else repr(err)
        if isinstance(err, KeyError):
            msg = f"missing key {err}"
        typer.echo(f"Error: {msg}", err=True)
        sys.exit(1)
    sys.exit(code if isinstance(code, int) else 0)
