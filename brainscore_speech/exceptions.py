"""Exceptions and warnings raised by brainscore_speech."""

from __future__ import annotations

__all__ = [
    "BrainscoreError",
    "BrainscoreWarning",
    "CollapseError",
    "DataError",
    "ManifestError",
    "NotFittedError",
    "UsageError",
]


class BrainscoreError(Exception):
    """Base class of every error raised on purpose by brainscore_speech.

    The CLI turns these (and ValueError, TypeError, OSError) into a one-line
    message and exit code 1.
    """


class DataError(BrainscoreError, ValueError):
    """An input file exists but its content is not what the stage expects."""


class UsageError(BrainscoreError, ValueError):
    """A parameter value (a command-line option) is out of its range or not allowed.

    A ValueError for library callers; the CLI maps it to exit code 2, like typer's
    own usage errors.
    """


class ManifestError(BrainscoreError, ValueError):
    """A dataset manifest is malformed, or a file fails its size/checksum check."""


class CollapseError(BrainscoreError, RuntimeError):
    """Self-supervised training collapsed (codebook perplexity, loss or norms)."""


class NotFittedError(BrainscoreError, ValueError, AttributeError):
    """An estimator was used before ``fit``."""


class BrainscoreWarning(UserWarning):
    """Base class of the warnings brainscore_speech emits (errors in its tests)."""
